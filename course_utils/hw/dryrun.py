"""Run the kit's Vivado block-design Tcl without Vivado: stubbed commands record (and check) the design.

``run_block_design(params)`` starts a real Tcl interpreter (Python's ``tkinter.Tcl``, Tcl 8.6),
defines the Vivado IP-integrator commands the kit's Tcl uses (``create_bd_cell``, ``set_property``,
``connect_bd_intf_net``, ``connect_bd_net``, ``assign_bd_address`` ...) as Python functions, sources
``params.tcl`` and ``tcl/blockdesign.tcl`` and returns the :class:`Design` they built: cells with
their configuration, bus-interface nets, scalar nets, external ports and the address map.

The stubs check what Vivado checks, using the IP models of ``ipmodels``: unknown IP, unknown or
mis-typed parameters, unknown pins, a pin connected twice, master-to-master or stream-width
mismatches, nets with no or several drivers, unconnected clocks, resets and bus interfaces,
unassigned, unreachable, misaligned or overlapping address segments. ``apply_bd_automation`` is
refused: the kit's design must spell out every connection. Anything else Vivado-specific is an
unknown command, and the Tcl error stops the dry run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_utils.hw import ipmodels as ipm

TCL_DIR = Path(__file__).resolve().parent / "tcl"
BLOCKDESIGN_TCL = TCL_DIR / "blockdesign.tcl"
OPTIONAL_INPUTS = {"aux_reset_in", "mb_debug_sys_rst", "dcm_locked"}  # proc_sys_reset ties these off


class DryRunError(RuntimeError):
    """The block design is wrong (as Vivado would report it); the message lists every problem."""


@dataclass
class Cell:
    """A block-design cell: name, IP (VLNV) and the CONFIG values set on it."""

    name: str
    vlnv: str
    factory: Callable[..., ipm.IPModel]
    config: dict[str, str] = field(default_factory=dict)
    module_ref: str | None = None
    _model: ipm.IPModel | None = None

    def model(self, ctx: dict[str, str] | None = None) -> ipm.IPModel:
        """The IP configured with this cell's CONFIG (cached until the configuration changes)."""
        if ctx is not None:
            return self.factory(self.config, ctx)
        if self._model is None:
            self._model = self.factory(self.config, {})
        return self._model


@dataclass
class ExtPort:
    """An external (top-level) port, scalar or interface."""

    name: str
    mode: str  # interface: "Master"/"Slave"; scalar: "I"/"O"
    kind: str  # "ddrx", "fixedio", "axis", "aximm" or "clk", "rst", "data", "intr"
    width: int = 1
    interface: bool = True


@dataclass
class IntfNet:
    """A bus-interface connection between two endpoints ``(cell, pin)``; cell "" is an external port."""

    name: str
    ends: list[tuple[str, str]]


@dataclass
class Net:
    """A scalar net between pins ``(cell, pin)``."""

    name: str
    ends: list[tuple[str, str]]


@dataclass
class AddrSeg:
    """``assign_bd_address``: a slave block mapped into a master address space."""

    space_cell: str
    space: str
    slave_cell: str
    slave_intf: str
    block: str
    offset: int
    range: int

    @property
    def high(self) -> int:
        return self.offset + self.range - 1


