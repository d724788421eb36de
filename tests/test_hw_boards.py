"""Boards: capacity of the xc7z020, names, FCLK dividers and PS7 presets."""

from __future__ import annotations

import pytest

from course_utils.hw.boards import BOARDS, XC7Z020, fclk_divisors, get_board, ps7_config


def test_capacity_of_the_xc7z020() -> None:
    assert XC7Z020.as_dict() == {"LUT": 53_200, "FF": 106_400, "BRAM_18K": 280, "DSP": 220}
    assert all(b.part == "xc7z020clg400-1" and b.capacity is XC7Z020 for b in BOARDS.values())


@pytest.mark.parametrize(
    "name, key",
    [
        ("pynq-z2", "pynq-z2"),
        ("Pynq-Z2", "pynq-z2"),
        ("PYNQ-Z1", "pynq-z1"),
        ("Zybo Z7-20", "zybo-z7-20"),
        ("zybo", "zybo-z7-20"),
    ],
)
def test_board_names(name: str, key: str) -> None:
    assert get_board(name).key == key


def test_unknown_board_lists_the_supported_ones() -> None:
    with pytest.raises(ValueError, match="unknown board 'arty-z7'.*pynq-z2, pynq-z1, zybo-z7-20"):
        get_board("arty-z7")


def test_fclk_dividers() -> None:
    assert fclk_divisors(1000.0, 100.0) == (10, 1, 100.0)  # as the PYNQ-Z2 board preset
    d0, d1, f = fclk_divisors(1000.0, 250.0)
    assert (d0 * d1, f) == (4, 250.0)
    d0, d1, f = fclk_divisors(1000.0, 7.0)  # needs both dividers (max 63 each)
    assert d1 > 1 and abs(f - 7.0) < 0.05
    with pytest.raises(ValueError):
        fclk_divisors(1000.0, 0)


def test_io_pll_per_board() -> None:
    assert get_board("pynq-z2").io_pll_mhz == pytest.approx(1000.0)
    assert get_board("zybo-z7-20").io_pll_mhz == pytest.approx(1000.0, abs=0.01)  # 33.333333 MHz x 30


def test_ps7_config() -> None:
    z2, zybo = ps7_config("pynq-z2", 100.0), ps7_config("zybo-z7-20", 125.0)
    assert z2["PCW_FPGA0_PERIPHERAL_FREQMHZ"] == "100" and zybo["PCW_FPGA0_PERIPHERAL_FREQMHZ"] == "125"
    assert z2["PCW_USE_S_AXI_HP0"] == "1" and z2["PCW_USE_M_AXI_GP0"] == "1"
    assert z2["PCW_UIPARAM_DDR_BUS_WIDTH"] == "16 Bit" and zybo["PCW_UIPARAM_DDR_BUS_WIDTH"] == "32 Bit"
    assert z2["PCW_DDR_RAM_HIGHADDR"] == "0x1FFFFFFF" and zybo["PCW_DDR_RAM_HIGHADDR"] == "0x3FFFFFFF"
    assert z2["PCW_UART0_UART0_IO"] == "MIO 14 .. 15" and zybo["PCW_UART1_UART1_IO"] == "MIO 48 .. 49"
    with pytest.raises(ValueError, match=r"FCLK0 cannot be 123.4 MHz.*choose e.g. one of"):
        ps7_config("pynq-z2", 123.4)
