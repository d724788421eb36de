"""What Vivado knows about each IP of the kit's block design: pins, interfaces, parameters, addresses.

The dry run (``dryrun``) asks these models which pins a cell has once it is configured, so it can
check every connection the Tcl makes as Vivado would; the ``.hwh`` generator (``hwh``) writes their
ports, bus interfaces and parameters in Vivado's hand-off format. Port and parameter names follow the
real IP (AXI DMA v7.1 per PG021, ZYNQ7 Processing System v5.5 per PG082, AXI Interconnect v2.1,
Processor System Reset v5.0, AXI4-Stream Data Width Converter v1.1, a FINN stitched IP) and a
Vivado-made ``.hwh`` of a design with the same IP (pynqmetadata's ``tests/hwhs/resizer.hwh``).

The kit's own RTL module (``rtl/axis_tlast_packetizer.v``) is not described here by hand: as Vivado
does for a module reference, its ports and parameters are read from the Verilog source and its
AXI-Stream interfaces inferred from the port names (``s_axis_<x>_tdata`` ...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from course_utils.hw.boards import fclk_divisors

RTL_DIR = Path(__file__).resolve().parent / "rtl"
INTF_VLNV = {
    "aximm": "xilinx.com:interface:aximm:1.0",
    "axis": "xilinx.com:interface:axis:1.0",
    "ddrx": "xilinx.com:interface:ddrx:1.0",
    "fixedio": "xilinx.com:display_processing_system7:fixedio:1.0",
    "hpstatusctrl": "xilinx.com:display_processing_system7:hpstatusctrl:1.0",
}
# interface definitions given to create_bd_intf_port (the _rtl abstraction) -> kind
PORT_VLNV_KIND = {
    "xilinx.com:interface:ddrx_rtl:1.0": "ddrx",
    "xilinx.com:display_processing_system7:fixedio_rtl:1.0": "fixedio",
    "xilinx.com:interface:axis_rtl:1.0": "axis",
    "xilinx.com:interface:aximm_rtl:1.0": "aximm",
}


class IPError(ValueError):
    """A cell was given a configuration the IP does not accept (Vivado would refuse it too)."""


@dataclass
class Signal:
    """One wire of a bus interface: logical name (AXI: ``TDATA``), physical port, width, direction."""

    logical: str
    physical: str
    width: int
    direction: str  # "I", "O" or "IO", seen from the cell
    sigis: str = "undef"  # the port's SIGIS in a .hwh: "clk" / "rst" for the DDR clock and reset pins


@dataclass
class IntfPin:
    """A bus-interface pin of a cell (``M_AXIS_MM2S``)."""

    name: str
    mode: str  # "Master" or "Slave"
    kind: str  # "aximm", "axis", "ddrx", "fixedio", "hpstatusctrl"
    signals: list[Signal]
    params: dict[str, str] = field(default_factory=dict)
    clock: str | None = None
    adaptive: bool = False  # an interconnect port: takes its signals and widths from its peer

    @property
    def vlnv(self) -> str:
        return INTF_VLNV[self.kind]

    @property
    def hwh_type(self) -> str:
        """Vivado's TYPE of the bus interface in a .hwh: MASTER/SLAVE for AXI memory-mapped interfaces,
        INITIATOR/TARGET for the others (AXI-Stream, DDR, FIXED_IO, the HP FIFO control)."""
        if self.kind == "aximm":
            return "MASTER" if self.mode == "Master" else "SLAVE"
        return "INITIATOR" if self.mode == "Master" else "TARGET"

    def signal(self, logical: str) -> Signal | None:
        """The signal with this logical name, or None."""
        return next((s for s in self.signals if s.logical == logical), None)

    @property
    def data_bits(self) -> int | None:
        """TDATA/WDATA/RDATA width."""
        for name in ("TDATA", "WDATA", "RDATA"):
            sig = self.signal(name)
            if sig is not None:
                return sig.width
        return None


@dataclass
class Pin:
    """A scalar pin (clock, reset, interrupt, data)."""

    name: str
    direction: str
    width: int = 1
    sigis: str = "undef"  # "clk", "rst", "INTERRUPT", "undef"
    params: dict[str, str] = field(default_factory=dict)
    vector: bool = False  # a one-bit std_logic_vector(0 downto 0): Vivado writes LEFT="0" RIGHT="0"


@dataclass
class Register:
    """A register of an address block: name, byte offset, description and bit fields."""

    name: str
    offset: int
    description: str
    fields: tuple[tuple[str, int, int, str], ...] = ()  # (name, bit offset, bit width, access)
    access: str = "read-write"


@dataclass
class AddrBlock:
    """A memory-mapped region behind a slave interface (``S_AXI_LITE/Reg``)."""

    intf: str
    name: str
    usage: str  # "register" or "memory"
    range: int
    registers: tuple[Register, ...] = ()


@dataclass
class AddrSpace:
    """An address space of masters (``processing_system7_0/Data`` is reached through ``M_AXI_GP0``)."""

    name: str
    intfs: tuple[str, ...]


@dataclass
class IPModel:
    """A configured IP: everything the dry run checks and the .hwh lists."""

    vlnv: str
    modtype: str
    params: dict[str, str]
    intf_pins: dict[str, IntfPin]
    pins: dict[str, Pin]
    addr_blocks: list[AddrBlock] = field(default_factory=list)
    addr_spaces: list[AddrSpace] = field(default_factory=list)
    iptype: str = "PERIPHERAL"
    hwversion: str = "1.0"
    is_ps: bool = False


# ----------------------------------------------------------------------------- helpers
def _int(config: Mapping[str, str], key: str, default: int) -> int:
    """Integer CONFIG value, with a clear error when it is not one."""
    value = config.get(key, default)
    try:
        return int(str(value), 0)
    except ValueError:
        raise IPError(f"CONFIG.{key} must be an integer, got {value!r}") from None


def _axi_signals(
    prefix: str,
    *,
    protocol: str,
    mode: str,
    rw: str = "READ_WRITE",
    addr: int = 32,
    data: int = 32,
    id_bits: int = 0,
    lower: bool = True,
    lite_minimal: bool = False,
    qos: bool = False,
    lock: bool = False,
) -> list[Signal]:
    """AXI signals (logical, physical, width, direction) for a master or slave interface."""
    axi3 = protocol == "AXI3"
    lite = protocol == "AXI4LITE"
    out_m, in_m = ("O", "I") if mode == "Master" else ("I", "O")
    spec: list[tuple[str, int, str]] = []

    def chan(rw_ok: bool, items: list[tuple[str, int, str]]) -> None:
        if rw_ok:
            spec.extend(items)

    write = rw in ("READ_WRITE", "WRITE_ONLY")
    read = rw in ("READ_WRITE", "READ_ONLY")
    for p, ok in (("AW", write), ("AR", read)):
        items = []
        if id_bits and not lite:
            items.append((f"{p}ID", id_bits, out_m))
        items.append((f"{p}ADDR", addr, out_m))
        if not lite:
            items += [(f"{p}LEN", 4 if axi3 else 8, out_m), (f"{p}SIZE", 3, out_m), (f"{p}BURST", 2, out_m)]
            if lock:
                items.append((f"{p}LOCK", 2 if axi3 else 1, out_m))
            items += [(f"{p}CACHE", 4, out_m), (f"{p}PROT", 3, out_m)]
            if qos:
                items.append((f"{p}QOS", 4, out_m))
        elif not lite_minimal:
            items.append((f"{p}PROT", 3, out_m))
        items += [(f"{p}VALID", 1, out_m), (f"{p}READY", 1, in_m)]
        chan(ok, items)
    w = []
    if axi3 and id_bits:
        w.append(("WID", id_bits, out_m))
    w.append(("WDATA", data, out_m))
    if not (lite and lite_minimal):
        w.append(("WSTRB", data // 8, out_m))
    if not lite:
        w.append(("WLAST", 1, out_m))
    w += [("WVALID", 1, out_m), ("WREADY", 1, in_m)]
    chan(write, w)
    b = [("BID", id_bits, in_m)] if id_bits and not lite else []
    b += [("BRESP", 2, in_m), ("BVALID", 1, in_m), ("BREADY", 1, out_m)]
    chan(write, b)
    r = [("RID", id_bits, in_m)] if id_bits and not lite else []
    r += [("RDATA", data, in_m), ("RRESP", 2, in_m)]
    if not lite:
        r.append(("RLAST", 1, in_m))
    r += [("RVALID", 1, in_m), ("RREADY", 1, out_m)]
    chan(read, r)
    return [Signal(lg, prefix + (lg.lower() if lower else lg), wd, d) for lg, wd, d in spec]


def _axi_params(
    protocol: str,
    data: int,
    addr: int,
    id_bits: int = 0,
    rw: str = "READ_WRITE",
    freq_hz: int | str | None = None,
    max_burst: int | None = None,
) -> dict[str, str]:
    """The bus-interface parameters Vivado writes for an AXI interface."""
    params = {
        "DATA_WIDTH": str(data),
        "PROTOCOL": protocol,
        "ID_WIDTH": str(id_bits),
        "ADDR_WIDTH": str(addr),
        "READ_WRITE_MODE": rw,
        "HAS_BURST": "0" if protocol == "AXI4LITE" else "1",
        "MAX_BURST_LENGTH": str(
            max_burst or (1 if protocol == "AXI4LITE" else 16 if protocol == "AXI3" else 256)
        ),
    }
    if freq_hz:
        params["FREQ_HZ"] = str(freq_hz)
    return params


def _axis_signals(
    prefix: str, mode: str, data_bits: int, *, keep: bool = True, last: bool = True, upper: bool = False
) -> list[Signal]:
    """AXI-Stream signals of an interface (TDATA, [TKEEP], [TLAST], TVALID, TREADY)."""
    out, inp = ("O", "I") if mode == "Master" else ("I", "O")
    spec = [("TDATA", data_bits, out)]
    if keep:
        spec.append(("TKEEP", data_bits // 8, out))
    if last:
        spec.append(("TLAST", 1, out))
    spec += [("TVALID", 1, out), ("TREADY", 1, inp)]
    return [Signal(lg, prefix + (lg if upper else lg.lower()), wd, d) for lg, wd, d in spec]


def _axis_params(data_bits: int, *, keep: bool, last: bool) -> dict[str, str]:
    """Bus-interface parameters of an AXI-Stream interface."""
    return {
        "TDATA_NUM_BYTES": str(data_bits // 8),
        "TDEST_WIDTH": "0",
        "TID_WIDTH": "0",
        "TUSER_WIDTH": "0",
        "HAS_TREADY": "1",
        "HAS_TSTRB": "0",
        "HAS_TKEEP": str(int(keep)),
        "HAS_TLAST": str(int(last)),
    }


def _clock(name: str, busifs: list[str], reset: str | None, direction: str = "I") -> Pin:
    """A clock pin with its associated bus interfaces and reset."""
    params = {"ASSOCIATED_BUSIF": ":".join(busifs)} if busifs else {}
    if reset:
        params["ASSOCIATED_RESET"] = reset
    return Pin(name, direction, 1, "clk", params)


def _reset(name: str, direction: str = "I", width: int = 1, active_low: bool = True,
           vector: bool = False) -> Pin:
    """A reset pin."""
    polarity = {"POLARITY": "ACTIVE_LOW" if active_low else "ACTIVE_HIGH"}
    return Pin(name, direction, width, "rst", polarity, vector=vector)


def _bits_ok(value: int, allowed: tuple[int, ...], what: str) -> int:
    if value not in allowed:
        raise IPError(f"{what} = {value} is not allowed; valid values: {', '.join(map(str, allowed))}")
    return value


# ----------------------------------------------------------------------------- AXI DMA v7.1
def _dma_registers(length_width: int) -> tuple[Register, ...]:
    """The simple-mode registers of AXI DMA v7.1 (PG021), as pynq's ``register_map`` shows them."""
    cr = (
        ("RS", 0, 1, "read-write"),
        ("Reset", 2, 1, "read-write"),
        ("Keyhole", 3, 1, "read-write"),
        ("IOC_IrqEn", 12, 1, "read-write"),
        ("Dly_IrqEn", 13, 1, "read-write"),
        ("Err_IrqEn", 14, 1, "read-write"),
        ("IRQThreshold", 16, 8, "read-write"),
        ("IRQDelay", 24, 8, "read-write"),
    )
    sr = (
        ("Halted", 0, 1, "read-only"),
        ("Idle", 1, 1, "read-only"),
        ("SGIncld", 3, 1, "read-only"),
        ("DMAIntErr", 4, 1, "read-only"),
        ("DMASlvErr", 5, 1, "read-only"),
        ("DMADecErr", 6, 1, "read-only"),
        ("IOC_Irq", 12, 1, "read-write"),
        ("Dly_Irq", 13, 1, "read-write"),
        ("Err_Irq", 14, 1, "read-write"),
        ("IRQThresholdSts", 16, 8, "read-only"),
        ("IRQDelaySts", 24, 8, "read-only"),
    )
    regs = []
    for ch, base, addr_name in (("MM2S", 0x00, "SA"), ("S2MM", 0x30, "DA")):
        src = "Source" if ch == "MM2S" else "Destination"
        regs += [
            Register(f"{ch}_DMACR", base + 0x00, f"{ch} DMA Control Register", cr),
            Register(f"{ch}_DMASR", base + 0x04, f"{ch} DMA Status Register", sr),
            Register(
                f"{ch}_{addr_name}",
                base + 0x18,
                f"{ch} {src} Address Register",
                ((f"{ch}_{addr_name}", 0, 32, "read-write"),),
            ),
            Register(
                f"{ch}_{addr_name}_MSB",
                base + 0x1C,
                f"{ch} {src} Address Register (MSB)",
                ((f"{ch}_{addr_name}_MSB", 0, 32, "read-write"),),
            ),
            Register(
                f"{ch}_LENGTH",
                base + 0x28,
                f"{ch} Buffer Length Register (bytes; writing it starts the transfer)",
                (("Length", 0, length_width, "read-write"),),
            ),
        ]
    return tuple(regs)


