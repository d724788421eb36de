"""The kit's block-design Tcl, executed in a real Tcl interpreter with the Vivado commands stubbed."""

from __future__ import annotations

from pathlib import Path

import pytest
from _hw_helpers import accelerator_desc

from course_utils.hw import blockdesign as bd
from course_utils.hw.boards import BOARDS
from course_utils.hw.dryrun import BLOCKDESIGN_TCL, DryRunError, reachable_slaves, run_block_design


def design_for(**kw):
    params = bd.params_from_accelerator(
        accelerator_desc(**{k: v for k, v in kw.items() if k not in ("tlast",)}), tlast=kw.get("tlast", True)
    )
    return bd.dry_run(params), params


@pytest.fixture(scope="module")
def z2():
    return design_for()


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_every_board_builds_a_valid_design(board: str) -> None:
    design, _ = design_for(board=board)
    assert design.validated and design.saved
    ps = design.model("processing_system7_0").params
    b = BOARDS[board]
    assert ps["PCW_CRYSTAL_PERIPHERAL_FREQMHZ"] == b.preset["PCW_CRYSTAL_PERIPHERAL_FREQMHZ"]
    assert ps["PCW_UIPARAM_DDR_PARTNO"] == b.preset["PCW_UIPARAM_DDR_PARTNO"]
    assert float(ps["PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ"]) == pytest.approx(100.0)
    # the HP0 segment covers exactly the board's DDR (512 MB on PYNQ-Z1/Z2, 1 GB on the Zybo Z7-20)
    hp0 = [s for s in design.addr_segs if s.block == "HP0_DDR_LOWOCM"]
    assert {s.range for s in hp0} == {b.ddr_mb << 20}


def test_cells_and_ips(z2) -> None:
    design, _ = z2
    vlnvs = {name: c.vlnv for name, c in design.cells.items()}
    assert vlnvs["processing_system7_0"] == "xilinx.com:ip:processing_system7:5.5"
    assert vlnvs["axi_dma_0"] == "xilinx.com:ip:axi_dma:7.1"
    assert vlnvs["finn_accel_0"] == bd.DEFAULT_ACCEL_VLNV
    assert vlnvs["tlast_0"] == "xilinx.com:module_ref:axis_tlast_packetizer:1.0"
    assert vlnvs["rst_ps7_0_fclk0"] == "xilinx.com:ip:proc_sys_reset:5.0"
    assert sorted(design.cells_of("xilinx.com:ip:axi_interconnect")) == [
        "axi_mem_intercon",
        "ps7_0_axi_periph",
    ]
    # 160-bit accelerator output needs one converter to the DMA's 32-bit S2MM; the 128-bit input none
    assert design.cells_of("xilinx.com:ip:axis_dwidth_converter") == ["axis_dwidth_out"]
    assert not any("apply_bd_automation" in line for line in design.log)


def test_dma_parameters(z2) -> None:
    design, params = z2
    p = design.model("axi_dma_0").params
    assert p["c_include_sg"] == "0" and p["C_INCLUDE_SG"] == "0"
    assert p["c_sg_length_width"] == "26"
    assert p["c_micro_dma"] == "0"
    assert p["c_include_mm2s"] == "1" and p["c_include_s2mm"] == "1"
    assert p["c_m_axis_mm2s_tdata_width"] == "128" == str(params.dma_mm2s_bits)
    assert p["c_s_axis_s2mm_tdata_width"] == "32" == str(params.dma_s2mm_bits)
    assert p["c_m_axi_mm2s_data_width"] == "128"  # >= the stream width (PG021)
    assert p["c_include_mm2s_dre"] == "0" and p["c_include_s2mm_dre"] == "0"


