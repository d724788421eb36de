"""What a demo run does: dataset, bit widths, board preset, throughput target, quick or full."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

SWEEP_DEFAULT: tuple[tuple[int, int], ...] = ((1, 1), (2, 2), (4, 4), (8, 8))
"""Lab 1's bit-width sweep (W1A1, W2A2, W4A4, W8A8)."""
QUICK_EVAL_SAMPLES = 1000
"""Test images checked at every stage in ``--quick`` runs (the full run uses the whole test set)."""
QUICK_EPOCHS = 1
BOARD_ALIASES = ("pynq-z2", "pynq-z1", "zybo-z7-20")


class DemoError(ValueError):
    """A demo option or run folder is unusable; the message says what to do."""


def parse_bits(text: str) -> tuple[int, int]:
    """``"w4a4"`` / ``"W2A2"`` / ``"4"`` -> ``(weight_bits, act_bits)``."""
    s = str(text).strip().lower()
    m = re.fullmatch(r"w(\d+)a(\d+)", s) or re.fullmatch(r"(\d+)", s)
    if not m:
        raise DemoError(f"bit widths {text!r}: write them as WxAy (e.g. w4a4) or one number (4 = w4a4).")
    w = int(m.group(1))
    a = int(m.group(2)) if m.lastindex == 2 else w
    for bits, what in ((w, "weight"), (a, "activation")):
        if not 1 <= bits <= 8:
            raise DemoError(f"{what} bits must be 1..8, got {bits} in {text!r}.")
    return w, a


def parse_sweep(text: str) -> tuple[tuple[int, int], ...]:
    """``"w1a1,w2a2"`` -> ``((1, 1), (2, 2))``; ``"none"`` or ``""`` -> no sweep."""
    s = str(text).strip().lower()
    if s in ("", "none", "no", "off"):
        return ()
    out = tuple(parse_bits(part) for part in s.replace(" ", "").split(",") if part)
    if len(set(out)) != len(out):
        raise DemoError(f"--sweep {text!r} names a bit width twice.")
    return out


def tag(bits: tuple[int, int]) -> str:
    """``(4, 4)`` -> ``"w4a4"``."""
    return f"w{bits[0]}a{bits[1]}"


@dataclass(frozen=True)
class DemoConfig:
    """The options of one demo run (see ``course demo --help``)."""

    dataset: str = "mnist"
    weight_bits: int = 4
    act_bits: int = 4
    board: str = "pynq-z2"
    target_fps: float = 500_000.0
    budget: float = 0.7
    clock_mhz: float = 100.0
    sweep: tuple[tuple[int, int], ...] = field(default=SWEEP_DEFAULT)
    quick: bool = False
    seed: int = 0
    epochs: int | None = None
    eval_samples: int | None = None

    @property
    def tag(self) -> str:
        """The main model's bit widths, e.g. ``w4a4``."""
        return tag((self.weight_bits, self.act_bits))

    @property
    def run_name(self) -> str:
        """Default run folder name under ``build/demo/``: ``mnist_w4a4`` (``_quick`` for quick runs)."""
        return f"{self.dataset}_{self.tag}" + ("_quick" if self.quick else "")

    @property
    def package_name(self) -> str:
        """The deploy package (and overlay) name: ``mnist_w4a4``, ``fashion_mnist_w4a4``."""
        return f"{self.dataset.replace('-', '_')}_{self.tag}"

    @property
    def train_epochs(self) -> int | None:
        """Epochs of every training run: ``epochs``, 1 with ``quick``, else None (Lab 1's recipe)."""
        if self.epochs is not None:
            return self.epochs
        return QUICK_EPOCHS if self.quick else None

    @property
    def eval_n(self) -> int | None:
        """Test images checked at every stage (None: the whole test set)."""
        if self.eval_samples is not None:
            return self.eval_samples
        return QUICK_EVAL_SAMPLES if self.quick else None

    @property
    def part(self) -> str:
        """The FPGA part of the board preset."""
        from course_utils.hw.boards import get_board

        return get_board(self.board).part

    def validate(self) -> DemoConfig:
        """Check every option; return the config with the board name normalised, or raise DemoError."""
        from course_utils.data import DATASETS
        from course_utils.hw.boards import get_board, ps7_config

        if self.dataset not in DATASETS:
            raise DemoError(f"unknown dataset {self.dataset!r}: choose one of {', '.join(DATASETS)}.")
        parse_bits(self.tag)
        try:
            board = get_board(self.board)
            ps7_config(board, self.clock_mhz)
        except ValueError as err:
            raise DemoError(str(err)) from None
        if not self.target_fps > 0:
            raise DemoError(f"--target-fps must be positive, got {self.target_fps:g}.")
        if not 0 < self.budget <= 1:
            raise DemoError(f"--budget is a fraction of the board's LUT/BRAM/DSP in (0, 1], "
                            f"got {self.budget:g}.")
        if self.epochs is not None and self.epochs < 1:
            raise DemoError(f"--epochs must be at least 1, got {self.epochs}.")
        if self.eval_samples is not None and self.eval_samples < 64:
            raise DemoError(f"--eval-samples must be at least 64 (the golden batch), "
                            f"got {self.eval_samples}.")
        return DemoConfig(**{**asdict(self), "board": board.key, "sweep": tuple(map(tuple, self.sweep))})

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable copy (sweep as tags)."""
        d = asdict(self)
        d["sweep"] = [tag(b) for b in self.sweep]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DemoConfig:
        """Inverse of ``to_dict``."""
        d = dict(d)
        d["sweep"] = tuple(parse_bits(t) for t in d.get("sweep", ()))
        return cls(**d)

    def describe(self) -> str:
        """One line: dataset, bits, board, target, mode."""
        mode = "quick" if self.quick else "full"
        return (f"{self.dataset} {self.tag.upper()} on {self.board} at {self.clock_mhz:g} MHz, target "
                f"{self.target_fps:,.0f} FPS within {100 * self.budget:.0f}% of the part, {mode} run")
