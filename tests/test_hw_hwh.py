"""The .hwh generated from the dry run of the block-design Tcl (XML checks; pynq's parser: tests/board)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from _hw_helpers import accelerator_desc

from course_utils.hw import blockdesign as bd
from course_utils.hw.hwh import generate_hwh, render_hwh


@pytest.fixture(scope="module")
def hwh(tmp_path_factory: pytest.TempPathFactory) -> ET.Element:
    path = generate_hwh(accelerator_desc(), tmp_path_factory.mktemp("hwh") / "kit.hwh")
    return ET.parse(path).getroot()


def _module(root: ET.Element, inst: str) -> ET.Element:
    found = [m for m in root.iter("MODULE") if m.get("INSTANCE") == inst]
    assert len(found) == 1, f"{inst}: {len(found)} modules"
    return found[0]


def _params(mod: ET.Element) -> dict[str, str]:
    return {p.get("NAME"): p.get("VALUE") for p in mod.find("PARAMETERS")}


def _busif(mod: ET.Element, name: str) -> ET.Element:
    return next(b for b in mod.iter("BUSINTERFACE") if b.get("NAME") == name)


def test_modules_are_the_design_cells(hwh: ET.Element) -> None:
    design = bd.dry_run(bd.params_from_accelerator(accelerator_desc()))
    assert sorted(m.get("INSTANCE") for m in hwh.iter("MODULE")) == sorted(design.cells)
    info = hwh.find("SYSTEMINFO")
    assert (info.get("ARCH"), info.get("DEVICE"), info.get("PACKAGE"), info.get("SPEEDGRADE")) == (
        "zynq",
        "7z020",
        "clg400",
        "-1",
    )
    dma = _module(hwh, "axi_dma_0")
    assert (dma.get("VLNV"), dma.get("MODTYPE")) == ("xilinx.com:ip:axi_dma:7.1", "axi_dma")
    assert _module(hwh, "tlast_0").get("MODTYPE") == "axis_tlast_packetizer"
    assert _module(hwh, "axis_dwidth_out").get("MODTYPE") == "axis_dwidth_converter"
    assert _module(hwh, "processing_system7_0").get("IS_PL") == "FALSE"


def test_dma_parameters_and_address(hwh: ET.Element) -> None:
    p = _params(_module(hwh, "axi_dma_0"))
    assert p["c_sg_length_width"] == "26" and p["c_include_sg"] == "0"
    assert p["c_m_axis_mm2s_tdata_width"] == "128" and p["c_s_axis_s2mm_tdata_width"] == "32"
    assert (p["C_BASEADDR"], p["C_HIGHADDR"]) == ("0x40400000", "0x4040FFFF")
    ps = _module(hwh, "processing_system7_0")
    ranges = [
        (r.get("INSTANCE"), r.get("BASEVALUE"), r.get("MASTERBUSINTERFACE")) for r in ps.iter("MEMRANGE")
    ]
    assert ranges == [("axi_dma_0", "0x40400000", "M_AXI_GP0")]
    dma_ranges = {
        (r.get("MASTERBUSINTERFACE"), r.get("HIGHVALUE"), r.get("MEMTYPE"))
        for r in _module(hwh, "axi_dma_0").iter("MEMRANGE")
    }
    assert dma_ranges == {("M_AXI_MM2S", "0x1FFFFFFF", "MEMORY"), ("M_AXI_S2MM", "0x1FFFFFFF", "MEMORY")}
    regs = {r.get("NAME") for r in _module(hwh, "axi_dma_0").iter("REGISTER")}
    assert {"MM2S_DMACR", "MM2S_DMASR", "MM2S_LENGTH", "S2MM_DA", "S2MM_LENGTH"} <= regs


def _follow(root: ET.Element, inst: str, busif: str) -> list[str]:
    """Modules an AXI-Stream passes through (by BUSNAME), as the virtual board follows it."""
    nets: dict[str, list[tuple[str, str]]] = {}
    for m in root.iter("MODULE"):
        for b in m.iter("BUSINTERFACE"):
            if "axis" in (b.get("VLNV") or "") and b.get("BUSNAME"):
                nets.setdefault(b.get("BUSNAME"), []).append((m.get("INSTANCE"), b.get("NAME")))
    path = []
    here = (inst, busif)
    for _ in range(8):
        net = next((n for n in nets.values() if here in n), None)
        if net is None:
            break
        peer = next(e for e in net if e != here)
        path.append(peer[0])
        if peer[0] == "tlast_0":
            here = ("tlast_0", peer[1].replace("s_axis", "m_axis"))
        elif peer[0].startswith("axis_dwidth"):
            here = (peer[0], "M_AXIS")
        else:
            break
    return path


def test_stream_nets_through_the_tlast_module(hwh: ET.Element) -> None:
    assert _follow(hwh, "axi_dma_0", "M_AXIS_MM2S") == ["tlast_0", "finn_accel_0"]
    assert _follow(hwh, "finn_accel_0", "m_axis_0") == ["tlast_0", "axis_dwidth_out", "axi_dma_0"]
    out = _busif(_module(hwh, "tlast_0"), "m_axis_out")
    params = {p.get("NAME"): p.get("VALUE") for p in out.iter("PARAMETER")}
    assert params["HAS_TLAST"] == "1" and params["TDATA_NUM_BYTES"] == "20"
    # the physical TLAST wire runs from the packetizer to the converter and on to the DMA
    tlast_port = next(
        p for p in _module(hwh, "axi_dma_0").iter("PORT") if p.get("NAME") == "s_axis_s2mm_tlast"
    )
    assert [(c.get("INSTANCE"), c.get("PORT")) for c in tlast_port.iter("CONNECTION")] == [
        ("axis_dwidth_out", "m_axis_tlast")
    ]


def test_without_tlast_the_s2mm_tlast_is_not_driven(tmp_path: Path) -> None:
    root = ET.parse(generate_hwh(accelerator_desc(), tmp_path / "n.hwh", tlast=False)).getroot()
    assert "tlast_0" not in {m.get("INSTANCE") for m in root.iter("MODULE")}
    assert _follow(root, "finn_accel_0", "m_axis_0") == ["axis_dwidth_out", "axi_dma_0"]
    conv_tlast = next(
        p for p in _module(root, "axis_dwidth_out").iter("PORT") if p.get("NAME") == "s_axis_tlast"
    )
    assert list(conv_tlast.iter("CONNECTION")) == []  # tied off: TLAST never comes


def test_length_width_variant(tmp_path: Path) -> None:
    root = ET.parse(generate_hwh(accelerator_desc(), tmp_path / "l.hwh", length_width=14)).getroot()
    assert _params(_module(root, "axi_dma_0"))["c_sg_length_width"] == "14"


def test_every_connection_is_symmetric_and_points_at_real_ports(hwh: ET.Element) -> None:
    ports = {(m.get("INSTANCE"), p.get("NAME")): p for m in hwh.iter("MODULE") for p in m.iter("PORT")}
    ext = {p.get("NAME") for p in hwh.find("EXTERNALPORTS")}
    n = 0
    for (inst, name), port in ports.items():
        for c in port.iter("CONNECTION"):
            n += 1
            target = (c.get("INSTANCE"), c.get("PORT"))
            if target[0] == "kit_bd_imp":
                assert target[1] in ext
                continue
            assert target in ports, f"{inst}/{name} -> {target}"
            back = [(x.get("INSTANCE"), x.get("PORT")) for x in ports[target].iter("CONNECTION")]
            assert (inst, name) in back, f"{target} does not connect back to {inst}/{name}"
            assert {port.get("DIR"), ports[target].get("DIR")} == {"I", "O"}, f"{inst}/{name} <-> {target}"
    assert n > 300
    assert {"DDR_addr", "FIXED_IO_mio"} <= ext


def test_rendering_is_deterministic() -> None:
    design = bd.dry_run(bd.params_from_accelerator(accelerator_desc()))
    assert render_hwh(design, timestamp="t") == render_hwh(design, timestamp="t")


def test_generated_file_is_reproducible(tmp_path: Path) -> None:
    a = generate_hwh(accelerator_desc(), tmp_path / "a.hwh").read_bytes()
    b = generate_hwh(accelerator_desc(), tmp_path / "b.hwh").read_bytes()
    assert a == b
    assert not list(tmp_path.glob("*.tmp"))
