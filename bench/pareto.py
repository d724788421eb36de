"""Accuracy/throughput Pareto points on MNIST, each within 70% of the xc7z020, measured in RTL.

    .venv/host/bin/python bench/pareto.py [--only NAME ...] [--n 10000] [--synth] [--out DIR]

Points (docs/pareto.md): the shipped sweep networks (W1A1, W2A2, W8A8: ``pretrained/lab2/sweep``,
folded by ``run_flow``'s default best-effort 1 M images/s search), the default W4A4 design (the shipped
deploy package, 1 M images/s) and ``w4a4-256`` (400-256-256-10 W4A4 on the 20x20 crop, the default's
recipe: 30 epochs, +-1-pixel shifts, dropout 0.1; folded for 100,000 images/s; the trained checkpoint is
cached under build/pareto by its configuration).

Per point: the flow (every stage verified on a golden batch), the folding for its target, the stitched
RTL built with Verilator (cached by content) and simulated on the test set (``--n``, all 10,000 by
default), its outputs compared with FINN's Python execution of the same folded model (bit-exact count),
the accuracy of the RTL's predictions, the measured cycles per image, images/s and latency at 100 MHz,
FINN's estimate, DSPs as ``mvu.sv`` instantiates them, LUT/FF/BRAM_18K from Yosys when the design's
synthesis is cached or shipped (``--synth`` runs it on the whole stitched design, ``--synth-only [--nodes]``
only that, e.g. in the background; 15-30 minutes per design, cached by content in build/rtl/synth-cache).
Networks with HLS layers (W1A1's binary layers) are not simulated; their accuracy is FINN's Python
execution of the folded model.

Writes ``--out/pareto.json`` and ``--out/pareto.png`` (accuracy vs images/s, marker size = DSP%) and
prints the Markdown table. ``--figure`` also writes the plot to docs/figures/pareto.png.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUDGET = 0.7
DEPLOY = ROOT / "pretrained" / "lab2" / "deploy" / "mnist_w4a4"
SWEEP = ROOT / "pretrained" / "lab2" / "sweep"
FIGURE = ROOT / "docs" / "figures" / "pareto.png"
CNN_ROW = {"point": "cnn (not run here)", "network": "CNN 16->32 ch, stride 2, W4A4 (docs/networks_cnn.md)"}
"""The CNN's figures are quoted from docs/networks_cnn.md in docs/pareto.md, not measured by this script."""


@dataclass(frozen=True)
class Point:
    """One design of the table."""

    name: str
    network: str
    source: str
    """"sweep" (pretrained/lab2/sweep/model_<name>.onnx), "deploy" (the shipped package) or "train"."""
    target_fps: float | None = None
    """None: run_flow's default (1 M images/s, best effort: the fastest folding that fits the budget)."""
    weight_bits: int = 4
    act_bits: int = 4
    hidden: tuple[int, ...] = (64, 64)
    seed: int = 0


POINTS = (
    Point("w1a1", "400-64-64-10 W1A1", "sweep", weight_bits=1, act_bits=1),
    Point("w2a2", "400-64-64-10 W2A2", "sweep", weight_bits=2, act_bits=2),
    Point("w4a4", "400-64-64-10 W4A4 (default)", "deploy"),
    Point("w8a8", "400-64-64-10 W8A8", "sweep", weight_bits=8, act_bits=8),
    Point("w4a4-256", "400-256-256-10 W4A4", "train", target_fps=100_000, hidden=(256, 256)),
)


def config(point: Point) -> Any:
    """The ``MLPConfig`` of a trained point."""
    from course_utils.models import MLPConfig

    return MLPConfig(weight_bits=point.weight_bits, act_bits=point.act_bits, hidden=point.hidden)