DMA_STREAM_WIDTHS = (8, 16, 32, 64, 128, 256, 512, 1024)
DMA_MM_WIDTHS = (32, 64, 128, 256, 512, 1024)
DMA_DEFAULTS = {
    "c_include_sg": "1",
    "c_sg_length_width": "14",
    "c_sg_include_stscntrl_strm": "1",
    "c_micro_dma": "0",
    "c_include_mm2s": "1",
    "c_include_s2mm": "1",
    "c_m_axi_mm2s_data_width": "32",
    "c_m_axis_mm2s_tdata_width": "32",
    "c_m_axi_s2mm_data_width": "32",
    "c_s_axis_s2mm_tdata_width": "32",
    "c_include_mm2s_dre": "0",
    "c_include_s2mm_dre": "0",
    "c_mm2s_burst_size": "16",
    "c_s2mm_burst_size": "16",
    "c_addr_width": "32",
    "c_include_mm2s_sf": "1",
    "c_include_s2mm_sf": "1",
    "c_enable_multi_channel": "0",
    "c_num_mm2s_channels": "1",
    "c_num_s2mm_channels": "1",
    "c_dlytmr_resolution": "125",
    "c_prmry_is_aclk_async": "0",
    "c_sg_use_stsapp_length": "0",
    "c_single_interface": "0",
    "c_increase_throughput": "0",
}


