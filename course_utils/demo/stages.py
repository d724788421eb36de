"""The demo's stages: each one calls the helpers the labs use and records what it found.

data -> float -> qat -> export -> finn -> stitched_ip -> deploy -> bitstream -> rtl -> board -> sweep.
A stage gets a ``Context`` (options, run folder, results of earlier stages) and returns an
``Outcome``: a one-line summary, a JSON-able result, the artifacts it wrote (their sha256 decide
whether a later run may resume past it) or the reason it was skipped. Predictions that must be
identical (Brevitas = QONNX = FINN stages = deploy package = board) are compared on the same test
images; a difference fails the stage, except an exact tie (two classes with equal integer scores).
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from course_utils import fileio, tools
from course_utils.demo.config import DemoError, tag
from course_utils.demo.context import (  # noqa: F401 (re-exported: the stages' shared types)
    LAB1_DIR,
    LAB2_DIR,
    PREDS_DIR,
    REFERENCE,
    Context,
    Outcome,
    PredictionMismatch,
)
from course_utils.demo.rtl_stage import board_env, rtl_inputs, run_rtl
from course_utils.demo.state import write_json
from course_utils.numeric import pct as _pct

TIE_ATOL = 1e-4
"""Two Brevitas logits closer than this are an exact tie in integer arithmetic (float rounding only)."""
BOARD_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Stage:
    """One step of the demo: name, title, the stages it needs, its inputs and its function."""

    name: str
    title: str
    needs: tuple[str, ...]
    inputs: Callable[[Context], dict[str, Any]]
    run: Callable[[Context], Outcome]


# ----------------------------------------------------------------------------- helpers

def accuracy_row(stage: str, model: str, preds: np.ndarray, labels: np.ndarray,
                 reference: np.ndarray | None = None, ref_logits: np.ndarray | None = None, *,
                 reference_name: str = "Brevitas QAT") -> dict[str, Any]:
    """One row of the accuracy table; raise PredictionMismatch if a prediction differs from ``reference``.

    With ``ref_logits`` (the reference's float logits), a different class whose reference logit equals
    the reference's top logit within ``TIE_ATOL`` is an exact tie (integer arithmetic gives both classes
    the same value; argmax takes the lower index, Brevitas' float rounding may take the other): counted
    in ``ties``, not a mismatch.
    """
    preds, labels = np.asarray(preds).reshape(-1), np.asarray(labels).reshape(-1)
    n = len(preds)
    row: dict[str, Any] = {"stage": stage, "model": model, "samples": int(n),
                           "accuracy": float(np.mean(preds == labels[:n])),
                           "must_match": reference_name if reference is not None else None}
    if reference is None:
        return row
    ref = np.asarray(reference).reshape(-1)[:n]
    differ = np.flatnonzero(preds != ref)
    ties = np.zeros(0, dtype=np.int64)
    if ref_logits is not None and len(differ):
        lg = np.asarray(ref_logits)[:n]
        gap = np.abs(lg[differ, preds[differ]] - lg[differ, ref[differ]])
        ties = differ[gap <= TIE_ATOL]
    bad = np.setdiff1d(differ, ties)
    row.update(identical=int(n - len(differ)), ties=int(len(ties)), matching=int(n - len(bad)))
    if len(bad):
        i = int(bad[0])
        raise PredictionMismatch(
            f"{model} predicts differently from {reference_name} on {len(bad):,} of {n:,} test images "
            f"(first: image {i}, {int(preds[i])} instead of {int(ref[i])}). These stages compute the same "
            "integer maths, so this is a bug in the flow or a stale artifact: re-run with --fresh; if it "
            "persists, report it with the run folder attached.")
    return row


def match_text(row: dict[str, Any]) -> str:
    """``"1,000/1,000 predictions identical to Brevitas QAT"`` (exact ties, if any, counted apart)."""
    n, ties = row["samples"], row.get("ties", 0)
    text = f"{row.get('matching', row.get('identical', 0)):,}/{n:,} predictions"
    if ties:
        plural = "s" if ties > 1 else ""
        return f"{text} match {row['must_match']} ({ties:,} exact tie{plural} of equal scores)"
    return f"{text} identical to {row['must_match']}"


def check_same(what: str, got: np.ndarray, want: np.ndarray, want_name: str) -> None:
    """Raise PredictionMismatch unless ``got`` equals ``want`` exactly (integer outputs or predictions)."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape == want.shape and np.array_equal(got, want):
        return
    if got.shape != want.shape:
        raise PredictionMismatch(f"{what} has shape {got.shape}, {want_name} {want.shape}.")
    rows = np.flatnonzero((got != want).reshape(len(got), -1).any(axis=1))
    i = int(rows[0])
    raise PredictionMismatch(f"{what} differs from {want_name} on {len(rows):,} of {len(got):,} test images "
                             f"(first: image {i}: {got[i].tolist()} vs {want[i].tolist()}); both are integer "
                             "arithmetic of the same model and must agree bit-exactly.")


def _output_affine(res: Any) -> list | None:
    """``[scale, bias]`` per class (JSON lists) when the network ends in an affine other than one scale
    (W1A1: the output BatchNorm stays on the host); None for the usual single output scale."""
    from course_utils import finnflow as ff

    if res.output_scale is not None:
        return None
    affine = ff.output_affine(res.stages["05_dataflow_parent"])
    if affine is None:
        return None
    classes = max(np.size(v) for v in affine)
    scale, bias = (np.broadcast_to(np.asarray(v, dtype=np.float64), (classes,)).tolist() for v in affine)
    return [scale, bias]


def _finn_outputs(model: Any, x: np.ndarray) -> np.ndarray:
    """Outputs of a FINN/QONNX model on raw pixels (FINN's executor, batched), ``(N, classes)``."""
    from course_utils import finnflow as ff

    return np.asarray(ff.execute(model, x.astype(np.float32)))


def _finn_predict(model: Any, x: np.ndarray) -> np.ndarray:
    """Predictions of a FINN/QONNX model on raw pixels."""
    return _finn_outputs(model, x).argmax(axis=1).astype(np.int64)


def _vivado_missing(step: str) -> str | None:
    """The skip sentence when Vivado or Vitis HLS is missing for ``step``; None when both are found."""
    if tools.vivado_available():
        return None
    if tools.find_vivado().found:
        hls = tools.find_vitis_hls()
        return f"Vitis HLS not found ({hls.source}): {step} skipped; {tools.USING_VIVADO}."
    return tools.skip_message(step)


# ----------------------------------------------------------------------------- data

def data_inputs(ctx: Context) -> dict[str, Any]:
    """The dataset."""
    return {"dataset": ctx.cfg.dataset}


def run_data(ctx: Context) -> Outcome:
    """Fetch the dataset (mirror, cache or download) and verify every file's sha256."""
    from course_utils import data

    folder = data.fetch(ctx.cfg.dataset, verify=True, progress=ctx.progress, log=print)
    ds = data.get(ctx.cfg.dataset)
    train_x, _ = data.load(ctx.cfg.dataset, "train")
    test_x, test_y = data.load(ctx.cfg.dataset, "test")
    result = {"dataset": ds.name, "title": ds.title, "folder": str(folder), "licence": ds.licence,
              "attribution": ds.attribution, "train": int(len(train_x)), "test": int(len(test_x)),
              "classes": list(ds.classes), "verified": True,
              "files": {f.name: f.sha256 for f in ds.files.values()}}
    return Outcome(f"{ds.title}: {len(train_x):,} train / {len(test_x):,} test images, sha256 verified "
                   f"in {folder}", result)


# ----------------------------------------------------------------------------- training

def train_inputs(ctx: Context) -> dict[str, Any]:
    """Dataset, seed, epochs."""
    c = ctx.cfg
    return {"dataset": c.dataset, "seed": c.seed, "epochs": c.train_epochs}


def qat_inputs(ctx: Context) -> dict[str, Any]:
    """Dataset, seed, epochs, bit widths, the network."""
    c = ctx.cfg
    extra = {"model": "cnn", "channels": list(c.channels), "side": c.side} if c.is_cnn else {}
    return {**train_inputs(ctx), "bits": ctx.cfg.tag, **extra}


def _train(ctx: Context, cfg: Any, name: str) -> Outcome:
    """Train the float (``cfg`` None) or quantized network with Lab 1's recipe; save it and its test
    predictions."""
    from course_utils import data, train
    from course_utils.models import save_checkpoint

    net, hist = train.fit(cfg, ctx.cfg.dataset, seed=ctx.cfg.seed, n_epochs=ctx.cfg.train_epochs,
                          progress=ctx.progress)
    info = {"dataset": ctx.cfg.dataset, "test_accuracy": hist.final_test_acc, "epochs": len(hist.epoch),
            "seed": ctx.cfg.seed}
    fname = "float_mlp.pt" if cfg is None else f"qnn_{cfg.tag}.pt"
    ckpt = save_checkpoint(net, ctx.dir(name) / fname, info)
    images, labels = data.load(ctx.cfg.dataset, "test")
    logits = train.logits(net, images)
    preds = logits.argmax(axis=1)
    paths = [ctx.save_preds(name, preds), ctx.save_array(f"{name}_logits", logits, np.float32)]
    what = "float MLP (PyTorch)" if cfg is None else f"{type(net).__name__} {cfg.tag.upper()} (Brevitas QAT)"
    r = train.recipe(cfg)
    accuracy = float(np.mean(preds == labels))
    result: dict[str, Any] = {"model": what, "accuracy": accuracy, "test_samples": int(len(labels)),
              "epochs": len(hist.epoch), "recipe_epochs": r.epochs, "lr": r.lr, "batch_size": r.batch_size,
              "train_seconds": round(hist.seconds, 2), "history": hist.to_dict(),
              "checkpoint": str(ckpt.relative_to(ctx.run_dir))}
    if cfg is not None:
        result["config"] = cfg.to_dict()
    return Outcome(f"{what}: test accuracy {_pct(accuracy)} after {len(hist.epoch)} epoch(s) "
                   f"({hist.seconds:.1f} s of training)", result, [ckpt, *paths])


def run_float(ctx: Context) -> Outcome:
    """The float baseline (Lab 1.1)."""
    return _train(ctx, None, "float")


def run_qat(ctx: Context) -> Outcome:
    """Quantization-aware training of the main network (Lab 1.4)."""
    return _train(ctx, ctx.cfg.network_config(), "qat")


# ----------------------------------------------------------------------------- export

def eval_inputs(ctx: Context) -> dict[str, Any]:
    """How many test images are checked."""
    return {"eval_samples": ctx.cfg.eval_n}


def run_export(ctx: Context) -> Outcome:
    """QONNX export + golden batch (Lab 1.5's hand-off), then the QONNX model on the test images."""
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import export
    from course_utils.models import load_checkpoint

    qat = ctx.result("qat")
    qnn = load_checkpoint(ctx.run_dir / qat["checkpoint"])
    out = ctx.dir(LAB1_DIR)
    paths = export.save_lab1_artifacts(qnn, out, dataset=ctx.cfg.dataset, test_accuracy=qat["accuracy"],
                                       epochs=qat["epochs"], seed=ctx.cfg.seed)
    meta = json.loads(paths["meta"].read_text(encoding="utf-8"))
    x, labels = ctx.eval_set()
    preds = _finn_predict(ModelWrapper(str(paths["qonnx"])), x)
    row = accuracy_row("QONNX export", "QONNX model (qonnx execute_onnx)", preds, labels,
                       *ctx.reference(len(x)))
    path = ctx.save_preds("export", preds)
    result = {"files": {k: str(p.relative_to(ctx.run_dir)) for k, p in paths.items()},
              "qonnx_vs_brevitas_max_abs_diff": meta.get("qonnx_vs_brevitas_max_abs_diff"),
              "golden_samples": meta.get("golden", {}).get("n"), "accuracy_row": row}
    return Outcome(f"QONNX model verified against Brevitas on the golden batch (max |diff| "
                   f"{result['qonnx_vs_brevitas_max_abs_diff']:.1e}); {match_text(row)}, accuracy "
                   f"{_pct(row['accuracy'])}",
                   result, [*paths.values(), path])


# ----------------------------------------------------------------------------- FINN

def finn_inputs(ctx: Context) -> dict[str, Any]:
    """Throughput target, budget, clock, FPGA part, checked images."""
    c = ctx.cfg
    return {"target_fps": c.target_fps, "budget": c.budget, "clock_mhz": c.clock_mhz, "part": c.part,
            "eval_samples": c.eval_n}


def run_finn(ctx: Context) -> Outcome:
    """Lab 2's flow (finnflow.run_flow): tidy, streamline, HW layers, folding, estimates, code generation."""
    from course_utils import finnflow as ff
    from course_utils.finnflow.errors import ExecutionError

    lab1 = ctx.run_dir / LAB1_DIR
    out = ctx.dir(LAB2_DIR)
    golden = ff.Golden.load(lab1 / "golden.npz")
    res = ff.run_flow(lab1 / "model_qonnx.onnx", out_dir=out, golden=golden, target_fps=ctx.cfg.target_fps,
                      budget=ctx.cfg.budget, clock_mhz=ctx.cfg.clock_mhz, fpgapart=ctx.cfg.part, codegen=True)
    code = ff.generated_code(res.folded)
    est_path = ff.save_estimates(res.estimates, out / "estimates.json")
    x, labels = ctx.eval_set()
    ref = ctx.reference(len(x))
    rows, not_run, artifacts = [], [], [est_path]
    affine = _output_affine(res)
    first: tuple[str, np.ndarray] | None = None
    for stage, model in (("03_streamlined", "FINN streamlined (03_streamlined.onnx)"),
                         ("04_hw", "FINN hardware layers (04_hw.onnx)"),
                         ("08_folded", "FINN folded dataflow, RTL layers (08_folded.onnx)")):
        artifacts.append(out / f"{stage}.onnx")
        try:
            y = _finn_outputs(res.stages[stage], x)
        except ExecutionError as err:
            not_run.append(f"{stage}: {err}")
            continue
        logits = y
        if stage == "08_folded" and affine is not None:   # W1A1: the per-class affine stays on the host
            logits = y * np.asarray(affine[0]) + np.asarray(affine[1])
        preds = logits.argmax(axis=1).astype(np.int64)
        rows.append(accuracy_row(f"FINN {stage}", model, preds, labels, *ref))
        if first is None:
            first = (model, preds)
        else:  # integer outputs (x the same scale): ties resolve alike, so predictions agree exactly
            check_same(f"{model} predictions", preds, first[1], f"{first[0]} predictions")
            rows[-1]["bit_exact_with"] = "FINN 03_streamlined"
        artifacts.append(ctx.save_preds(f"finn_{stage}", preds))
        if stage == "08_folded":
            if not np.array_equal(y, np.round(y)):
                raise PredictionMismatch("the folded dataflow model's outputs are not integers: the output "
                                         "scale is still inside the accelerator.")
            artifacts.append(ctx.save_array("finn_08_folded_yint", np.round(y)))
    est = res.estimates
    result = {
        "sub_seconds": {k: round(v, 3) for k, v in res.seconds.items()},
        "verified_on_golden": list(res.verified), "golden_samples": int(len(golden.x)),
        "verify_skipped": list(res.skipped), "execution_skipped": not_run,
        "output_scale": res.output_scale, "output_affine": affine, "folding": res.folding,
        "estimates": est,
        "generated_code": {layer: len(files) for layer, files in code.items()},
        "generated_code_dir": str(Path(next(iter(code.values()))[0]).parent.parent) if code else None,
        "accuracy_rows": rows, "stages": list(res.stages),
    }
    return Outcome(f"{len(res.verified)} stages bit-exact on the golden batch; folded to "
                   f"{est['fps']:,.0f} FPS est. (bottleneck {est['bottleneck']}, {est['bottleneck_kind']}); "
                   f"LUT {est['resources']['LUT']:,.0f}, BRAM18 {est['resources']['BRAM_18K']:,.0f}, "
                   f"DSP {est['resources']['DSP']:,.0f}; code generated for {len(code)} layers",
                   result, artifacts)


# ----------------------------------------------------------------------------- Vivado-only steps

def vivado_inputs(ctx: Context) -> dict[str, Any]:
    """Whether Vivado and Vitis HLS were found (installing them re-runs these stages)."""
    return {"vivado": tools.vivado_available()}


@contextlib.contextmanager
def _xilinx_vivado_set() -> Iterator[None]:
    """Inside: ``XILINX_VIVADO`` set (FINN reads it) from the Vivado found on the PATH, if it was unset."""
    old = os.environ.get("XILINX_VIVADO")
    vivado = tools.find_vivado()
    if not old and vivado.executable is not None:
        os.environ["XILINX_VIVADO"] = str(vivado.executable.resolve().parent.parent)
    try:
        yield
    finally:
        if not old:
            os.environ.pop("XILINX_VIVADO", None)


def run_stitched_ip(ctx: Context) -> Outcome:
    """With Vivado: FINN's builder from the folded model to the stitched IP (HLS synthesis, FIFO sizing)."""
    reason = _vivado_missing("FINN HLS synthesis, FIFO sizing and the stitched IP")
    if reason:
        return Outcome("skipped: no Vivado", skipped=reason)
    with _xilinx_vivado_set():  # FINN's real simulator (finn.xsi) needs it already at import
        return _stitched_ip(ctx)


def _stitched_ip(ctx: Context) -> Outcome:
    """FINN's builder steps after the estimates, up to ``step_create_stitched_ip``; checks its outputs."""
    from course_utils import finnflow as ff

    ff.setup()
    import finn.builder.build_dataflow as build
    import finn.builder.build_dataflow_config as bc
    from qonnx.core.modelwrapper import ModelWrapper

    out = ctx.dir("stitched_ip")
    steps = ["step_generate_estimate_reports", "step_hw_codegen", "step_hw_ipgen", "step_set_fifo_depths",
             "step_create_stitched_ip"]
    outputs = [bc.DataflowOutputType.ESTIMATE_REPORTS, bc.DataflowOutputType.STITCHED_IP]
    build_cfg = bc.DataflowBuildConfig(output_dir=str(out), synth_clk_period_ns=1000.0 / ctx.cfg.clock_mhz,
                                       fpga_part=ctx.cfg.part, steps=steps, verbose=False,
                                       generate_outputs=outputs)
    with ff.builder_session():
        rc = build.build_dataflow_cfg(str(ctx.run_dir / LAB2_DIR / "08_folded.onnx"), build_cfg)
    if rc != 0:
        raise RuntimeError(f"FINN's builder failed (exit {rc}) in {out}:\n{ff.build_log_errors(out)}")
    files = ff.check_outputs(out, stitched=True)
    stitched = ModelWrapper(str(out / "intermediate_models" / "step_create_stitched_ip.onnx"))
    vlnv = stitched.get_metadata_prop("vivado_stitch_vlnv")
    result = {"ip_repo": str((out / "stitched_ip").relative_to(ctx.run_dir)), "vlnv": vlnv, "steps": steps}
    return Outcome(f"stitched IP {vlnv} in {out / 'stitched_ip'}", result,
                   [files["stitched IP component"], files["stitched IP project"]])


def run_bitstream(ctx: Context) -> Outcome:
    """With Vivado: the kit's block design (PS7, AXI DMA, TLAST, accelerator), synthesis, bitstream."""
    pkg = ctx.run_dir / ctx.result("deploy").get("package", "")
    reason = _vivado_missing("block design synthesis, implementation and the bitstream")
    if not ctx.result("deploy"):
        return Outcome("skipped: no deploy package",
                       skipped="no deploy package was written (see 'deploy')" + (f"; also: {reason}" if reason
                                                                                 else "."))
    if reason:
        return Outcome("skipped: no Vivado; the package has the generated .hwh and a placeholder .bit",
                       skipped=reason + " The deploy package holds the .hwh generated from the kit's "
                                        "block-design Tcl (dry run) and a placeholder .bit: it runs on the "
                                        "virtual board.")
    from course_utils.hw.vivado import build_bitstream

    ip_repo = ctx.run_dir / ctx.result("stitched_ip")["ip_repo"]
    build_bitstream(pkg, ip_repo)
    name = ctx.cfg.package_name
    return Outcome(f"bitstream {name}.bit and {name}.hwh built by Vivado into {pkg}",
                   {"package": str(pkg.relative_to(ctx.run_dir))},
                   [pkg / f"{name}.bit", pkg / f"{name}.hwh", pkg / "accelerator.json"])


# ----------------------------------------------------------------------------- deploy package

def deploy_inputs(ctx: Context) -> dict[str, Any]:
    """Board preset and clock."""
    return {"board": ctx.cfg.board, "clock_mhz": ctx.cfg.clock_mhz}


def run_deploy(ctx: Context) -> Outcome:
    """Lab 2's last step: the deploy package (hw.deploy.write_deploy_package), checked against Brevitas."""
    finn = ctx.result("finn")
    if finn.get("verify_skipped"):
        return Outcome("skipped: HLS layers cannot be verified here",
                       skipped="the design has HLS layers (weights or activations below 4 bits), whose "
                               "outputs need Vitis HLS C++ simulation to verify, so no deploy package is "
                               "written and the board stage cannot run. Use --bits w4a4 (or more) for an "
                               "all-RTL design, or install Vivado/Vitis HLS. Details: "
                               + "; ".join(finn["verify_skipped"]))
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import finnflow as ff
    from course_utils.board.package import load_package
    from course_utils.hw.deploy import write_deploy_package

    golden = ff.Golden.load(ctx.run_dir / LAB1_DIR / "golden.npz")
    folded = ModelWrapper(str(ctx.run_dir / LAB2_DIR / "08_folded.onnx"))
    name = ctx.cfg.package_name
    out = ctx.dir("deploy") / name
    scale, bias = finn["output_scale"], None
    if finn.get("output_affine"):   # a binary network's per-class affine after its output BatchNorm
        scale, bias = (np.asarray(v, dtype=np.float64) for v in finn["output_affine"])
    pkg_path = write_deploy_package(folded, out, name=name, board=ctx.cfg.board, clock_mhz=ctx.cfg.clock_mhz,
                                    golden_x=golden.x, output_scale=scale, output_bias=bias,
                                    labels=golden.labels, estimates=finn["estimates"],
                                    ip_vlnv=ctx.result("stitched_ip").get("vlnv"), dataset=ctx.cfg.dataset)
    pkg = load_package(pkg_path, source="course demo")
    g = pkg.golden()
    n = len(g["x"])
    row = accuracy_row("deploy package", f"numpy executor of the package (golden batch, {n} images)",
                       g["pred"], g["labels"], *ctx.reference(n))
    folded = ctx.run_dir / PREDS_DIR / "finn_08_folded_yint.npy"
    if folded.is_file() and len(np.load(folded)) >= n:
        check_same("the package's golden outputs", g["y_int"], np.load(folded)[:n],
                   "FINN's folded model (finn stage)")
        row["bit_exact_with"] = "FINN 08_folded"
    spec = pkg.spec
    result = {"package": str(pkg_path.relative_to(ctx.run_dir)), "name": name,
              "files": sorted(p.name for p in pkg_path.iterdir()),
              "placeholder_bitstream": pkg.placeholder_bitstream, "hwh_generated": spec["hwh"]["generated"],
              "input": {k: spec["input"][k] for k in ("datatype", "shape_folded", "stream_width_bits",
                                                      "bytes_per_sample")},
              "output": {k: spec["output"][k] for k in ("datatype", "shape_folded", "stream_width_bits",
                                                        "bytes_per_sample")},
              "dma": spec["dma"], "tlast": spec["tlast"], "ip_vlnv": spec.get("ip_vlnv"),
              "accuracy_row": row}
    bit = "placeholder .bit (no Vivado)" if pkg.placeholder_bitstream else "real .bit"
    hwh = "generated from the block-design Tcl" if result["hwh_generated"] else "from Vivado"
    return Outcome(f"{pkg_path.name}: {bit}, .hwh {hwh}; "
                   f"golden batch bit-exact (FINN = numpy executor), {match_text(row)}", result, [pkg_path])


# ----------------------------------------------------------------------------- board

def board_target(placeholder: bool) -> tuple[str, list[str]]:
    """Where to run: ``"board"`` (this machine is one), ``"remote:<host>"`` or ``"virtual"``, and why."""
    from course_utils.tools import on_board, remote_boards

    notes: list[str] = []
    if on_board():
        if placeholder:
            raise DemoError("this is a PYNQ board, but the deploy package's bitstream is a placeholder (made "
                            "without Vivado): build the bitstream on a machine with Vivado first.")
        return "board", notes
    named = remote_boards()
    answering = [host for host, ok in named if ok]
    for host, ok in named:
        if not ok:
            notes.append(f"PYNQ_REMOTE_DEVICES names {host}, but its pynq port 7967 does not answer.")
    if answering and not placeholder:
        return f"remote:{answering[0]}", notes
    if answering:
        notes.append(f"remote board {answering[0]} answers, but the bitstream is a placeholder (no Vivado): "
                     "a real board cannot load it.")
    if not named:
        notes.append("no board reachable: not running on a PYNQ board and PYNQ_REMOTE_DEVICES is unset.")
    notes.append("inference ran on the virtual board (real pynq 3.1.2 Overlay/allocate/DMA over an emulated "
                 "Zynq-7020); its timings are modelled (from the accelerator's RTL cycles when the package "
                 "carries its RTL, else from its cycle estimate), not measured.")
    return "virtual", notes


def board_inputs(ctx: Context) -> dict[str, Any]:
    """Checked images, and where inference can run now (a board appearing re-runs the stage)."""
    placeholder = bool(ctx.result("deploy").get("placeholder_bitstream", True))
    try:
        target, _ = board_target(placeholder)
    except DemoError as err:
        target = f"unusable: {err}"
    return {"eval_samples": ctx.cfg.eval_n, "target": target}


def board_python(given: Path | None = None) -> Path:
    """The board environment's Python: ``given``, ``$COURSE_BOARD_PYTHON``, or the kit's ``.venv/board``."""
    from course_utils.paths import kit_root

    path = given or (Path(os.environ["COURSE_BOARD_PYTHON"]) if os.environ.get("COURSE_BOARD_PYTHON")
                     else kit_root() / ".venv" / "board" / "bin" / "python")
    if not Path(path).is_file():
        raise DemoError(f"the board environment's Python {path} was not found: set up the kit with "
                        "`make setup` (it creates .venv/board with pynq), or pass --board-python PATH.")
    return Path(path)


def _board_env(target: str, board: str) -> dict[str, str]:
    """The board subprocess's environment: the virtual board, or a real/remote pynq device."""
    env = dict(os.environ)
    env.pop("PYNQ_VIRTUAL_BOARD", None)
    env.pop("PYNQ_REMOTE_DEVICES", None)
    if target == "virtual":
        env["PYNQ_VIRTUAL_BOARD"] = board
    elif target.startswith("remote:"):
        env["PYNQ_REMOTE_DEVICES"] = target.split(":", 1)[1]
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_board(ctx: Context) -> Outcome:
    """Lab 3 on a board (real, remote or virtual): the whole set of test images through the accelerator."""
    deploy = ctx.result("deploy")
    if not deploy:
        return Outcome("skipped: no deploy package", skipped="no deploy package was written (see 'deploy').")
    from course_utils import train

    pkg = ctx.run_dir / deploy["package"]
    target, notes = board_target(bool(deploy["placeholder_bitstream"]))
    py = board_python(ctx.board_python)
    folder = ctx.dir("board")
    x, labels = ctx.eval_set()
    inputs, outputs, facts_path = folder / "inputs.npz", folder / "outputs.npz", folder / "board.json"
    for stale in (outputs, facts_path):
        stale.unlink(missing_ok=True)
    with fileio.atomic_path(inputs) as tmp:
        np.savez(tmp, x=x)
    cmd = [str(py), "-m", "course_utils.demo.board_side", str(pkg), str(inputs), str(outputs),
           str(facts_path), "--no-progress"]
    print("$ " + " ".join(cmd))
    env = _board_env(target, ctx.cfg.board)
    if target == "virtual":  # the package's RTL (if the rtl stage put it there), else the numpy model
        env.update(board_env(ctx))
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=BOARD_TIMEOUT_S, check=False, cwd=folder)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the board step did not finish within {BOARD_TIMEOUT_S:.0f} s "
                           f"({target}).") from None
    print(proc.stdout)
    print(proc.stderr, file=sys.stdout)
    if proc.returncode != 0 or not outputs.is_file():
        tail = "\n".join(proc.stderr.strip().splitlines()[-6:]) or "(no output)"
        raise RuntimeError(f"inference on the {target} board failed (exit {proc.returncode}):\n{tail}")
    with np.load(outputs) as data:
        y = data["y_int"]
    facts = json.loads(facts_path.read_text(encoding="utf-8"))
    affine = ctx.result("finn").get("output_affine")
    logits = y if not affine else y * np.asarray(affine[0]) + np.asarray(affine[1])   # W1A1: on the host
    preds = logits.argmax(axis=1).astype(np.int64)
    where = {"virtual": "virtual board", "board": "this PYNQ board"}.get(target,
                                                                          target.replace(":", " board "))
    rows = [accuracy_row("board", f"{where} (pynq Overlay + AXI DMA)", preds, labels,
                         *ctx.reference(len(x)))]
    if (ctx.run_dir / PREDS_DIR / "finn_08_folded_yint.npy").is_file():
        check_same(f"the {where}'s integer outputs", y, ctx.preds("finn_08_folded_yint")[:len(x)],
                   "FINN's folded model (finn stage)")
        rows[0]["bit_exact_with"] = "FINN 08_folded"
    cm = train.confusion_matrix(labels, preds, num_classes=int(y.shape[1]))
    result = {"target": target, "notes": notes, "facts": facts, "accuracy_row": rows[0],
              "confusion": cm.tolist()}
    preds_path = ctx.save_preds("board", preds)
    write_json(folder / "result.json", result)
    return Outcome(f"{len(x):,} images on the {where}: accuracy {_pct(rows[0]['accuracy'])}, "
                   f"{match_text(rows[0])}, outputs bit-exact with FINN; {facts['timing']}",
                   result, [outputs, facts_path, preds_path])