@dataclass
class Design:
    """What the block-design Tcl built: the record the tests check and the .hwh is generated from."""

    name: str = ""
    cells: dict[str, Cell] = field(default_factory=dict)
    ports: dict[str, ExtPort] = field(default_factory=dict)
    intf_nets: list[IntfNet] = field(default_factory=list)
    nets: list[Net] = field(default_factory=list)
    addr_segs: list[AddrSeg] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    validated: bool = False
    saved: bool = False
    log: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)

    # ---------------------------------------------------------------- queries used by tests and .hwh
    def model(self, cell: str) -> ipm.IPModel:
        """The configured IP model of a cell, with its interfaces' clock frequency filled in."""
        return self.cells[cell].model({"FREQ_HZ": str(self.clock_hz(cell))} if self.clock_hz(cell) else {})

    def intf_net_of(self, cell: str, pin: str) -> IntfNet | None:
        """The interface net on ``cell/pin``, or None."""
        return next((n for n in self.intf_nets if (cell, pin) in n.ends), None)

    def peer(self, cell: str, pin: str) -> tuple[str, str] | None:
        """The other end of the interface net on ``cell/pin``."""
        net = self.intf_net_of(cell, pin)
        if net is None:
            return None
        return next(e for e in net.ends if e != (cell, pin))

    def net_of(self, cell: str, pin: str) -> Net | None:
        """The scalar net on ``cell/pin``, or None."""
        return next((n for n in self.nets if (cell, pin) in n.ends), None)

    def cells_of(self, vlnv_prefix: str) -> list[str]:
        """Names of the cells whose VLNV starts with ``vlnv_prefix``."""
        return [c.name for c in self.cells.values() if c.vlnv.startswith(vlnv_prefix)]

    def clock_hz(self, cell: str) -> int | None:
        """Frequency of the clock net feeding the cell's first connected clock input."""
        c = self.cells[cell]
        for pin in c.model().pins.values():
            if pin.sigis == "clk" and pin.direction == "I":
                net = self.net_of(cell, pin.name)
                if net is None:
                    continue
                for ec, ep in net.ends:
                    if ec and ec != cell:
                        drv = self.cells[ec].model().pins.get(ep)
                        if drv is not None and drv.direction == "O" and "FREQ_HZ" in drv.params:
                            return int(drv.params["FREQ_HZ"])
        return None

    def stream_path(self, start: tuple[str, str], stop_at: set[str] | None = None) -> list[str]:
        """Cells an AXI-Stream passes through from ``(cell, master pin)``, following pass-through IP."""
        path: list[str] = []
        here = start
        for _ in range(32):
            nxt = self.peer(*here)
            if nxt is None:
                return path
            cell, pin = nxt
            path.append(cell)
            model = self.cells[cell].model()
            outs = [p for p in model.intf_pins.values() if p.kind == "axis" and p.mode == "Master"]
            if (stop_at and cell in stop_at) or model.modtype not in (
                "axis_dwidth_converter",
                "axis_tlast_packetizer",
            ):
                return path
            # a pass-through: continue on the output matching this input
            if model.modtype == "axis_tlast_packetizer":
                out = pin.replace("s_axis", "m_axis", 1)
            else:
                out = outs[0].name
            here = (cell, out)
        raise DryRunError(f"stream from {start} does not end (loop?)")