def axi_dma(config: Mapping[str, str], ctx: Mapping[str, str]) -> IPModel:
    """AXI DMA v7.1 (PG021), simple or scatter-gather mode."""
    unknown = set(config) - set(DMA_DEFAULTS)
    if unknown:
        raise IPError(f"axi_dma has no parameter(s) {', '.join(sorted(unknown))}")
    c = {**DMA_DEFAULTS, **config}
    sg = _int(c, "c_include_sg", 1)
    lw = _int(c, "c_sg_length_width", 14)
    if not 8 <= lw <= 26:
        raise IPError(f"axi_dma: c_sg_length_width = {lw} must be in 8..26 (the buffer length register)")
    mm2s_s = _bits_ok(
        _int(c, "c_m_axis_mm2s_tdata_width", 32), DMA_STREAM_WIDTHS, "c_m_axis_mm2s_tdata_width"
    )
    s2mm_s = _bits_ok(
        _int(c, "c_s_axis_s2mm_tdata_width", 32), DMA_STREAM_WIDTHS, "c_s_axis_s2mm_tdata_width"
    )
    mm2s_m = _bits_ok(_int(c, "c_m_axi_mm2s_data_width", 32), DMA_MM_WIDTHS, "c_m_axi_mm2s_data_width")
    s2mm_m = _bits_ok(_int(c, "c_m_axi_s2mm_data_width", 32), DMA_MM_WIDTHS, "c_m_axi_s2mm_data_width")
    if mm2s_s > mm2s_m or s2mm_s > s2mm_m:
        raise IPError(
            "axi_dma: a stream data width may not exceed its memory-map data width "
            f"(MM2S {mm2s_s} > {mm2s_m} or S2MM {s2mm_s} > {s2mm_m})"
        )
    addr = _int(c, "c_addr_width", 32)
    freq = ctx.get("FREQ_HZ")
    intfs: dict[str, IntfPin] = {
        "S_AXI_LITE": IntfPin(
            "S_AXI_LITE",
            "Slave",
            "aximm",
            _axi_signals(
                "s_axi_lite_", protocol="AXI4LITE", mode="Slave", addr=10, data=32, lite_minimal=True
            ),
            _axi_params("AXI4LITE", 32, 10, freq_hz=freq),
            clock="s_axi_lite_aclk",
        ),
    }
    pins = {"s_axi_lite_aclk": _clock("s_axi_lite_aclk", ["S_AXI_LITE"], "axi_resetn")}
    if sg:
        intfs["M_AXI_SG"] = IntfPin(
            "M_AXI_SG",
            "Master",
            "aximm",
            _axi_signals("m_axi_sg_", protocol="AXI4", mode="Master", addr=addr, data=32),
            _axi_params("AXI4", 32, addr, freq_hz=freq),
            clock="m_axi_sg_aclk",
        )
        pins["m_axi_sg_aclk"] = _clock("m_axi_sg_aclk", ["M_AXI_SG"], None)
    if _int(c, "c_include_mm2s", 1):
        intfs["M_AXI_MM2S"] = IntfPin(
            "M_AXI_MM2S",
            "Master",
            "aximm",
            _axi_signals(
                "m_axi_mm2s_", protocol="AXI4", mode="Master", rw="READ_ONLY", addr=addr, data=mm2s_m
            ),
            _axi_params("AXI4", mm2s_m, addr, rw="READ_ONLY", freq_hz=freq),
            clock="m_axi_mm2s_aclk",
        )
        intfs["M_AXIS_MM2S"] = IntfPin(
            "M_AXIS_MM2S",
            "Master",
            "axis",
            _axis_signals("m_axis_mm2s_", "Master", mm2s_s),
            _axis_params(mm2s_s, keep=True, last=True),
            clock="m_axi_mm2s_aclk",
        )
        pins["m_axi_mm2s_aclk"] = _clock("m_axi_mm2s_aclk", ["M_AXI_MM2S", "M_AXIS_MM2S"], None)
        pins["mm2s_prmry_reset_out_n"] = _reset("mm2s_prmry_reset_out_n", "O")
        pins["mm2s_introut"] = Pin("mm2s_introut", "O", 1, "INTERRUPT", {"SENSITIVITY": "LEVEL_HIGH"})
    if _int(c, "c_include_s2mm", 1):
        intfs["M_AXI_S2MM"] = IntfPin(
            "M_AXI_S2MM",
            "Master",
            "aximm",
            _axi_signals(
                "m_axi_s2mm_", protocol="AXI4", mode="Master", rw="WRITE_ONLY", addr=addr, data=s2mm_m
            ),
            _axi_params("AXI4", s2mm_m, addr, rw="WRITE_ONLY", freq_hz=freq),
            clock="m_axi_s2mm_aclk",
        )
        intfs["S_AXIS_S2MM"] = IntfPin(
            "S_AXIS_S2MM",
            "Slave",
            "axis",
            _axis_signals("s_axis_s2mm_", "Slave", s2mm_s),
            _axis_params(s2mm_s, keep=True, last=True),
            clock="m_axi_s2mm_aclk",
        )
        pins["m_axi_s2mm_aclk"] = _clock("m_axi_s2mm_aclk", ["M_AXI_S2MM", "S_AXIS_S2MM"], None)
        pins["s2mm_prmry_reset_out_n"] = _reset("s2mm_prmry_reset_out_n", "O")
        pins["s2mm_introut"] = Pin("s2mm_introut", "O", 1, "INTERRUPT", {"SENSITIVITY": "LEVEL_HIGH"})
    pins["axi_resetn"] = _reset("axi_resetn")
    hdl = {
        "C_S_AXI_LITE_ADDR_WIDTH": "10",
        "C_S_AXI_LITE_DATA_WIDTH": "32",
        "C_INCLUDE_SG": str(sg),
        "C_SG_LENGTH_WIDTH": str(lw),
        "C_MICRO_DMA": c["c_micro_dma"],
        "C_INCLUDE_MM2S": c["c_include_mm2s"],
        "C_M_AXI_MM2S_DATA_WIDTH": str(mm2s_m),
        "C_M_AXIS_MM2S_TDATA_WIDTH": str(mm2s_s),
        "C_INCLUDE_MM2S_DRE": c["c_include_mm2s_dre"],
        "C_MM2S_BURST_SIZE": c["c_mm2s_burst_size"],
        "C_INCLUDE_S2MM": c["c_include_s2mm"],
        "C_M_AXI_S2MM_DATA_WIDTH": str(s2mm_m),
        "C_S_AXIS_S2MM_TDATA_WIDTH": str(s2mm_s),
        "C_INCLUDE_S2MM_DRE": c["c_include_s2mm_dre"],
        "C_S2MM_BURST_SIZE": c["c_s2mm_burst_size"],
        "C_M_AXI_MM2S_ADDR_WIDTH": str(addr),
        "C_M_AXI_S2MM_ADDR_WIDTH": str(addr),
        "C_FAMILY": "zynq",
    }
    spaces = [
        AddrSpace(n, (i,))
        for n, i in (("Data_MM2S", "M_AXI_MM2S"), ("Data_S2MM", "M_AXI_S2MM"), ("Data_SG", "M_AXI_SG"))
        if i in intfs
    ]
    return IPModel(
        "xilinx.com:ip:axi_dma:7.1",
        "axi_dma",
        {**hdl, **c},
        intfs,
        pins,
        [AddrBlock("S_AXI_LITE", "Reg", "register", 0x10000, _dma_registers(lw))],
        spaces,
        hwversion="7.1",
    )


