"""A small, self-contained deploy package for the board tests (numpy only, no FINN, no Vivado).

The package follows the contract of docs/ARCHITECTURE.md: a 784-16-10 integer MLP (UINT8 pixels ->
MVAU INT4 weights -> Thresholding UINT4 -> MVAU -> INT12 outputs, 2 per 32-bit word), its
accelerator.json, dataflow.npz, golden.npz, a placeholder .bit and a .hwh in Vivado's format with
PS7, AXI DMA, accelerator, TLAST packetizer and a width converter. Options make the variants the
pitfall tests need (14-bit length register, no TLAST module).
"""
from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from course_utils.board.accel import AcceleratorModel

NAME = "tiny_w4a4"
HIDDEN = 16


def _params(d: dict[str, object]) -> str:
    return "".join(f'<PARAMETER NAME={quoteattr(k)} VALUE={quoteattr(str(v))}/>' for k, v in d.items())


def _axis(name: str, bus: str, kind: str, nbytes: int, tlast: bool) -> str:
    return (f'<BUSINTERFACE BUSNAME="{bus}" NAME="{name}" TYPE="{kind}" VLNV="xilinx.com:interface:axis:1.0">'
            + _params({"TDATA_NUM_BYTES": nbytes, "HAS_TLAST": int(tlast), "HAS_TREADY": 1,
                       "FREQ_HZ": 100000000}) + "</BUSINTERFACE>")


def _module(inst: str, modtype: str, vlnv: str, params: dict, buses: list[str], memmap: str = "") -> str:
    return (f'<MODULE FULLNAME="/{inst}" INSTANCE="{inst}" IPTYPE="PERIPHERAL" IS_ENABLE="1" '
            f'MODCLASS="PERIPHERAL" MODTYPE="{modtype}" VLNV="{vlnv}" HWVERSION="{vlnv.split(":")[-1]}">'
            f"<PARAMETERS>{_params(params)}</PARAMETERS><PORTS/>"
            f"<BUSINTERFACES>{''.join(buses)}</BUSINTERFACES>{memmap}</MODULE>")


