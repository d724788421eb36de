"""FINN's analytic estimates as tables: resources per layer, cycles, FPS and latency at a clock.

FINN estimates each hardware layer from its folding (PE/SIMD), datatypes and the FPGA part: LUT,
BRAM_18K, URAM, DSP and the expected cycles per sample. The slowest layer sets the throughput
(``fps = clock / max cycles``); the pipeline latency is the sum of the cycles along the critical path
(FINN's pessimistic estimate, no overlap between layers).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from course_utils import fileio
from course_utils.finnflow.env import DEFAULT_CLOCK_MHZ, FPGA_PART

if TYPE_CHECKING:
    import pandas as pd
    from qonnx.core.modelwrapper import ModelWrapper

RESOURCES: tuple[str, ...] = ("LUT", "BRAM_18K", "DSP")
"""The resources budgets and tables are about (URAM does not exist on 7-series parts)."""
KNOWN_PARTS: dict[str, str] = {"xc7z020": "XC7Z020"}
"""Part family prefix -> its ``Capacity`` in ``course_utils.hw.boards`` (every package and speed grade of
a family has the same fabric)."""


def capacity(fpgapart: str = FPGA_PART) -> dict[str, int]:
    """LUT, FF, BRAM_18K, DSP (and URAM: 0 on 7-series) of ``fpgapart``, from ``course_utils.hw.boards``."""
    from course_utils.hw import boards

    known = {prefix: getattr(boards, name) for prefix, name in KNOWN_PARTS.items()}
    family = next((f for f in known if str(fpgapart).lower().startswith(f)), None)
    if family is None:
        listed = ", ".join(f"{f}* ({c.LUT:,} LUT, {c.BRAM_18K} BRAM18, {c.DSP} DSP)"
                           for f, c in known.items())
        raise ValueError(
            f"no capacity known for part {fpgapart!r}: the kit knows {listed}. To add a part, add its "
            "Capacity (LUT, FF, BRAM_18K, DSP from the device's data sheet) to course_utils/hw/boards.py "
            "and its family prefix and that name to course_utils.finnflow.estimates.KNOWN_PARTS.")
    return {**known[family].as_dict(), "URAM": 0}



def fps_latency(cycles_per_sample: int, latency_cycles: int, clock_mhz: float) -> tuple[float, float]:
    """``(frames per second, latency in microseconds)`` from cycle counts and the clock."""
    if cycles_per_sample <= 0 or clock_mhz <= 0:
        raise ValueError(f"cycles ({cycles_per_sample}) and clock ({clock_mhz} MHz) must be positive.")
    return clock_mhz * 1e6 / cycles_per_sample, latency_cycles / clock_mhz


def mvu_dsps(model: ModelWrapper, node: Any, fpgapart: str = FPGA_PART) -> int | None:
    """DSP slices FINN's RTL MVU (``finn-rtllib/mvu/mvu.sv``) instantiates for ``node``; None if not one.

    FINN's estimate assumes 4 products per DSP48 (``ceil(PE/4)*SIMD``), but ``mvu.sv`` packs as many
    products into one DSP48's A input as lanes of ``WEIGHT_WIDTH + ACTIVATION_WIDTH - 1`` bits fit (25
    bits on a DSP48E1, 27 on a DSP48E2): 4 with 4-bit weights and activations, only 2 with 8-bit
    inputs (raw pixels). It then uses ``ceil(PE/lanes)`` DSP chains of ``SIMD`` slices each.
    """
    from finn.util.basic import get_dsp_block
    from qonnx.custom_op.registry import getCustomOp

    if node.op_type != "MVAU_rtl":
        return None
    inst = getCustomOp(node)
    block = get_dsp_block(fpgapart)
    if block not in ("DSP48E1", "DSP48E2") or int(inst.get_nodeattr("TH")) > 1:
        return None
    a_width = 25 if block == "DSP48E1" else 27
    wdt = inst.get_input_datatype(1)
    w_bits, a_bits = wdt.bitwidth(), inst.get_input_datatype(0).bitwidth()
    weights = model.get_initializer(node.input[1])
    narrow = not (weights is None or np.min(weights) == wdt.min()
                  or inst.get_nodeattr("mem_mode") in ("dynamic", "external_mem"))
    lane = w_bits + a_bits - 1
    lanes = 1 if a_width == w_bits else 1 + (a_width - (not narrow) - w_bits) // lane
    pe, simd = int(inst.get_nodeattr("PE")), int(inst.get_nodeattr("SIMD"))
    return (1 + (pe - 1) // lanes) * simd


def _dsps(model: ModelWrapper, node: Any, res: dict, fpgapart: str) -> float:
    """The DSP count of a layer: as the RTL instantiates it for RTL MVAUs, FINN's estimate otherwise."""
    count = mvu_dsps(model, node, fpgapart)
    return float(res.get("DSP", 0)) if count is None else float(count)