# ----------------------------------------------------------------------------- ZYNQ7 PS v5.5
_DDR_SIGNALS: list[tuple[str, str, int, str] | tuple[str, str, int, str, str]] = [
    ("CAS_N", "DDR_CAS_n", 1, "IO"),
    ("CKE", "DDR_CKE", 1, "IO"),
    ("CK_N", "DDR_Clk_n", 1, "IO", "clk"),
    ("CK_P", "DDR_Clk", 1, "IO", "clk"),
    ("CS_N", "DDR_CS_n", 1, "IO"),
    ("RESET_N", "DDR_DRSTB", 1, "IO", "rst"),
    ("ODT", "DDR_ODT", 1, "IO"),
    ("RAS_N", "DDR_RAS_n", 1, "IO"),
    ("WE_N", "DDR_WEB", 1, "IO"),
    ("BA", "DDR_BankAddr", 3, "IO"),
    ("ADDR", "DDR_Addr", 15, "IO"),
    ("DM", "DDR_DM", 4, "IO"),
    ("DQ", "DDR_DQ", 32, "IO"),
    ("DQS_N", "DDR_DQS_n", 4, "IO"),
    ("DQS_P", "DDR_DQS", 4, "IO"),
]
_FIXED_IO_SIGNALS: list[tuple[str, str, int, str]] = [
    ("MIO", "MIO", 54, "IO"),
    ("DDR_VRN", "DDR_VRN", 1, "IO"),
    ("DDR_VRP", "DDR_VRP", 1, "IO"),
    ("PS_SRSTB", "PS_SRSTB", 1, "IO"),
    ("PS_CLK", "PS_CLK", 1, "IO"),
    ("PS_PORB", "PS_PORB", 1, "IO"),
]
# The HP port's FIFO occupancy and issuing-capability side band (PG082, "S_AXI_HP0_FIFO_CTRL"): outputs
# RCOUNT/WCOUNT/RACOUNT/WACOUNT, inputs RDISSUECAP1_EN/WRISSUECAP1_EN; left unconnected in the kit's design.
_HP_FIFO_CTRL_SIGNALS = [
    ("RCOUNT", "RCOUNT", 8, "O"),
    ("WCOUNT", "WCOUNT", 8, "O"),
    ("RACOUNT", "RACOUNT", 3, "O"),
    ("WACOUNT", "WACOUNT", 6, "O"),
    ("RDISSUECAPEN", "RDISSUECAP1_EN", 1, "I"),
    ("WRISSUECAPEN", "WRISSUECAP1_EN", 1, "I"),
]


