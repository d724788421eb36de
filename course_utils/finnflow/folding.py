"""Folding (PE/SIMD): searching for a folding that reaches a target within a budget, the design space.

The rules (legal values, ``check_folding``, ``apply_folding``, ...) live in ``finnflow.folding_rules``
and are importable from here too. The search checks its pick against Yosys' synthesis where one is cached
or shipped (``course_utils.rtl.synth``), so this module sits above the RTL layer (docs/ARCHITECTURE.md).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from course_utils.finnflow.env import DEFAULT_CLOCK_MHZ, FPGA_PART
from course_utils.finnflow.errors import BudgetError, FoldingError
from course_utils.finnflow.folding_rules import (  # noqa: F401 (the rules, importable from here too)
    DMA_WIDTHS,
    FOLD_ATTRS,
    FOLD_FLAGS,
    MVAU_RTL_MIN_SF,
    _family,
    _fold_problem,
    apply_folding,
    check_folding,
    divisors,
    dma_width_ok,
    foldable_nodes,
    get_folding,
    legal_values,
)

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper


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
            if _fold_problem(inst, node):
                continue
            res = inst.node_res_estimation(fpgapart)
            out.append({"fold": fold, "cycles": int(inst.get_exp_cycles()),
                        "res": {"LUT": float(res.get("LUT", 0)), "BRAM_18K": float(res.get("BRAM_18K", 0)),
                                "DSP": _dsps(model, node, res, fpgapart)},
                        "in_bits": int(inst.get_instream_width_padded()),
                        "out_bits": int(inst.get_outstream_width_padded()),
                        "in_elems": int(inst.get_folded_input_shape()[-1]),
                        "out_elems": int(inst.get_folded_output_shape()[-1])})
    finally:
        for a, v in saved.items():
            inst.set_nodeattr(a, v)
    return out


def search_folding(model: ModelWrapper, target_fps: float, budget: float | dict[str, float] = 0.7,
                   clock_mhz: float = DEFAULT_CLOCK_MHZ, fpgapart: str = FPGA_PART,
                   dma_legal: bool = True, matched: bool = True,
                   synthesized: bool = True) -> dict[str, dict[str, int]]:
    """The cheapest folding whose estimate reaches ``target_fps`` within ``budget``; the model is unchanged.

    Each layer independently gets the legal folding with the lowest weighted resource cost that meets
    the target cycles (layers run concurrently, so the slowest one sets the throughput). With
    ``dma_legal`` the first layer's input and the last layer's output streams must be widths the AXI
    DMA accepts (8..1024 bits, power-of-two bytes) whenever some folding allows it. With ``matched``
    a Thresholding layer that follows an MVAU gets that MVAU's PE, so its input stream is the MVAU's
    output stream as it is: no width converter between them (a PE of 1 after a 64-PE MVAU needs a
    1280->20-bit converter that Yosys synthesizes to about 15,000 LUT). Raises BudgetError if no
    folding fits. With ``synthesized``, the pick is also checked against its Yosys synthesis where one is
    cached or shipped (``rtl.synth.lookup``; never run here): over budget there is a BudgetError naming
    the resource and the node.
    """
    from course_utils.finnflow.estimates import RESOURCES, capacity, over_budget

    if target_fps <= 0:
        raise ValueError(f"target_fps must be positive, got {target_fps}.")
    target_cycles = int(clock_mhz * 1e6 // target_fps)
    if target_cycles < 1:
        raise BudgetError(f"{target_fps:,.0f} FPS needs less than one cycle per sample at {clock_mhz} MHz: "
                          "impossible for any folding; lower target_fps or raise the clock.")
    if not foldable_nodes(model):
        raise FoldingError("the model has no foldable layers: fold the specialized dataflow partition.")
    given, model = model, minimized_copy(model)  # stream widths as the folded design will have them
    nodes = foldable_nodes(model)
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
    streams: dict[str, str] = {}  # a layer -> the foldable layer before it, matched by elements per beat
    if matched:
        for node in nodes:
            prod = model.find_producer(node.input[0])
            if (_family(node.op_type) == "Thresholding" and prod is not None
                    and _family(prod.op_type) == "MVAU"):
                follows[node.name] = prod.name
            elif prod is not None and prod.name in choices and "ConvolutionInputGenerator" in (
                    _family(node.op_type), _family(prod.op_type)):
                streams[node.name] = prod.name  # around a sliding window: no width converter
    weights = {k: 1.0 for k in RESOURCES}
    best_total: dict[str, float] = {}
    best_picks: dict[str, dict[str, Any]] = {}
    for _ in range(8):
        folding: dict[str, dict[str, int]] = {}
        picks: dict[str, dict[str, Any]] = {}
        total = {k: 0.0 for k in RESOURCES}
        for name, opts in choices.items():
            if name in follows and follows[name] in folding:
                pe = folding[follows[name]]["PE"]
                opts = [o for o in opts if o["fold"]["PE"] == pe] or opts
            if name in streams and streams[name] in picks:
                elems = picks[streams[name]]["out_elems"]
                opts = [o for o in opts if o["in_elems"] == elems] or opts
            # a sliding window prefers its narrowest output on a tie: the MVAU after it then needs fewer DSPs
            narrow = _family(model.get_node_from_name(name).op_type) == "ConvolutionInputGenerator"
            pick = min(opts, key=lambda o: (sum(weights[k] * o["res"][k] / cap[k] for k in RESOURCES),
                                            o["in_bits"], o["out_bits"] if narrow else 0, o["cycles"]))
            folding[name], picks[name] = pick["fold"], pick
            for k in RESOURCES:
                total[k] += pick["res"][k]
        over = over_budget(total, budget, fpgapart)
        best_total, best_picks = total, picks
        if not over:
            if synthesized:
                _synthesized_veto(given, folding, target_fps, budget, fpgapart)
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


def search_best_folding(model: ModelWrapper, target_fps: float, budget: float | dict[str, float] = 0.7,
                        clock_mhz: float = DEFAULT_CLOCK_MHZ, fpgapart: str = FPGA_PART,
                        quiet: bool = False) -> tuple[dict[str, dict[str, int]], float]:
    """``search_folding`` at ``target_fps``, or, if no folding reaches it within ``budget``, at the highest
    throughput that fits (found by halving the target, then bisecting); returns ``(folding, target met)``.

    Says so when it lowers the target. Raises BudgetError only when not even one sample per
    ``2**20`` cycles fits (a network far too big for the part).
    """
    try:
        return search_folding(model, target_fps, budget, clock_mhz, fpgapart), float(target_fps)
    except BudgetError as err:
        first = err
    clock = clock_mhz * 1e6
    lo = max(1, int(clock // target_fps))  # cycles per sample that failed
    hi, found = lo, None
    while found is None:
        hi *= 2
        if hi > 1 << 20:
            raise first
        try:
            found = search_folding(model, clock / hi, budget, clock_mhz, fpgapart)
        except BudgetError:
            lo = hi
    while hi - lo > max(1, hi // 32):  # bisect to within ~3% of the best throughput
        mid = (lo + hi) // 2
        try:
            found, hi = search_folding(model, clock / mid, budget, clock_mhz, fpgapart), mid
        except BudgetError:
            lo = mid
    if not quiet:
        print(f"{target_fps:,.0f} images/s does not fit the budget on {fpgapart} ({first}); chose the "
              f"fastest folding found that fits: {clock / hi:,.0f} images/s ({hi} cycles per image).")
    return found, clock / hi


def minimized_copy(model: ModelWrapper) -> ModelWrapper:
    """A copy of ``model`` after ``minimize_bit_widths``: the accumulator and output widths (and so the
    stream widths) the folded design will have. The last MVAU of a dataflow partition, for instance,
    gets its accumulator rounded up to whole bytes there."""
    import copy

    from qonnx.core.modelwrapper import ModelWrapper as MW

    from course_utils.finnflow.transforms import minimize_bit_widths

    return minimize_bit_widths(MW(copy.deepcopy(model.model)))


def dma_width_notes(model: ModelWrapper, after: str) -> list[str]:
    """One sentence per end of the accelerator whose stream width the AXI DMA cannot take as is.

    The DMA streams 8..1024 bits in power-of-two bytes. ``after`` names the transformation just
    applied (stream widths change with folding and with ``minimize_bit_widths``). Empty if both ends
    are DMA widths, or if the model is not (yet) a chain of hardware layers.
    """
    from qonnx.custom_op.registry import getCustomOp

    first = model.find_consumer(model.graph.input[0].name)
    last = model.find_producer(model.graph.output[0].name)
    hw = "finn.custom_op.fpgadataflow"
    if first is None or last is None or not (first.domain.startswith(hw) and last.domain.startswith(hw)):
        return []
    notes = []
    for side, node, bits, dt in (
            ("input", first, getCustomOp(first).get_instream_width_padded(),
             getCustomOp(first).get_input_datatype()),
            ("output", last, getCustomOp(last).get_outstream_width_padded(),
             getCustomOp(last).get_output_datatype())):
        bits = int(bits)
        if not dma_width_ok(bits):
            fold = "SIMD" if side == "input" and "SIMD" in FOLD_ATTRS.get(_family(node.op_type), {}) else "PE"
            notes.append(
                f"after {after}: the {side} stream of {node.name} is {bits} bits wide ({dt.name} values), "
                f"which the AXI DMA cannot take ({', '.join(map(str, DMA_WIDTHS))} bits): the block design "
                f"needs a width converter; or choose a {fold} of {node.name} that gives a DMA width "
                "(search_folding(..., dma_legal=True) does when one exists).")
    return notes


def _synthesized_veto(model: ModelWrapper, folding: dict[str, dict[str, int]], target_fps: float,
                      budget: float | dict[str, float], fpgapart: str) -> None:
    """BudgetError when the pick's synthesis (cached or shipped; never run here) breaks the budget."""
    import copy

    from qonnx.core.modelwrapper import ModelWrapper as MW

    from course_utils.rtl import synth

    found = synth.lookup(apply_folding(MW(copy.deepcopy(model.model)), folding))
    if found is None or found.totals() is None:
        return
    over = synth.budget_violations(found.nodes, budget, fpgapart, found.whole)
    if over:
        raise BudgetError(f"the cheapest folding for {target_fps:,.0f} FPS ({folding_label(folding)}) fits "
                          f"the budget in FINN's estimate, but not synthesized ({found.source}): "
                          + "; ".join(over) + ". Lower target_fps or raise the budget (or pass "
                          "synthesized=False to trust the estimate).")


