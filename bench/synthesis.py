"""Benchmark: the accelerator's RTL synthesized with Yosys for xc7, next to FINN's estimates.

    .venv/host/bin/python bench/synthesis.py [--foldings default,500k,250k] [--no-whole] [--timeout 3600]
        [--record pretrained/lab2/synthesis.json]

For the default design (pretrained/lab2/deploy/mnist_w4a4) and two other foldings of the same MLP, prints
per node (layers with their weight streamers, width converters, FIFOs) and in total: FINN's estimate vs
Yosys' count of LUT/FF/BRAM_18K/DSP, the ratio, % of the xc7z020, and the wall time of each synthesis
first and cached (a second call, from the content-hash cache); then the whole stitched design's
synthesis (one flattened Yosys run) with its time first and cached. Results are cached in
build/rtl/synth-cache: delete it (or set COURSE_SYNTH_CACHE to an empty folder) to measure a cold run.
``--record FILE`` writes the results for shipping (``pretrained/lab2/synthesis.json``: Lab 2 finds them by
content key, so a fresh clone shows the default design's synthesis without running Yosys for 10 minutes).
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEPLOY = ROOT / "pretrained" / "lab2" / "deploy" / "mnist_w4a4"
FOLDINGS = {"default": None, "500k": 500_000, "250k": 250_000}
"""default: the shipped folding (1 M images/s, 100 cycles per image); 500k and 250k: the kit's folding search
(``ff.search_folding``, whole chip) for those targets, each Thresholding with its MVAU's PE (no width
converter between them), as Lab 2.3's design space builds them."""


def folding_for(base, target):
    """``search_folding(base, target)`` with every Thresholding given the PE of the MVAU before it."""
    from course_utils import finnflow as ff

    folding = ff.search_folding(base, target, 1.0)
    for node in base.graph.node:
        prod = base.find_producer(node.input[0])
        if node.op_type.startswith("Thresholding") and prod is not None and prod.op_type.startswith("MVAU"):
            folding[node.name] = {"PE": folding[prod.name]["PE"]}
    return folding


def fmt(v) -> str:
    if v is None:
        return "-"
    if v == float("inf"):
        return "est=0"
    if isinstance(v, float) and v != int(v):
        return f"{v:,.2f}"
    return f"{int(v):,}"