def processing_system7(config: Mapping[str, str], ctx: Mapping[str, str]) -> IPModel:
    """ZYNQ7 Processing System v5.5 (PG082) with the FCLK dividers Vivado derives from the IO PLL."""
    c = dict(config)
    crystal = float(c.get("PCW_CRYSTAL_PERIPHERAL_FREQMHZ", "33.333333"))
    io_fbdiv = round(1000.0 / crystal)  # Vivado runs the IO PLL at ~1000 MHz
    io_pll = crystal * io_fbdiv
    derived = {"PCW_IOPLL_CTRL_FBDIV": str(io_fbdiv), "PCW_IO_IO_PLL_FREQMHZ": f"{io_pll:.3f}"}
    pins: dict[str, Pin] = {}
    for i in range(4):
        enabled = c.get(f"PCW_FPGA_FCLK{i}_ENABLE", "1" if i == 0 else "0") == "1"
        want = float(c.get(f"PCW_FPGA{i}_PERIPHERAL_FREQMHZ", "50"))
        d0, d1, got = fclk_divisors(io_pll, want)
        derived.update(
            {
                f"PCW_FPGA_FCLK{i}_ENABLE": str(int(enabled)),
                f"PCW_FPGA{i}_PERIPHERAL_FREQMHZ": f"{want:g}",
                f"PCW_FCLK{i}_PERIPHERAL_CLKSRC": "IO PLL",
                f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0": str(d0),
                f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1": str(d1),
                f"PCW_ACT_FPGA{i}_PERIPHERAL_FREQMHZ": f"{got:.6f}",
                f"PCW_CLK{i}_FREQ": str(round(got * 1e6)),
                f"PCW_FCLK_CLK{i}_BUF": "TRUE" if enabled else "FALSE",
                f"C_FCLK_CLK{i}_BUF": "TRUE" if enabled else "FALSE",
            }
        )
        if enabled and c.get(f"PCW_EN_CLK{i}_PORT", "1" if i == 0 else "0") == "1":
            pins[f"FCLK_CLK{i}"] = Pin(f"FCLK_CLK{i}", "O", 1, "clk", {"FREQ_HZ": str(round(got * 1e6))})
        if c.get(f"PCW_EN_RST{i}_PORT", "1" if i == 0 else "0") == "1":
            pins[f"FCLK_RESET{i}_N"] = _reset(f"FCLK_RESET{i}_N", "O")
    freq = ctx.get("FREQ_HZ")
    intfs: dict[str, IntfPin] = {
        "DDR": IntfPin(
            "DDR",
            "Master",
            "ddrx",
            [Signal(*s) for s in _DDR_SIGNALS],
            {
                "MEMORY_TYPE": "COMPONENTS",
                "AXI_ARBITRATION_SCHEME": "TDM",
                "BURST_LENGTH": "8",
                "CAN_DEBUG": "false",
                "CAS_LATENCY": "11",
                "CAS_WRITE_LATENCY": "11",
                "CS_ENABLED": "true",
                "DATA_MASK_ENABLED": "true",
                "DATA_WIDTH": "8",
                "MEMORY_PART": "",
                "MEM_ADDR_MAP": "ROW_COLUMN_BANK",
                "SLOT": "Single",
                "TIMEPERIOD_PS": "1250",
            },
        ),
        "FIXED_IO": IntfPin(
            "FIXED_IO", "Master", "fixedio", [Signal(*s) for s in _FIXED_IO_SIGNALS], {"CAN_DEBUG": "false"}
        ),
    }
    uses = {}
    if c.get("PCW_USE_M_AXI_GP0", "1") == "1":
        intfs["M_AXI_GP0"] = IntfPin(
            "M_AXI_GP0",
            "Master",
            "aximm",
            _axi_signals(
                "M_AXI_GP0_",
                protocol="AXI3",
                mode="Master",
                addr=32,
                data=32,
                id_bits=12,
                lower=False,
                qos=True,
                lock=True,
            ),
            _axi_params("AXI3", 32, 32, 12, freq_hz=freq),
            clock="M_AXI_GP0_ACLK",
        )
        pins["M_AXI_GP0_ACLK"] = _clock("M_AXI_GP0_ACLK", ["M_AXI_GP0"], None)
        uses["C_USE_M_AXI_GP0"] = "1"
    if c.get("PCW_USE_S_AXI_HP0", "0") == "1":
        width = _bits_ok(_int(c, "PCW_S_AXI_HP0_DATA_WIDTH", 64), (32, 64), "PCW_S_AXI_HP0_DATA_WIDTH")
        intfs["S_AXI_HP0"] = IntfPin(
            "S_AXI_HP0",
            "Slave",
            "aximm",
            _axi_signals(
                "S_AXI_HP0_",
                protocol="AXI3",
                mode="Slave",
                addr=32,
                data=width,
                id_bits=6,
                lower=False,
                qos=True,
                lock=True,
            ),
            _axi_params("AXI3", width, 32, 6, freq_hz=freq),
            clock="S_AXI_HP0_ACLK",
        )
        pins["S_AXI_HP0_ACLK"] = _clock("S_AXI_HP0_ACLK", ["S_AXI_HP0"], None)
        intfs["S_AXI_HP0_FIFO_CTRL"] = IntfPin(
            "S_AXI_HP0_FIFO_CTRL",
            "Slave",
            "hpstatusctrl",
            [Signal(logical, f"S_AXI_HP0_{phys}", w, d) for logical, phys, w, d in _HP_FIFO_CTRL_SIGNALS],
        )
        uses.update({"C_USE_S_AXI_HP0": "1", "C_S_AXI_HP0_DATA_WIDTH": str(width)})
    ddr_high = int(str(c.get("PCW_DDR_RAM_HIGHADDR", "0x1FFFFFFF")), 16)
    hdl = {
        "C_EN_EMIO_ENET0": "0",
        "C_DQ_WIDTH": "32",
        "C_DQS_WIDTH": "4",
        "C_DM_WIDTH": "4",
        "C_MIO_PRIMITIVE": "54",
        "C_PACKAGE_NAME": "clg400",
        "C_IRQ_F2P_MODE": "DIRECT",
        "C_M_AXI_GP0_ID_WIDTH": "12",
        "C_S_AXI_HP0_ID_WIDTH": "6",
        **uses,
    }
    blocks = []
    if "S_AXI_HP0" in intfs:
        blocks.append(AddrBlock("S_AXI_HP0", "HP0_DDR_LOWOCM", "memory", ddr_high + 1))
    return IPModel(
        "xilinx.com:ip:processing_system7:5.5",
        "processing_system7",
        {**hdl, **c, **derived},
        intfs,
        pins,
        blocks,
        [AddrSpace("Data", ("M_AXI_GP0",))],
        hwversion="5.5",
        is_ps=True,
    )


