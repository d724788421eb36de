"""Follow the AXI-Stream nets of a .hwh: what each AXI DMA streams into, and what streams back.

From a DMA's ``M_AXIS_MM2S`` the path goes through pass-through IP (width converters, FIFOs, register
slices, the kit's ``axis_tlast_packetizer``) to the accelerator; from the DMA's ``S_AXIS_S2MM`` it goes
back upstream to the accelerator. TLAST reaches the S2MM channel only if an ``axis_tlast_packetizer``
sits on that return path: a FINN accelerator on its own never asserts TLAST.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

PASS_THROUGH = ("axis_dwidth_converter", "axis_data_fifo", "axis_register_slice", "axis_subset_converter",
                "axis_clock_converter", "axis_tlast_packetizer")
TLAST_MODULE = "axis_tlast_packetizer"


@dataclass
class StreamPath:
    """The stream wiring of one AXI DMA, as found in the .hwh."""

    dma: str
    target: str | None = None          # module at the end of the MM2S path (the accelerator)
    source: str | None = None          # module at the start of the S2MM path
    mm2s_via: list[str] = field(default_factory=list)
    s2mm_via: list[str] = field(default_factory=list)
    tlast: bool = False                # an axis_tlast_packetizer is on the S2MM path
    fifo_bytes: int = 0                # capacity of axis_data_fifo blocks on the S2MM path

    def describe(self) -> str:
        """One line per direction, e.g. ``axi_dma_0.M_AXIS_MM2S -> conv -> finn_accel_0``."""
        there = " -> ".join([f"{self.dma}.M_AXIS_MM2S", *self.mm2s_via, str(self.target)])
        back = " -> ".join([str(self.source), *reversed(self.s2mm_via), f"{self.dma}.S_AXIS_S2MM"])
        return f"{there}\n{back}"


def _is_axis(bi: ET.Element) -> bool:
    """True for an AXI-Stream bus interface."""
    return "interface:axis" in (bi.get("VLNV") or "")


def _partner(module: ET.Element, entered: ET.Element) -> ET.Element | None:
    """The stream interface of a pass-through module that carries on from ``entered``."""
    ifs = [b for b in module.iter("BUSINTERFACE") if _is_axis(b) and b is not entered]
    name = (entered.get("NAME") or "").lower()
    for prefix, other in (("s_", "m_"), ("m_", "s_")):
        if name.startswith(prefix):
            want = other + name[len(prefix):]
            match = [b for b in ifs if (b.get("NAME") or "").lower() == want]
            if match:
                return match[0]
    return ifs[0] if len(ifs) == 1 else None


def _fifo_bytes(module: ET.Element) -> int:
    """Bytes an axis_data_fifo holds (depth x TDATA bytes), 0 for other modules."""
    if not (module.get("MODTYPE") or "").startswith("axis_data_fifo"):
        return 0
    params = {p.get("NAME"): p.get("VALUE") for p in module.iter("PARAMETER")}
    try:
        return int(params.get("FIFO_DEPTH") or 0) * int(params.get("TDATA_NUM_BYTES") or 0)
    except ValueError:
        return 0


def trace_streams(hwh: str | Path) -> dict[str, StreamPath]:
    """The :class:`StreamPath` of every AXI DMA in the .hwh, keyed by DMA instance name."""
    root = ET.parse(str(hwh)).getroot()
    nets: dict[str, list[tuple[ET.Element, ET.Element]]] = {}
    for m in root.iter("MODULE"):
        for bi in m.iter("BUSINTERFACE"):
            bus = bi.get("BUSNAME")
            if _is_axis(bi) and bus and bus != "__NOC__":
                nets.setdefault(bus, []).append((m, bi))

    def walk(module: ET.Element, bi: ET.Element, via: list[ET.Element]) -> ET.Element | None:
        """The first module past pass-through IP on the net of ``bi`` (collected in ``via``)."""
        for _ in range(32):
            others = [(m, b) for m, b in nets.get(bi.get("BUSNAME") or "", []) if m is not module]
            if not others:
                return None
            module, entered = others[0]
            if not (module.get("MODTYPE") or "").startswith(PASS_THROUGH):
                return module
            via.append(module)
            nxt = _partner(module, entered)
            if nxt is None:
                return None
            bi = nxt
        return None

    paths = {}
    for m in root.iter("MODULE"):
        if m.get("MODTYPE") != "axi_dma":
            continue
        path = StreamPath(m.get("INSTANCE", ""))
        ifs = {b.get("NAME"): b for b in m.iter("BUSINTERFACE") if _is_axis(b)}
        if "M_AXIS_MM2S" in ifs:
            via: list[ET.Element] = []
            target = walk(m, ifs["M_AXIS_MM2S"], via)
            path.target = target.get("INSTANCE") if target is not None else None
            path.mm2s_via = [v.get("INSTANCE", "") for v in via]
        if "S_AXIS_S2MM" in ifs:
            via = []
            source = walk(m, ifs["S_AXIS_S2MM"], via)
            path.source = source.get("INSTANCE") if source is not None else None
            path.s2mm_via = [v.get("INSTANCE", "") for v in via]
            path.tlast = any((v.get("MODTYPE") or "").startswith(TLAST_MODULE) for v in via)
            path.fifo_bytes = sum(_fifo_bytes(v) for v in via)
        paths[path.dma] = path
    return paths