class _Recorder:
    """Implements the stubbed Vivado commands on a :class:`Design`."""

    def __init__(
        self, tcl: Any, extra_ips: dict[str, Callable[..., ipm.IPModel]] | None, rtl_dir: Path
    ) -> None:
        self.tcl = tcl
        self.design = Design()
        self.catalog = {**ipm.CATALOG, **(extra_ips or {})}
        self.rtl_dir = rtl_dir
        self.error = ""  # message of the last failing stub

    # ---------------------------------------------------------------- argument helpers
    def split(self, value: str) -> list[str]:
        return list(self.tcl.splitlist(value))

    @staticmethod
    def options(args: tuple[str, ...], flags: set[str], valued: set[str]) -> tuple[dict[str, Any], list[str]]:
        """Split ``-opt value`` / ``-flag`` options from positional arguments."""
        opts: dict[str, Any] = {}
        pos: list[str] = []
        i = 0
        while i < len(args):
            a = args[i]
            if a in flags:
                opts[a] = True
            elif a in valued:
                if i + 1 >= len(args):
                    raise DryRunError(f"option {a} needs a value")
                opts[a] = args[i + 1]
                i += 1
            elif a.startswith("-") and not a.lstrip("-").replace(".", "").isdigit():
                raise DryRunError(f"unknown option {a}")
            else:
                pos.append(a)
            i += 1
        return opts, pos

    def objects(self, values: list[str]) -> list[str]:
        """Flatten Tcl lists of object names into paths without the leading '/'."""
        out: list[str] = []
        for v in values:
            out.extend(x.strip("/") for x in self.split(v) if x.strip("/"))
        return out

    def cell(self, name: str) -> Cell:
        if name not in self.design.cells:
            raise DryRunError(f"no cell '{name}' in the block design")
        return self.design.cells[name]

    def _pin_ref(self, path: str, interface: bool) -> tuple[str, str]:
        """``cell/pin`` or ``port`` -> (cell, pin); checks that the pin exists on the configured IP."""
        parts = path.strip("/").split("/")
        if len(parts) == 1:
            port = self.design.ports.get(parts[0])
            if port is None or port.interface != interface:
                raise DryRunError(f"no {'interface ' if interface else ''}port '{parts[0]}'")
            return "", parts[0]
        if len(parts) != 2:
            raise DryRunError(f"bad pin path '{path}'")
        cell, pin = parts
        model = self.cell(cell).model()
        table = model.intf_pins if interface else model.pins
        if pin not in table:
            kind = "interface pin" if interface else "pin"
            raise DryRunError(
                f"cell {cell} ({model.vlnv}) has no {kind} '{pin}'; it has: {', '.join(sorted(table))}"
            )
        return cell, pin

    # ---------------------------------------------------------------- commands
    def create_bd_design(self, *args: str) -> str:
        _, pos = self.options(args, set(), {"-dir"})
        if len(pos) != 1:
            raise DryRunError("create_bd_design needs one name")
        self.design.name = pos[0]
        return pos[0]

    def current_bd_design(self, *args: str) -> str:
        return self.design.name

    def create_bd_cell(self, *args: str) -> str:
        opts, pos = self.options(args, set(), {"-type", "-vlnv", "-reference"})
        if len(pos) != 1:
            raise DryRunError(f"create_bd_cell needs one cell name, got {pos}")
        name = pos[0]
        if name in self.design.cells:
            raise DryRunError(f"cell '{name}' already exists")
        kind = opts.get("-type", "ip")
        if kind == "ip":
            vlnv = opts.get("-vlnv")
            if vlnv not in self.catalog:
                raise DryRunError(
                    f"IP {vlnv} is not in the IP catalog (add its repository with "
                    "ip_repo_paths / update_ip_catalog)"
                )
            self.design.cells[name] = Cell(name, vlnv, self.catalog[vlnv])
        elif kind == "module":
            module = opts.get("-reference")
            if not module:
                raise DryRunError(f"create_bd_cell -type module {name}: -reference <module name> is missing")
            factory = ipm.module_reference(module, self.rtl_dir)
            self.design.cells[name] = Cell(
                name, f"xilinx.com:module_ref:{module}:1.0", factory, module_ref=module
            )
        else:
            raise DryRunError(f"create_bd_cell -type {kind} is not used by the kit's design")
        self.design.cells[name].model()  # elaborate with the defaults now, as Vivado does
        self.design.log.append(f"cell {name} {self.design.cells[name].vlnv}")
        return f"/{name}"

    def set_property(self, *args: str) -> str:
        if args and args[0] == "-dict":
            if len(args) != 3:
                raise DryRunError("set_property -dict <list> <objects>")
            items = self.split(args[1])
            if len(items) % 2:
                raise DryRunError(f"set_property -dict: odd-length list {items}")
            pairs = list(zip(items[::2], items[1::2]))
            targets = self.objects([args[2]])
        else:
            if len(args) != 3:
                raise DryRunError(f"set_property <name> <value> <objects>, got {args}")
            pairs, targets = [(args[0], args[1])], self.objects([args[2]])
        if not targets:
            raise DryRunError("set_property: no object given (an empty get_bd_cells?)")
        for target in targets:
            cell = self.cell(target)
            for key, value in pairs:
                if not key.startswith("CONFIG."):
                    raise DryRunError(f"set_property {key} on {target}: only CONFIG.* is used in the design")
                cell.config[key[len("CONFIG.") :]] = str(value)
            cell._model = None
            try:
                cell.model()
            except ipm.IPError as err:
                raise DryRunError(f"{target}: {err}") from None
        return ""

    def get_property(self, *args: str) -> str:
        if len(args) != 2:
            raise DryRunError("get_property <name> <object>")
        key, (target,) = args[0], self.objects([args[1]])
        model = self.cell(target).model()
        if key.startswith("CONFIG."):
            return model.params.get(key[len("CONFIG.") :], "")
        if key == "VLNV":
            return model.vlnv
        raise DryRunError(f"get_property {key}: not supported by the dry run")

    def get_bd_cells(self, *args: str) -> str:
        opts, pos = self.options(args, {"-quiet"}, {"-filter", "-hierarchical"})
        if not pos:
            return " ".join(f"/{c}" for c in self.design.cells)
        out = []
        for name in self.objects(pos):
            if name in self.design.cells:
                out.append(f"/{name}")
            elif "-quiet" not in opts:
                raise DryRunError(f"get_bd_cells: no cell '{name}'")
        return " ".join(out)

    def _get_pins(self, args: tuple[str, ...], interface: bool) -> str:
        opts, pos = self.options(args, {"-quiet"}, {"-of_objects", "-filter"})
        out = []
        for path in self.objects(pos):
            try:
                cell, pin = self._pin_ref(path, interface)
            except DryRunError:
                if "-quiet" in opts:
                    continue
                raise
            out.append(f"/{cell}/{pin}" if cell else f"/{pin}")
        return " ".join(out)

    def get_bd_intf_pins(self, *args: str) -> str:
        return self._get_pins(args, True)

    def get_bd_pins(self, *args: str) -> str:
        return self._get_pins(args, False)

    def get_bd_intf_ports(self, *args: str) -> str:
        _, pos = self.options(args, {"-quiet"}, set())
        names = self.objects(pos) if pos else [p.name for p in self.design.ports.values() if p.interface]
        return " ".join(f"/{n}" for n in names if n in self.design.ports and self.design.ports[n].interface)

    def get_bd_ports(self, *args: str) -> str:
        _, pos = self.options(args, {"-quiet"}, set())
        names = self.objects(pos) if pos else [p.name for p in self.design.ports.values() if not p.interface]
        return " ".join(
            f"/{n}" for n in names if n in self.design.ports and not self.design.ports[n].interface
        )

    def create_bd_intf_port(self, *args: str) -> str:
        opts, pos = self.options(args, set(), {"-mode", "-vlnv"})
        if (
            len(pos) != 1
            or opts.get("-vlnv") not in ipm.PORT_VLNV_KIND
            or opts.get("-mode") not in ("Master", "Slave")
        ):
            raise DryRunError(
                f"create_bd_intf_port -mode Master|Slave -vlnv <known _rtl vlnv> <name>: {args}"
            )
        self._new_port(ExtPort(pos[0], opts["-mode"], ipm.PORT_VLNV_KIND[opts["-vlnv"]]))
        return f"/{pos[0]}"

    def create_bd_port(self, *args: str) -> str:
        opts, pos = self.options(args, set(), {"-dir", "-type", "-from", "-to", "-freq_hz"})
        if len(pos) != 1 or opts.get("-dir") not in ("I", "O"):
            raise DryRunError(f"create_bd_port -dir I|O [-type clk|rst|data|intr] <name>: {args}")
        width = abs(int(opts.get("-from", 0)) - int(opts.get("-to", 0))) + 1
        self._new_port(ExtPort(pos[0], opts["-dir"], opts.get("-type", "data"), width, interface=False))
        return f"/{pos[0]}"

    def _new_port(self, port: ExtPort) -> None:
        if port.name in self.design.ports:
            raise DryRunError(f"port '{port.name}' already exists")
        self.design.ports[port.name] = port

    def make_bd_intf_pins_external(self, *args: str) -> str:
        _, pos = self.options(args, set(), {"-name"})
        out = []
        for path in self.objects(pos):
            cell, pin = self._pin_ref(path, True)
            ip = self.cell(cell).model().intf_pins[pin]
            name = f"{pin}_0"
            self._new_port(ExtPort(name, ip.mode, ip.kind))
            self._connect_intf(None, [f"/{name}", f"/{cell}/{pin}"])
            out.append(f"/{name}")
        return " ".join(out)

    def make_bd_pins_external(self, *args: str) -> str:
        _, pos = self.options(args, set(), {"-name"})
        out = []
        for path in self.objects(pos):
            cell, pin = self._pin_ref(path, False)
            p = self.cell(cell).model().pins[pin]
            name = f"{pin}_0"
            self._new_port(
                ExtPort(name, "O" if p.direction == "I" else "I", p.sigis, p.width, interface=False)
            )
            self.design.nets.append(Net(f"{name}_1", [("", name), (cell, pin)]))
            out.append(f"/{name}")
        return " ".join(out)

    def connect_bd_intf_net(self, *args: str) -> str:
        opts, pos = self.options(args, {"-boundary_type"}, {"-intf_net"})
        return self._connect_intf(opts.get("-intf_net"), pos)

    def _connect_intf(self, name: str | None, pos: list[str]) -> str:
        ends = [self._pin_ref(p, True) for p in self.objects(pos)]
        if len(ends) != 2:
            raise DryRunError(f"connect_bd_intf_net connects exactly two interface pins, got {len(ends)}")
        for end in ends:
            if self.design.intf_net_of(*end) is not None:
                raise DryRunError(f"interface pin {'/'.join(filter(None, end))} is already connected")
        net_name = name or (f"{ends[0][0]}_{ends[0][1]}" if ends[0][0] else ends[0][1])
        self.design.intf_nets.append(IntfNet(net_name, ends))
        return net_name

    def connect_bd_net(self, *args: str) -> str:
        opts, pos = self.options(args, set(), {"-net"})
        ends = [self._pin_ref(p, False) for p in self.objects(pos)]
        if len(ends) < 2:
            raise DryRunError(f"connect_bd_net needs at least two pins, got {ends}")
        merged: Net | None = None
        for end in ends:  # Vivado extends an existing net when a pin is already on one
            existing = self.design.net_of(*end)
            if existing is not None:
                if merged is not None and existing is not merged:
                    raise DryRunError(f"pin {'/'.join(end)} is already on net {existing.name}")
                merged = existing
        if merged is None:
            merged = Net(opts.get("-net") or f"{ends[0][0]}_{ends[0][1]}", [])
            self.design.nets.append(merged)
        for end in ends:
            if end not in merged.ends:
                merged.ends.append(end)
        return merged.name

    def get_bd_addr_spaces(self, *args: str) -> str:
        _, pos = self.options(args, {"-quiet"}, {"-of_objects"})
        out = []
        for path in self.objects(pos):
            cell, _, space = path.partition("/")
            if space not in [s.name for s in self.cell(cell).model().addr_spaces]:
                raise DryRunError(f"cell {cell} has no address space '{space}'")
            out.append(f"/{path}")
        return " ".join(out)

    def get_bd_addr_segs(self, *args: str) -> str:
        _, pos = self.options(args, {"-quiet", "-excluded"}, {"-of_objects"})
        out = []
        for path in self.objects(pos):
            parts = path.split("/")
            if len(parts) != 3:
                raise DryRunError(f"get_bd_addr_segs <cell>/<interface>/<block>, got '{path}'")
            cell, intf, block = parts
            blocks = self.cell(cell).model().addr_blocks
            if not any(b.intf == intf and b.name == block for b in blocks):
                raise DryRunError(
                    f"cell {cell} has no address block {intf}/{block}; it has "
                    f"{', '.join(b.intf + '/' + b.name for b in blocks) or 'none'}"
                )
            out.append(f"/{path}")
        return " ".join(out)

    def assign_bd_address(self, *args: str) -> str:
        opts, pos = self.options(args, {"-force", "-quiet"}, {"-offset", "-range", "-target_address_space"})
        if "-target_address_space" not in opts or "-offset" not in opts or "-range" not in opts:
            raise DryRunError(
                "assign_bd_address: the kit assigns every segment explicitly "
                "(-offset, -range and -target_address_space are required)"
            )
        space_cell, _, space = self.objects([opts["-target_address_space"]])[0].partition("/")
        segs = self.objects(pos)
        if len(segs) != 1:
            raise DryRunError(f"assign_bd_address: one segment at a time, got {segs}")
        cell, intf, block = segs[0].split("/")
        seg = AddrSeg(
            space_cell, space, cell, intf, block, int(opts["-offset"], 0), ipm.bytes_of(opts["-range"])
        )
        self.design.addr_segs.append(seg)
        return f"/{space_cell}/{space}/SEG_{cell}_{block}"

    def validate_bd_design(self, *args: str) -> str:
        problems = check_design(self.design)
        if problems:
            raise DryRunError("validate_bd_design failed:\n  - " + "\n  - ".join(problems))
        self.design.validated = True
        return ""

    def save_bd_design(self, *args: str) -> str:
        self.design.saved = True
        return ""

    def apply_bd_automation(self, *args: str) -> str:
        raise DryRunError(
            "apply_bd_automation is not allowed in the kit's block design: connect and assign "
            "everything explicitly so that the dry run and the .hwh see the real design"
        )

    def send_msg_id(self, *args: str) -> str:
        self.design.log.append(" ".join(args))
        return ""

    COMMANDS = (
        "create_bd_design",
        "current_bd_design",
        "create_bd_cell",
        "set_property",
        "get_property",
        "get_bd_cells",
        "get_bd_intf_pins",
        "get_bd_pins",
        "get_bd_intf_ports",
        "get_bd_ports",
        "create_bd_intf_port",
        "create_bd_port",
        "make_bd_intf_pins_external",
        "make_bd_pins_external",
        "connect_bd_intf_net",
        "connect_bd_net",
        "get_bd_addr_spaces",
        "get_bd_addr_segs",
        "assign_bd_address",
        "validate_bd_design",
        "save_bd_design",
        "apply_bd_automation",
    )