# ----------------------------------------------------------------------------- interconnect, reset, converter
def axi_interconnect(config: Mapping[str, str], ctx: Mapping[str, str]) -> IPModel:
    """AXI Interconnect v2.1: NUM_SI slave and NUM_MI master ports whose widths follow their peers."""
    unknown = set(config) - {"NUM_SI", "NUM_MI", "STRATEGY", "ENABLE_ADVANCED_OPTIONS"}
    if unknown:
        raise IPError(f"axi_interconnect has no parameter(s) {', '.join(sorted(unknown))}")
    n_si, n_mi = _int(config, "NUM_SI", 1), _int(config, "NUM_MI", 2)
    if not (1 <= n_si <= 16 and 1 <= n_mi <= 64):
        raise IPError(f"axi_interconnect: NUM_SI={n_si} (1..16), NUM_MI={n_mi} (1..64)")
    intfs, pins = {}, {"ACLK": _clock("ACLK", [], "ARESETN"), "ARESETN": _reset("ARESETN")}
    for kind, n, mode in (("S", n_si, "Slave"), ("M", n_mi, "Master")):
        for i in range(n):
            name = f"{kind}{i:02d}_AXI"
            intfs[name] = IntfPin(name, mode, "aximm", [], {}, clock=f"{kind}{i:02d}_ACLK", adaptive=True)
            pins[f"{kind}{i:02d}_ACLK"] = _clock(f"{kind}{i:02d}_ACLK", [name], f"{kind}{i:02d}_ARESETN")
            pins[f"{kind}{i:02d}_ARESETN"] = _reset(f"{kind}{i:02d}_ARESETN")
    return IPModel(
        "xilinx.com:ip:axi_interconnect:2.1",
        "axi_interconnect",
        {"NUM_SI": str(n_si), "NUM_MI": str(n_mi), "STRATEGY": "0", **dict(config)},
        intfs,
        pins,
        iptype="BUS",
        hwversion="2.1",
    )


