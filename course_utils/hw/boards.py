"""The boards of the course (all Zynq-7020, ``xc7z020clg400-1``): capacity, clocks, PS7 presets.

A *preset* is the processing-system configuration a board needs (DDR3 part and board delays, MIO
peripherals, bank voltages, PLLs). Vivado board files carry it too, but they are not always
installed (the PYNQ-Z1/Z2 files are separate downloads), so the kit applies the essential settings
itself, explicitly, with ``set_property -dict`` on the PS7 cell. Values are those of the boards'
published Vivado board files (XilinxBoardStore: TUL pynq-z2 A.0, Digilent zybo-z7-20 1.1; PYNQ's
own Pynq-Z1 base design). The PL clock FCLK0 comes from the IO PLL through two 6-bit dividers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

PART = "xc7z020clg400-1"


@dataclass(frozen=True)
class Capacity:
    """Programmable-logic resources of a device."""

    LUT: int
    FF: int
    BRAM_18K: int
    DSP: int

    def as_dict(self) -> dict[str, int]:
        """``{"LUT": ..., "FF": ..., "BRAM_18K": ..., "DSP": ...}``."""
        return {"LUT": self.LUT, "FF": self.FF, "BRAM_18K": self.BRAM_18K, "DSP": self.DSP}


XC7Z020 = Capacity(LUT=53_200, FF=106_400, BRAM_18K=280, DSP=220)

# DDR3 settings common to the three boards (MT41K/MT41J 256Mx16, DDR3-1066F timings)
_DDR_COMMON = {
    "PCW_UIPARAM_DDR_MEMORY_TYPE": "DDR 3",
    "PCW_UIPARAM_DDR_DRAM_WIDTH": "16 Bits",
    "PCW_UIPARAM_DDR_DEVICE_CAPACITY": "4096 MBits",
    "PCW_UIPARAM_DDR_SPEED_BIN": "DDR3_1066F",
    "PCW_UIPARAM_DDR_BANK_ADDR_COUNT": "3",
    "PCW_UIPARAM_DDR_ROW_ADDR_COUNT": "15",
    "PCW_UIPARAM_DDR_COL_ADDR_COUNT": "10",
    "PCW_UIPARAM_DDR_CL": "7",
    "PCW_UIPARAM_DDR_CWL": "6",
    "PCW_UIPARAM_DDR_T_FAW": "40.0",
    "PCW_UIPARAM_DDR_T_RAS_MIN": "35.0",
    "PCW_UIPARAM_DDR_TRAIN_WRITE_LEVEL": "1",
    "PCW_UIPARAM_DDR_TRAIN_READ_GATE": "1",
    "PCW_UIPARAM_DDR_TRAIN_DATA_EYE": "1",
    "PCW_PRESET_BANK0_VOLTAGE": "LVCMOS 3.3V",
    "PCW_PRESET_BANK1_VOLTAGE": "LVCMOS 1.8V",
}
# MIO peripherals shared by the three boards: QSPI flash, Gigabit Ethernet, SD card, USB OTG
_MIO_COMMON = {
    "PCW_QSPI_PERIPHERAL_ENABLE": "1",
    "PCW_QSPI_GRP_SINGLE_SS_ENABLE": "1",
    "PCW_QSPI_GRP_SINGLE_SS_IO": "MIO 1 .. 6",
    "PCW_QSPI_GRP_FBCLK_ENABLE": "1",
    "PCW_QSPI_GRP_FBCLK_IO": "MIO 8",
    "PCW_ENET0_PERIPHERAL_ENABLE": "1",
    "PCW_ENET0_ENET0_IO": "MIO 16 .. 27",
    "PCW_ENET0_GRP_MDIO_ENABLE": "1",
    "PCW_ENET0_GRP_MDIO_IO": "MIO 52 .. 53",
    "PCW_SD0_PERIPHERAL_ENABLE": "1",
    "PCW_SD0_SD0_IO": "MIO 40 .. 45",
    "PCW_SD0_GRP_CD_ENABLE": "1",
    "PCW_SD0_GRP_CD_IO": "MIO 47",
    "PCW_USB0_PERIPHERAL_ENABLE": "1",
    "PCW_USB0_USB0_IO": "MIO 28 .. 39",
    "PCW_GPIO_MIO_GPIO_ENABLE": "1",
}


@dataclass(frozen=True)
class Board:
    """A supported board: part, memory, PS clocking and the PS7 preset the block design applies."""

    key: str
    name: str
    board_part: str
    crystal_mhz: float
    io_pll_fbdiv: int
    arm_pll_fbdiv: int
    ddr_pll_fbdiv: int
    ddr_mb: int
    preset: Mapping[str, str]
    part: str = PART
    capacity: Capacity = XC7Z020
    pynq_image: str = ""
    aliases: tuple[str, ...] = field(default=())

    @property
    def io_pll_mhz(self) -> float:
        """IO PLL output (FCLK source): crystal x feedback divider."""
        return self.crystal_mhz * self.io_pll_fbdiv

    @property
    def ddr_high_addr(self) -> int:
        """Last byte address of the DDR seen from the PL (HP ports)."""
        return self.ddr_mb * 1024 * 1024 - 1


def fclk_divisors(source_mhz: float, target_mhz: float) -> tuple[int, int, float]:
    """The two FCLK dividers (1..63 each) closest to ``target_mhz``: ``(div0, div1, achieved_mhz)``.

    Ties prefer the smallest ``div1`` (one divider when possible), as Vivado's PS7 wizard does.
    """
    if target_mhz <= 0:
        raise ValueError(f"FCLK target must be positive, got {target_mhz} MHz")
    best: tuple[tuple[float, int, int], int, int, float] | None = None
    for div1 in range(1, 64):
        for div0 in range(1, 64):
            f = source_mhz / (div0 * div1)
            key = (round(abs(f - target_mhz), 9), div1, div0)
            if best is None or key < best[0]:
                best = (key, div0, div1, f)
    assert best is not None
    _, div0, div1, f = best
    return div0, div1, f


_PYNQ_Z2 = Board(
    key="pynq-z2",
    name="PYNQ-Z2",
    board_part="tul.com.tw:pynq-z2:part0:1.0",
    crystal_mhz=50.0,
    io_pll_fbdiv=20,
    arm_pll_fbdiv=26,
    ddr_pll_fbdiv=21,
    ddr_mb=512,
    pynq_image="PYNQ-Z2 v3.0/3.1 image (pynq 3.x, Python 3.10): http://www.pynq.io/boards.html",
    aliases=("pynq_z2", "pynqz2", "z2"),
    preset=MappingProxyType(
        {
            **_DDR_COMMON,
            **_MIO_COMMON,
            "PCW_CRYSTAL_PERIPHERAL_FREQMHZ": "50",
            "PCW_APU_PERIPHERAL_FREQMHZ": "650",
            "PCW_UIPARAM_DDR_FREQ_MHZ": "525",
            "PCW_UIPARAM_DDR_PARTNO": "MT41J256M16 RE-125",
            "PCW_UIPARAM_DDR_BUS_WIDTH": "16 Bit",
            "PCW_UIPARAM_DDR_T_RCD": "13.125",
            "PCW_UIPARAM_DDR_T_RP": "13.125",
            "PCW_UIPARAM_DDR_T_RC": "50.625",
            "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_0": "-0.051",
            "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_1": "-0.006",
            "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_2": "-0.009",
            "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_3": "-0.033",
            "PCW_UIPARAM_DDR_BOARD_DELAY0": "0.279",
            "PCW_UIPARAM_DDR_BOARD_DELAY1": "0.260",
            "PCW_UIPARAM_DDR_BOARD_DELAY2": "0.085",
            "PCW_UIPARAM_DDR_BOARD_DELAY3": "0.092",
            "PCW_UART0_PERIPHERAL_ENABLE": "1",
            "PCW_UART0_UART0_IO": "MIO 14 .. 15",
            "PCW_ENET0_RESET_ENABLE": "1",
            "PCW_ENET0_RESET_IO": "MIO 9",
            "PCW_USB0_RESET_ENABLE": "1",
            "PCW_USB0_RESET_IO": "MIO 46",
        }
    ),
)

_PYNQ_Z1 = Board(
    key="pynq-z1",
    name="PYNQ-Z1",
    board_part="www.digilentinc.com:pynq-z1:part0:1.0",
    crystal_mhz=50.0,
    io_pll_fbdiv=20,
    arm_pll_fbdiv=26,
    ddr_pll_fbdiv=21,
    ddr_mb=512,
    pynq_image="PYNQ-Z1 v3.0/3.1 image (pynq 3.x, Python 3.10): http://www.pynq.io/boards.html",
    aliases=("pynq_z1", "pynqz1", "z1"),
    preset=MappingProxyType(
        {
            **_DDR_COMMON,
            **_MIO_COMMON,
            "PCW_CRYSTAL_PERIPHERAL_FREQMHZ": "50",
            "PCW_APU_PERIPHERAL_FREQMHZ": "650",
            "PCW_UIPARAM_DDR_FREQ_MHZ": "525",
            "PCW_UIPARAM_DDR_PARTNO": "Custom",
            "PCW_UIPARAM_DDR_BUS_WIDTH": "16 Bit",
            "PCW_UIPARAM_DDR_T_RCD": "13.125",
            "PCW_UIPARAM_DDR_T_RP": "13.125",
            "PCW_UIPARAM_DDR_T_RC": "50.625",
            "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_0": "0.040",
            "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_1": "0.058",
            "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_2": "0.000",
            "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_3": "0.000",
            "PCW_UIPARAM_DDR_BOARD_DELAY0": "0.223",
            "PCW_UIPARAM_DDR_BOARD_DELAY1": "0.212",
            "PCW_UIPARAM_DDR_BOARD_DELAY2": "0.085",
            "PCW_UIPARAM_DDR_BOARD_DELAY3": "0.092",
            "PCW_UART0_PERIPHERAL_ENABLE": "1",
            "PCW_UART0_UART0_IO": "MIO 14 .. 15",
        }
    ),
)

_ZYBO_Z7_20 = Board(
    key="zybo-z7-20",
    name="Zybo Z7-20",
    board_part="digilentinc.com:zybo-z7-20:part0:1.1",
    crystal_mhz=33.333333,
    io_pll_fbdiv=30,
    arm_pll_fbdiv=39,
    ddr_pll_fbdiv=32,
    ddr_mb=1024,
    pynq_image="community PYNQ-ZYBO image (PYNQ 3.0.1, Python 3.10); see docs/hardware.md",
    aliases=("zybo_z7_20", "zyboz7-20", "zybo-z7", "zybo"),
    preset=MappingProxyType(
        {
            **_DDR_COMMON,
            **_MIO_COMMON,
            "PCW_CRYSTAL_PERIPHERAL_FREQMHZ": "33.333333",
            "PCW_APU_PERIPHERAL_FREQMHZ": "667",
            "PCW_UIPARAM_DDR_FREQ_MHZ": "533.333333",
            "PCW_UIPARAM_DDR_PARTNO": "MT41K256M16 RE-125",
            "PCW_UIPARAM_DDR_BUS_WIDTH": "32 Bit",
            "PCW_UIPARAM_DDR_T_RCD": "7",
            "PCW_UIPARAM_DDR_T_RP": "7",
            "PCW_UIPARAM_DDR_T_RC": "48.75",
            "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_0": "-0.050",
            "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_1": "-0.044",
            "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_2": "-0.035",
            "PCW_UIPARAM_DDR_DQS_TO_CLK_DELAY_3": "-0.100",
            "PCW_UIPARAM_DDR_BOARD_DELAY0": "0.221",
            "PCW_UIPARAM_DDR_BOARD_DELAY1": "0.222",
            "PCW_UIPARAM_DDR_BOARD_DELAY2": "0.217",
            "PCW_UIPARAM_DDR_BOARD_DELAY3": "0.244",
            "PCW_UART1_PERIPHERAL_ENABLE": "1",
            "PCW_UART1_UART1_IO": "MIO 48 .. 49",
            "PCW_USB0_RESET_ENABLE": "1",
            "PCW_USB0_RESET_IO": "MIO 46",
        }
    ),
)

BOARDS: Mapping[str, Board] = MappingProxyType({b.key: b for b in (_PYNQ_Z2, _PYNQ_Z1, _ZYBO_Z7_20)})


def get_board(name: str) -> Board:
    """The board called ``name`` ("pynq-z2", "Pynq-Z2", "PYNQ-Z1", "zybo-z7-20", ...)."""
    norm = str(name).strip().lower().replace(" ", "-")
    for board in BOARDS.values():
        if norm == board.key or norm == board.name.lower().replace(" ", "-") or norm in board.aliases:
            return board
    raise ValueError(f"unknown board {name!r}: the kit supports {', '.join(BOARDS)} (all xc7z020clg400-1).")


def ps7_config(board: Board | str, fclk0_mhz: float = 100.0) -> dict[str, str]:
    """The PS7 ``CONFIG.*`` values (without the prefix) for ``board`` with FCLK0 at ``fclk0_mhz``.

    Raises ValueError when the IO PLL cannot reach ``fclk0_mhz`` within 1 %, naming close values.
    """
    b = get_board(board) if isinstance(board, str) else board
    div0, div1, achieved = fclk_divisors(b.io_pll_mhz, fclk0_mhz)
    if abs(achieved - fclk0_mhz) > 0.01 * fclk0_mhz:
        near = sorted({round(b.io_pll_mhz / d, 3) for d in range(1, 64)}, key=lambda f: abs(f - fclk0_mhz))[
            :4
        ]
        raise ValueError(
            f"{b.name}: FCLK0 cannot be {fclk0_mhz} MHz from the {b.io_pll_mhz:.0f} MHz IO PLL "
            f"(closest {achieved:.3f} MHz); choose e.g. one of {near} MHz."
        )
    cfg = dict(b.preset)
    cfg.update(
        {
            "PCW_DDR_RAM_HIGHADDR": f"0x{b.ddr_high_addr:08X}",
            "PCW_FPGA0_PERIPHERAL_FREQMHZ": f"{fclk0_mhz:g}",
            "PCW_FPGA_FCLK0_ENABLE": "1",
            "PCW_EN_CLK0_PORT": "1",
            "PCW_EN_RST0_PORT": "1",
            "PCW_USE_M_AXI_GP0": "1",
            "PCW_USE_S_AXI_HP0": "1",
            "PCW_S_AXI_HP0_DATA_WIDTH": "64",
            "PCW_USE_FABRIC_INTERRUPT": "0",
        }
    )
    return cfg