def train_key(point: Point, dataset: str = "mnist") -> str:
    """Content key of a trained point: its configuration, recipe, seed and dataset."""
    from course_utils import train

    cfg = config(point)
    blob = json.dumps({"cfg": cfg.to_dict(), "recipe": asdict(train.recipe(cfg)), "seed": point.seed,
                       "dataset": dataset, "quick": train.quick()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def trained(point: Point, out: Path, progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """QONNX of a ``train`` point: trained with ``train.fit`` (the recipe of ``train.recipe``) once and
    cached in ``out/<name>-<key>/`` (checkpoint, QONNX, info); returns (qonnx path, info)."""
    from course_utils import export, train
    from course_utils.fileio import write_text_atomic
    from course_utils.models import save_checkpoint

    folder = out / f"{point.name}-{train_key(point)}"
    onnx, info_path = folder / "model_qonnx.onnx", folder / "info.json"
    if onnx.is_file() and info_path.is_file():
        return onnx, json.loads(info_path.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    qnn, hist = train.fit(config(point), "mnist", seed=point.seed, progress=progress)
    info = {"test_accuracy": hist.final_test_acc, "epochs": len(hist.epoch), "seed": point.seed,
            "train_seconds": round(hist.seconds, 1), "recipe": asdict(train.recipe(config(point))),
            "config": config(point).to_dict(), "history": hist.to_dict()}
    save_checkpoint(qnn, folder / "qnn.pt", info)
    export.export_qonnx(qnn, onnx)
    write_text_atomic(info_path, json.dumps(info, indent=1) + "\n")
    print(f"{point.name}: trained {info['epochs']} epochs in {info['train_seconds']} s: "
          f"{100 * info['test_accuracy']:.2f}% (cached in {folder})", flush=True)
    return onnx, info


def golden_for(onnx: Path, n: int = 32) -> Any:
    """A golden batch for ``onnx``: the first ``n`` test crops, the QONNX model's own outputs."""
    import numpy as np

    from course_utils import data
    from course_utils import finnflow as ff
    from course_utils.torchdata import crop

    images, labels = data.load("mnist", "test")
    x = crop(images[:n], 20).astype(np.uint8)
    model = ff.load_qonnx(onnx)
    logits = ff.execute(model, x.astype(np.float32)).reshape(n, -1)
    return ff.Golden(x=x, logits=logits, pred=logits.argmax(1), labels=np.asarray(labels[:n]))


def folded_model(point: Point, out: Path, progress: bool = True) -> tuple[Any, Any, dict[str, Any]]:
    """(folded model, (scale, bias) or None, notes) of a point."""
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import finnflow as ff

    notes: dict[str, Any] = {}
    if point.source == "deploy":
        acc = json.loads((DEPLOY / "accelerator.json").read_text())
        notes["source"] = "pretrained/lab2/deploy/mnist_w4a4 (the shipped package)"
        return ModelWrapper(str(DEPLOY / "dataflow.onnx")), (acc.get("output_scale"), None), notes
    if point.source == "sweep":
        onnx = SWEEP / f"model_{point.name}.onnx"
        notes["trained_accuracy"] = json.loads((SWEEP / "sweep.json").read_text())[point.name]["accuracy"]
        notes["source"] = f"pretrained/lab2/sweep/{onnx.name}"
    else:
        onnx, info = trained(point, out / "train", progress)
        notes["trained_accuracy"] = info["test_accuracy"]
        notes["train_seconds"] = info["train_seconds"]
        notes["epochs"] = info["epochs"]
        notes["source"] = f"trained here ({info['epochs']} epochs), {onnx.relative_to(ROOT)}"
    kw: dict[str, Any] = {"budget": BUDGET}
    if point.target_fps is not None:
        kw["target_fps"] = point.target_fps
    res = ff.run_flow(onnx, golden=golden_for(onnx), allow_skipped=True, **kw)
    notes["flow_verified"] = f"{len(res.verified)}/{len(res.stages)} stages" + (
        f" (skipped: {'; '.join(res.skipped)})" if res.skipped else "")
    notes["folding"] = res.folding
    return res.folded, ff.output_affine(res.stages["05_dataflow_parent"]), notes


def synthesize(point: Point, out: Path, nodes: bool = False, timeout: float = 3600.0) -> None:
    """Yosys on one point's folded design: the whole stitched design in one run (its real counts), recorded
    as soon as it is done; with ``nodes`` also every node. Cached by content (build/rtl/synth-cache)."""
    from course_utils.paths import build_dir
    from course_utils.rtl import synth as synthmod

    model, _, _ = folded_model(point, out)
    problems = synthmod.not_synthesizable(model)
    if problems:
        print(f"{point.name}: not synthesizable here: {problems}")
        return
    t0 = time.perf_counter()
    design = synthmod.prepare(model, build_dir("pareto") / point.name / "synth")
    whole = synthmod.synthesize_top(design, timeout=timeout)
    synthmod.record(model, design, {}, whole)
    print(f"{point.name}: whole design synthesized in {time.perf_counter() - t0:.0f} s: {whole.resources()}",
          flush=True)
    if nodes:
        synthmod.record(model, design, synthmod.synthesize_layers(design, timeout=timeout))
        print(f"{point.name}: and every node, {time.perf_counter() - t0:.0f} s in all", flush=True)


def synth_fields(model: Any) -> dict[str, Any]:
    """The row's Yosys figures for ``model`` if its synthesis is cached or shipped (else ``synth: None``)."""
    from course_utils.finnflow.estimates import capacity
    from course_utils.rtl import synth as synthmod

    found = synthmod.lookup(model)
    if found is None or found.totals() is None:
        return {"synth": None}
    tot, cap = found.totals(), capacity()
    res = {k: int(tot[k]) for k in ("LUT", "FF", "BRAM_18K", "DSP")}
    return {"synth": res, "synth_source": found.source, "synth_pct": {k: 100 * res[k] / cap[k] for k in res},
            "budget_violations": synthmod.budget_violations(found.nodes, BUDGET, whole=found.whole)}


def measure(point: Point, out: Path, n: int, synth: bool, progress: bool = True) -> dict[str, Any]:
    """Every figure of one point's row."""
    import numpy as np

    from course_utils import data
    from course_utils import finnflow as ff
    from course_utils.finnflow.estimates import capacity
    from course_utils.paths import build_dir, kit_root
    from course_utils.torchdata import crop

    t0 = time.perf_counter()
    model, affine, notes = folded_model(point, out, progress)
    est = ff.estimate_summary(model)
    cap = capacity()
    row: dict[str, Any] = {"point": point.name, "network": point.network, **notes,
                           "target_fps": point.target_fps or "1 M best effort",
                           "estimated_fps": float(est["fps"]),
                           "estimated_latency_cycles": int(est["latency_cycles"]),
                           "dsp": float(est["resources"]["DSP"]),
                           "dsp_pct": 100 * est["resources"]["DSP"] / cap["DSP"],
                           "finn_lut": float(est["resources"]["LUT"]),
                           "finn_bram": float(est["resources"]["BRAM_18K"]),
                           "hls_layers": ff.hls_layers(model)}
    images, labels = data.load("mnist", "test")
    x = crop(images[:n], 20).astype(np.float32)
    labels = np.asarray(labels[:n])
    y_py = ff.execute(model, x).reshape(n, -1)
    scale, bias = affine if affine is not None else (None, None)

    def predict(y: Any) -> Any:
        logits = y.astype(np.float64) * (1.0 if scale is None else np.asarray(scale, dtype=np.float64))
        return (logits + (0.0 if bias is None else np.asarray(bias))).argmax(1)

    row["python_accuracy"] = float(np.mean(predict(y_py) == labels))
    row["images"] = n
    if row["hls_layers"]:
        row["rtl"] = "n/a: HLS layers " + ", ".join(row["hls_layers"])
    else:
        from course_utils import rtl
        from course_utils.rtl.verify import cycle_report

        design = rtl.build(model, build_dir("pareto") / point.name / "rtl", quiet=True,
                           cache=kit_root() / "build" / "rtl" / "cache")
        run = design.run(x)
        rep = cycle_report(run, model)["measured"]
        same = int((run.outputs.reshape(n, -1).astype(np.int64) == y_py.astype(np.int64)).all(axis=1).sum())
        row.update({"rtl": "ok", "bit_exact_images": same, "bit_exact": same == n,
                    "rtl_accuracy": float(np.mean(predict(run.outputs.reshape(n, -1)) == labels)),
                    "measured_cycles": rep["interval_cycles"], "measured_fps": rep["fps"],
                    "measured_latency_cycles": rep["latency_cycles"],
                    "measured_latency_us": rep["latency_us"],
                    "verilator_key": design.key})
    if synth:
        synthesize(point, out)
    row.update(synth_fields(model))
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def pct(v: float) -> str:
    return f"{v:.0f}%"


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of the rows."""
    head = ("| point | network | accuracy (RTL) | images/s measured | latency measured | images/s estimated "
            "| DSP | LUT | FF | BRAM_18K | bit-exact |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        acc = r.get("rtl_accuracy", r.get("python_accuracy"))
        acc_s = f"{100 * acc:.2f}%" + ("" if "rtl_accuracy" in r else " (Python; HLS)")
        mfps = f"{r['measured_fps']:,.0f}" if "measured_fps" in r else "n/a (HLS)"
        lat = (f"{r['measured_latency_cycles']} cycles ({r['measured_latency_us']:.2f} us)"
               if "measured_latency_cycles" in r else "n/a")
        s, p = r.get("synth"), r.get("synth_pct")
        res = [f"{s[k]:,} ({pct(p[k])})" if s else "not synthesized" for k in ("LUT", "FF", "BRAM_18K")]
        if not s:
            res[0] = f"not synthesized (FINN est. {r['finn_lut']:,.0f})"
            res[2] = f"not synthesized (FINN est. {r['finn_bram']:,.0f})"
        exact = (f"yes ({r['bit_exact_images']:,}/{r['images']:,})" if r.get("bit_exact")
                 else f"NO ({r['bit_exact_images']:,}/{r['images']:,})" if "bit_exact" in r else "n/a (HLS)")
        lines.append(f"| {r['point']} | {r['network']} | {acc_s} | {mfps} | {lat} | "
                     f"{r['estimated_fps']:,.0f} | {r['dsp']:.0f} ({pct(r['dsp_pct'])}) | {res[0]} | "
                     f"{res[1]} | {res[2]} | {exact} |")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: Path) -> Path:
    """Accuracy vs images/s (measured in RTL, else estimated), marker area proportional to DSP%."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from course_utils.fileio import atomic_file

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in rows:
        fps = r.get("measured_fps", r["estimated_fps"])
        acc = 100 * r.get("rtl_accuracy", r["python_accuracy"])
        ax.scatter([fps], [acc], s=30 + 12 * r["dsp_pct"], alpha=0.6,
                   marker="o" if "measured_fps" in r else "s")
        ax.annotate(f"{r['point']}\n{r['dsp_pct']:.0f}% DSP", (fps, acc), textcoords="offset points",
                    xytext=(8, -4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("images/s at 100 MHz (measured in RTL; squares: estimated, HLS layers)")
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.set_title("Accuracy vs throughput on the xc7z020 (marker size: DSP48E1 %)")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
    return path


def report(out: Path, figure: bool, points: list[Point]) -> int:
    """Print the table of ``out/pareto.json`` and write the plot, without RTL runs; ``points``: look their
    synthesis up again (their flow runs to find the folded model's fingerprint)."""
    from course_utils.fileio import write_text_atomic

    path = out / "pareto.json"
    if not path.is_file():
        print(f"no rows in {path}: run bench/pareto.py first")
        return 1
    rows = json.loads(path.read_text())
    for r in rows:
        point = next((p for p in points if p.name == r["point"]), None)
        if point is not None:
            r.update(synth_fields(folded_model(point, out)[0]))
    write_text_atomic(path, json.dumps(rows, indent=1, default=str) + "\n")
    plot(rows, out / "pareto.png")
    if figure:
        plot(rows, FIGURE)
    print(table(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", help=f"points to run (default: all of {[p.name for p in POINTS]})")
    ap.add_argument("--n", type=int, default=10_000, help="test images for the RTL run (default: all 10,000)")
    ap.add_argument("--synth", action="store_true", help="run Yosys on designs without a cached synthesis")
    ap.add_argument("--train-only", action="store_true", help="only train (and cache) the trained points")
    ap.add_argument("--synth-only", action="store_true",
                    help="only run Yosys on the points' designs (no RTL simulation; e.g. in the background)")
    ap.add_argument("--nodes", action="store_true", help="with --synth-only: also synthesize every node")
    ap.add_argument("--timeout", type=float, default=3600.0, help="Yosys time limit per run, seconds")
    ap.add_argument("--report", action="store_true",
                    help="no RTL runs: the table and plot of --out/pareto.json; the --only points' synthesis "
                         "looked up again (their flow runs to find it)")
    ap.add_argument("--figure", action="store_true",
                    help=f"also write the plot to {FIGURE.relative_to(ROOT)}")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: build/pareto)")
    args = ap.parse_args(argv)
    os.environ.setdefault("COURSE_DATA_MIRROR", str(ROOT.parent / "shared" / "data"))
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from course_utils.fileio import write_text_atomic
    from course_utils.paths import build_dir

    out = args.out or build_dir("pareto")
    points = [p for p in POINTS if not args.only or p.name in args.only]
    if not points:
        print(f"no point named {args.only}: choose from {', '.join(p.name for p in POINTS)}")
        return 1
    if args.train_only:
        for p in points:
            if p.source == "train":
                trained(p, out / "train")
        return 0
    from course_utils import finnflow as ff

    ff.setup()
    if args.report:
        return report(out, args.figure, points if args.only else [])
    if args.synth_only:
        for p in points:
            synthesize(p, out, nodes=args.nodes, timeout=args.timeout)
        return 0
    rows: list[dict[str, Any]] = []
    allrows: list[dict[str, Any]] = []
    order = [p.name for p in POINTS]
    for p in points:
        rows.append(measure(p, out, args.n, args.synth))
        r = rows[-1]
        print(f"{p.name}: {r['seconds']} s; RTL {r['rtl']}; "
              f"measured {r.get('measured_fps', 0):,.0f} images/s; "
              f"accuracy {100 * r.get('rtl_accuracy', r['python_accuracy']):.2f}%", flush=True)
        # merged into pareto.json after every point: an interrupted run keeps what it measured
        prev = json.loads((out / "pareto.json").read_text()) if (out / "pareto.json").is_file() else []
        merged = {x["point"]: x for x in prev} | {r["point"]: r}
        allrows = sorted(merged.values(),
                         key=lambda x: order.index(x["point"]) if x["point"] in order else 99)
        write_text_atomic(out / "pareto.json", json.dumps(allrows, indent=1, default=str) + "\n")
    plot(allrows, out / "pareto.png")
    if args.figure:
        plot(allrows, FIGURE)
    print()
    print(table(allrows))
    print(f"\nrows in {out / 'pareto.json'}, plot {out / 'pareto.png'}")
    bad = [r["point"] for r in rows if r.get("bit_exact") is False]
    for r in rows:
        for msg in r.get("budget_violations") or []:
            print(f"OVER BUDGET ({r['point']}): {msg}")
    if bad:
        print("NOT BIT-EXACT:", ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