def proc_sys_reset(config: Mapping[str, str], ctx: Mapping[str, str]) -> IPModel:
    """Processor System Reset v5.0."""
    pins = {
        "slowest_sync_clk": _clock("slowest_sync_clk", [], None),
        "ext_reset_in": _reset("ext_reset_in"),
        "aux_reset_in": _reset("aux_reset_in"),
        "mb_debug_sys_rst": _reset("mb_debug_sys_rst", active_low=False),
        "dcm_locked": Pin("dcm_locked", "I"),
        "mb_reset": _reset("mb_reset", "O", active_low=False),
        "bus_struct_reset": _reset("bus_struct_reset", "O", active_low=False, vector=True),
        "peripheral_reset": _reset("peripheral_reset", "O", active_low=False, vector=True),
        "interconnect_aresetn": _reset("interconnect_aresetn", "O", vector=True),
        "peripheral_aresetn": _reset("peripheral_aresetn", "O", vector=True),
    }
    params = {
        "C_FAMILY": "zynq",
        "C_EXT_RST_WIDTH": "4",
        "C_AUX_RST_WIDTH": "4",
        "C_EXT_RESET_HIGH": "0",
        "C_AUX_RESET_HIGH": "0",
        "C_NUM_BUS_RST": "1",
        "C_NUM_PERP_RST": "1",
        "C_NUM_INTERCONNECT_ARESETN": "1",
        "C_NUM_PERP_ARESETN": "1",
        **dict(config),
    }
    return IPModel("xilinx.com:ip:proc_sys_reset:5.0", "proc_sys_reset", params, {}, pins, hwversion="5.0")


def axis_dwidth_converter(config: Mapping[str, str], ctx: Mapping[str, str]) -> IPModel:
    """AXI4-Stream Data Width Converter v1.1 (byte widths S_TDATA_NUM_BYTES -> M_TDATA_NUM_BYTES)."""
    s_bytes, m_bytes = _int(config, "S_TDATA_NUM_BYTES", 1), _int(config, "M_TDATA_NUM_BYTES", 1)
    if not (1 <= s_bytes <= 512 and 1 <= m_bytes <= 512):
        raise IPError(f"axis_dwidth_converter: byte widths must be 1..512, got {s_bytes} -> {m_bytes}")
    last, keep = _int(config, "HAS_TLAST", 0) == 1, _int(config, "HAS_TKEEP", 0) == 1
    mi_keep = _int(config, "HAS_MI_TKEEP", 0) == 1 or keep
    intfs = {
        "S_AXIS": IntfPin(
            "S_AXIS",
            "Slave",
            "axis",
            _axis_signals("s_axis_", "Slave", 8 * s_bytes, keep=keep, last=last),
            _axis_params(8 * s_bytes, keep=keep, last=last),
            clock="aclk",
        ),
        "M_AXIS": IntfPin(
            "M_AXIS",
            "Master",
            "axis",
            _axis_signals("m_axis_", "Master", 8 * m_bytes, keep=mi_keep, last=last),
            _axis_params(8 * m_bytes, keep=mi_keep, last=last),
            clock="aclk",
        ),
    }
    pins = {"aclk": _clock("aclk", ["S_AXIS", "M_AXIS"], "aresetn"), "aresetn": _reset("aresetn")}
    params = {
        "C_FAMILY": "zynq",
        "C_S_AXIS_TDATA_WIDTH": str(8 * s_bytes),
        "C_M_AXIS_TDATA_WIDTH": str(8 * m_bytes),
        "HAS_ACLKEN": "0",
        "TUSER_BITS_PER_BYTE": "0",
        "TID_WIDTH": "0",
        "TDEST_WIDTH": "0",
        "S_TDATA_NUM_BYTES": str(s_bytes),
        "M_TDATA_NUM_BYTES": str(m_bytes),
        "HAS_TLAST": str(int(last)),
        "HAS_TKEEP": str(int(keep)),
        "HAS_MI_TKEEP": str(int(mi_keep)),
    }
    return IPModel(
        "xilinx.com:ip:axis_dwidth_converter:1.1",
        "axis_dwidth_converter",
        params,
        intfs,
        pins,
        iptype="BUS",
        hwversion="1.1",
    )


# ----------------------------------------------------------------------------- FINN stitched IP
def finn_accelerator(vlnv: str, in_bits: int, out_bits: int, axilite: str = "") -> Callable[..., IPModel]:
    """IP factory of a FINN stitched IP: ``s_axis_0``/``m_axis_0`` (no TLAST), ``ap_clk``, ``ap_rst_n``."""
    for bits, what in ((in_bits, "input"), (out_bits, "output")):
        if bits <= 0 or bits % 8:
            raise IPError(
                f"the accelerator's {what} stream width must be a positive multiple of 8 bits "
                f"(FINN pads streams to bytes), got {bits}"
            )

    def build(config: Mapping[str, str], ctx: Mapping[str, str]) -> IPModel:
        if config:
            raise IPError(
                f"the FINN accelerator IP {vlnv} has no configurable parameters "
                f"(got {', '.join(sorted(config))}); re-run Lab 2 to change it"
            )
        intfs = {
            "s_axis_0": IntfPin(
                "s_axis_0",
                "Slave",
                "axis",
                _axis_signals("s_axis_0_", "Slave", in_bits, keep=False, last=False),
                _axis_params(in_bits, keep=False, last=False),
                clock="ap_clk",
            ),
            "m_axis_0": IntfPin(
                "m_axis_0",
                "Master",
                "axis",
                _axis_signals("m_axis_0_", "Master", out_bits, keep=False, last=False),
                _axis_params(out_bits, keep=False, last=False),
                clock="ap_clk",
            ),
        }
        busifs = ["s_axis_0", "m_axis_0"]
        blocks = []
        if axilite:
            intfs[axilite] = IntfPin(
                axilite,
                "Slave",
                "aximm",
                _axi_signals(f"{axilite}_", protocol="AXI4LITE", mode="Slave", addr=16, data=32),
                _axi_params("AXI4LITE", 32, 16, freq_hz=ctx.get("FREQ_HZ")),
                clock="ap_clk",
            )
            busifs.append(axilite)
            blocks.append(AddrBlock(axilite, "Reg", "register", 0x10000))
        pins = {"ap_clk": _clock("ap_clk", busifs, "ap_rst_n"), "ap_rst_n": _reset("ap_rst_n")}
        name = vlnv.split(":")[2]
        return IPModel(
            vlnv, name, {"EDK_IPTYPE": "PERIPHERAL"}, intfs, pins, blocks, hwversion=vlnv.split(":")[3]
        )

    return build


