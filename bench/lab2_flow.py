#!/usr/bin/env python3
"""Benchmark of Lab 2's FINN flow on this machine: timings, the chosen folding, the design-space table.

Prints, for the default model (Lab 1's W4A4 MLP) on the xc7z020 at 100 MHz:
* the time of the whole flow QONNX -> verified, folded dataflow model -> estimates -> generated code,
  in a fresh process (imports included; target <= 30 s) and again warm, with the time per stage;
* the same through FINN's builder (``hw_codegen_dataflow_steps`` + the kit's custom step);
* the folding the kit chooses by default (>= 1,000,000 FPS within 70% of LUT/BRAM_18K/DSP, DSPs as
  mvu.sv instantiates them, Thresholding PEs matched to their MVAUs'), and its bottleneck;
* the design-space table (target FPS -> folding, resources, FPS, latency, bottleneck: compute or input
  stream);
* the same target across bit widths (W1A1, W2A2, W4A4, W8A8) when pretrained/lab2/sweep is present.

    .venv/host/bin/python bench/lab2_flow.py [--qonnx PATH] [--clock-mhz 100]

Everything is written to a temporary build folder; nothing in build/ is touched.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = (10_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_000_000)

COLD = """
import time, json, sys
t0 = time.perf_counter()
from course_utils import finnflow as ff
res = ff.run_flow(sys.argv[1], codegen=True, clock_mhz=float(sys.argv[2]))
ff.generated_code(res.folded)
print(json.dumps({"total_s": time.perf_counter() - t0, "flow_s": res.seconds["total"]}))
"""


def _table(rows: list[dict], columns: list[str]) -> str:
    """A plain-text table."""
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def cold_run(qonnx: Path, clock_mhz: float) -> dict:
    """The whole flow in a new Python process (FINN imports included)."""
    out = subprocess.run([sys.executable, "-c", COLD, str(qonnx), str(clock_mhz)], check=True,
                         capture_output=True, text=True, env=os.environ.copy())
    return json.loads(out.stdout.strip().splitlines()[-1])


def builder_run(qonnx: Path, folding: dict, out: Path, clock_mhz: float) -> float:
    """Seconds of one FINN builder run (estimate reports + code generation)."""
    import finn.builder.build_dataflow as build
    import finn.builder.build_dataflow_config as build_cfg
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    from course_utils import finnflow as ff

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = cleanup_model(ModelWrapper(str(qonnx)))
    model.set_tensor_datatype(model.graph.input[0].name, DataType["UINT8"])
    model.save(str(out / "model_in.onnx"))
    steps = list(build_cfg.hw_codegen_dataflow_steps)
    steps.insert(steps.index("step_streamline") + 1, ff.step_drop_output_scale)
    cfg = build_cfg.DataflowBuildConfig(
        output_dir=str(out / "output"), synth_clk_period_ns=1000.0 / clock_mhz, fpga_part=ff.FPGA_PART,
        steps=steps, generate_outputs=[build_cfg.DataflowOutputType.ESTIMATE_REPORTS],
        folding_config_file=str(ff.folding_config_file(folding, out / "folding.json")),
        standalone_thresholds=True, minimize_bit_width=True)
    with ff.builder_session():
        rc = build.build_dataflow_cfg(str(out / "model_in.onnx"), cfg)
    if rc != 0:
        raise SystemExit(f"builder failed: {ff.build_log_errors(out / 'output')}")
    ff.check_outputs(out / "output")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures; return the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qonnx", type=Path, default=None, help="QONNX model (default: Lab 1's, pretrained)")
    ap.add_argument("--clock-mhz", type=float, default=100.0)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench_lab2_"))
    os.environ["COURSE_BUILD_DIR"] = str(tmp)

    from course_utils.export import lab1_artifacts

    lab1 = lab1_artifacts(prefer="pretrained")
    qonnx = args.qonnx or lab1["qonnx"]
    print(f"machine: {os.cpu_count()} CPUs; model {qonnx}; part xc7z020clg400-1 at {args.clock_mhz:g} MHz\n")

    cold = cold_run(Path(qonnx), args.clock_mhz)
    print(f"whole flow QONNX -> estimates + generated code, new process (imports included): "
          f"{cold['total_s']:.1f} s (target <= 30 s); the flow itself {cold['flow_s']:.1f} s")

    from course_utils import finnflow as ff

    t0 = time.perf_counter()
    res = ff.run_flow(qonnx, codegen=True, clock_mhz=args.clock_mhz,
                      golden=ff.Golden.load(lab1["golden"]) if args.qonnx is None else None,
                      verify=args.qonnx is None)
    warm = time.perf_counter() - t0
    stages = ", ".join(f"{k} {v:.2f}" for k, v in res.seconds.items() if k != "total")
    print(f"warm, in-process: {warm:.1f} s ({stages} s); stages verified bit-exactly: {len(res.verified)}")
    print(f"FINN builder (estimate reports + code generation): "
          f"{builder_run(Path(qonnx), res.folding, tmp / 'builder', args.clock_mhz):.1f} s\n")

    est = res.estimates
    util = ", ".join(f"{k} {100 * v:.1f}%" for k, v in est["utilization"].items())
    label = ff.folding.folding_label(res.folding)
    print(f"chosen folding for >= {ff.flow.DEFAULT_TARGET_FPS:,} FPS within 70% of LUT/BRAM_18K/DSP "
          f"(matched Thresholding PEs): {label}")
    print(f"  {est['fps']:,.0f} FPS ({est['cycles_per_sample']} cycles/sample), latency "
          f"{est['latency_us']:.2f} us, {util}; resources "
          + json.dumps({k: est["resources"][k] for k in ("LUT", "BRAM_18K", "DSP")}))
    print(f"  bottleneck: {est['bottleneck']} ({est['bottleneck_kind']}); "
          + "; ".join(ff.dma_report(res.folded)) + "\n")

    base = ff.flow.minimize_bit_widths(res.stages["07_specialized"])
    rows = ff.design_space(base, list(TARGETS), budget=1.0, clock_mhz=args.clock_mhz)
    for r in rows:
        r["bottleneck"] = f"{r.get('bottleneck', '')} ({r.get('bottleneck_kind', '')})" if r["met"] else \
            r["note"][:90]
    print("design space (MVAU SIMDxPE, Thresholding PE; budget: the whole chip):")
    print(_table(rows, ["target_fps", "folding", "fps", "cycles", "latency_us", "LUT", "BRAM_18K", "DSP",
                        "DSP_%", "BRAM_18K_%", "in_bits", "bottleneck"]))

    sweep = ROOT / "pretrained" / "lab2" / "sweep"
    if (sweep / "sweep.json").is_file():
        info = json.loads((sweep / "sweep.json").read_text())
        meta = json.loads(Path(lab1["meta"]).read_text())
        models = {"w1a1": sweep / "model_w1a1.onnx", "w2a2": sweep / "model_w2a2.onnx", "w4a4": Path(qonnx),
                  "w8a8": sweep / "model_w8a8.onnx"}
        bits = []
        for tag, path in models.items():
            r = ff.run_flow(path, verify=False, target_fps=500_000, budget=1.0, clock_mhz=args.clock_mhz)
            e = r.estimates
            acc = info.get(tag, {}).get("accuracy") or meta.get("test_accuracy")
            bits.append({"bits": tag, "accuracy": f"{100 * acc:.2f}%" if acc else "",
                         "layers": "+".join(sorted({n.op_type for n in r.folded.graph.node})),
                         "fps": round(e["fps"]), **{k: e["resources"][k] for k in ("LUT", "BRAM_18K", "DSP")},
                         "bottleneck": f"{e['bottleneck']} ({e['bottleneck_kind']})"})
        print("\nacross bit widths (500,000 FPS target, whole chip):")
        print(_table(bits, ["bits", "accuracy", "layers", "fps", "LUT", "BRAM_18K", "DSP", "bottleneck"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
