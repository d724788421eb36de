"""The kit's generated ``.hwh`` against one Vivado wrote: ``resizer.hwh`` from the ``pynqmetadata`` sdist.

``scripts/fetch_vivado_hwh.py`` (run by ``make setup``) puts the sdist, checked against its pinned sha256,
into ``build/reference/``; without it (offline) the tests skip with that reason. No network here.

The two designs share four IP blocks: AXI DMA 7.1, ZYNQ7 PS 5.5, Processor System Reset 5.0 and the memory-
side AXI Interconnect 2.1 (two slaves from the DMA's MM2S/S2MM, one master to HP0; paired by that role). For
each: the MODULE's identity, its ports (direction, width and whether Vivado writes it as a vector, SIGIS),
its bus interfaces (TYPE, VLNV, data width, port maps) and the parameters pynq reads (pynq 3.1's
``pynq.lib.dma`` and the Zynq clock code of ``pynqmetadata.models.zynq_proc_sys_core`` /
``pynq.pl_server.hwh_parser``). Differences that come from the designs' configurations (burst size, clock
plan, interconnect signal superset) are listed exactly in ``KNOWN``: a new difference, or a known one that
disappears, fails.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("fetch_vivado_hwh", ROOT / "scripts" / "fetch_vivado_hwh.py")
fetch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fetch)
ACCEL = ROOT / "pretrained" / "lab2" / "deploy" / "mnist_w4a4" / "accelerator.json"

# parameters pynq reads from the DMA's description (pynq/lib/dma.py): value must parse as an integer
DMA_PARAMS = ("c_micro_dma", "c_include_sg", "c_sg_length_width", "c_include_mm2s", "c_include_mm2s_dre",
              "c_m_axi_mm2s_data_width", "c_mm2s_burst_size", "c_include_s2mm", "c_include_s2mm_dre",
              "c_m_axi_s2mm_data_width", "c_s2mm_burst_size")
# ... of which these describe the same choices in both designs and must be equal
DMA_SAME = ("c_micro_dma", "c_include_sg", "c_include_mm2s", "c_include_s2mm", "c_include_mm2s_dre",
            "c_include_s2mm_dre", "c_m_axi_mm2s_data_width", "c_m_axi_s2mm_data_width")
PS_CLOCK_PARAMS = [f"PCW_FCLK{i}_PERIPHERAL_DIVISOR{d}" for i in range(4) for d in (0, 1)] + \
    [f"PCW_FPGA_FCLK{i}_ENABLE" for i in range(4)] + [f"PCW_FCLK{i}_PERIPHERAL_CLKSRC" for i in range(4)]

# Differences that follow from the two designs' configurations, not from a wrong model. Kept exact.
KNOWN = {
    # resizer's interconnect exposes every AXI signal on its slave ports (unused ones tied off) and
    # AxREGION on M00; the kit's model mirrors the connected master (read-only MM2S, write-only S2MM). The ID
    # width of M00 is 1 bit in Vivado (log2 of two slaves), the kit gives HP0's 6. pynq reads none of these
    # ports.
    "axi_interconnect ports only in Vivado": 47,
    "axi_interconnect port differs": {"M00_AXI_arid", "M00_AXI_awid", "M00_AXI_wid"},
    "axi_interconnect portmaps differ": {"S00_AXI", "S01_AXI", "M00_AXI"},
    # the kit's Tcl sets burst size 16 (resizer: 256); the clock plan follows each board's crystal
    "axi_dma value differs": {"c_mm2s_burst_size", "c_s2mm_burst_size"},
}


def _reference_hwh() -> ET.Element:
    sdist = fetch.cache_dir() / fetch.SDIST
    if not sdist.is_file():
        pytest.skip(f"Vivado's reference .hwh is not cached ({sdist}): run `make setup` once with network "
                    "(scripts/fetch_vivado_hwh.py)")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    assert digest == fetch.SHA256, (f"{sdist} has sha256 {digest}, pinned {fetch.SHA256}: delete it and run "
                                    "`python3 scripts/fetch_vivado_hwh.py`")
    with tarfile.open(sdist) as tar:
        return ET.fromstring(tar.extractfile(fetch.MEMBER).read())


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[ET.Element, ET.Element]:
    vivado = _reference_hwh()
    from course_utils.hw.hwh import generate_hwh

    out = tmp_path_factory.mktemp("hwh") / "kit.hwh"
    generate_hwh(json.loads(ACCEL.read_text(encoding="utf-8")), out)
    return vivado, ET.parse(out).getroot()


def _module(root: ET.Element, modtype: str) -> ET.Element:
    found = [m for m in root.iter("MODULE") if m.get("MODTYPE") == modtype]
    if modtype == "axi_interconnect":  # the memory-side one: its S00_AXI comes from the DMA's MM2S
        found = [m for m in found
                 if any(b.get("NAME") == "S00_AXI" and "M_AXI_MM2S" in (b.get("BUSNAME") or "")
                        for b in m.iter("BUSINTERFACE"))]
    assert len(found) == 1, f"{modtype}: {[m.get('INSTANCE') for m in found]}"
    return found[0]


def _ports(m: ET.Element) -> dict[str, tuple]:
    """name -> (DIR, width, written as a vector, SIGIS), as pynqmetadata reads a PORT."""
    out = {}
    for p in m.find("PORTS"):
        vector = p.get("LEFT") is not None
        width = int(p.get("LEFT")) - int(p.get("RIGHT")) + 1 if vector else 1
        out[p.get("NAME")] = (p.get("DIR"), width, vector, p.get("SIGIS"))
    return out


def _busifs(m: ET.Element) -> dict[str, tuple]:
    out = {}
    for b in m.findall("./BUSINTERFACES/BUSINTERFACE"):
        maps = frozenset((pm.get("LOGICAL"), pm.get("PHYSICAL")) for pm in b.iter("PORTMAP"))
        out[b.get("NAME")] = (b.get("TYPE"), b.get("VLNV"), b.get("DATAWIDTH"), maps)
    return out


def _params(m: ET.Element) -> dict[str, str]:
    return {p.get("NAME"): p.get("VALUE") for p in m.findall("./PARAMETERS/PARAMETER")}


IDENTITY = ("VLNV", "MODTYPE", "HWVERSION", "IPTYPE", "MODCLASS", "IS_PL", "CONFIGURABLE")


@pytest.mark.parametrize("modtype", ["axi_dma", "processing_system7", "proc_sys_reset", "axi_interconnect"])
def test_module_identity(pair, modtype):
    viv, kit = (_module(r, modtype) for r in pair)
    assert {k: viv.get(k) for k in IDENTITY} == {k: kit.get(k) for k in IDENTITY}


@pytest.mark.parametrize("modtype", ["axi_dma", "processing_system7", "proc_sys_reset"])
def test_ports_and_bus_interfaces_match(pair, modtype):
    viv, kit = (_module(r, modtype) for r in pair)
    pv, pk = _ports(viv), _ports(kit)
    assert sorted(set(pv) - set(pk)) == [], "ports Vivado has and the kit lacks"
    assert sorted(set(pk) - set(pv)) == [], "ports the kit invents"
    assert {n: (pv[n], pk[n]) for n in pv if pv[n] != pk[n]} == {}, "(Vivado, kit): DIR, width, vector, SIGIS"
    bv, bk = _busifs(viv), _busifs(kit)
    assert sorted(bv) == sorted(bk)
    assert {n: (bv[n][:3], bk[n][:3]) for n in bv if bv[n][:3] != bk[n][:3]} == {}, "TYPE, VLNV, DATAWIDTH"
    assert {n: bv[n][3] ^ bk[n][3] for n in bv if bv[n][3] != bk[n][3]} == {}, "port maps"


def test_interconnect_differs_only_as_known(pair):
    viv, kit = (_module(r, "axi_interconnect") for r in pair)
    pv, pk = _ports(viv), _ports(kit)
    assert set(pk) <= set(pv), sorted(set(pk) - set(pv))
    assert len(set(pv) - set(pk)) == KNOWN["axi_interconnect ports only in Vivado"], sorted(set(pv) - set(pk))
    assert {n for n in pk if pv[n] != pk[n]} == KNOWN["axi_interconnect port differs"]
    bv, bk = _busifs(viv), _busifs(kit)
    assert sorted(bv) == sorted(bk)
    assert {n: (bv[n][:3], bk[n][:3]) for n in bv if bv[n][:3] != bk[n][:3]} == {}
    assert {n for n in bv if bv[n][3] != bk[n][3]} == KNOWN["axi_interconnect portmaps differ"]
    for n in bk:  # the kit's port maps are a subset of Vivado's: same physical names for the same signals
        assert bk[n][3] <= bv[n][3], (n, sorted(bk[n][3] - bv[n][3]))


def test_dma_parameters_pynq_reads(pair):
    qv, qk = (_params(_module(r, "axi_dma")) for r in pair)
    for name in DMA_PARAMS:
        assert name in qv, f"Vivado's .hwh lacks {name}: the list of what pynq reads is wrong"
        assert name in qk, f"the kit's .hwh lacks {name}, which pynq's DMA driver reads"
        int(qv[name]), int(qk[name])
    assert {n: (qv[n], qk[n]) for n in DMA_SAME if qv[n] != qk[n]} == {}
    assert {n for n in DMA_PARAMS if qv[n] != qk[n]} == KNOWN["axi_dma value differs"]
    # the upper-case HDL names carry the same values as pynq's lower-case ones, in both files
    for q in (qv, qk):
        assert q["C_MM2S_BURST_SIZE"] == q["c_mm2s_burst_size"] and q["C_INCLUDE_SG"] == q["c_include_sg"]


def test_ps7_clock_parameters_pynq_reads(pair):
    """Both files name every FCLK parameter pynq reads, and each file's dividers give its FCLK frequency."""
    for root in pair:
        q = _params(_module(root, "processing_system7"))
        missing = [n for n in PS_CLOCK_PARAMS if n not in q]
        assert missing == [], missing
        pll = float(q["PCW_IO_IO_PLL_FREQMHZ"])
        for i in range(4):
            assert q[f"PCW_FCLK{i}_PERIPHERAL_CLKSRC"] == "IO PLL"
            if q[f"PCW_FPGA_FCLK{i}_ENABLE"] != "1":
                continue  # a disabled clock keeps placeholder dividers in Vivado's file
            d0, d1 = int(q[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0"]), int(q[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1"])
            assert pll / (d0 * d1) == pytest.approx(float(q[f"PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ"]), rel=1e-5)
        assert q["PCW_FPGA_FCLK0_ENABLE"] == "1"
        assert float(q["PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ"]) == pytest.approx(100.0)


def test_missing_reference_skips_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_REFERENCE_CACHE", str(tmp_path / "empty"))
    with pytest.raises(pytest.skip.Exception, match=r"run `make setup` once with network"):
        _reference_hwh()


def test_reference_cache_refuses_a_corrupted_file(tmp_path, monkeypatch):
    """The fetch script's check: a cached file with the wrong content is not taken for the reference."""
    monkeypatch.setenv("COURSE_REFERENCE_CACHE", str(tmp_path))
    bad = tmp_path / fetch.SDIST
    bad.write_bytes(b"not the sdist")
    assert not fetch.verified(bad)
    assert fetch.verified(tmp_path / "absent.tar.gz") is False