# ----------------------------------------------------------------------------- bit-width sweep

def sweep_inputs(ctx: Context) -> dict[str, Any]:
    """Bit widths, dataset, seed, epochs; in full runs also the FINN settings of the per-width estimates."""
    c = ctx.cfg
    inputs = {**train_inputs(ctx), "sweep": [tag(b) for b in c.sweep], "estimates": not c.quick}
    if not c.quick:
        inputs.update(target_fps=c.target_fps, budget=c.budget, clock_mhz=c.clock_mhz, part=c.part)
    return inputs


def layer_kinds(estimates: dict[str, Any]) -> list[str]:
    """``["RTL"]``, ``["HLS"]`` or both: how FINN implemented the layers of an estimate summary."""
    return sorted({layer["op"].rsplit("_", 1)[-1].upper() for layer in estimates["layers"].values()})


def _estimate_width(ctx: Context, qonnx: Path) -> dict[str, Any]:
    """FINN estimates for one exported width (Lab 2's flow, no verification); a flow error becomes a note."""
    from course_utils import finnflow as ff
    from course_utils.finnflow.errors import FinnFlowError

    try:
        res = ff.run_flow(qonnx, verify=False, target_fps=ctx.cfg.target_fps, budget=ctx.cfg.budget,
                          clock_mhz=ctx.cfg.clock_mhz, fpgapart=ctx.cfg.part)
    except FinnFlowError as err:
        return {"error": f"{type(err).__name__}: {err}"}
    est = res.estimates
    return {"fps": est["fps"], "latency_us": est["latency_us"], "resources": est["resources"],
            "utilization": est["utilization"], "bottleneck": est["bottleneck"],
            "layer_kinds": layer_kinds(est)}


