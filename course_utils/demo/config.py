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
MODELS = ("mlp", "cnn")
"""``--model``: the course's MLP (Lab 1's ``QuantMLP``) or the CNN (``QuantCNN``, docs/networks_cnn.md)."""


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
    model: str = "mlp"
    channels: tuple[int, ...] = (16, 32)
    """CNN only: output channels of its stride-2 3x3 convolutions (``CNNConfig.channels``)."""
    side: int = 28
    """CNN only: the centre crop of the 28x28 images it takes (``CNNConfig.side``; 28: whole images)."""

    @property
    def is_cnn(self) -> bool:
        return self.model == "cnn"

    def network_config(self) -> Any:
        """The quantized network's config: ``MLPConfig`` (Lab 1's) or ``CNNConfig``."""
        from course_utils.models import CNNConfig, MLPConfig

        if self.is_cnn:
            return CNNConfig(weight_bits=self.weight_bits, act_bits=self.act_bits,
                             channels=tuple(self.channels), side=self.side)
        return MLPConfig(weight_bits=self.weight_bits, act_bits=self.act_bits)

    @property
    def input_side(self) -> int:
        """Side of the (centre-cropped) images the network takes: 20 for the MLP, ``side`` for the CNN."""
        from course_utils.torchdata import CROP

        return self.side if self.is_cnn else CROP

    @property
    def network(self) -> str:
        """What the demo takes to hardware, in words."""
        if self.is_cnn:
            chans = "->".join(map(str, (1, *self.channels)))
            return (f"CNN {self.tag.upper()} ({chans} channels, 3x3 stride-2 convolutions, "
                    f"{self.side}x{self.side} input)")
        cfg = self.network_config()
        return f"MLP {self.tag.upper()} ({'-'.join(map(str, (cfg.in_features, *cfg.hidden, 10)))})"

    @property
    def tag(self) -> str:
        """The main model's bit widths, e.g. ``w4a4``."""
        return tag((self.weight_bits, self.act_bits))

    @property
    def run_name(self) -> str:
        """Default run folder name under ``build/demo/``: ``mnist_w4a4`` (``_quick`` for quick runs)."""
        return f"{self.dataset}_{self.tag}{'_cnn' if self.is_cnn else ''}{'_quick' if self.quick else ''}"

    @property
    def package_name(self) -> str:
        """The deploy package (and overlay) name: ``mnist_w4a4``, ``fashion_mnist_w4a4``."""
        return f"{self.dataset.replace('-', '_')}_{self.tag}" + ("_cnn" if self.is_cnn else "")

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
        if self.model not in MODELS:
            raise DemoError(f"--model must be one of {', '.join(MODELS)}, got {self.model!r}.")
        if self.is_cnn:
            if min(self.weight_bits, self.act_bits) < 2:
                raise DemoError(f"--model cnn takes 2..8-bit weights and activations, got {self.tag}: binary "
                                "networks go through the demo as the MLP (--model mlp --bits w1a1).")
            if not self.channels or min(self.channels) < 1:
                raise DemoError(f"--channels must be positive numbers (e.g. 16,32), got {self.channels}.")
            if not 7 <= self.side <= 28:
                raise DemoError(f"--side is the centre crop of the 28x28 images, 7..28; got {self.side}.")
        if self.eval_samples is not None and self.eval_samples < 64:
            raise DemoError(f"--eval-samples must be at least 64 (the golden batch), "
                            f"got {self.eval_samples}.")
        return DemoConfig(**{**asdict(self), "board": board.key, "sweep": tuple(map(tuple, self.sweep)),
                             "channels": tuple(self.channels)})

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
        if "channels" in d:
            d["channels"] = tuple(d["channels"])
        return cls(**d)

    def describe(self) -> str:
        """One line: dataset, bits, board, target, mode."""
        mode = "quick" if self.quick else "full"
        return (f"{self.dataset} {self.network} on {self.board} at {self.clock_mhz:g} MHz, target "
                f"{self.target_fps:,.0f} FPS within {100 * self.budget:.0f}% of the part, {mode} run")