def folding_label(folding: dict[str, dict[str, int]]) -> str:
    """Short text of a folding: ``M0 16x16 | T0 1 | ...`` (MVAU ``SIMDxPE``, others ``PE``)."""
    parts = []
    for name, f in folding.items():
        short = name.split("_")[0][0] + name.rsplit("_", 1)[-1]
        if "SIMD" in f and "PE" in f:
            parts.append(f"{short} {f['SIMD']}x{f['PE']}")
        elif "SIMD" in f:  # a sliding-window generator (``w``: parallel_window)
            parts.append(f"{short} {f['SIMD']}{'w' if f.get('parallel_window') else ''}")
        else:
            parts.append(f"{short} {f.get('PE', '?')}")
    return " | ".join(parts)


def design_space(model: ModelWrapper, targets_fps: list[float], budget: float | dict[str, float] = 1.0,
                 clock_mhz: float = DEFAULT_CLOCK_MHZ, fpgapart: str = FPGA_PART,
                 dma_legal: bool = True, synthesized: bool = True) -> list[dict[str, Any]]:
    """One row per target FPS: the searched folding and its estimates (unreachable targets noted).

    ``LUT``, ``BRAM_18K``, ``DSP`` (and ``*_%``) are FINN's estimates (``resources``: "FINN estimate").
    With ``synthesized``, a row whose design was synthesized (cached, or shipped with the kit) also gets
    Yosys' counts ``*_syn`` and ``*_syn_%`` (LUT, FF, BRAM_18K, DSP), ``resources`` says so, and
    ``syn_over_budget`` names each resource above ``budget`` and the node that uses the most of it.
    """
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
                     "in_bits": est["layers"][next(iter(est["layers"]))]["in_bits"], "note": "",
                     "resources": "FINN estimate"})
        if synthesized:
            rows[-1].update(synthesized_columns(trial, budget, fpgapart))
    return rows