def run_sweep(ctx: Context) -> Outcome:
    """Lab 1's bit-width sweep (W1A1..W8A8); full runs also take each width through FINN's estimates."""
    if not ctx.cfg.sweep:
        return Outcome("skipped: --sweep none",
                       skipped="the bit-width sweep was switched off (--sweep none).")
    from course_utils import export, train
    from course_utils.models import MLPConfig

    out = ctx.dir("sweep")
    qat = ctx.result("qat")
    results: dict[str, dict[str, Any]] = {}
    artifacts: list[Path] = []
    for wb, ab in ctx.cfg.sweep:
        cfg = MLPConfig(weight_bits=wb, act_bits=ab)
        if cfg.tag == ctx.cfg.tag and qat and not ctx.cfg.is_cnn:  # the CNN's QAT is not this MLP
            entry = {"weight_bits": wb, "act_bits": ab, "accuracy": qat["accuracy"], "epochs": qat["epochs"],
                     "seconds": qat["train_seconds"], "source": "qat"}
        else:
            net, hist = train.fit(cfg, ctx.cfg.dataset, seed=ctx.cfg.seed, n_epochs=ctx.cfg.train_epochs,
                                  progress=ctx.progress)
            entry = {**train.sweep_entry(cfg, hist), "source": "sweep"}
            if not ctx.cfg.quick:
                qonnx = export.export_qonnx(net, out / f"model_{cfg.tag}.onnx")
                artifacts.append(qonnx)
                entry["finn"] = _estimate_width(ctx, qonnx)
        results[cfg.tag] = entry
        print(f"{cfg.tag}: {_pct(entry['accuracy'])}")
    float_acc = ctx.result("float").get("accuracy")
    path = export.save_sweep(results, out, dataset=ctx.cfg.dataset, seed=ctx.cfg.seed,
                             float_accuracy=float_acc)
    note = ("MLPs (Lab 1's sweep; the CNN is the qat stage's network); " if ctx.cfg.is_cnn else "") + (
            f"shortened (--quick): {ctx.cfg.train_epochs} epoch(s) per width, no FINN estimates per width"
            if ctx.cfg.quick else "Lab 1's recipe per width; FINN estimates per width")
    accs = ", ".join(f"{t.upper()} {_pct(r['accuracy'])}" for t, r in results.items())
    return Outcome(f"{accs} ({note})", {"results": results, "float_accuracy": float_acc, "note": note,
                                        "shortened": ctx.cfg.quick}, [path, *artifacts])


