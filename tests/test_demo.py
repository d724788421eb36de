"""``course demo``: options, state/resume logic, the report format, and ``course demo --quick`` end to end.

The end-to-end tests run the real command (``python -m course_utils.cli demo --quick``) into a
temporary build folder: real training, QONNX export, FINN flow, deploy package and the virtual
board in the board environment. They share one run folder and run in file order (``make test``
distributes tests by file, ``--dist loadfile``; the xdist group keeps them together under
``--dist loadgroup`` too).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from course_utils import tools
from course_utils.demo.config import DemoConfig, DemoError, parse_bits, parse_sweep
from course_utils.demo.runner import why_run
from course_utils.demo.stages import (
    STAGE_NAMES,
    PredictionMismatch,
    Stage,
    accuracy_row,
    board_target,
    downstream,
)
from course_utils.demo.state import RunState, sha256
from course_utils.paths import kit_root

ROOT = kit_root()
BOARD_PY = ROOT / ".venv" / "board" / "bin" / "python"
RUN = "mnist_w4a4_quick"
CHECKED = ("export", "finn", "deploy", "board")


# ----------------------------------------------------------------------------- options

def test_bits_and_sweep_parse_and_reject_bad_values() -> None:
    assert parse_bits("w4a4") == (4, 4)
    assert parse_bits("W2A8") == (2, 8)
    assert parse_bits("4") == (4, 4)
    assert parse_sweep("w1a1, w8a8") == ((1, 1), (8, 8))
    assert parse_sweep("none") == ()
    with pytest.raises(DemoError, match="weight bits must be 1..8"):
        parse_bits("w9a4")
    with pytest.raises(DemoError, match="WxAy"):
        parse_bits("four")
    with pytest.raises(DemoError, match="twice"):
        parse_sweep("w2a2,w2a2")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dataset": "cifar10"}, "unknown dataset 'cifar10'"),
    ({"board": "ultra96"}, "unknown board 'ultra96'"),
    ({"clock_mhz": 123.456}, "FCLK0 cannot be 123.456 MHz"),
    ({"budget": 0.0}, "--budget is a fraction"),
    ({"target_fps": -1.0}, "--target-fps must be positive"),
    ({"eval_samples": 10}, "at least 64"),
    ({"model": "rnn"}, "--model must be one of mlp, cnn"),
    ({"model": "cnn", "weight_bits": 1, "act_bits": 1}, "binary networks go through the demo as the MLP"),
    ({"model": "cnn", "channels": (16, 0)}, "--channels must be positive"),
    ({"model": "cnn", "side": 30}, "--side is the centre crop"),
])
def test_config_validation_says_what_is_wrong(kwargs: dict, message: str) -> None:
    with pytest.raises(DemoError, match=message):
        DemoConfig(**kwargs).validate()


def test_config_defaults_round_trip_and_quick_settings() -> None:
    cfg = DemoConfig(board="PYNQ-Z1").validate()
    assert cfg.board == "pynq-z1" and cfg.run_name == "mnist_w4a4" and cfg.eval_n is None
    assert DemoConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    quick = DemoConfig(quick=True, dataset="fashion-mnist").validate()
    assert (quick.train_epochs, quick.eval_n, quick.run_name) == (1, 1000, "fashion-mnist_w4a4_quick")
    assert quick.package_name == "fashion_mnist_w4a4"
    cnn = DemoConfig(model="cnn", quick=True, channels=[4, 8], side=12).validate()
    assert (cnn.run_name, cnn.package_name, cnn.input_side) == ("mnist_w4a4_cnn_quick", "mnist_w4a4_cnn", 12)
    assert DemoConfig.from_dict(json.loads(json.dumps(cnn.to_dict()))) == cnn
    assert cnn.network_config().channels == (4, 8) and cfg.network == "MLP W4A4 (400-64-64-10)"


def test_cli_rejects_bad_options_with_exit_2(tmp_path: Path) -> None:
    env = {**os.environ, "COURSE_BUILD_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "course_utils.cli", "demo", "--bits", "w9a9"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "weight bits must be 1..8" in proc.stderr
    assert not (tmp_path / "demo").exists()


# ----------------------------------------------------------------------------- state and resume

def _stage(name: str = "x") -> Stage:
    return Stage(name, name, (), lambda ctx: {}, lambda ctx: None)


def test_resume_needs_same_inputs_and_unchanged_artifacts(tmp_path: Path) -> None:
    state = RunState.load(tmp_path)
    art = tmp_path / "a.bin"
    art.write_bytes(b"one")
    stage = _stage()
    assert why_run(state, stage, {"k": 1}, set()) == "not run yet"
    state.set_record("x", {"status": "done", "inputs": {"k": 1}, "artifacts": state.hash_artifacts([art])})
    again = RunState.load(tmp_path)  # read back from state.json
    assert why_run(again, stage, {"k": 1}, set()) is None
    assert why_run(again, stage, {"k": 2}, set()) == "changed: k 1 -> 2"
    assert why_run(again, stage, {"k": 1}, {"x"}) == "asked to (--from)"
    art.write_bytes(b"two")
    assert why_run(again, stage, {"k": 1}, set()) == "a.bin changed since the stage wrote it"
    art.unlink()
    assert why_run(again, stage, {"k": 1}, set()) == "a.bin is missing"
    again.mark_stale(["x"], "qat re-ran")
    assert why_run(RunState.load(tmp_path), stage, {"k": 1}, set()) == "qat re-ran"


def test_failed_stage_reruns_and_corrupt_state_is_explained(tmp_path: Path) -> None:
    state = RunState.load(tmp_path)
    state.set_record("x", {"status": "failed", "inputs": {}, "error": "boom"})
    assert why_run(state, _stage(), {}, set()) == "its last run failed"
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(DemoError, match="--fresh"):
        RunState.load(tmp_path)


def test_a_run_folder_in_use_is_refused(tmp_path: Path) -> None:
    from course_utils.demo.state import run_lock

    busy = r"in use by another `course demo` \(pid \d+"
    with run_lock(tmp_path), pytest.raises(DemoError, match=busy), run_lock(tmp_path):
        pass
    with run_lock(tmp_path):  # released again
        pass


def test_downstream_follows_the_needs() -> None:
    assert downstream("float") == ["sweep"]
    after_qat = downstream("qat")
    assert after_qat == ["export", "finn", "stitched_ip", "deploy", "bitstream", "rtl", "board", "synthesis",
                         "sweep"]
    assert downstream("board") == []
    assert downstream("rtl") == ["board"]   # the board runs the RTL the rtl stage put into the package
    assert set(STAGE_NAMES) >= set(after_qat)


def test_accuracy_row_fails_on_a_different_prediction_unless_it_is_an_exact_tie() -> None:
    labels = np.array([0, 1, 2, 3])
    row = accuracy_row("s", "m", np.array([0, 1, 2, 0]), labels, np.array([0, 1, 2, 0]))
    assert (row["identical"], row["ties"], row["matching"], row["accuracy"]) == (4, 0, 4, 0.75)
    with pytest.raises(PredictionMismatch, match=r"on 1 of 4 test images \(first: image 2, 5 instead of 2\)"):
        accuracy_row("s", "m", np.array([0, 1, 5, 0]), labels, np.array([0, 1, 2, 0]))
    # Brevitas' float rounding broke a tie of equal integer scores (classes 1 and 7) the other way
    logits = np.zeros((4, 10), np.float32)
    logits[:, 0] = 1.0
    logits[3, 1], logits[3, 7] = 1.931731, 1.9317311
    ref = logits.argmax(1)
    row = accuracy_row("s", "m", np.array([0, 0, 0, 1]), labels, ref, ref_logits=logits)
    assert (row["identical"], row["ties"], row["matching"]) == (3, 1, 4)
    logits[3, 7] = 1.95  # a real difference of one output step is not a tie
    with pytest.raises(PredictionMismatch, match="on 1 of 4"):
        accuracy_row("s", "m", np.array([0, 0, 0, 1]), labels, logits.argmax(1), ref_logits=logits)


def test_unreachable_remote_board_falls_back_to_the_virtual_board(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYNQ_REMOTE_DEVICES", "127.0.0.1")  # nothing listens on port 7967 here
    target, notes = board_target(placeholder=True)
    assert target == "virtual"
    assert any("127.0.0.1, but its pynq port 7967 does not answer" in n for n in notes)
    monkeypatch.delenv("PYNQ_REMOTE_DEVICES")
    target, notes = board_target(placeholder=True)
    assert target == "virtual" and any("PYNQ_REMOTE_DEVICES is unset" in n for n in notes)


@pytest.mark.skipif(not BOARD_PY.is_file(), reason="board environment not installed")
def test_board_side_names_a_bad_package(tmp_path: Path) -> None:
    np.savez(tmp_path / "in.npz", x=np.zeros((2, 784), np.uint8))
    env = {**os.environ, "PYNQ_VIRTUAL_BOARD": "Pynq-Z2"}
    proc = subprocess.run([str(BOARD_PY), "-m", "course_utils.demo.board_side", str(tmp_path / "nope"),
                           str(tmp_path / "in.npz"), str(tmp_path / "out.npz"), str(tmp_path / "r.json")],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "board side failed: PackageError" in proc.stderr
    assert not (tmp_path / "out.npz").exists()


def test_html_report_is_self_contained(tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    from course_utils.demo.report import Doc

    doc = Doc(tmp_path / "report_files")
    doc.h(1, "t")
    doc.table(["a", "b"], [["x|y", 1.5]])
    fig = Figure()
    fig.subplots().plot([0, 1])
    doc.figure("f", fig, "a figure")
    page = doc.html("t")
    assert 'src="data:image/png;base64,' in page and "http" not in page
    assert "![a figure](report_files/f.png)" in doc.markdown()
    assert "| x\\|y | 1.50 |" in doc.markdown()
    # the page is the Markdown rendered by markdown-it-py: tables, spans, numbers right-aligned, HTML escaped
    doc.p("Stage **x** FAILED: see `log.txt` <script>")
    page = doc.html("t")
    assert "<td>x|y</td>" in page and '<td style="text-align:right">1.50</td>' in page
    bad = '<span class="bad">FAILED</span>'
    assert f"<strong>x</strong> {bad}: see <code>log.txt</code> &lt;script&gt;" in page
    assert "<script>" not in page and 'alt="a figure"' in page


# ----------------------------------------------------------------------------- end to end

def _demo(build: Path, *args: str, path: Path | None = None) -> tuple[subprocess.CompletedProcess, float]:
    # the run's own RTL cache: empty, so --quick skips the rtl stage until a test puts a compiled design there
    env = {**os.environ, "COURSE_BUILD_DIR": str(build), "COURSE_RTL_CACHE": str(build / "rtl-cache")}
    if path is not None:
        env["PATH"] = f"{path}{os.pathsep}{env['PATH']}"
    for var in ("PYNQ_REMOTE_DEVICES", "PYNQ_VIRTUAL_BOARD", "FINN_BUILD_DIR", "XILINX_VIVADO", "XILINX_HLS"):
        env.pop(var, None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "course_utils.cli", "demo", "--quick", "--quiet", *args],
                          env=env, capture_output=True, text=True, timeout=1800)
    return proc, time.perf_counter() - t0


def _lines(stdout: str) -> dict[str, str]:
    """The status word of each stage line (``[ 3/11] qat  resumed ...``)."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith("[") and "]" in line:
            name, status = line.split("]", 1)[1].split()[:2]
            out[name] = status
    return out


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    build = tmp_path_factory.mktemp("demo_build")
    proc, secs = _demo(build)
    print(f"course demo --quick: {secs:.1f} s")
    return {"build": build, "run_dir": build / "demo" / RUN, "proc": proc, "seconds": secs}


