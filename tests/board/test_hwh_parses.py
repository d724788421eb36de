"""The kit's generated .hwh through pynq's own metadata parsers and pynq.Overlay (board env, pynq 3.1.2).

The .hwh is generated here, in the board env, from the dry run of the kit's block-design Tcl
(course_utils.hw needs only the standard library and Tcl). pynq.Overlay then loads it on the
virtual board and the real pynq.lib.dma.DMA driver moves data through it.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from course_utils.hw.boards import BOARDS
from course_utils.hw.hwh import generate_hwh

DESC = {
    "board": "pynq-z2",
    "clock_mhz": 100.0,
    "ip_name": "finn_accel_0",
    "dma_name": "axi_dma_0",
    "input": {"stream_width_bits": 128, "shape_folded": [1, 49, 16]},
    "output": {"stream_width_bits": 160, "shape_folded": [1, 1, 10]},
    "dma": {"mm2s_width_bits": 128, "s2mm_width_bits": 32, "length_width": 26},
}


def _parsers(hwh: Path):
    """(pynqmetadata's runtime view, pynq 3.1.2's own runtime view) of ``hwh``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pynq.metadata.runtime_metadata_parser import RuntimeMetadataParser as PynqParser
        from pynqmetadata.frontends import Metadata
        from pynqmetadata.views.runtime import RuntimeMetadataParser

        return RuntimeMetadataParser(Metadata(input=hwh)), PynqParser(Metadata(input=hwh))


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory):
    return _parsers(generate_hwh(DESC, tmp_path_factory.mktemp("hwh") / "kit.hwh"))


def test_ip_dict_has_the_dma_with_its_parameters(parsed) -> None:
    for parser in parsed:
        dma = parser.ip_dict["axi_dma_0"]
        assert dma["type"] == "xilinx.com:ip:axi_dma:7.1"
        assert (dma["phys_addr"], dma["addr_range"]) == (0x40400000, 0x10000)
        p = dma["parameters"]
        assert p["c_sg_length_width"] == "26" and p["c_include_sg"] == "0" and p["c_micro_dma"] == "0"
        assert p["c_include_mm2s"] == "1" and p["c_include_s2mm"] == "1"
        assert p["c_m_axis_mm2s_tdata_width"] == "128" and p["c_s_axis_s2mm_tdata_width"] == "32"
        assert p["c_m_axi_mm2s_data_width"] == "128"
        assert "MM2S_DMASR" in dma["registers"] and dma["registers"]["S2MM_LENGTH"]["address_offset"] == 0x58
        assert dma["interrupts"] == {}  # not wired: pynq's DMA driver polls
        assert parser.ip_dict["processing_system7_0"]["type"] == "xilinx.com:ip:processing_system7:5.5"


def test_fclk0_is_100_mhz(parsed) -> None:
    md_parser, pynq_parser = parsed
    ps = md_parser.ip_dict["processing_system7_0"]["parameters"]
    io_pll = float(ps["PCW_IO_IO_PLL_FREQMHZ"])
    for parser in parsed:
        clk = parser.clock_dict[0]
        assert clk["enable"] == 1
        assert io_pll / (clk["divisor0"] * clk["divisor1"]) == pytest.approx(100.0)
        assert all(parser.clock_dict[i]["enable"] == 0 for i in (1, 2, 3))
    assert md_parser.clock_dict[0]["src_sel"] == "IO PLL"
    # pynqmetadata 0.2.0 reads a ZU+ parameter name for 'frequency' (None on Zynq-7000, FACTS.md);
    # the achieved rate is in the PS7 parameters, as in a Vivado .hwh
    assert float(ps["PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ"]) == pytest.approx(100.0)


def test_accelerator_and_tlast_module_are_in_the_metadata(parsed) -> None:
    md = parsed[0].md
    acc, tl = md.blocks["finn_accel_0"], md.blocks["tlast_0"]
    assert acc.vlnv.str == "xilinx_finn:finn:finn_design:1.0"
    assert tl.vlnv.name == "axis_tlast_packetizer"
    # stream wiring survives pynqmetadata's connectivity pass: accelerator input comes from the packetizer
    tdata = acc.ports["s_axis_0"].signals["TDATA"]
    assert [s.parent().parent().name for s in tdata._connections.values()] == ["tlast_0"]
    # no AXI-Lite on a FINN stitched IP without runtime-writable weights: not addressable, not in ip_dict
    assert "finn_accel_0" not in parsed[0].ip_dict