# ----------------------------------------------------------------------------- RTL simulation

def _rtl_inputs(ctx: Context) -> dict[str, Any]:
    """See ``rtl_stage.rtl_inputs``."""
    return rtl_inputs(ctx)


def _run_rtl(ctx: Context) -> Outcome:
    """The deploy package's stitched RTL on the golden batch (``rtl_stage.run_rtl``)."""
    return run_rtl(ctx)


# ----------------------------------------------------------------------------- Yosys synthesis

def synthesis_inputs(ctx: Context) -> dict[str, Any]:
    """Quick or full (a quick run skips synthesis), the FPGA part."""
    return {"quick": ctx.cfg.quick, "part": ctx.cfg.part}


def synthesis_summary(folded: Any, estimates: dict[str, Any], found: Any, budget: float) -> dict[str, Any]:
    """The report's view of a folded model's synthesis (``synth.DesignSynthesis``): per node estimate vs
    synthesized, the labelled totals and the budget messages (JSON-able)."""
    from course_utils.rtl import synth

    est = synth.finn_estimates(folded)
    rows = synth.comparison_rows(est, found.nodes)
    nodes = found.all_nodes or list(est)
    summary = synth.with_synthesis(estimates, found.nodes, found.whole, budget, nodes=nodes)
    return {"rows": rows, "synthesized": summary["synthesized"], "source": found.source,
            "origin": found.origin, "complete": found.complete or found.whole is not None,
            "seconds": {n: r.seconds for n, r in found.nodes.items()}
            | ({"whole design": found.whole.seconds} if found.whole is not None else {})}