# ----------------------------------------------------------------------------- design rules
def _end_name(end: tuple[str, str]) -> str:
    return f"{end[0]}/{end[1]}" if end[0] else end[1]


def _intf(design: Design, end: tuple[str, str]) -> ipm.IntfPin | ExtPort:
    return design.ports[end[1]] if not end[0] else design.cells[end[0]].model().intf_pins[end[1]]


def _check_intf_nets(design: Design, problems: list[str]) -> None:
    for net in design.intf_nets:
        a, b = (_intf(design, e) for e in net.ends)
        names = " <-> ".join(_end_name(e) for e in net.ends)
        if a.kind != b.kind:
            problems.append(f"{names}: interface types differ ({a.kind} vs {b.kind})")
            continue
        external = not (net.ends[0][0] and net.ends[1][0])
        if external:
            if a.mode != b.mode:
                problems.append(f"{names}: an external port must have the mode of the pin it exposes")
            continue
        if a.mode == b.mode:
            problems.append(f"{names}: connects two {a.mode.lower()}s")
            continue
        master, slave = (a, b) if a.mode == "Master" else (b, a)
        assert isinstance(master, ipm.IntfPin) and isinstance(slave, ipm.IntfPin)  # both ends are cells
        if a.kind == "axis":
            if master.data_bits != slave.data_bits:
                problems.append(
                    f"{names}: TDATA widths differ ({master.data_bits} vs {slave.data_bits} bits); "
                    "insert an axis_dwidth_converter"
                )
            if slave.signal("TLAST") is not None and master.signal("TLAST") is None:
                design.warnings.append(
                    f"{names}: {slave.name} has TLAST but {master.name} does not drive it; "
                    "Vivado ties it to 0 (an AXI DMA S2MM transfer never completes)"
                )
        elif (
            a.kind == "aximm"
            and not (master.adaptive or slave.adaptive)
            and master.data_bits != slave.data_bits
        ):
            problems.append(
                f"{names}: AXI data widths differ ({master.data_bits} vs {slave.data_bits}); "
                "connect through an AXI interconnect"
            )