def _hw_nodes(model: ModelWrapper) -> list:
    from finn.util.fpgadataflow import is_hls_node, is_rtl_node

    nodes = [n for n in model.graph.node if is_hls_node(n) or is_rtl_node(n)]
    if not nodes:
        raise ValueError("the model has no specialized hardware layers (…_hls/…_rtl): estimate the dataflow "
                         "partition after SpecializeLayers.")
    return nodes


def layer_estimates(model: ModelWrapper, fpgapart: str = FPGA_PART) -> list[dict[str, Any]]:
    """One dict per hardware layer: folding, cycles, LUT/BRAM_18K/DSP/URAM, stream widths, what bounds it.

    ``DSP`` counts what the RTL instantiates (``mvu_dsps``); ``DSP_finn`` is FINN's own estimate.

    ``bound`` is ``"input stream"`` when the layer needs no more cycles than words arrive on its input
    stream (only a wider input, i.e. more SIMD/PE on *this* stream, helps), else ``"compute"``.
    """
    from qonnx.custom_op.registry import getCustomOp

    from course_utils.finnflow.folding_rules import check_folding

    check_folding(model)  # FINN estimates an illegal folding (PE=7 on 64 outputs) without complaint
    rows = []
    for node in _hw_nodes(model):
        inst = getCustomOp(node)
        attrs = inst.get_nodeattr_types()
        res = inst.node_res_estimation(fpgapart)
        cycles = int(inst.get_exp_cycles())
        in_words = int(np.prod(inst.get_folded_input_shape()[:-1]))
        rows.append({
            "layer": node.name, "op": node.op_type,
            "SIMD": inst.get_nodeattr("SIMD") if "SIMD" in attrs else None,
            "PE": inst.get_nodeattr("PE") if "PE" in attrs else None,
            "cycles": cycles,
            **{k: float(res.get(k, 0)) for k in ("LUT", "BRAM_18K", "URAM")},
            "DSP": _dsps(model, node, res, fpgapart), "DSP_finn": float(res.get("DSP", 0)),
            "in_bits": int(inst.get_instream_width_padded()),
            "out_bits": int(inst.get_outstream_width_padded()),
            "in_words": in_words,
            "bound": "input stream" if cycles <= in_words else "compute",
        })
    return rows


def layer_table(model: ModelWrapper, fpgapart: str = FPGA_PART) -> pd.DataFrame:
    """``layer_estimates`` as a pandas table with a ``total`` row (cycles column: the maximum)."""
    import pandas as pd

    df = pd.DataFrame(layer_estimates(model, fpgapart)).set_index("layer")
    total = {k: df[k].sum() for k in ("LUT", "BRAM_18K", "DSP", "URAM")}
    total.update(op="", cycles=df["cycles"].max(), bound="")
    df.loc["total"] = pd.Series(total)
    return df


def performance(model: ModelWrapper) -> dict[str, Any]:
    """FINN's ``dataflow_performance``: max cycles, the slowest node, critical-path cycles."""
    from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
    from finn.transformation.fpgadataflow.annotate_cycles import AnnotateCycles

    return dict(model.transform(AnnotateCycles()).analysis(dataflow_performance))