def run_synthesis(ctx: Context) -> Outcome:
    """Full runs: Yosys (synth_xilinx -family xc7) on every node and the whole design, cached by content."""
    if ctx.cfg.quick:
        return Outcome("skipped: --quick", skipped=(
            "--quick: Yosys synthesis of every node and of the whole design takes 10-20 minutes on 2 cores "
            "(cached after); the report shows synthesized figures only where the cache or the kit's "
            "shipped results have them. Run without --quick to synthesize."))
    finn = ctx.result("finn")
    if finn.get("verify_skipped"):
        return Outcome("skipped: HLS layers", skipped="the design has HLS layers, which have no HDL here "
                       "(Vitis HLS): not synthesizable with Yosys. Use --bits w4a4 (or more).")
    from course_utils import finnflow as ff

    ff.setup()
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils.rtl import synth

    folded = ModelWrapper(str(ctx.run_dir / LAB2_DIR / "08_folded.onnx"))
    found = synth.synthesize_model(folded, whole=True, folder=ctx.dir("synthesis"), quiet=not ctx.progress)
    result = synthesis_summary(folded, finn["estimates"], found, ctx.cfg.budget)
    syn = result["synthesized"]
    used = ", ".join(f"{k} {v:,} ({100 * syn['utilization'][k]:.1f}%)" for k, v in syn["resources"].items())
    return Outcome(f"{syn['source']}: {used}" + (f"; over budget: {len(syn['over_budget'])}"
                                                 if syn["over_budget"] else ""), result)