def test_ps7_clock_ports_and_hp0(z2) -> None:
    design, _ = z2
    ps = design.model("processing_system7_0")
    assert ps.params["PCW_USE_S_AXI_HP0"] == "1" and ps.params["PCW_USE_M_AXI_GP0"] == "1"
    assert ps.params["PCW_FPGA_FCLK0_ENABLE"] == "1"
    io_pll = float(ps.params["PCW_IO_IO_PLL_FREQMHZ"])
    d0, d1 = int(ps.params["PCW_FCLK0_PERIPHERAL_DIVISOR0"]), int(ps.params["PCW_FCLK0_PERIPHERAL_DIVISOR1"])
    assert io_pll / (d0 * d1) == pytest.approx(100.0)
    assert ps.pins["FCLK_CLK0"].params["FREQ_HZ"] == "100000000"
    # both DMA masters reach the DDR through axi_mem_intercon and HP0
    for intf in ("M_AXI_MM2S", "M_AXI_S2MM"):
        assert reachable_slaves(design, "axi_dma_0", intf) == [("processing_system7_0", "S_AXI_HP0")]
    assert design.peer("axi_mem_intercon", "M00_AXI") == ("processing_system7_0", "S_AXI_HP0")
    assert reachable_slaves(design, "processing_system7_0", "M_AXI_GP0") == [("axi_dma_0", "S_AXI_LITE")]


def test_streams_and_tlast_module(z2) -> None:
    design, params = z2
    # MM2S -> TLAST packetizer (pass-through, sees the DMA's TLAST) -> accelerator
    assert design.stream_path(("axi_dma_0", "M_AXIS_MM2S")) == ["tlast_0", "finn_accel_0"]
    assert design.peer("axi_dma_0", "M_AXIS_MM2S") == ("tlast_0", "s_axis_in")
    assert design.peer("tlast_0", "m_axis_in") == ("finn_accel_0", "s_axis_0")
    # accelerator -> TLAST packetizer (adds TLAST) -> width converter -> S2MM
    assert design.stream_path(("finn_accel_0", "m_axis_0")) == ["tlast_0", "axis_dwidth_out", "axi_dma_0"]
    assert design.peer("axis_dwidth_out", "M_AXIS") == ("axi_dma_0", "S_AXIS_S2MM")
    tl = design.model("tlast_0")
    assert tl.intf_pins["m_axis_out"].signal("TLAST") is not None
    assert tl.intf_pins["s_axis_in"].signal("TLAST") is not None
    assert {k: tl.params[k] for k in ("IN_WIDTH", "OUT_WIDTH", "IN_BEATS", "OUT_BEATS")} == {
        "IN_WIDTH": "128",
        "OUT_WIDTH": "160",
        "IN_BEATS": "49",
        "OUT_BEATS": "1",
    }
    # every stream net has equal TDATA widths on both ends, and the accelerator's match accelerator.json
    acc = design.model("finn_accel_0")
    assert acc.intf_pins["s_axis_0"].data_bits == params.accel_in_bits == 128
    assert acc.intf_pins["m_axis_0"].data_bits == params.accel_out_bits == 160
    conv = design.model("axis_dwidth_out").params
    assert (conv["S_TDATA_NUM_BYTES"], conv["M_TDATA_NUM_BYTES"], conv["HAS_TLAST"]) == ("20", "4", "1")
    assert design.warnings == []  # TLAST reaches the S2MM channel


def test_clock_and_resets(z2) -> None:
    design, _ = z2
    clk = design.net_of("processing_system7_0", "FCLK_CLK0")
    for end in [
        ("finn_accel_0", "ap_clk"),
        ("tlast_0", "aclk"),
        ("axi_dma_0", "m_axi_s2mm_aclk"),
        ("axis_dwidth_out", "aclk"),
        ("processing_system7_0", "S_AXI_HP0_ACLK"),
        ("rst_ps7_0_fclk0", "slowest_sync_clk"),
    ]:
        assert end in clk.ends
    assert design.net_of("rst_ps7_0_fclk0", "ext_reset_in").ends[0] == (
        "processing_system7_0",
        "FCLK_RESET0_N",
    )
    periph = design.net_of("rst_ps7_0_fclk0", "peripheral_aresetn")
    for end in [("axi_dma_0", "axi_resetn"), ("finn_accel_0", "ap_rst_n"), ("tlast_0", "aresetn")]:
        assert end in periph.ends
    icn = design.net_of("rst_ps7_0_fclk0", "interconnect_aresetn")
    assert set(icn.ends) >= {("ps7_0_axi_periph", "ARESETN"), ("axi_mem_intercon", "ARESETN")}
    assert design.clock_hz("finn_accel_0") == 100_000_000