def write_hwh(path: Path, *, length_width: int = 26, tlast: bool = True, in_bytes: int = 16,
              out_bytes: int = 4, dma_out_bytes: int = 4, mm_bits: int = 64) -> None:
    """A Vivado-style .hwh of the kit's design (PS7 + AXI DMA + accelerator [+ TLAST] + converter)."""
    ps_params = {"PCW_FPGA0_PERIPHERAL_FREQMHZ": 100, "PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ": "100.000000",
                 "PCW_FCLK0_PERIPHERAL_DIVISOR0": 5, "PCW_FCLK0_PERIPHERAL_DIVISOR1": 2,
                 "PCW_FPGA_FCLK0_ENABLE": 1, "PCW_FCLK0_PERIPHERAL_CLKSRC": "IO PLL", "PCW_EN_CLK0_PORT": 1,
                 "PCW_USE_S_AXI_HP0": 1, "PCW_USE_M_AXI_GP0": 1}
    for i in (1, 2, 3):
        ps_params.update({f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0": 1, f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1": 1,
                          f"PCW_FPGA_FCLK{i}_ENABLE": 0, f"PCW_FCLK{i}_PERIPHERAL_CLKSRC": "IO PLL"})
    gp0 = ('<BUSINTERFACE BUSNAME="ps7_M_AXI_GP0" DATAWIDTH="32" NAME="M_AXI_GP0" TYPE="MASTER" '
           'VLNV="xilinx.com:interface:aximm:1.0"/>')
    hp0 = ('<BUSINTERFACE BUSNAME="dma_M_AXI" DATAWIDTH="64" NAME="S_AXI_HP0" TYPE="SLAVE" '
           'VLNV="xilinx.com:interface:aximm:1.0"/>')
    ps_map = ('<MEMORYMAP><MEMRANGE ADDRESSBLOCK="Reg" BASENAME="C_BASEADDR" BASEVALUE="0x40400000" '
              'HIGHNAME="C_HIGHADDR" HIGHVALUE="0x4040FFFF" INSTANCE="axi_dma_0" IS_DATA="TRUE" '
              'IS_INSTRUCTION="TRUE" MASTERBUSINTERFACE="M_AXI_GP0" MEMTYPE="REGISTER" '
              'SLAVEBUSINTERFACE="S_AXI_LITE"/></MEMORYMAP>')
    ps = _module("processing_system7_0", "processing_system7", "xilinx.com:ip:processing_system7:5.5",
                 ps_params, [gp0, hp0], ps_map)
    ps = ps.replace('IPTYPE="PERIPHERAL"', 'IPTYPE="PERIPHERAL" IS_PL="FALSE"')
    dma_params = {"C_INCLUDE_SG": 0, "C_SG_LENGTH_WIDTH": length_width, "C_MICRO_DMA": 0,
                  "C_INCLUDE_MM2S": 1, "C_INCLUDE_S2MM": 1, "C_INCLUDE_MM2S_DRE": 0, "C_INCLUDE_S2MM_DRE": 0,
                  "C_M_AXI_MM2S_DATA_WIDTH": mm_bits, "C_M_AXI_S2MM_DATA_WIDTH": mm_bits,
                  "C_M_AXIS_MM2S_TDATA_WIDTH": in_bytes * 8, "C_S_AXIS_S2MM_TDATA_WIDTH": dma_out_bytes * 8,
                  "C_BASEADDR": "0x40400000", "C_HIGHADDR": "0x4040FFFF"}
    dma_params.update({k.lower(): v for k, v in dma_params.items() if k.startswith("C_") and "ADDR" not in k})
    s2mm_bus = "conv_M_AXIS" if dma_out_bytes != out_bytes else ("pkt_m_out" if tlast else "accel_m_axis_0")
    dma_buses = [
        '<BUSINTERFACE BUSNAME="ps7_M_AXI_GP0" DATAWIDTH="32" NAME="S_AXI_LITE" TYPE="SLAVE" '
        'VLNV="xilinx.com:interface:aximm:1.0"/>',
        f'<BUSINTERFACE BUSNAME="dma_M_AXI" DATAWIDTH="{mm_bits}" NAME="M_AXI_MM2S" TYPE="MASTER" '
        'VLNV="xilinx.com:interface:aximm:1.0"/>',
        f'<BUSINTERFACE BUSNAME="dma_M_AXI" DATAWIDTH="{mm_bits}" NAME="M_AXI_S2MM" TYPE="MASTER" '
        'VLNV="xilinx.com:interface:aximm:1.0"/>',
        _axis("M_AXIS_MM2S", "dma_M_AXIS_MM2S", "INITIATOR", in_bytes, True),
        _axis("S_AXIS_S2MM", s2mm_bus, "TARGET", dma_out_bytes, True)]
    dma_map = ('<MEMORYMAP><MEMRANGE ADDRESSBLOCK="HP0_DDR_LOWOCM" BASENAME="C_BASEADDR" '
               'BASEVALUE="0x00000000" HIGHNAME="C_HIGHADDR" HIGHVALUE="0x1FFFFFFF" '
               'INSTANCE="processing_system7_0" IS_DATA="TRUE" '
               'IS_INSTRUCTION="TRUE" MASTERBUSINTERFACE="M_AXI_MM2S" MEMTYPE="MEMORY" '
               'SLAVEBUSINTERFACE="S_AXI_HP0"/></MEMORYMAP>')
    dma = _module("axi_dma_0", "axi_dma", "xilinx.com:ip:axi_dma:7.1", dma_params, dma_buses, dma_map)
    modules = [ps, dma]
    accel_in = "pkt_m_in" if tlast else "dma_M_AXIS_MM2S"
    modules.append(_module("finn_accel_0", "finn_design", "xilinx.com:hls:finn_design:1.0", {}, [
        _axis("s_axis_0", accel_in, "TARGET", in_bytes, False),
        _axis("m_axis_0", "accel_m_axis_0", "INITIATOR", out_bytes, False)]))
    after = "accel_m_axis_0"
    if tlast:
        modules.append(_module("axis_tlast_packetizer_0", "axis_tlast_packetizer",
                               "course.kit:user:axis_tlast_packetizer:1.0",
                               {"IN_BEATS": 49, "OUT_BEATS": 5}, [
            _axis("s_axis_in", "dma_M_AXIS_MM2S", "TARGET", in_bytes, True),
            _axis("m_axis_in", "pkt_m_in", "INITIATOR", in_bytes, False),
            _axis("s_axis_out", "accel_m_axis_0", "TARGET", out_bytes, False),
            _axis("m_axis_out", "pkt_m_out", "INITIATOR", out_bytes, True)]))
        after = "pkt_m_out"
    if dma_out_bytes != out_bytes:
        modules.append(_module("axis_dwidth_converter_0", "axis_dwidth_converter",
                               "xilinx.com:ip:axis_dwidth_converter:1.1",
                               {"S_TDATA_NUM_BYTES": out_bytes, "M_TDATA_NUM_BYTES": dma_out_bytes}, [
            _axis("S_AXIS", after, "TARGET", out_bytes, tlast),
            _axis("M_AXIS", "conv_M_AXIS", "INITIATOR", dma_out_bytes, tlast)]))
    xml = ('<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n'
           '<EDKSYSTEM EDWVERSION="1.2" TIMESTAMP="test" VIVADOVERSION="2022.2">'
           '<SYSTEMINFO ARCH="zynq" DEVICE="7z020" NAME="tiny" PACKAGE="clg400" SPEEDGRADE="-1"/>'
           f'<EXTERNALPORTS/><EXTERNALINTERFACES/><MODULES>{"".join(modules)}</MODULES></EDKSYSTEM>\n')
    path.write_text(xml, encoding="utf-8")