# ----------------------------------------------------------------------------- the stage list

STAGES: tuple[Stage, ...] = (
    Stage("data", "data (download/cache, sha256 verified)", (), data_inputs, run_data),
    Stage("float", "float baseline (PyTorch)", ("data",), train_inputs, run_float),
    Stage("qat", "quantization-aware training (Brevitas)", ("data",), qat_inputs, run_qat),
    Stage("export", "QONNX export + golden batch", ("qat",), eval_inputs, run_export),
    Stage("finn", "FINN: tidy, streamline, HW layers, folding, estimates, code generation", ("export",),
          finn_inputs, run_finn),
    Stage("stitched_ip", "stitched IP (Vivado)", ("finn",), vivado_inputs, run_stitched_ip),
    Stage("deploy", "deploy package (.hwh, accelerator.json, golden)", ("finn", "stitched_ip"), deploy_inputs,
          run_deploy),
    Stage("bitstream", "block design + bitstream (Vivado)", ("deploy",), vivado_inputs, run_bitstream),
    Stage("rtl", "RTL simulation of the accelerator (Verilator)", ("deploy", "finn"), _rtl_inputs, _run_rtl),
    Stage("board", "inference on the board (real or virtual)", ("deploy", "bitstream", "finn", "rtl"),
          board_inputs, run_board),
    Stage("synthesis", "Yosys synthesis for xc7 (full runs)", ("finn",), synthesis_inputs, run_synthesis),
    Stage("sweep", "bit-width sweep (accuracy vs bits)", ("float", "qat"), sweep_inputs, run_sweep),
)
STAGE_NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)


def get_stage(name: str) -> Stage:
    """The stage called ``name``; DemoError listing the names otherwise."""
    for s in STAGES:
        if s.name == name:
            return s
    raise DemoError(f"unknown stage {name!r}: the stages are {', '.join(STAGE_NAMES)}.")


def downstream(name: str) -> list[str]:
    """Every stage that needs ``name``, directly or not, in run order."""
    found = {name}
    for s in STAGES:
        if any(n in found for n in s.needs):
            found.add(s.name)
    return [s.name for s in STAGES if s.name in found and s.name != name]

