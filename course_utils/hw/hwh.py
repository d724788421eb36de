"""Write the ``.hwh`` hardware hand-off of the kit's block design, from the dry-run record of its Tcl.

Vivado writes a ``<design>.hwh`` next to every block design; ``pynq.Overlay`` reads it (through
``pynqmetadata``) to find the IP, their addresses and parameters (the AXI DMA's stream widths and
length register), the PL clocks, and (the kit's virtual board) the AXI-Stream path from the DMA
through the accelerator and back. Off-board, nobody runs Vivado, so the kit writes the file itself
from the design that ``tcl/blockdesign.tcl`` builds in the dry run (``dryrun``): the same cells,
nets, parameters and address map the real build gets, in Vivado's format (EDKSYSTEM 1.2, as in
pynqmetadata's ``tests/hwhs/resizer.hwh``). ``generate_hwh(..., tlast=False)`` writes the variant
without the TLAST module (the "missing TLAST" pitfall of Lab 3).
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from course_utils.fileio import write_text_atomic
from course_utils.hw import ipmodels as ipm
from course_utils.hw.blockdesign import dry_run, params_from_accelerator
from course_utils.hw.dryrun import Design

GENERATOR = "course-kit dry run of tcl/blockdesign.tcl"


def _signame(design: Design, cell: str, port: str) -> str:
    return f"{cell}_{port}" if cell else port


class _Wiring:
    """Physical connections of the design: which (cell, physical port) drives which."""

    def __init__(self, design: Design) -> None:
        self.design = design
        self.models = {name: design.model(name) for name in design.cells}
        self.signals: dict[tuple[str, str], list[ipm.Signal]] = {}  # (cell, intf) -> its signals
        self.links: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (cell, port) -> connected ports
        self.signame: dict[tuple[str, str], str] = {}
        self.extern: dict[str, tuple[str, ipm.Signal]] = {}  # ext port physical name -> (intf name, signal)
        self._intf_signals()
        self._intf_links()
        self._net_links()

    def _intf_signals(self) -> None:
        for cell, model in self.models.items():
            for ip in model.intf_pins.values():
                self.signals[(cell, ip.name)] = list(ip.signals)
        for net in self.design.intf_nets:  # adaptive (interconnect) ports mirror their peer
            a, b = net.ends
            for mine, other in ((a, b), (b, a)):
                if mine[0] and self.models[mine[0]].intf_pins[mine[1]].adaptive and other[0]:
                    flip = {"I": "O", "O": "I", "IO": "IO"}
                    prefix = mine[1] + "_"
                    self.signals[mine] = [
                        ipm.Signal(s.logical, prefix + s.logical.lower(), s.width, flip[s.direction])
                        for s in self.signals[other]
                    ]

    def _link(self, driver: tuple[str, str], load: tuple[str, str], name: str) -> None:
        self.links.setdefault(driver, []).append(load)
        self.links.setdefault(load, []).append(driver)
        self.signame.setdefault(driver, name)
        self.signame.setdefault(load, name)

    def _intf_links(self) -> None:
        for net in self.design.intf_nets:
            (ca, pa), (cb, pb) = net.ends
            if not ca or not cb:  # an external interface port: one physical port per signal
                cell, pin = (ca, pa) if ca else (cb, pb)
                port_name = pb if ca else pa
                for sig in self.signals[(cell, pin)]:
                    ext = f"{port_name}_{sig.logical.lower()}"
                    self.extern[ext] = (port_name, sig)
                    self._link((cell, sig.physical), ("", ext), _signame(self.design, cell, sig.physical))
                continue
            sigs_b = {s.logical: s for s in self.signals[(cb, pb)]}
            for sa in self.signals[(ca, pa)]:
                sb = sigs_b.get(sa.logical)
                if sb is None:
                    continue  # e.g. TLAST/TKEEP missing on one side: Vivado ties the input off
                driver, load = (
                    ((ca, sa.physical), (cb, sb.physical))
                    if sa.direction == "O"
                    else ((cb, sb.physical), (ca, sa.physical))
                )
                self._link(driver, load, _signame(self.design, *driver))

    def _net_links(self) -> None:
        for net in self.design.nets:
            drivers = [e for e in net.ends if e[0] and self.models[e[0]].pins[e[1]].direction == "O"]
            driver = drivers[0]
            for end in net.ends:
                if end != driver:
                    self._link(driver, end, _signame(self.design, *driver))

    def connections(self, cell: str, port: str) -> list[tuple[str, str]]:
        """Ports connected to ``cell/port``: all loads for a driver, the driver for a load."""
        return self.links.get((cell, port), [])


def _sub(parent: ET.Element, tag: str, **attrs: Any) -> ET.Element:
    return ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})


def _port(
    parent: ET.Element,
    wiring: _Wiring,
    cell: str,
    name: str,
    direction: str,
    width: int,
    sigis: str,
    clk_hz: int | None,
    design_name: str,
    vector: bool = False,
) -> None:
    attrs: dict[str, Any] = {}
    if sigis == "clk" and clk_hz:
        attrs["CLKFREQUENCY"] = clk_hz
    attrs["DIR"] = direction
    if width > 1 or vector:
        attrs["LEFT"] = width - 1
    attrs["NAME"] = name
    if width > 1 or vector:
        attrs["RIGHT"] = 0
    attrs["SIGIS"] = sigis
    links = wiring.connections(cell, name)
    if links:
        attrs["SIGNAME"] = wiring.signame[(cell, name)]
    el = _sub(parent, "PORT", **attrs)
    if links:
        conns = _sub(el, "CONNECTIONS")
        for lc, lp in links:
            _sub(conns, "CONNECTION", INSTANCE=lc or f"{design_name}_imp", PORT=lp)


def _registers(parent: ET.Element, block: ipm.AddrBlock) -> None:
    regs = _sub(parent, "REGISTERS")
    for reg in block.registers:
        r = _sub(regs, "REGISTER", NAME=reg.name)
        for key, value in (
            ("DESCRIPTION", reg.description),
            ("ADDRESS_OFFSET", hex(reg.offset)),
            ("SIZE", 32),
            ("ACCESS", reg.access),
            ("IS_ENABLED", "true"),
            ("RESET_VALUE", "0x0"),
        ):
            _sub(r, "PROPERTY", NAME=key, VALUE=value)
        fields = _sub(r, "FIELDS")
        for fname, lsb, width, access in reg.fields:
            f = _sub(fields, "FIELD", NAME=fname)
            for key, value in (
                ("DESCRIPTION", fname),
                ("ADDRESS_OFFSET", lsb),
                ("ACCESS", access),
                ("BIT_OFFSET", lsb),
                ("BIT_WIDTH", width),
            ):
                _sub(f, "PROPERTY", NAME=key, VALUE=value)


def _memranges(parent: ET.Element, design: Design, cell: str) -> list[str]:
    segs = [s for s in design.addr_segs if s.space_cell == cell]
    if not segs:
        return []
    mm = _sub(parent, "MEMORYMAP")
    model = design.model(cell)
    peripherals = []
    for seg in sorted(segs, key=lambda s: (s.space, s.offset)):
        space = next(s for s in model.addr_spaces if s.name == seg.space)
        slave_model = design.model(seg.slave_cell)
        block = next(b for b in slave_model.addr_blocks if b.intf == seg.slave_intf and b.name == seg.block)
        for intf in space.intfs:
            if design.intf_net_of(cell, intf) is None:
                continue
            _sub(
                mm,
                "MEMRANGE",
                ADDRESSBLOCK=seg.block,
                BASENAME="C_BASEADDR",
                BASEVALUE=f"0x{seg.offset:08X}",
                HIGHNAME="C_HIGHADDR",
                HIGHVALUE=f"0x{seg.high:08X}",
                INSTANCE=seg.slave_cell,
                IS_DATA="TRUE",
                IS_INSTRUCTION="TRUE",
                MASTERBUSINTERFACE=intf,
                MEMTYPE="MEMORY" if block.usage == "memory" else "REGISTER",
                SLAVEBUSINTERFACE=seg.slave_intf,
            )
        if seg.slave_cell not in peripherals:
            peripherals.append(seg.slave_cell)
    return peripherals


def _module(modules: ET.Element, design: Design, wiring: _Wiring, cell: str, clk_hz: int | None) -> None:
    c = design.cells[cell]
    model = wiring.models[cell]
    attrs: dict[str, Any] = {}
    if model.is_ps:
        attrs["CONFIGURABLE"] = "TRUE"
    attrs.update(
        COREREVISION=1 if c.module_ref else 0,
        FULLNAME=f"/{cell}",
        HWVERSION=model.hwversion,
        INSTANCE=cell,
        IPTYPE=model.iptype,
        IS_ENABLE="1",
    )
    if model.is_ps:
        attrs["IS_PL"] = "FALSE"
    else:
        attrs["MODCLASS"] = model.iptype
    attrs.update(MODTYPE=model.modtype, VLNV=model.vlnv)
    mod = _sub(modules, "MODULE", **attrs)
    reg_blocks = [b for b in model.addr_blocks if b.registers]
    if reg_blocks:
        blocks = _sub(mod, "ADDRESSBLOCKS")
        for b in reg_blocks:
            el = _sub(
                blocks,
                "ADDRESSBLOCK",
                ACCESS="read-write",
                INTERFACE=b.intf,
                NAME=b.name,
                RANGE=b.range,
                USAGE=b.usage,
            )
            _registers(el, b)
    params = _sub(mod, "PARAMETERS")
    values = dict(model.params)
    values["Component_Name"] = f"{design.name}_{cell}_0"
    values["EDK_IPTYPE"] = model.iptype
    own = [
        s
        for s in design.addr_segs
        if s.slave_cell == cell and s.space_cell and design.model(s.space_cell).is_ps
    ]
    if own:
        values["C_BASEADDR"] = f"0x{own[0].offset:08X}"
        values["C_HIGHADDR"] = f"0x{own[0].high:08X}"
    for key, value in values.items():
        _sub(params, "PARAMETER", NAME=key, VALUE=value)
    ports = _sub(mod, "PORTS")
    for ip in model.intf_pins.values():
        for sig in wiring.signals[(cell, ip.name)]:
            _port(ports, wiring, cell, sig.physical, sig.direction, sig.width, sig.sigis, None, design.name)
    for pin in model.pins.values():
        _port(ports, wiring, cell, pin.name, pin.direction, pin.width, pin.sigis, clk_hz, design.name,
              pin.vector)
    busifs = _sub(mod, "BUSINTERFACES")
    for ip in model.intf_pins.values():
        net = design.intf_net_of(cell, ip.name)
        sigs = wiring.signals[(cell, ip.name)]
        if not sigs:
            continue  # an unconnected adaptive port has no signals
        attrs = {"BUSNAME": "__NOC__"}  # Vivado's name for an unconnected bus interface
        if net is not None:
            external = next((e for e in net.ends if not e[0]), None)
            attrs["BUSNAME"] = f"External_Interface_{external[1]}" if external else net.name
        data = (
            ip.data_bits
            if not ip.adaptive
            else next((s.width for s in sigs if s.logical in ("WDATA", "RDATA")), None)
        )
        if ip.kind == "aximm" and data:
            attrs["DATAWIDTH"] = data
        elif ip.kind == "ddrx":  # Vivado gives the DDR interface the DRAM's width too
            attrs["DATAWIDTH"] = ip.params["DATA_WIDTH"]
        attrs.update(NAME=ip.name, TYPE=ip.hwh_type, VLNV=ip.vlnv)
        bi = _sub(busifs, "BUSINTERFACE", **attrs)
        bparams = dict(ip.params)
        if ip.adaptive and net is not None:
            peer = design.peer(cell, ip.name)
            if peer and peer[0]:
                bparams = dict(wiring.models[peer[0]].intf_pins[peer[1]].params)
        if clk_hz and ip.kind in ("aximm", "axis"):
            bparams["FREQ_HZ"] = str(clk_hz)
            bparams["CLK_DOMAIN"] = f"{design.name}_processing_system7_0_0_FCLK_CLK0"
        for key, value in bparams.items():
            _sub(bi, "PARAMETER", NAME=key, VALUE=value)
        maps = _sub(bi, "PORTMAPS")
        for sig in sigs:
            _sub(maps, "PORTMAP", LOGICAL=sig.logical, PHYSICAL=sig.physical)
    peripherals = _memranges(mod, design, cell)
    if peripherals:
        per = _sub(mod, "PERIPHERALS")
        for p in peripherals:
            _sub(per, "PERIPHERAL", INSTANCE=p)


def render_hwh(design: Design, *, timestamp: str | None = None) -> str:
    """The ``.hwh`` XML text of a dry-run design."""
    wiring = _Wiring(design)
    if timestamp is None:  # reproducible: the same design gives the same file (SOURCE_DATE_EPOCH convention)
        epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
        timestamp = datetime.fromtimestamp(epoch, timezone.utc).strftime("%a %b %d %H:%M:%S %Y")
    stamp = timestamp
    root = ET.Element("EDKSYSTEM", {"EDWVERSION": "1.2", "TIMESTAMP": stamp, "VIVADOVERSION": GENERATOR})
    part = design.params.get("part", "xc7z020clg400-1")
    m = re.fullmatch(r"xc(7z\d+)([a-z]+\d+)(-\d+)", part)
    if not m:
        raise ValueError(f"cannot split part name {part!r} into device, package and speed grade")
    _sub(
        root,
        "SYSTEMINFO",
        ARCH="zynq",
        BOARD=design.params.get("board_part", ""),
        DEVICE=m.group(1),
        NAME=design.name,
        PACKAGE=m.group(2),
        SPEEDGRADE=m.group(3),
    )
    ext_ports = _sub(root, "EXTERNALPORTS")
    for ext, (_, sig) in wiring.extern.items():
        _port(ext_ports, wiring, "", ext, sig.direction, sig.width, "undef", None, design.name)
    ext_intfs = _sub(root, "EXTERNALINTERFACES")
    for port in design.ports.values():
        if not port.interface:
            continue
        bi = _sub(
            ext_intfs,
            "BUSINTERFACE",
            BUSNAME=f"External_Interface_{port.name}",
            NAME=port.name,
            TYPE="INITIATOR" if port.mode == "Master" else "TARGET",
        )
        maps = _sub(bi, "PORTMAPS")
        for ext, (pname, sig) in wiring.extern.items():
            if pname == port.name:
                _sub(maps, "PORTMAP", LOGICAL=sig.logical, PHYSICAL=ext)
    modules = _sub(root, "MODULES")
    for cell in sorted(design.cells):
        _module(modules, design, wiring, cell, design.clock_hz(cell))
    ET.indent(root, space="  ")
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n'
        + ET.tostring(root, encoding="unicode")
        + "\n"
    )


def generate_hwh(
    accelerator: Mapping[str, Any] | str | Path,
    out_path: str | Path,
    *,
    tlast: bool | None = None,
    length_width: int | None = None,
) -> Path:
    """Write the ``.hwh`` of the kit's block design for ``accelerator`` (``accelerator.json`` dict or path).

    ``tlast=False`` leaves the TLAST module out (the DMA's S2MM never completes: Lab 3 pitfall;
    default: as ``accelerator["tlast"]`` says, "per_packet" or "none");
    ``length_width`` overrides the DMA's buffer-length register width (26 by default). The file is
    written atomically. Raises ``DryRunError`` when the Tcl builds an invalid design.
    """
    desc: Mapping[str, Any] = (json.loads(Path(accelerator).read_text(encoding="utf-8"))
                                if isinstance(accelerator, (str, Path)) else accelerator)
    design = dry_run(params_from_accelerator(desc, tlast=tlast, length_width=length_width))
    return write_text_atomic(out_path, render_hwh(design))