# ----------------------------------------------------------------------------- module references
_PORT_RE = re.compile(
    r"^\s*(?:\(\*.*?\*\)\s*)*(input|output|inout)\s+(?:wire|reg|logic)?\s*"
    r"(?:\[\s*([^:\]]+?)\s*:\s*([^\]]+?)\s*\])?\s*(\w+)\s*,?",
    re.M,
)
_PARAM_RE = re.compile(r"parameter\s+(?:integer\s+)?(\w+)\s*=\s*([^,\n)]+?)\s*(?:,|\)|//|\n)")
_STREAM_RE = re.compile(r"^([sm]_axis(?:_\w+?)?)_(tdata|tkeep|tlast|tvalid|tready)$")


def _eval_width(expr: str, params: Mapping[str, int]) -> int:
    """Evaluate a Verilog range bound such as ``IN_WIDTH-1`` with the module's parameter values."""
    py = re.sub(
        r"\b([A-Za-z_]\w*)\b", lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(1), expr
    )
    if not re.fullmatch(r"[\d\s+\-*/()]+", py):
        raise IPError(f"cannot evaluate Verilog expression {expr!r}")
    return int(eval(py.replace("/", "//"), {"__builtins__": {}}))  # noqa: S307 - digits and operators only


def module_reference(module: str, rtl_dir: Path = RTL_DIR) -> Callable[..., IPModel]:
    """An IP factory for ``create_bd_cell -type module -reference <module>``, read from ``<module>.v``."""
    path = Path(rtl_dir) / f"{module}.v"
    if not path.is_file():
        raise IPError(f"module reference {module}: {path} not found (add_files the RTL first)")
    text = re.sub(r"//[^\n]*", "", path.read_text())
    m = re.search(rf"module\s+{module}\s*#\s*\((.*?)\)\s*\((.*?)\);", text, re.S)
    if not m:
        raise IPError(f"module reference {module}: no ANSI-style 'module {module} #(...) (...);' in {path}")
    defaults = {k: v.strip() for k, v in _PARAM_RE.findall(m.group(1))}
    ports = _PORT_RE.findall(m.group(2))

    def build(config: Mapping[str, str], ctx: Mapping[str, str]) -> IPModel:
        unknown = set(config) - set(defaults)
        if unknown:
            raise IPError(
                f"module {module} has no parameter(s) {', '.join(sorted(unknown))} "
                f"(it has {', '.join(defaults)})"
            )
        values = {k: _int({k: v}, k, 0) for k, v in {**defaults, **config}.items()}
        intfs: dict[str, IntfPin] = {}
        pins: dict[str, Pin] = {}
        for direction, hi, lo, name in ports:
            width = _eval_width(hi, values) - _eval_width(lo, values) + 1 if hi else 1
            d = {"input": "I", "output": "O", "inout": "IO"}[direction]
            sm = _STREAM_RE.match(name)
            if sm:
                intf = sm.group(1)
                mode = "Slave" if intf.startswith("s_") else "Master"
                pin = intfs.setdefault(intf, IntfPin(intf, mode, "axis", [], {}, clock="aclk"))
                pin.signals.append(Signal(sm.group(2).upper(), name, width, d))
            elif name in ("aclk", "clk", "ap_clk"):
                pins[name] = _clock(name, [], None)
            elif name.endswith("resetn") or name.endswith("rst_n"):
                pins[name] = _reset(name)
            else:
                pins[name] = Pin(name, d, width)
        for pin in intfs.values():
            pin.params = _axis_params(
                pin.data_bits or 8, keep=pin.signal("TKEEP") is not None, last=pin.signal("TLAST") is not None
            )
        for clk in pins.values():
            if clk.sigis == "clk":
                clk.params["ASSOCIATED_BUSIF"] = ":".join(intfs)
                resets = [p.name for p in pins.values() if p.sigis == "rst"]
                if resets:
                    clk.params["ASSOCIATED_RESET"] = resets[0]
        params = {k: str(v) for k, v in values.items()}
        return IPModel(f"xilinx.com:module_ref:{module}:1.0", module, params, intfs, pins)

    return build


CATALOG: dict[str, Callable[..., IPModel]] = {
    "xilinx.com:ip:axi_dma:7.1": axi_dma,
    "xilinx.com:ip:processing_system7:5.5": processing_system7,
    "xilinx.com:ip:axi_interconnect:2.1": axi_interconnect,
    "xilinx.com:ip:proc_sys_reset:5.0": proc_sys_reset,
    "xilinx.com:ip:axis_dwidth_converter:1.1": axis_dwidth_converter,
}


def bytes_of(size: str | int) -> int:
    """Vivado's address range notation (``64K``, ``512M``, ``1G``, ``0x10000``) in bytes."""
    if isinstance(size, int):
        return size
    s = str(size).strip()
    m = re.fullmatch(r"(\d+)\s*([KMG]?)", s, re.I)
    if m:
        return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2).upper()]
    value = int(s, 0)
    if value <= 0 or value & (value - 1):
        raise IPError(f"address range {size!r} must be a power of two")
    return value


def is_power_of_two(n: int) -> bool:
    """True for 1, 2, 4, ..."""
    return n > 0 and (n & (n - 1)) == 0 and math.log2(n).is_integer()
