"""Benchmark: the hand-built layer of Lab 2 notebook 00 (integer inference, PyRTL unit, Verilator, Yosys).

    .venv/host/bin/python bench/handbuilt.py [--n 10000] [--no-synth] [--write-table]

Prints: the hand-written integer inference vs FINN's execution of the exported dataflow model on the MNIST
test set (identical outputs, exact ties counted), the test accuracy with thresholds and with
multiply-then-shift requantization, then for SIMD 1, 4, 16 the unit's cycles (PyRTL and Verilator,
bit-exact against numpy on the first neurons of layer 1) and its Yosys counts for xc7, next to FINN's
MVAU_rtl_0 for the whole layer. ``--write-table`` writes the shipped sweep the notebook reads
(``course_utils/handbuilt_synth.json``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
N_NEURONS = 4
SIMDS = (1, 4, 16)


def integer_inference(n: int) -> None:
    from course_utils import data, torchdata
    from course_utils import finnflow as ff
    from course_utils import handbuilt as hb

    ff.setup()
    from qonnx.core.modelwrapper import ModelWrapper

    mlp = hb.load()
    images, labels = data.load("mnist", "test")
    side = int(round(len(mlp.W[0]) ** 0.5))     # the model's input: the centre crop (20x20 by default)
    x, labels = torchdata.crop(images[:n], side), labels[:n].astype(np.int64)
    t0 = time.perf_counter()
    y_hand = hb.infer(mlp, x)
    t_hand = time.perf_counter() - t0
    t0 = time.perf_counter()
    y_finn = ff.execute(ModelWrapper(str(mlp.source / "dataflow.onnx")), x).astype(np.int64).reshape(n, -1)
    t_finn = time.perf_counter() - t0
    same = (y_hand == y_finn).all(1)
    pred, ties = hb.argmax_first(y_hand)
    print(f"integer inference by hand vs FINN's execution of {mlp.source.name}/dataflow.onnx, "
          f"{n:,} test images:")
    print(f"  identical integer outputs: {int(same.sum()):,} / {n:,}  "
          f"(numpy {t_hand:.2f} s, FINN {t_finn:.1f} s)")
    print(f"  exact ties in the top logit: {int(ties.sum())} (first maximum wins in both)")
    print(f"  accuracy, thresholds (FINN):          {(pred == labels).mean():.4f}")
    for s in (16, 8, 4):
        ps = hb.infer(mlp, x, style="shift", shift=s).argmax(1)
        print(f"  accuracy, multiply + shift by {s:2d}:     {(ps == labels).mean():.4f}"
              f"  (predictions = thresholds: {(ps == pred).mean():.2%})")


def unit_sweep(synth: bool, write_table: bool) -> None:
    from course_utils import fileio
    from course_utils import handbuilt as hb
    from course_utils import handbuilt_hdl as hh

    mlp = hb.load()
    W = mlp.W[0][:, :N_NEURONS]
    x = mlp.x[:4]
    ref = x.astype(np.int64) @ W
    rows = []
    print(f"\nhand-built unit, first {N_NEURONS} neurons of layer 1 ({len(W)} inputs), "
          f"{len(x)} golden images:")
    for simd in SIMDS:
        unit = hh.build_unit(W, simd)
        t0 = time.perf_counter()
        py = hh.simulate(unit, x)
        t_py = time.perf_counter() - t0
        exe, t_build = hh.verilate(unit)
        ver = hh.simulate_verilator(unit, x, exe=exe)
        ok = np.array_equal(py.acc, ref) and np.array_equal(ver.acc, ref) and py.cycles == ver.cycles
        row = {"SIMD": simd, "cycles/image": py.cycles_per_image,
               "cycles/image (64 neurons)": 64 * len(W) // simd + 1}
        if synth:
            t0 = time.perf_counter()
            row.update(hh.synthesize(unit))
            row["yosys s"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        print(f"  SIMD {simd:2d}: PyRTL = Verilator = numpy: {ok}; {py.cycles_per_image} cycles/image "
              f"(PyRTL sim {t_py:.1f} s, Verilator build {t_build:.1f} s{' cached' if not t_build else ''})"
              + (f"; Yosys {({k: row[k] for k in ('LUT', 'FF', 'DSP', 'BRAM18', 'LUTRAM')})}"
                 if synth else ""))
        if not ok:
            raise SystemExit("MISMATCH between PyRTL, Verilator and numpy")
    design = json.loads((ROOT / "pretrained" / "lab2" / "design.json").read_text())
    layer = design["estimates"]["layers"]["MVAU_rtl_0"]
    print(f"  FINN MVAU_rtl_0 (all 64 neurons, SIMD {layer['SIMD']} PE {layer['PE']}): "
          f"{layer['cycles']} cycles/image, "
          f"{layer['DSP']:.0f} DSP48E1 as instantiated (FINN's formula {layer['DSP_finn']:.0f}), "
          f"{layer['BRAM_18K']:.0f} BRAM18, LUT estimate {layer['LUT']:.0f} (FINN counts 0 for RTL MVAUs)")
    if write_table:
        if not synth:
            raise SystemExit("--write-table needs the synthesis (drop --no-synth)")
        out = ROOT / "course_utils" / hh.SHIPPED
        fileio.write_text_atomic(out, json.dumps({"neurons": N_NEURONS, "script": hh.SYNTH_SCRIPT,
                                                  "written_by": "bench/handbuilt.py --write-table",
                                                  "rows": rows}, indent=1) + "\n")
        print("wrote", out.relative_to(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000, help="test images (default all 10,000)")
    ap.add_argument("--no-synth", action="store_true", help="skip Yosys")
    ap.add_argument("--write-table", action="store_true", help="write course_utils/handbuilt_synth.json")
    args = ap.parse_args(argv)
    integer_inference(args.n)
    unit_sweep(not args.no_synth, args.write_table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