def estimate_summary(model: ModelWrapper, clock_mhz: float = DEFAULT_CLOCK_MHZ,
                     fpgapart: str = FPGA_PART) -> dict[str, Any]:
    """The accelerator's estimates in the deploy-package format (``accelerator.json`` ``estimates``).

    Keys: cycles_per_sample, latency_cycles, fps, latency_us, clock_mhz, fpga_part, resources
    {LUT, BRAM_18K, DSP, URAM} (DSP as the RTL instantiates them, ``mvu_dsps``), finn_dsp (FINN's
    own DSP estimate), utilization {LUT, BRAM_18K, DSP} (fractions of the part), bottleneck (layer
    name), bottleneck_kind ("compute" or "input stream"), layers (per-layer cycles and resources).
    """
    layers = layer_estimates(model, fpgapart)
    perf = performance(model)
    cycles, latency = int(perf["max_cycles"]), int(perf["critical_path_cycles"])
    fps, latency_us = fps_latency(cycles, latency, clock_mhz)
    resources = {k: float(sum(r[k] for r in layers)) for k in ("LUT", "BRAM_18K", "DSP", "URAM")}
    finn_dsp = float(sum(r["DSP_finn"] for r in layers))
    slowest = next(r for r in layers if r["layer"] == perf["max_cycles_node_name"])
    return {
        "cycles_per_sample": cycles, "latency_cycles": latency, "fps": fps, "latency_us": latency_us,
        "clock_mhz": float(clock_mhz), "fpga_part": fpgapart, "resources": resources,
        "utilization": utilization(resources, fpgapart),
        "bottleneck": slowest["layer"], "bottleneck_kind": slowest["bound"], "finn_dsp": finn_dsp,
        "layers": {r["layer"]: {k: r[k] for k in ("op", "SIMD", "PE", "cycles", "LUT", "BRAM_18K", "DSP",
                                                  "DSP_finn", "in_bits", "out_bits", "bound")}
                   for r in layers},
    }


def utilization(resources: dict[str, float], fpgapart: str = FPGA_PART) -> dict[str, float]:
    """Fraction of the part used, per resource in ``RESOURCES``."""
    cap = capacity(fpgapart)
    return {k: float(resources.get(k, 0)) / cap[k] for k in RESOURCES}


def over_budget(resources: dict[str, float], budget: float | dict[str, float] = 0.7,
                fpgapart: str = FPGA_PART) -> dict[str, tuple[float, float]]:
    """Resources above ``budget`` (a fraction, or one per resource): ``{name: (used, limit)}``."""
    cap = capacity(fpgapart)
    limits = budget if isinstance(budget, dict) else {k: budget for k in RESOURCES}
    unknown = set(limits) - set(RESOURCES)
    if unknown:
        raise ValueError(f"unknown resource(s) in the budget: {sorted(unknown)}; use {', '.join(RESOURCES)}.")
    return {k: (float(resources.get(k, 0)), frac * cap[k]) for k, frac in limits.items()
            if float(resources.get(k, 0)) > frac * cap[k]}


def save_estimates(summary: dict[str, Any], path: str | Path) -> Path:
    """Write ``summary`` as JSON atomically (temporary file, then rename)."""
    return fileio.write_text_atomic(path, json.dumps(summary, indent=2, sort_keys=True) + "\n")


def read_reports(report_dir: str | Path) -> dict[str, Any]:
    """FINN builder's estimate reports (``<output_dir>/report``) as tables and a performance dict.

    Returns ``{"layers": DataFrame (cycles + resources per layer, total row), "performance": dict}``.
    """
    import pandas as pd

    report_dir = Path(report_dir)
    files = {k: report_dir / f"estimate_{k}.json" for k in ("layer_resources", "layer_cycles",
                                                           "network_performance")}
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{report_dir} lacks {', '.join(missing)}: run the builder with "
                                "DataflowOutputType.ESTIMATE_REPORTS and step_generate_estimate_reports.")
    res = json.loads(files["layer_resources"].read_text())
    cycles = json.loads(files["layer_cycles"].read_text())
    perf = json.loads(files["network_performance"].read_text())
    rows = [{"layer": name, "cycles": cycles.get(name), **{k: r.get(k, 0) for k in ("LUT", "BRAM_18K", "DSP",
                                                                                  "URAM")}}
            for name, r in res.items() if name != "total"]
    df = pd.DataFrame(rows).set_index("layer")
    total = res.get("total", {})
    df.loc["total"] = pd.Series({"cycles": max(cycles.values()) if cycles else None,
                                 **{k: total.get(k, 0) for k in ("LUT", "BRAM_18K", "DSP", "URAM")}})
    return {"layers": df, "performance": perf}