def make_package(folder: Path, *, length_width: int = 26, tlast: bool = True, seed: int = 0,
                 n_golden: int = 32) -> Path:
    """Write the tiny deploy package into ``folder / NAME`` and return that folder."""
    rng = np.random.default_rng(seed)
    out = folder / NAME
    out.mkdir(parents=True, exist_ok=True)
    w0 = rng.integers(-7, 8, (784, HIDDEN))
    acc = rng.integers(0, 256, (256, 784)) @ w0
    t0 = np.sort(np.quantile(acc, np.linspace(0.05, 0.95, 15), axis=0).T.round(), axis=1).astype(np.int64)
    w1 = rng.integers(-7, 8, (HIDDEN, 10))
    np.savez(out / "dataflow.npz", **{"MVAU_rtl_0.W": w0, "Thresholding_rtl_0.T": t0, "MVAU_rtl_1.W": w1})
    spec = {
        "schema": 1, "name": NAME, "board": "pynq-z2", "part": "xc7z020clg400-1", "clock_mhz": 100.0,
        "ip_name": "finn_accel_0", "dma_name": "axi_dma_0",
        "input": {"datatype": "UINT8", "shape_normal": [1, 784], "shape_folded": [1, 49, 16],
                  "shape_packed": [1, 49, 16], "stream_width_bits": 128, "bytes_per_sample": 784},
        "output": {"datatype": "INT12", "shape_normal": [1, 10], "shape_folded": [1, 5, 2],
                   "shape_packed": [1, 5, 4], "stream_width_bits": 32, "bytes_per_sample": 20},
        "output_scale": 0.01,
        "dma": {"mm2s_width_bits": 128, "s2mm_width_bits": 32, "length_width": length_width,
                "max_transfer_bytes": (1 << length_width) - 1},
        "tlast": "per_packet" if tlast else "none",
        "estimates": {"cycles_per_sample": 196, "latency_cycles": 420, "fps": 510204.0, "latency_us": 4.2,
                      "resources": {"LUT": 1000, "BRAM_18K": 4, "DSP": 16}, "bottleneck": "MVAU_rtl_0"},
        "layers": [
            {"name": "MVAU_rtl_0", "op": "MVAU", "MW": 784, "MH": HIDDEN, "SIMD": 16, "PE": 4,
             "input_dt": "UINT8", "weight_dt": "INT4", "output_dt": "INT22", "weights": "MVAU_rtl_0.W"},
            {"name": "Thresholding_rtl_0", "op": "Thresholding", "channels": HIDDEN, "PE": 4,
             "input_dt": "INT22", "output_dt": "UINT4", "act_val": 0, "thresholds": "Thresholding_rtl_0.T"},
            {"name": "MVAU_rtl_1", "op": "MVAU", "MW": HIDDEN, "MH": 10, "SIMD": 4, "PE": 2,
             "input_dt": "UINT4", "weight_dt": "INT4", "output_dt": "INT12", "weights": "MVAU_rtl_1.W"}],
        "bitstream": {"file": f"{NAME}.bit", "placeholder": True},
        "versions": {"course-utils": "test"},
    }
    (out / "accelerator.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    (out / f"{NAME}.bit").write_text("PLACEHOLDER BITSTREAM (test fixture)\n", encoding="utf-8")
    write_hwh(out / f"{NAME}.hwh", length_width=length_width, tlast=tlast)
    model = AcceleratorModel.from_package(out)
    x = rng.integers(0, 256, (n_golden, 784)).astype(np.uint8)
    y = model.run(x)
    np.savez(out / "golden.npz", x=x, y_int=y, pred=np.argmax(y, axis=1),
             labels=rng.integers(0, 10, n_golden))
    return out