@pytest.mark.slow
@pytest.mark.xdist_group("course-demo")
def test_quick_demo_runs_every_stage_and_writes_the_report(quick_run: dict) -> None:
    proc, run_dir = quick_run["proc"], quick_run["run_dir"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = _lines(proc.stdout)
    vivado = tools.vivado_available()
    # rtl: not compiled yet (quick never compiles); synthesis: full runs only (Yosys)
    skipped = {"rtl", "synthesis"} | ({"stitched_ip", "bitstream"} if not vivado else set())
    for name in STAGE_NAMES:
        assert status[name] == ("skipped" if name in skipped else "done"), proc.stdout
    assert status["report"] == "done"
    state = json.loads((run_dir / "state.json").read_text())
    assert {n: r["status"] for n, r in state["stages"].items()} == {
        n: ("skipped" if n in skipped else "done") for n in STAGE_NAMES}
    md = (run_dir / "report.md").read_text()
    for name in STAGE_NAMES:
        assert f"\n| {name} | " in md, name  # one row per stage in the time table
    for heading in ("## Accuracy at every stage", "## Time per stage", "## Accuracy vs bit width",
                    "## Hardware: FINN estimates on xc7z020clg400-1 at 100 MHz", "## On the board",
                    "## What was skipped, and why", "## Tool versions"):
        assert heading in md


@pytest.mark.slow
@pytest.mark.xdist_group("course-demo")
def test_quick_demo_predictions_are_identical_where_required(quick_run: dict) -> None:
    from course_utils import data

    run_dir = quick_run["run_dir"]
    state = json.loads((run_dir / "state.json").read_text())["stages"]
    rows = [state["export"]["result"]["accuracy_row"], *state["finn"]["result"]["accuracy_rows"],
            state["deploy"]["result"]["accuracy_row"], state["board"]["result"]["accuracy_row"]]
    assert [r["stage"] for r in rows] == ["QONNX export", "FINN 03_streamlined", "FINN 04_hw",
                                          "FINN 08_folded", "deploy package", "board"]
    for r in rows:
        assert r["matching"] == r["samples"] and r["must_match"] == "Brevitas QAT", r
    for r in rows[2:]:
        assert r["bit_exact_with"] in ("FINN 03_streamlined", "FINN 08_folded"), r
    # independently of the runner's bookkeeping, from the saved arrays: the integer stages agree
    # exactly; against Brevitas only exact ties (equal logits) may go the other way
    preds = run_dir / "predictions"
    brevitas, logits = np.load(preds / "qat.npy")[:1000], np.load(preds / "qat_logits.npy")[:1000]
    labels = data.load("mnist", "test")[1][:1000]
    board = np.load(preds / "board.npy")
    for name in ("export", "finn_03_streamlined", "finn_04_hw", "finn_08_folded", "board"):
        p = np.load(preds / f"{name}.npy")
        assert len(p) == 1000, name
        if name != "export":
            assert np.array_equal(p, board), name
        i = np.flatnonzero(p != brevitas)
        assert np.all(np.abs(logits[i, p[i]] - logits[i, brevitas[i]]) <= 1e-4), name
    with np.load(run_dir / "board" / "outputs.npz") as out:
        y = out["y_int"]
    assert y.shape == (1000, 10) and y.dtype == np.int64
    assert np.array_equal(y, np.load(preds / "finn_08_folded_yint.npy"))
    board_acc = state["board"]["result"]["accuracy_row"]["accuracy"]
    assert board_acc == pytest.approx(float(np.mean(board == labels)))
    assert 0.8 < board_acc <= 1.0
    md = (run_dir / "report.md").read_text()
    assert md.count("**yes**: 1,000/1,000 ") == 5
    assert "**yes**: 64/64 " in md and "bit-exact with FINN 08_folded" in md
    assert "MISMATCH" not in md


@pytest.mark.slow
@pytest.mark.xdist_group("course-demo")
def test_quick_demo_report_says_what_was_skipped_and_is_self_contained(quick_run: dict) -> None:
    run_dir = quick_run["run_dir"]
    md = (run_dir / "report.md").read_text()
    if not tools.vivado_available():
        assert tools.skip_message("FINN HLS synthesis, FIFO sizing and the stitched IP") in md
        assert tools.skip_message("block design synthesis, implementation and the bitstream") in md
        assert "bitstream PLACEHOLDER (no Vivado)" in md
    assert "inference ran on the virtual board" in md and "modelled" in md
    # --quick does not compile the RTL: one line says so, and the board ran the numpy model
    assert "**rtl**: --quick: this design's compiled RTL is not in the cache" in md
    assert "## RTL simulation (Verilator)\n\nSkipped: --quick:" in md
    facts = json.loads((run_dir / "board" / "board.json").read_text())
    assert facts["timing_label"].startswith("model (")
    assert "**quick mode**" in md and "shortened (--quick)" in md
    assert "## Resources: FINN estimate vs Yosys synthesis" in md and "**Estimates only**" in md
    assert "**synthesis**: --quick: Yosys synthesis" in md  # the quick run's own model is not synthesized
    for tag in ("W1A1", "W2A2", "W4A4", "W8A8"):
        assert f"\n| {tag} | " in md
    for tool in ("| finn-plus | 1.6.1 | host |", "| brevitas |", "| pynq | 3.1.2 | board environment |",
                 "| vivado |"):
        assert tool in md
    page = (run_dir / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') >= 5
    assert "http://" not in page and "https://" not in page and "report_files/" not in page
    for png in ("stage_times", "accuracy_vs_bits", "resources", "confusion", "qat_training"):
        assert (run_dir / "report_files" / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.xdist_group("course-demo")
def test_second_run_resumes_finished_stages(quick_run: dict) -> None:
    run_dir = quick_run["run_dir"]
    ckpt = run_dir / "qat" / "qnn_w4a4.pt"
    before = (ckpt.stat().st_mtime_ns, sha256(ckpt))
    proc, secs = _demo(quick_run["build"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = _lines(proc.stdout)
    assert all(status[n] == "resumed" for n in STAGE_NAMES), proc.stdout
    assert status["report"] == "done"
    assert (ckpt.stat().st_mtime_ns, sha256(ckpt)) == before
    inv = json.loads((run_dir / "state.json").read_text())["invocations"][-1]
    assert inv["ran"] == [] and inv["resumed"] == list(STAGE_NAMES)
    print(f"course demo --quick resumed: {secs:.1f} s (first run {quick_run['seconds']:.1f} s)")
    # an artifact changed behind the demo's back: only that stage (and what needs it) runs again
    (run_dir / "board" / "outputs.npz").write_bytes(b"garbage")
    proc, _ = _demo(quick_run["build"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = _lines(proc.stdout)
    assert status["board"] == "done"
    assert all(status[n] == "resumed" for n in STAGE_NAMES if n != "board"), proc.stdout


@pytest.mark.slow
@pytest.mark.xdist_group("course-demo")
def test_failed_stage_is_named_keeps_artifacts_and_the_next_run_resumes_there(quick_run: dict) -> None:
    run_dir = quick_run["run_dir"]
    qonnx = run_dir / "lab1" / "model_qonnx.onnx"
    qonnx_sha = sha256(qonnx)
    proc, _ = _demo(quick_run["build"], "--target-fps", "1e9")  # no folding can reach it: FINN fails
    assert proc.returncode == 1
    assert "course demo: stage 'finn' FAILED" in proc.stdout and "BudgetError" in proc.stdout
    status = _lines(proc.stdout)
    assert [status[n] for n in ("data", "float", "qat", "export")] == ["resumed"] * 4
    assert status["finn"] == "FAILED" and "deploy" not in status
    state = json.loads((run_dir / "state.json").read_text())["stages"]
    assert state["finn"]["status"] == "failed" and "BudgetError" in state["finn"]["error"]
    assert state["deploy"]["status"] == "stale" and state["board"]["status"] == "stale"
    assert sha256(qonnx) == qonnx_sha  # earlier artifacts kept as they were
    assert (run_dir / "lab2" / "07_specialized.onnx").is_file()  # the failed stage's partial work too
    assert "Traceback" in (run_dir / "logs" / "finn.log").read_text()
    md = (run_dir / "report.md").read_text()
    assert "Stage **finn** FAILED" in md and "resume at **finn**" in md
    proc, _ = _demo(quick_run["build"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = _lines(proc.stdout)
    assert [status[n] for n in ("data", "float", "qat", "export", "sweep")] == ["resumed"] * 5
    assert [status[n] for n in ("finn", "deploy", "board")] == ["done"] * 3
    assert "FAILED" not in (run_dir / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.xdist_group("course-demo")
@pytest.mark.skipif(tools.vivado_available(), reason="a real Vivado is installed: the real build would run")
def test_with_vivado_found_the_stitched_ip_stage_runs_finn_with_it(quick_run: dict, tmp_path: Path) -> None:
    """Stand-ins for vivado/vitis_hls (they fail, as a broken install would): the demo must detect them,
    hand FINN their install folder (XILINX_VIVADO, from which FINN reads the version), start FINN's Vivado
    flow instead of skipping it, and fail naming the stage with FINN's own reason."""
    bin_dir = tmp_path / "Xilinx" / "Vivado" / "2024.2" / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("vivado", "vitis_hls"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool}: not a real Xilinx tool" >&2\nexit 1\n')
        script.chmod(0o755)
    run_dir = quick_run["run_dir"]
    proc, _ = _demo(quick_run["build"], path=bin_dir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "course demo: stage 'stitched_ip' FAILED" in proc.stdout
    status = _lines(proc.stdout)
    assert status["finn"] == "resumed" and status["stitched_ip"] == "FAILED" and "deploy" not in status
    state = json.loads((run_dir / "state.json").read_text())["stages"]
    assert state["stitched_ip"]["status"] == "failed" and state["stitched_ip"]["inputs"] == {"vivado": True}
    # FINN got XILINX_VIVADO (it parsed 2024.2 from it) and then found no usable Vivado simulator (XSI)
    assert "XSI not available" in state["stitched_ip"]["error"]
    assert state["deploy"]["status"] == "stale" and state["board"]["status"] == "stale"
    assert "Stage **stitched_ip** FAILED" in (run_dir / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.xdist_group("course-demo")
@pytest.mark.timeout(3600)  # may compile the quick run's design (once per checkout; minutes)
def test_quick_demo_simulates_the_rtl_once_the_design_is_compiled(quick_run: dict, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """As after a full run: the design compiled in the cache and recorded for --quick. The quick run then
    simulates the package's RTL on the golden batch (bit-exact, measured cycles in the report), ships it in
    the package, and the board stage's virtual board runs that RTL."""
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import rtl
    from course_utils.demo import rtl_stage

    run_dir, cache = quick_run["run_dir"], quick_run["build"] / "rtl-cache"
    folded = ModelWrapper(str(run_dir / "lab2" / "08_folded.onnx"))
    design = rtl.build(folded, tmp_path / "stitched", quiet=True)  # in the kit cache: compiled once
    cache.mkdir(exist_ok=True)
    if not (cache / design.key).exists():
        (cache / design.key).symlink_to(design.lib.parent, target_is_directory=True)
    monkeypatch.setenv("COURSE_RTL_CACHE", str(cache))
    assert rtl_stage.cached_design(rtl_stage.structure_key(folded)) is None   # not recorded yet: skipped
    assert rtl_stage._remember(rtl_stage.structure_key(folded), design.key) is None  # as a full run records
    proc, secs = _demo(quick_run["build"])
    print(f"course demo --quick with the RTL: {secs:.1f} s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = _lines(proc.stdout)
    assert status["rtl"] == "done" and status["board"] == "done", proc.stdout
    assert status["finn"] == "resumed"   # (deploy may run again after the stand-in Vivado test above)
    state = json.loads((run_dir / "state.json").read_text())["stages"]
    r = state["rtl"]["result"]
    assert r["bit_exact"] and r["samples"] == 64 and r["design_key"] == design.key and not r["compiled_now"]
    m, e = r["measured"], r["estimated"]
    assert abs(m["interval_cycles"] - e["interval_cycles"]) <= rtl.CYCLE_TOLERANCE
    assert m["fps"] == pytest.approx(100e6 / m["interval_cycles"]) and m["tlast_ok"]
    assert 0 < m["latency_cycles"] <= 2 * e["latency_cycles"]
    pkg = run_dir / state["deploy"]["result"]["package"]
    assert json.loads((pkg / "rtl" / "design.json").read_text())["key"] == design.key
    facts = state["board"]["result"]["facts"]
    assert facts["timing_label"].startswith("RTL-simulated (")   # the board stage ran the RTL
    assert state["board"]["result"]["accuracy_row"]["bit_exact_with"] == "FINN 08_folded"
    md = (run_dir / "report.md").read_text()
    assert "## RTL simulation (Verilator)" in md and "outputs **bit-exact** with Brevitas" in md
    ii = f"| cycles per image (initiation interval) | {m['interval_cycles']:g} | {e['interval_cycles']:,} |"
    assert ii in md
    assert f"| throughput at 100 MHz | {m['fps']:,.0f} images/s | {e['fps']:,.0f} images/s |" in md
    assert "**rtl**: " not in md   # no longer among the skipped items
    proc, _ = _demo(quick_run["build"])   # resumes: nothing to simulate again
    assert _lines(proc.stdout)["rtl"] == "resumed", proc.stdout


@pytest.mark.slow
@pytest.mark.xdist_group("course-demo")
def test_a_binary_network_goes_through_the_demo_with_its_output_affine_on_the_host(tmp_path: Path) -> None:
    """W1A1 ends in a per-class affine (its output BatchNorm) that stays on the host: the folded model, the
    package and the virtual board predict like Brevitas once it is applied (before: a PredictionMismatch)."""
    proc, _ = _demo(tmp_path, "--bits", "w1a1", "--sweep", "w1a1", "--run", "w1a1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    status = _lines(proc.stdout)
    assert all(status[s] == "done" for s in ("finn", "deploy", "board")), status
    run_dir = tmp_path / "demo" / "w1a1"
    spec = json.loads(next((run_dir / "deploy").glob("*/accelerator.json")).read_text())
    assert len(spec["output_scale"]) == 10 and len(spec["output_bias"]) == 10   # per class, recorded
    assert "Output affine per class" in (run_dir / "report.md").read_text()


@pytest.mark.slow
@pytest.mark.xdist_group("course-demo")
def test_the_cnn_goes_through_the_demo(tmp_path: Path) -> None:
    """``--model cnn`` (here the smallest viable one: 4 and 8 channels on 12x12 crops, one epoch, 200
    images per stage): QAT of the QuantCNN, export with its image input, FINN's convolution lowering,
    folding, deploy package with the 4-D input stream, the virtual board; the report names the network."""
    proc, secs = _demo(tmp_path, "--model", "cnn", "--channels", "4,8", "--side", "12", "--sweep", "none",
                       "--eval-samples", "200", "--target-fps", "100000", "--run", "cnn")
    print(f"course demo --quick --model cnn: {secs:.1f} s")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    status = _lines(proc.stdout)
    assert all(status[s] in ("done", "resumed") for s in ("qat", "export", "finn", "deploy", "board")), status
    run_dir = tmp_path / "demo" / "cnn"
    state = json.loads((run_dir / "state.json").read_text())
    qat = state["stages"]["qat"]["result"]
    assert qat["model"].startswith("QuantCNN W4A4") and qat["config"]["kind"] == "cnn"
    finn = state["stages"]["finn"]["result"]
    assert any(k.startswith("ConvolutionInputGenerator_rtl") for k in finn["folding"])
    assert finn["estimates"]["fps"] >= 100_000
    spec = json.loads(next((run_dir / "deploy").glob("*_cnn/accelerator.json")).read_text())
    assert spec["input"]["shape_normal"] == [1, 12, 12, 1]
    assert any(layer["op"] == "ConvolutionInputGenerator" for layer in spec["layers"])
    report = (run_dir / "report.md").read_text()
    assert "Network taken to hardware: **CNN W4A4 (1->4->8 channels, 3x3 stride-2 convolutions, 12x12 " \
           "input)**" in report
    board = state["stages"]["board"]["result"]
    assert board["accuracy_row"]["accuracy"] > 0.5, board["accuracy_row"]