def test_address_map(z2) -> None:
    design, _ = z2
    regs = [s for s in design.addr_segs if s.space_cell == "processing_system7_0"]
    assert [(s.slave_cell, s.offset, s.range) for s in regs] == [("axi_dma_0", 0x40400000, 0x10000)]
    spaces = {(s.space_cell, s.space) for s in design.addr_segs}
    assert spaces == {
        ("processing_system7_0", "Data"),
        ("axi_dma_0", "Data_MM2S"),
        ("axi_dma_0", "Data_S2MM"),
    }
    for space in spaces:  # no overlaps within an address space
        segs = sorted(
            (s for s in design.addr_segs if (s.space_cell, s.space) == space), key=lambda s: s.offset
        )
        assert all(a.high < b.offset for a, b in zip(segs, segs[1:]))


def test_missing_tlast_variant() -> None:
    design, _ = design_for(tlast=False)
    assert "tlast_0" not in design.cells
    assert design.stream_path(("finn_accel_0", "m_axis_0")) == ["axis_dwidth_out", "axi_dma_0"]
    assert any("TLAST" in w and "never completes" in w for w in design.warnings)


def test_width_converters_follow_the_widths() -> None:
    same, _ = design_for(out_bits=32, out_beats=5, s2mm=32)
    assert same.cells_of("xilinx.com:ip:axis_dwidth_converter") == []
    both, params = design_for(in_bits=112, mm2s=128, in_beats=56)
    conv = both.model("axis_dwidth_in").params
    assert (conv["S_TDATA_NUM_BYTES"], conv["M_TDATA_NUM_BYTES"]) == ("16", "14")
    assert both.stream_path(("axi_dma_0", "M_AXIS_MM2S")) == ["axis_dwidth_in", "tlast_0", "finn_accel_0"]


def test_accelerator_with_axilite_gets_an_address() -> None:
    p = bd.params_from_accelerator({**accelerator_desc(), "ip_axilite": "s_axi_control"})
    design = bd.dry_run(p)
    segs = {s.slave_cell: s.offset for s in design.addr_segs if s.space_cell == "processing_system7_0"}
    assert segs == {"axi_dma_0": 0x40400000, "finn_accel_0": 0x43C00000}
    assert design.peer("ps7_0_axi_periph", "M01_AXI") == ("finn_accel_0", "s_axi_control")


def test_dma_stream_widths() -> None:
    assert bd.dma_stream_bits(128, 784) == 128
    assert bd.dma_stream_bits(8, 784) == 8
    assert bd.dma_stream_bits(160, 20) == 32  # 20-byte words -> 4-byte beats, 5 per sample
    assert bd.dma_stream_bits(112, 784) == 128  # 14 -> 16 bytes (784 = 49 x 16)
    assert bd.dma_stream_bits(2048, 256) == 1024  # capped at the DMA maximum
    with pytest.raises(ValueError, match="multiple of 8"):
        bd.dma_stream_bits(12, 24)


# ----------------------------------------------------------------------------- the dry run catches errors
def _mutated(tmp_path: Path, old: str, new: str) -> Path:
    text = BLOCKDESIGN_TCL.read_text()
    assert old in text, f"test needs {old!r} in blockdesign.tcl"
    path = tmp_path / "blockdesign.tcl"
    path.write_text(text.replace(old, new, 1))
    return path