def _check_nets(design: Design, problems: list[str]) -> None:
    for net in design.nets:
        drivers = []
        for cell, pin in net.ends:
            if not cell:
                port = design.ports[pin]
                if port.mode == "I":
                    drivers.append(pin)
                continue
            if design.cells[cell].model().pins[pin].direction == "O":
                drivers.append(f"{cell}/{pin}")
        if len(drivers) != 1:
            problems.append(
                f"net {net.name} has {len(drivers)} drivers ({', '.join(drivers) or 'none'}); "
                "it needs exactly one"
            )


def _check_unconnected(design: Design, problems: list[str]) -> None:
    for cell in design.cells.values():
        model = cell.model()
        for pin in model.pins.values():
            if (
                pin.direction == "I"
                and pin.sigis in ("clk", "rst")
                and pin.name not in OPTIONAL_INPUTS
                and design.net_of(cell.name, pin.name) is None
            ):
                problems.append(f"{cell.name}/{pin.name} ({pin.sigis}) is not connected")
        if model.is_ps:
            continue
        for ip in model.intf_pins.values():
            if design.intf_net_of(cell.name, ip.name) is None:
                problems.append(f"interface {cell.name}/{ip.name} is not connected")


def _check_clock_domains(design: Design, problems: list[str]) -> None:
    """Both ends of every bus-interface net must be clocked by the same net."""
    for net in design.intf_nets:
        clocks = set()
        for cell, pin in net.ends:
            if not cell:
                continue
            clk = design.cells[cell].model().intf_pins[pin].clock
            cnet = design.net_of(cell, clk) if clk else None
            clocks.add(cnet.name if cnet else f"<{cell}/{clk} unconnected>")
        if len(clocks) > 1:
            problems.append(
                f"{' <-> '.join(_end_name(e) for e in net.ends)} crosses clock domains "
                f"({', '.join(sorted(clocks))}) without a clock converter"
            )


