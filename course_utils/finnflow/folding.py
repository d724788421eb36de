"""Folding (PE/SIMD): which values a layer allows, checking a folding, and searching for one.

A layer's parallelism must *divide* the dimension it folds: an MVAU computes ``PE`` output neurons
(of ``MH``) and ``SIMD`` inputs (of ``MW``) per cycle, so it takes ``(MW/SIMD)*(MH/PE)`` cycles per
sample; a Thresholding layer handles ``PE`` of ``NumChannels`` channels per cycle.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from course_utils.finnflow.env import DEFAULT_CLOCK_MHZ, FPGA_PART
from course_utils.finnflow.errors import BudgetError, FoldingError

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

# op family -> {folding attribute: (attribute holding the dimension it must divide, what it is)}
FOLD_ATTRS: dict[str, dict[str, tuple[str, str]]] = {
    "MVAU": {"SIMD": ("MW", "input length"), "PE": ("MH", "output neurons")},
    "Thresholding": {"PE": ("NumChannels", "channels")},
    "LabelSelect": {"PE": ("Labels", "labels")},
}
DMA_WIDTHS: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512, 1024)
"""Stream widths (bits) the Xilinx AXI DMA accepts: power-of-two bytes, 8..1024 bits."""


def divisors(n: int) -> list[int]:
    """All positive divisors of ``n``, ascending."""
    return [d for d in range(1, n + 1) if n % d == 0]


def _family(op_type: str) -> str:
    return op_type.removesuffix("_hls").removesuffix("_rtl")


def foldable_nodes(model: ModelWrapper) -> list:
    """The layers whose PE/SIMD can be set (MVAU, Thresholding, LabelSelect)."""
    return [n for n in model.graph.node if _family(n.op_type) in FOLD_ATTRS]


def legal_values(model: ModelWrapper, node_name: str) -> dict[str, list[int]]:
    """``{"SIMD": [...], "PE": [...]}``: the values each folding attribute of ``node_name`` allows."""
    from qonnx.custom_op.registry import getCustomOp

    node = model.get_node_from_name(node_name)
    if node is None or _family(node.op_type) not in FOLD_ATTRS:
        names = ", ".join(n.name for n in foldable_nodes(model)) or "none"
        raise FoldingError(f"no foldable layer named {node_name!r}; foldable layers: {names}.")
    inst = getCustomOp(node)
    attrs = FOLD_ATTRS[_family(node.op_type)]
    return {attr: divisors(int(inst.get_nodeattr(dim))) for attr, (dim, _) in attrs.items()}


def get_folding(model: ModelWrapper) -> dict[str, dict[str, int]]:
    """The current folding, as a FINN folding config (``{"MVAU_rtl_0": {"SIMD": 16, "PE": 16}, ...}``)."""
    from qonnx.custom_op.registry import getCustomOp

    return {n.name: {a: int(getCustomOp(n).get_nodeattr(a)) for a in FOLD_ATTRS[_family(n.op_type)]}
            for n in foldable_nodes(model)}


def check_folding(model: ModelWrapper) -> None:
    """Raise FoldingError naming the first layer/attribute whose value does not divide its dimension."""
    from qonnx.custom_op.registry import getCustomOp

    for node in foldable_nodes(model):
        inst = getCustomOp(node)
        for attr, (dim, what) in FOLD_ATTRS[_family(node.op_type)].items():
            value, size = int(inst.get_nodeattr(attr)), int(inst.get_nodeattr(dim))
            if value < 1 or size % value:
                legal = ", ".join(map(str, divisors(size)))
                raise FoldingError(
                    f"{node.name}: {attr}={value} does not divide {dim}={size} (the layer's {what}). "
                    f"Legal {attr} values: {legal}. Pick one of them.")


def apply_folding(model: ModelWrapper, folding: dict[str, dict[str, int]]) -> ModelWrapper:
    """Set PE/SIMD from a folding config (in place), then ``check_folding``; return the model."""
    from qonnx.custom_op.registry import getCustomOp

    for name, attrs in folding.items():
        if name == "Defaults":
            continue
        allowed = legal_values(model, name)
        node = model.get_node_from_name(name)
        for attr, value in attrs.items():
            if attr not in allowed:
                raise FoldingError(f"{name} has no folding attribute {attr!r}; it has {', '.join(allowed)}.")
            getCustomOp(node).set_nodeattr(attr, int(value))
    check_folding(model)
    return model


def dma_width_ok(bits: int) -> bool:
    """True if the AXI DMA can stream ``bits`` per beat without a width converter."""
    return int(bits) in DMA_WIDTHS


def _options(model: ModelWrapper, node: Any, fpgapart: str) -> list[dict[str, Any]]:
    """Every legal folding of one layer with its cycles, resources and stream widths."""
    from itertools import product

    from qonnx.custom_op.registry import getCustomOp

    from course_utils.finnflow.estimates import _dsps

    inst = getCustomOp(node)
    legal = legal_values(model, node.name)
    saved = {a: inst.get_nodeattr(a) for a in legal}
    out = []
    try:
        for values in product(*legal.values()):
            fold = dict(zip(legal, values))
            for a, v in fold.items():
                inst.set_nodeattr(a, v)
            res = inst.node_res_estimation(fpgapart)
            out.append({"fold": fold, "cycles": int(inst.get_exp_cycles()),
                        "res": {"LUT": float(res.get("LUT", 0)), "BRAM_18K": float(res.get("BRAM_18K", 0)),
                                "DSP": _dsps(model, node, res, fpgapart)},
                        "in_bits": int(inst.get_instream_width_padded()),
                        "out_bits": int(inst.get_outstream_width_padded())})
    finally:
        for a, v in saved.items():
            inst.set_nodeattr(a, v)
    return out


def search_folding(model: ModelWrapper, target_fps: float, budget: float | dict[str, float] = 0.7,
                   clock_mhz: float = DEFAULT_CLOCK_MHZ, fpgapart: str = FPGA_PART,
                   dma_legal: bool = True, matched: bool = True) -> dict[str, dict[str, int]]:
    """The cheapest folding whose estimate reaches ``target_fps`` within ``budget``; the model is unchanged.

    Each layer independently gets the legal folding with the lowest weighted resource cost that meets
    the target cycles (layers run concurrently, so the slowest one sets the throughput). With
    ``dma_legal`` the first layer's input and the last layer's output streams must be widths the AXI
    DMA accepts (8..1024 bits, power-of-two bytes) whenever some folding allows it. With ``matched``
    a Thresholding layer that follows an MVAU gets that MVAU's PE, so its input stream is the MVAU's
    output stream as it is: no width converter between them (a PE of 1 after a 64-PE MVAU needs a
    1280->20-bit converter that Yosys synthesizes to about 15,000 LUT). Raises BudgetError if no
    folding fits.
    """
    from course_utils.finnflow.estimates import RESOURCES, capacity, over_budget

    if target_fps <= 0:
        raise ValueError(f"target_fps must be positive, got {target_fps}.")
    target_cycles = int(clock_mhz * 1e6 // target_fps)
    if target_cycles < 1:
        raise BudgetError(f"{target_fps:,.0f} FPS needs less than one cycle per sample at {clock_mhz} MHz: "
                          "impossible for any folding; lower target_fps or raise the clock.")
    nodes = foldable_nodes(model)
    if not nodes:
        raise FoldingError("the model has no foldable layers: fold the specialized dataflow partition.")
    cap = capacity(fpgapart)
    choices: dict[str, list[dict[str, Any]]] = {}
    for i, node in enumerate(nodes):
        opts = _options(model, node, fpgapart)
        # prefer DMA widths at the two ends; if no folding gives one (e.g. 24-bit outputs), the block
        # design needs a width converter anyway, so every folding stays allowed
        if dma_legal and i == 0 and any(dma_width_ok(o["in_bits"]) for o in opts):
            opts = [o for o in opts if dma_width_ok(o["in_bits"])]
        if dma_legal and i == len(nodes) - 1 and any(dma_width_ok(o["out_bits"]) for o in opts):
            opts = [o for o in opts if dma_width_ok(o["out_bits"])]
        fast = [o for o in opts if o["cycles"] <= target_cycles]
        if not fast:
            best = min(opts, key=lambda o: o["cycles"])
            limit = (f"its fastest {'DMA-legal ' if dma_legal else ''}folding {best['fold']} takes "
                     f"{best['cycles']} cycles ({clock_mhz * 1e6 / best['cycles']:,.0f} FPS)")
            raise BudgetError(f"{node.name} cannot reach {target_fps:,.0f} FPS ({target_cycles} cycles per "
                              f"sample at {clock_mhz} MHz): {limit}. Lower target_fps"
                              + (", or allow a width converter (dma_legal=False)." if dma_legal else "."))
        choices[node.name] = fast
    follows: dict[str, str] = {}  # Thresholding -> the MVAU that feeds it
    if matched:
        for node in nodes:
            prod = model.find_producer(node.input[0])
            if (_family(node.op_type) == "Thresholding" and prod is not None
                    and _family(prod.op_type) == "MVAU"):
                follows[node.name] = prod.name
    weights = {k: 1.0 for k in RESOURCES}
    best_total: dict[str, float] = {}
    best_picks: dict[str, dict[str, Any]] = {}
    for _ in range(8):
        folding, total, picks = {}, {k: 0.0 for k in RESOURCES}, {}
        for name, opts in choices.items():
            if name in follows and follows[name] in folding:
                pe = folding[follows[name]]["PE"]
                opts = [o for o in opts if o["fold"]["PE"] == pe] or opts
            pick = min(opts, key=lambda o: (sum(weights[k] * o["res"][k] / cap[k] for k in RESOURCES),
                                            o["in_bits"], o["cycles"]))
            folding[name], picks[name] = pick["fold"], pick
            for k in RESOURCES:
                total[k] += pick["res"][k]
        over = over_budget(total, budget, fpgapart)
        best_total, best_picks = total, picks
        if not over:
            return folding
        for k in over:
            weights[k] *= 4.0
    over = over_budget(best_total, budget, fpgapart)

    def largest(k: str) -> str:
        name = max(best_picks, key=lambda n: best_picks[n]["res"][k])
        return f"{name} with {best_picks[name]['res'][k]:,.0f}"

    detail = "; ".join(f"{k} {used:,.0f} > {limit:,.0f} (estimated; largest: {largest(k)})"
                       for k, (used, limit) in over.items())
    raise BudgetError(f"no folding reaches {target_fps:,.0f} FPS within the budget on {fpgapart} "
                      f"(best found: {detail}). Lower target_fps, raise the budget, or use fewer bits per "
                      "weight.")


def folding_label(folding: dict[str, dict[str, int]]) -> str:
    """Short text of a folding: ``M0 16x16 | T0 1 | ...`` (MVAU ``SIMDxPE``, others ``PE``)."""
    parts = []
    for name, f in folding.items():
        short = name.split("_")[0][0] + name.rsplit("_", 1)[-1]
        parts.append(f"{short} {f['SIMD']}x{f['PE']}" if "SIMD" in f else f"{short} {f.get('PE', '?')}")
    return " | ".join(parts)


def design_space(model: ModelWrapper, targets_fps: list[float], budget: float | dict[str, float] = 1.0,
                 clock_mhz: float = DEFAULT_CLOCK_MHZ, fpgapart: str = FPGA_PART,
                 dma_legal: bool = True) -> list[dict[str, Any]]:
    """One row per target FPS: the searched folding and its estimates (unreachable targets noted)."""
    import copy

    from qonnx.core.modelwrapper import ModelWrapper as MW

    from course_utils.finnflow.estimates import estimate_summary

    rows = []
    for target in targets_fps:
        try:
            folding = search_folding(model, target, budget, clock_mhz, fpgapart, dma_legal)
        except BudgetError as err:
            rows.append({"target_fps": target, "met": False, "note": str(err)})
            continue
        trial = apply_folding(MW(copy.deepcopy(model.model)), folding)
        est = estimate_summary(trial, clock_mhz, fpgapart)
        rows.append({"target_fps": target, "met": True,
                     "folding": folding_label(folding),
                     "fps": round(est["fps"]), "cycles": est["cycles_per_sample"],
                     "latency_us": round(est["latency_us"], 2),
                     **{k: est["resources"][k] for k in ("LUT", "BRAM_18K", "DSP")},
                     **{f"{k}_%": round(100 * est["utilization"][k], 1) for k in ("LUT", "BRAM_18K", "DSP")},
                     "bottleneck": est["bottleneck"], "bottleneck_kind": est["bottleneck_kind"],
                     "in_bits": est["layers"][next(iter(est["layers"]))]["in_bits"], "note": ""})
    return rows