def _run(script: Path, **kw):
    p = bd.params_from_accelerator(accelerator_desc(**kw))
    return run_block_design(p.tcl_values(), extra_ips=p.extra_ips(), script=script)


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "connect_bd_intf_net [get_bd_intf_pins tlast_0/m_axis_in] [get_bd_intf_pins $acc/s_axis_0]",
            "",
            "interface finn_accel_0/s_axis_0 is not connected",
        ),
        (
            "CONFIG.c_sg_length_width $kit(dma_length_width)",
            "CONFIG.c_sg_length_width {27}",
            "c_sg_length_width = 27 must be in 8..26",
        ),
        (
            "CONFIG.c_m_axis_mm2s_tdata_width $kit(dma_mm2s_bits)",
            "CONFIG.c_m_axis_mm2s_tdata_width {64}",
            "TDATA widths differ (64 vs 128 bits)",
        ),
        ("-offset $kit(dma_base) -range 64K", "-offset 0x40401000 -range 64K", "is not aligned"),
        ("foreach space {Data_MM2S Data_S2MM}", "foreach space {Data_MM2S}", "not assigned an address"),
        ("lappend clocked tlast_0/aclk", "", "tlast_0/aclk (clk) is not connected"),
        (
            "set rst [create_bd_cell",
            "apply_bd_automation -rule x\n    set rst [create_bd_cell",
            "apply_bd_automation is not allowed",
        ),
        (
            "[get_bd_intf_pins $dma/S_AXI_LITE]",
            "[get_bd_intf_pins $dma/S_AXI]",
            "has no interface pin 'S_AXI'",
        ),
        (
            "CONFIG.NUM_SI {2} CONFIG.NUM_MI {1}",
            "CONFIG.NUM_SI {2} CONFIG.NUM_MI {1} CONFIG.BOGUS {1}",
            "no parameter(s) BOGUS",
        ),
    ],
)
def test_dry_run_reports_design_errors(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(DryRunError) as err:
        _run(_mutated(tmp_path, old, new))
    assert message in str(err.value)


def test_overlapping_addresses_are_refused(tmp_path: Path) -> None:
    script = _mutated(tmp_path, "-offset $kit(accel_base) -range 64K", "-offset 0x40400000 -range 64K")
    p = bd.params_from_accelerator({**accelerator_desc(), "ip_axilite": "s_axi_control"})
    with pytest.raises(DryRunError, match="overlaps"):
        run_block_design(p.tcl_values(), extra_ips=p.extra_ips(), script=script)


def test_unknown_vivado_command_fails(tmp_path: Path) -> None:
    script = _mutated(tmp_path, "validate_bd_design", "make_wrapper -top\n    validate_bd_design")
    with pytest.raises(DryRunError, match='invalid command name "make_wrapper"'):
        _run(script)


def test_missing_parameter_is_named(tmp_path: Path) -> None:
    p = bd.params_from_accelerator(accelerator_desc())
    values = p.tcl_values()
    del values["dma_length_width"]
    with pytest.raises(DryRunError, match=r"kit\(dma_length_width\) is not set"):
        run_block_design(values, extra_ips=p.extra_ips())


def test_module_reference_is_read_from_the_rtl(tmp_path: Path) -> None:
    """The packetizer's pins come from its Verilog: without its TLAST output the S2MM gets no TLAST."""
    src = (Path(bd.__file__).parent / "rtl" / "axis_tlast_packetizer.v").read_text()
    (tmp_path / "axis_tlast_packetizer.v").write_text(src.replace("m_axis_out_tlast", "m_axis_out_last"))
    p = bd.params_from_accelerator(accelerator_desc())
    design = run_block_design(p.tcl_values(), extra_ips=p.extra_ips(), rtl_dir=tmp_path)
    assert design.model("tlast_0").intf_pins["m_axis_out"].signal("TLAST") is None
    assert "m_axis_out_last" in design.model("tlast_0").pins
    assert any("does not drive it" in w for w in design.warnings)


def test_unreachable_fclk_is_refused() -> None:
    with pytest.raises(ValueError, match="FCLK0 cannot be 123.4 MHz"):
        bd.params_from_accelerator(accelerator_desc(clock_mhz=123.4)).tcl_values()