def reachable_slaves(design: Design, cell: str, intf: str) -> list[tuple[str, str]]:
    """The slave interfaces a master interface reaches through AXI interconnects."""
    out, todo, seen = [], [(cell, intf)], set()
    while todo:
        here = todo.pop()
        if here in seen:
            continue
        seen.add(here)
        peer = design.peer(*here)
        if peer is None or not peer[0]:
            continue
        model = design.cells[peer[0]].model()
        if model.modtype == "axi_interconnect":
            todo.extend((peer[0], p.name) for p in model.intf_pins.values() if p.mode == "Master")
        else:
            out.append(peer)
    return out


def _check_addresses(design: Design, problems: list[str]) -> None:
    assigned = {(s.space_cell, s.space, s.slave_cell, s.slave_intf, s.block) for s in design.addr_segs}
    for seg in design.addr_segs:
        where = f"{seg.slave_cell}/{seg.slave_intf}/{seg.block} in {seg.space_cell}/{seg.space}"
        model = design.cells[seg.space_cell].model()
        space = next((s for s in model.addr_spaces if s.name == seg.space), None)
        reach = [
            r for i in (space.intfs if space else ()) for r in reachable_slaves(design, seg.space_cell, i)
        ]
        if (seg.slave_cell, seg.slave_intf) not in reach:
            problems.append(f"{where}: the slave is not reachable from that address space")
        if seg.offset % seg.range:
            problems.append(f"{where}: offset {seg.offset:#x} is not aligned to its range {seg.range:#x}")
        block = next(
            b
            for b in design.cells[seg.slave_cell].model().addr_blocks
            if b.intf == seg.slave_intf and b.name == seg.block
        )
        if block.usage == "memory" and seg.range != block.range:
            problems.append(f"{where}: range {seg.range:#x} differs from the memory size {block.range:#x}")
        if seg.offset + seg.range > 1 << 32:
            problems.append(f"{where}: beyond the 32-bit address space")
    by_space: dict[tuple[str, str], list[AddrSeg]] = {}
    for seg in design.addr_segs:
        by_space.setdefault((seg.space_cell, seg.space), []).append(seg)
    for (space_cell, space_name), segs in by_space.items():
        segs = sorted(segs, key=lambda s: s.offset)
        for a, b in zip(segs, segs[1:]):
            if b.offset <= a.high:
                problems.append(
                    f"{space_cell}/{space_name}: {a.slave_cell}/{a.block} [{a.offset:#x}-{a.high:#x}] "
                    f"overlaps {b.slave_cell}/{b.block} [{b.offset:#x}-{b.high:#x}]"
                )
    # every reachable slave block must be mapped (Vivado: "slave segment is not assigned")
    for cell in design.cells.values():
        for space in cell.model().addr_spaces:
            for intf in space.intfs:
                if design.intf_net_of(cell.name, intf) is None:
                    continue
                for scell, sintf in reachable_slaves(design, cell.name, intf):
                    for block in design.cells[scell].model().addr_blocks:
                        if (
                            block.intf == sintf
                            and (cell.name, space.name, scell, sintf, block.name) not in assigned
                        ):
                            problems.append(
                                f"{scell}/{sintf}/{block.name} is reachable from "
                                f"{cell.name}/{space.name} but not assigned an address"
                            )