def test_accelerator_with_axilite_is_addressable(tmp_path: Path) -> None:
    md_parser, _ = _parsers(generate_hwh({**DESC, "ip_axilite": "s_axi_control"}, tmp_path / "a.hwh"))
    acc = md_parser.ip_dict["finn_accel_0"]
    assert (acc["phys_addr"], acc["addr_range"], acc["type"]) == (
        0x43C00000,
        0x10000,
        "xilinx_finn:finn:finn_design:1.0",
    )


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_every_board_parses(tmp_path: Path, board: str) -> None:
    md_parser, pynq_parser = _parsers(generate_hwh({**DESC, "board": board}, tmp_path / f"{board}.hwh"))
    ps = md_parser.ip_dict["processing_system7_0"]["parameters"]
    assert int(ps["PCW_DDR_RAM_HIGHADDR"], 16) == BOARDS[board].ddr_high_addr
    assert pynq_parser.ip_dict["axi_dma_0"]["phys_addr"] == 0x40400000


# ----------------------------------------------------------------------------- with pynq.Overlay
def _package_with_kit_hwh(src: Path, dst: Path, **kw) -> Path:
    """A copy of the fixture package whose .hwh is the kit's generated one."""
    shutil.copytree(src, dst)
    spec = json.loads((dst / "accelerator.json").read_text())
    generate_hwh(spec, dst / f"{spec['name']}.hwh", **kw)
    return dst


def test_overlay_and_dma_transfer_through_the_generated_hwh(tiny_pkg_dir: Path, tmp_path: Path) -> None:
    from pynq import Overlay, allocate
    from pynq.lib.dma import DMA

    from course_utils.board.package import load_package

    pkg = load_package(_package_with_kit_hwh(tiny_pkg_dir, tmp_path / "pkg"))
    ol = Overlay(str(pkg.bitfile))
    dma = ol.axi_dma_0
    assert isinstance(dma, DMA) and dma.buffer_max_size == (1 << 26) - 1
    golden = pkg.golden()
    n = len(golden["x"])
    ibuf = allocate(shape=(n, *pkg.input.shape_packed[1:]), dtype=np.uint8)
    obuf = allocate(shape=(n, *pkg.output.shape_packed[1:]), dtype=np.uint8)
    ibuf[:] = pkg.input.pack(golden["x"])
    dma.sendchannel.transfer(ibuf)
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.wait()
    dma.recvchannel.wait()
    y = pkg.output.unpack(np.array(obuf)).reshape(n, -1)
    assert np.array_equal(y, golden["y_int"])
    ibuf.freebuffer()
    obuf.freebuffer()


def test_generated_variants_give_the_board_pitfalls(tiny_pkg_dir: Path, tmp_path: Path) -> None:
    from pynq import Overlay, allocate

    from course_utils.board.package import load_package

    pkg = load_package(_package_with_kit_hwh(tiny_pkg_dir, tmp_path / "short", length_width=14))
    dma = Overlay(str(pkg.bitfile)).axi_dma_0
    assert dma.buffer_max_size == (1 << 14) - 1
    big = allocate(shape=(32, 784), dtype=np.uint8)  # 25,088 bytes > 16,383
    with pytest.raises(ValueError, match="exceeds the maximum DMA buffer size 16383"):
        dma.sendchannel.transfer(big)
    big.freebuffer()

    pkg = load_package(_package_with_kit_hwh(tiny_pkg_dir, tmp_path / "notlast", tlast=False))
    dma = Overlay(str(pkg.bitfile)).axi_dma_0
    ibuf = allocate(shape=(1, 49, 16), dtype=np.uint8)
    obuf = allocate(shape=(1, 5, 4), dtype=np.uint8)
    dma.sendchannel.transfer(ibuf)
    dma.recvchannel.transfer(obuf)
    dma.sendchannel.wait()
    with pytest.raises(Exception, match="TLAST"):
        dma.recvchannel.wait()
    ibuf.freebuffer()
    obuf.freebuffer()