def bench(label: str, model, args) -> None:
    from course_utils.fileio import write_text_atomic
    from course_utils.finnflow import estimates as est
    from course_utils.finnflow.folding import get_folding
    from course_utils.paths import build_dir
    from course_utils.rtl import synth

    perf = est.estimate_summary(model)
    print(f"\n=== {label}: folding {json.dumps(get_folding(model))}")
    print(f"    estimated {perf['cycles_per_sample']} cycles/image, {perf['fps']:,.0f} images/s at "
          f"{perf['clock_mhz']:g} MHz")
    t0 = time.perf_counter()
    hdl = synth.prepare(model, build_dir("rtl") / f"synth-bench-{label}")
    t_prep = time.perf_counter() - t0
    estimates = synth.finn_estimates(model)
    first, cached = {}, {}
    for n in hdl.nodes:
        t0 = time.perf_counter()
        first[n.name] = synth.synthesize_node(hdl, n.name, timeout=args.timeout)
        w1 = time.perf_counter() - t0
        t0 = time.perf_counter()
        cached[n.name] = synth.synthesize_node(hdl, n.name, quiet=True)
        w2 = time.perf_counter() - t0
        first[n.name].wall = (w1, w2)
    print(f"    stitching + PrepareIP: {t_prep:.1f} s; {len(hdl.nodes)} nodes")
    cols = ("LUT", "FF", "BRAM_18K", "DSP")
    three = ("LUT", "BRAM_18K", "DSP")
    head = (f"  {'node':<36}" + "".join(f"{k + ' est':>13}{k + ' syn':>13}{'ratio':>7}" for k in three)
            + f"{'FF syn':>9}{'wall s':>9}{'cached s':>9}{'(Yosys run s)':>14}")
    print(head)
    for row in synth.comparison_rows(estimates, first):
        r = first[row["node"]]
        print(f"  {row['node']:<36}" + "".join(f"{fmt(row[k + ' est']):>13}{fmt(row[k + ' syn']):>13}"
                                              f"{fmt(row[k + ' ratio']):>7}" for k in three)
              + f"{fmt(row['FF syn']):>9}{r.wall[0]:>9.1f}{r.wall[1]:>9.2f}{r.seconds:>14.1f}")
    tot = {k: sum(r.resources()[k] for r in first.values()) for k in cols}
    tot_est = {k: sum(e[k] for e in estimates.values()) for k in ("LUT", "BRAM_18K", "DSP")}
    cap = est.capacity()
    print(f"  {'SUM of nodes':<36}" + "".join(
        f"{fmt(tot_est[k]):>13}{fmt(tot[k]):>13}"
        f"{fmt(round(tot[k] / tot_est[k], 2) if tot_est[k] else None):>7}" for k in three)
          + f"{fmt(tot['FF']):>9}")
    print("    % of the xc7z020 (sum of nodes, synthesized): " + ", ".join(
        f"{k} {100 * tot[k] / cap[k]:.1f}%" for k in cols)
          + "; estimated: " + ", ".join(f"{k} {100 * tot_est[k] / cap[k]:.1f}%" for k in three))
    whole = None
    if args.whole:
        t0 = time.perf_counter()
        whole = synth.synthesize_top(hdl, timeout=args.timeout)
        w1 = time.perf_counter() - t0
        t0 = time.perf_counter()
        synth.synthesize_top(hdl, quiet=True)
        w2 = time.perf_counter() - t0
        res = whole.resources()
        print("  whole stitched design (one flattened Yosys run): " + ", ".join(
            f"{k} {res[k]:,} ({100 * res[k] / cap[k]:.1f}%)" for k in cols)
              + f"; CARRY4 {whole.counts['CARRY4']:,}, LUTRAM {whole.counts['LUTRAM']}, "
              f"SRL {whole.counts['SRL']}")
        print(f"    wall time: first {w1:.1f} s{' (was already cached)' if whole.cached else ''} "
              f"(Yosys run {whole.seconds:.1f} s), cached {w2:.2f} s")
    for msg in synth.budget_violations(first, 0.7, whole=whole):
        print(f"    OVER BUDGET (70%): {msg}")
    design = synth.record(model, hdl, first, whole)
    if args.record:
        shipped = json.loads(args.record.read_text()) if args.record.is_file() else {}
        results, designs = shipped.setdefault("results", {}), shipped.setdefault("designs", {})
        for r in [*first.values(), *([whole] if whole is not None else [])]:
            d = r.to_dict()
            results[r.key] = {k: d[k] for k in ("name", "counts", "seconds", "key", "nodes")} | {
                "cached": False, "log": ""}
        designs[design.fingerprint] = {"label": label, "folding": get_folding(model),
                                       "fps": round(perf["fps"]), "all_nodes": design.all_nodes,
                                       "nodes": {n: r.key for n, r in first.items()},
                                       "whole": whole.key if whole is not None else None}
        shipped["note"] = ("Yosys results (synth_xilinx -family xc7) of the default design and other "
                           "foldings, written by bench/synthesis.py --record; keys as in "
                           "course_utils.rtl.synth's cache.")
        shipped["yosys"] = synth.yosys_version()
        write_text_atomic(args.record, json.dumps(shipped, indent=1, sort_keys=True) + "\n")
        print(f"    recorded in {args.record}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--foldings", default="default,500k,250k")
    ap.add_argument("--no-whole", dest="whole", action="store_false", help="skip the whole-design synthesis")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--record", type=Path,
                    help="write the results for shipping (pretrained/lab2/synthesis.json)")
    ap.add_argument("--deploy", type=Path, default=DEPLOY, help="deploy package whose dataflow.onnx to fold")
    args = ap.parse_args()

    from course_utils import finnflow as ff

    ff.setup()
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils.finnflow.folding import apply_folding
    from course_utils.rtl import synth

    print(f"Yosys: {synth.yosys_version()}; cache {synth.default_cache()}")
    base = ModelWrapper(str(args.deploy / "dataflow.onnx"))
    for label in args.foldings.split(","):
        model = ModelWrapper(copy.deepcopy(base.model))
        if FOLDINGS[label]:
            model = apply_folding(model, folding_for(base, FOLDINGS[label]))
        bench(label, model, args)


if __name__ == "__main__":
    main()