def synthesized_columns(model: ModelWrapper, budget: float | dict[str, float] = 0.7,
                        fpgapart: str = FPGA_PART) -> dict[str, Any]:
    """Yosys' totals for ``model`` if its synthesis is cached or shipped (never runs Yosys), else ``{}``.

    Keys: ``LUT_syn`` ... ``DSP_syn``, ``LUT_syn_%`` ..., ``resources`` ("FINN estimate; synthesized:
    Yosys, whole design" or "... sum of nodes") and ``syn_over_budget`` (messages naming the resource and
    the node).
    """
    from course_utils.finnflow.estimates import capacity
    from course_utils.rtl import synth

    found = synth.lookup(model)
    totals = found.totals() if found is not None else None
    if found is None or totals is None:
        return {}
    cap = capacity(fpgapart)
    out: dict[str, Any] = {"resources": f"FINN estimate; synthesized: {found.source}"}
    for k, v in totals.items():
        out[f"{k}_syn"] = v
        out[f"{k}_syn_%"] = round(100 * v / cap[k], 1)
    out["syn_over_budget"] = "; ".join(synth.budget_violations(found.nodes, budget, fpgapart, found.whole))
    return out


def budget_check(model: ModelWrapper, budget: float | dict[str, float] = 0.7, fpgapart: str = FPGA_PART,
                 clock_mhz: float = DEFAULT_CLOCK_MHZ) -> list[str]:
    """Messages for each resource over ``budget``, each naming the resource, the layer using the most of
    it and where the figure comes from: Yosys' synthesis when cached or shipped (``synth.lookup``; LUT,
    FF, BRAM_18K, DSP), else FINN's estimate (LUT, BRAM_18K, DSP). Empty when the design fits."""
    from course_utils.finnflow.estimates import capacity, estimate_summary, over_budget
    from course_utils.rtl import synth

    found = synth.lookup(model)
    if found is not None and found.totals() is not None:
        return [f"synthesized ({found.source}): {m}"
                for m in synth.budget_violations(found.nodes, budget, fpgapart, found.whole)]
    est = estimate_summary(model, clock_mhz, fpgapart)
    cap = capacity(fpgapart)
    out = []
    for k, (used, limit) in over_budget(est["resources"], budget, fpgapart).items():
        worst = max(est["layers"], key=lambda n: est["layers"][n].get(k, 0))
        out.append(f"FINN estimate (not synthesized): {k}: {used:,.0f} is {100 * used / cap[k]:.0f}% of the "
                   f"part, above the budget ({limit:,.0f}); the largest is {worst} with "
                   f"{est['layers'][worst].get(k, 0):,.0f} {k}")
    return out