def check_design(design: Design) -> list[str]:
    """Every rule violation of the design, as sentences (empty when the design is valid)."""
    problems: list[str] = []
    design.warnings.clear()
    if not design.name:
        problems.append("no block design created (create_bd_design)")
    _check_intf_nets(design, problems)
    _check_nets(design, problems)
    _check_unconnected(design, problems)
    _check_clock_domains(design, problems)
    _check_addresses(design, problems)
    return problems


# ----------------------------------------------------------------------------- entry point
def run_block_design(
    params: dict[str, str],
    *,
    extra_ips: dict[str, Callable[..., ipm.IPModel]] | None = None,
    script: Path = BLOCKDESIGN_TCL,
    rtl_dir: Path = ipm.RTL_DIR,
) -> Design:
    """Source ``params`` (the ``kit`` array) and the block-design Tcl with Vivado stubbed; return the design.

    ``params`` maps ``kit`` array keys to Tcl values (strings; lists already Tcl-quoted).
    ``extra_ips`` adds IP to the catalog (the FINN accelerator of the package). Raises DryRunError
    with Vivado-like messages when the Tcl fails or the design breaks a rule.
    """
    import tkinter

    tcl = tkinter.Tcl()
    rec = _Recorder(tcl, extra_ips, rtl_dir)
    for name in rec.COMMANDS:
        tcl.createcommand(name, _wrap(getattr(rec, name), rec))
    tcl.eval("namespace eval common {}")
    tcl.createcommand("common::send_msg_id", _wrap(rec.send_msg_id, rec))
    for key, value in params.items():
        tcl.call("set", f"kit({key})", value)
    try:
        tcl.call("source", str(script))
    except tkinter.TclError as err:
        info = tcl.eval("set ::errorInfo")
        raise DryRunError(f"{script.name}: {rec.error or err}\n{info}") from None
    design = rec.design
    design.params = dict(params)
    if not design.validated:
        raise DryRunError(f"{script.name} did not call validate_bd_design")
    return design


def _wrap(fn: Callable[..., str], rec: _Recorder) -> Callable[..., str]:
    """Report a stub's error as a Tcl error; keep the message (tkinter drops it) for the DryRunError."""
    import tkinter

    def call(*args: str) -> str:
        try:
            return fn(*args)
        except (DryRunError, ipm.IPError) as err:
            rec.error = str(err)
            raise tkinter.TclError(str(err)) from None

    return call
