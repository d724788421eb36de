"""The whole Lab 2 flow headless: QONNX -> verified, folded dataflow model -> estimates (-> code).

``STEPS`` is FINN's estimate-only builder flow (``estimate_only_dataflow_steps``): FINN's own step
functions (``step_qonnx_to_finn`` ... ``step_generate_estimate_reports``, each ``step(model, cfg)``), called
with one ``KitBuildConfig``, with the kit's additions as steps of their own (``step_kit_*``, each
docstring says what FINN's step lacks) and the checkpoints ``01_finn`` ... ``08_folded`` saved and
verified bit-exactly against the golden batch and the previous checkpoint (``Checkpoint``). For scripts,
benchmarks, tests and the bit-width design space; Lab 2.3 calls the same steps one by one.
"""
from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_utils.finnflow.env import DEFAULT_CLOCK_MHZ, FPGA_PART, setup

setup()
from finn.builder import build_dataflow_steps as finn_steps  # noqa: E402
from qonnx.core.datatype import DataType  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402

from course_utils.finnflow import stages as st  # noqa: E402
from course_utils.finnflow.builder import KitBuildConfig, folding_config_file, kit_build_config  # noqa: E402
from course_utils.finnflow.errors import ExecutionError  # noqa: E402
from course_utils.finnflow.transforms import minimize_bit_widths  # noqa: E402,F401 (a flow step; lives below)
from course_utils.finnflow.verify import Golden, StageResult, verify_stage  # noqa: E402

DEFAULT_TARGET_FPS = 1_000_000  # 100 cycles per image at 100 MHz: 400 bytes in at 4 bytes per cycle (HP port)
DEFAULT_BUDGET = 0.7

Step = Callable[[ModelWrapper, Any], ModelWrapper]
"""A builder step: ``step(model, cfg) -> model``, as FINN's own."""


@dataclass
class FlowState:
    """What a flow run collects while its steps run (``KitBuildConfig.state``)."""

    golden: Golden | None = None
    out: Path | None = None
    n_verify: int | None = None
    allow_skipped: bool = False
    stages: dict[str, ModelWrapper] = field(default_factory=dict)
    verified: dict[str, StageResult] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    previous: StageResult | None = None
    output_scale: float | None = None
    width_notes: list[str] = field(default_factory=list)
    estimates: dict[str, Any] = field(default_factory=dict)


def _state(cfg: Any) -> FlowState:
    state = getattr(cfg, "state", None)
    return state if isinstance(state, FlowState) else FlowState()


def _copy(model: ModelWrapper) -> ModelWrapper:
    return ModelWrapper(copy.deepcopy(model.model))


# ---------------------------------------------------------------------------------------------------
# The kit's own steps: what FINN's steps do not do (each docstring says what FINN's step lacks)
# ---------------------------------------------------------------------------------------------------

def step_kit_check_model(model: ModelWrapper, cfg: Any) -> ModelWrapper:
    """Kit step before FINN's ``step_qonnx_to_finn``: refuse what the kit's all-RTL flow cannot map.

    FINN's step converts whatever it finds and fails later (or leaves nodes in software); this step
    names the first operator the flow cannot bring to hardware, and a pooling layer (HLS-only in FINN),
    with what to change in the network (``stages.check_qonnx_ops``, ``conv.check_conv_ops``).
    """
    from course_utils.finnflow.conv import check_conv_ops

    st.check_qonnx_ops(model)
    check_conv_ops(model)
    return model


def step_kit_annotate_input(model: ModelWrapper, cfg: Any) -> ModelWrapper:
    """Kit step after ``step_qonnx_to_finn``: the graph input's FINN datatype (``cfg.input_datatype``).

    FINN's step leaves a float input of raw pixels as FLOAT32, so streamlining cannot make the first
    layer integer; the kit annotates it (UINT8 for raw pixels) or, with ``input_datatype=None``,
    checks that the model carries an integer input type (``stages.check_integer_input``).
    """
    name = getattr(cfg, "input_datatype", "UINT8")
    if name:
        model.set_tensor_datatype(model.graph.input[0].name, DataType[name])
    else:
        st.check_integer_input(model)
    return model


def step_kit_streamline_checks(model: ModelWrapper, cfg: Any) -> ModelWrapper:
    """Kit step after FINN's ``step_streamline``: drop a single-channel input transpose, check integers.

    FINN's step keeps the NCHW -> NHWC ``Transpose`` of a one-channel image, which would stay in
    software before the accelerator (``conv.RemoveSingleChannelInputTranspose``: same bytes either
    way), and does not check that every MatMul/Conv input became integer (``stages.check_streamlined``
    names the node and what to quantize). Records the output scale for verification.
    """
    from qonnx.transformation.general import RemoveUnusedTensors
    from qonnx.transformation.infer_data_layouts import InferDataLayouts

    from course_utils.finnflow.conv import RemoveSingleChannelInputTranspose

    model = model.transform(RemoveSingleChannelInputTranspose())
    model = model.transform(InferDataLayouts()).transform(RemoveUnusedTensors())
    st.check_streamlined(model)
    _state(cfg).output_scale = st.output_scale(model)
    return model


def step_kit_convert_to_hw(model: ModelWrapper, cfg: Any) -> ModelWrapper:
    """Kit step in place of FINN's ``step_convert_to_hw``: thresholds, MVAUs, sliding windows only.

    FINN's step also turns the output scale (the trailing float ``Mul``, and the per-class ``Add`` of a
    binary network) into ``ElementwiseMul``/``ElementwiseAdd`` layers inside the accelerator. The kit's
    accelerator ends with the integer logits and the host applies the scale (Lab 3's driver; bit-exact
    verification), so this step converts standalone thresholds first, then matrix layers (RTL-capable
    MVAUs), then sliding-window generators (``conv.conv_to_hw``), and checks that no software node is
    left between hardware layers (``stages.check_hw_conversion``, which names it).
    """
    from finn.transformation.fpgadataflow.convert_to_hw.binary_matrix_vector_activation import (
        InferBinaryMatrixVectorActivation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.quantized_matrix_vector_activation import (
        InferQuantizedMatrixVectorActivation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.thresholding import InferThresholdingLayer
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    from course_utils.finnflow.conv import conv_to_hw

    for t in (InferThresholdingLayer(), InferBinaryMatrixVectorActivation(),
              InferQuantizedMatrixVectorActivation()):
        model = model.transform(t)
    model = conv_to_hw(model)
    for t in (InferShapes(), InferDataTypes(), GiveUniqueNodeNames()):
        model = model.transform(t)
    st.check_hw_conversion(model)
    return model


def step_kit_prefer_rtl(model: ModelWrapper, cfg: Any) -> ModelWrapper:
    """Kit step before FINN's ``step_specialize_layers``: ask for RTL layers wherever FINN has them.

    FINN's ``SpecializeLayers`` picks RTL MVAUs only from 4 bits; with ``preferred_impl_style="rtl"``
    on every node (``impl.prefer_rtl``, when ``cfg.rtl``) 2..8-bit networks become all-RTL too, so
    they can be simulated with Verilator and deployed. A copy: the input model is not changed.
    """
    from course_utils.finnflow.impl import prefer_rtl

    return prefer_rtl(_copy(model)) if getattr(cfg, "rtl", True) else model


def step_kit_folding_config(model: ModelWrapper, cfg: Any) -> ModelWrapper:
    """Kit step before FINN's ``step_apply_folding_config``: the folding, checked, as FINN's config file.

    FINN's ``step_target_fps_parallelization`` (``SetFolding``) meets a cycle target but knows no
    resource budget and no AXI DMA stream widths, and ``ApplyConfig`` accepts PE/SIMD values that do
    not divide a layer. This step takes ``cfg.folding``, or searches the cheapest folding for
    ``cfg.target_fps`` within ``cfg.budget`` (``folding.search_folding``; with ``cfg.best_effort`` the
    fastest that fits, ``search_best_folding``), checks it (``folding.apply_folding`` on a copy: clear
    errors with the legal values), writes it to ``<output_dir>/folding_config.json`` and sets
    ``cfg.folding_config_file`` for FINN's step. No folding (and no target): every layer stays PE=SIMD=1.
    """
    from course_utils.finnflow.folding import apply_folding, search_best_folding, search_folding

    folding = getattr(cfg, "folding", None)
    fpgapart = cfg._resolve_fpga_part()
    clock_mhz = 1000.0 / cfg.synth_clk_period_ns
    budget = getattr(cfg, "budget", DEFAULT_BUDGET)
    if folding is None and cfg.target_fps is not None:
        if getattr(cfg, "best_effort", False):
            folding, _ = search_best_folding(_copy(model), cfg.target_fps, budget, clock_mhz, fpgapart)
        else:
            folding = search_folding(_copy(model), cfg.target_fps, budget, clock_mhz, fpgapart)
    cfg.folding_config_file = None
    if folding:
        apply_folding(_copy(model), folding)
        cfg.folding_config_file = folding_config_file(folding, Path(cfg.output_dir) / "folding_config.json")
    return model


def step_kit_check_stream_widths(model: ModelWrapper, cfg: Any) -> ModelWrapper:
    """Kit step after FINN's ``step_minimize_bit_width``: the accelerator's ends against the AXI DMA.

    FINN checks no stream widths before Vivado; the AXI DMA only streams 8, 16, 32, ... 1024 bits per
    beat. Prints (and records) a note naming the layer and width for each end that does not fit
    (``folding.dma_width_notes``).
    """
    from course_utils.finnflow.folding import dma_width_notes

    notes = dma_width_notes(model, "folding and minimize_bit_widths")
    for line in notes:
        print(line)
    _state(cfg).width_notes = notes
    return model


def step_kit_estimate_summary(model: ModelWrapper, cfg: Any) -> ModelWrapper:
    """Kit step after FINN's ``step_generate_estimate_reports``: one summary of FINN's estimates.

    FINN writes per-layer JSON reports; the kit adds them up against the part's capacity, with FPS,
    latency and the bottleneck layer, and DSPs as the RTL MVU instantiates them
    (``estimates.estimate_summary``), recorded for ``FlowResult.estimates``.
    """
    from course_utils.finnflow.estimates import estimate_summary

    clock_mhz = 1000.0 / cfg.synth_clk_period_ns
    _state(cfg).estimates = estimate_summary(model, clock_mhz, cfg._resolve_fpga_part())
    return model


class Checkpoint:
    """Kit step: save the model as checkpoint ``stage`` and verify it on the golden batch.

    FINN's ``verify_steps`` compare a stage's output with one expected output file, to a tolerance,
    and only at some steps. The kit saves every stage under its Lab 2 name (``01_finn`` ...
    ``08_folded``, atomically, when the run has an output folder) and verifies it bit-exactly on
    the integer outputs against the golden batch and the previous checkpoint (``verify.verify_stage``:
    names the first differing tensor). Verification that cannot run (an HLS layer) raises
    ExecutionError unless the run allows skipped stages.
    """

    def __init__(self, stage: str) -> None:
        if stage not in st.STAGES:
            raise ValueError(f"unknown stage {stage!r}: use one of {', '.join(st.STAGES)}.")
        self.stage = stage
        self.__name__ = f"step_kit_checkpoint_{stage}"
        self.__doc__ = type(self).__doc__

    def __repr__(self) -> str:
        return f"Checkpoint({self.stage!r})"

    def __call__(self, model: ModelWrapper, cfg: Any) -> ModelWrapper:
        state = _state(cfg)
        state.stages[self.stage] = model
        if state.out is not None:
            st.save_stage(model, self.stage, state.out)
        if state.golden is not None and not state.skipped:
            try:
                state.previous = state.verified[self.stage] = verify_stage(
                    model, state.golden, self.stage, previous=state.previous, n=state.n_verify, quiet=True)
            except ExecutionError as err:
                if not state.allow_skipped:
                    raise ExecutionError(
                        f"verification of stage {self.stage} (and later) would be skipped: {err} Pass "
                        "allow_skipped=True to run the flow anyway; the result then lists the unverified "
                        "stages in .skipped.") from err
                state.skipped.append(f"{self.stage} and later: {err}")
        # the flow goes on with a copy: later steps (FINN's estimate analyses among them) set node
        # attributes in place, and the checkpoint must stay what was saved and verified
        return _copy(model)


def step_kit_checkpoint_partition(model: ModelWrapper, cfg: Any) -> ModelWrapper:
    """Kit step after FINN's ``step_create_dataflow_partition``: checkpoints ``05_dataflow_parent`` and
    ``06_dataflow``.

    FINN's step returns only the partition and leaves the parent graph (with the host's output
    scale) among its intermediate models; the kit verifies the parent, whose partition node then
    points at the saved ``06_dataflow`` checkpoint, and then the partition itself.
    """
    from qonnx.custom_op.registry import getCustomOp

    state = _state(cfg)
    parent = ModelWrapper(str(Path(cfg.output_dir) / "intermediate_models" / "dataflow_parent.onnx"))
    if state.out is not None:  # the parent refers to the saved (atomically written) 06 checkpoint
        sdp = getCustomOp(parent.get_nodes_by_op_type("StreamingDataflowPartition")[0])
        sdp.set_nodeattr("model", str(st.save_stage(model, "06_dataflow", state.out).resolve()))
    Checkpoint("05_dataflow_parent")(parent, cfg)
    return Checkpoint("06_dataflow")(model, cfg)


STEPS: tuple[Step, ...] = (
    step_kit_check_model,
    finn_steps.step_qonnx_to_finn,
    step_kit_annotate_input,
    Checkpoint("01_finn"),
    finn_steps.step_tidy_up,
    Checkpoint("02_tidy"),
    finn_steps.step_streamline,
    step_kit_streamline_checks,
    Checkpoint("03_streamlined"),
    step_kit_convert_to_hw,
    finn_steps.step_minimize_bit_width_initial,
    Checkpoint("04_hw"),
    finn_steps.step_create_dataflow_partition,
    step_kit_checkpoint_partition,
    step_kit_prefer_rtl,
    finn_steps.step_specialize_layers,
    Checkpoint("07_specialized"),
    step_kit_folding_config,
    finn_steps.step_apply_folding_config,
    finn_steps.step_minimize_bit_width,
    step_kit_check_stream_widths,
    Checkpoint("08_folded"),
    finn_steps.step_generate_estimate_reports,
    step_kit_estimate_summary,
)
"""The flow, in order: FINN's step functions (``finn.builder.build_dataflow_steps``) and the kit's steps."""

CODEGEN_STEPS: tuple[Step, ...] = (finn_steps.step_hw_codegen,)
"""After ``STEPS`` with ``run_flow(..., codegen=True)``: Verilog for RTL layers, HLS C++ + Tcl for HLS
layers (FINN's ``PrepareIP``; no Vivado needed). FINN's later steps (``step_hw_ipgen``,
``step_create_stitched_ip``, ...) need Vivado/Vitis HLS: the kit stitches and simulates RTL itself
(``course_utils.rtl``)."""


def step_name(step: Step) -> str:
    """A step's name (``step_tidy_up``, ``step_kit_checkpoint_02_tidy``, ...)."""
    return getattr(step, "__name__", repr(step))


def is_finn_step(step: Step) -> bool:
    """True for FINN's own step functions (``finn.builder.build_dataflow_steps``)."""
    return getattr(finn_steps, step_name(step), None) is step


def steps_table(steps: Iterable[Step] = STEPS) -> Any:
    """A table of the flow's steps: whose (FINN's or the kit's) and the first line of each docstring."""
    import pandas as pd

    rows = []
    for s in steps:
        doc = (getattr(s, "__doc__", None) or "").strip().splitlines()
        rows.append({"step": step_name(s), "from": "FINN" if is_finn_step(s) else "kit",
                     "what it does": doc[0] if doc else ""})
    return pd.DataFrame(rows).set_index("step")


def run_steps(model: ModelWrapper, cfg: Any, steps: Iterable[Step],
              seconds: dict[str, float] | None = None) -> ModelWrapper:
    """Run builder steps in order, ``model = step(model, cfg)``, timing each into ``seconds``."""
    for step in steps:
        t0 = time.perf_counter()
        model = step(model, cfg)
        if seconds is not None:
            seconds[step_name(step)] = seconds.get(step_name(step), 0.0) + time.perf_counter() - t0
    return model


def flow_config(output_dir: str | Path | None = None, **kw: Any) -> KitBuildConfig:
    """``builder.kit_build_config`` with a private output folder in ``build/finn`` by default."""
    if output_dir is None:
        output_dir = tempfile.mkdtemp(prefix="flow_", dir=setup())
    return kit_build_config(output_dir, **kw)


def _scratch_config(**kw: Any) -> KitBuildConfig:
    """A config for the single-stage helpers below, whose FINN steps write nothing into ``output_dir``."""
    return kit_build_config(Path(setup()) / "flow_scratch", **kw)


def _steps_between(first: str, last: str) -> tuple[Step, ...]:
    names = [step_name(s) for s in STEPS]
    return STEPS[names.index(first):names.index(last) + 1]


# Single stages, for scripts and notebooks that need one part of the flow (no checkpoints, no verification)

def to_finn(model: ModelWrapper, input_datatype: str | None = "UINT8") -> ModelWrapper:
    """The kit's checks, FINN's ``step_qonnx_to_finn``, and the input annotation (UINT8: raw pixels)."""
    return run_steps(model, _scratch_config(input_datatype=input_datatype),
                     _steps_between("step_kit_check_model", "step_kit_annotate_input"))


def tidy(model: ModelWrapper) -> ModelWrapper:
    """FINN's ``step_tidy_up``."""
    return finn_steps.step_tidy_up(model, _scratch_config())


def streamline(model: ModelWrapper) -> ModelWrapper:
    """FINN's ``step_streamline`` (with convolution lowering) and the kit's ``step_kit_streamline_checks``."""
    return run_steps(model, _scratch_config(), (finn_steps.step_streamline, step_kit_streamline_checks))


def to_hw(model: ModelWrapper) -> ModelWrapper:
    """The kit's ``step_kit_convert_to_hw`` (the output scale stays on the host)."""
    return step_kit_convert_to_hw(model, _scratch_config())


def partition(model: ModelWrapper, partition_dir: Path) -> tuple[ModelWrapper, ModelWrapper]:
    """FINN's ``step_create_dataflow_partition`` into ``partition_dir``: ``(parent, dataflow partition)``."""
    cfg = flow_config(partition_dir)
    dataflow = finn_steps.step_create_dataflow_partition(model, cfg)
    return ModelWrapper(str(cfg.get_intermediate_models_directory() / "dataflow_parent.onnx")), dataflow


def specialize(model: ModelWrapper, fpgapart: str = FPGA_PART, rtl: bool = True) -> ModelWrapper:
    """The kit's ``step_kit_prefer_rtl`` (if ``rtl``), then FINN's ``step_specialize_layers``.

    With ``rtl`` (default) every node first gets FINN's ``preferred_impl_style="rtl"``: RTL layers at
    every bit width FINN's RTL layers support (2..8 bits), HLS only where FINN has none
    (``impl.hls_layers`` says which and why). ``rtl=False``: FINN's default choice (RTL MVAUs only from
    4 bits).
    """
    return run_steps(model, _scratch_config(fpgapart=fpgapart, rtl=rtl),
                     (step_kit_prefer_rtl, finn_steps.step_specialize_layers))


def generate_code(model: ModelWrapper, clock_mhz: float = DEFAULT_CLOCK_MHZ,
                  fpgapart: str = FPGA_PART) -> ModelWrapper:
    """FINN's ``step_hw_codegen``: Verilog for RTL layers, HLS C++ + Tcl for HLS layers (no Vivado)."""
    return finn_steps.step_hw_codegen(model, _scratch_config(clock_mhz=clock_mhz, fpgapart=fpgapart))


def load_qonnx(path: str | Path) -> ModelWrapper:
    """Read a QONNX file; clear errors for a missing file or one that is not an ONNX model."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: export the network in Lab 1 (notebook 05), or use "
                                "ff.lab1_inputs()['qonnx'] (falls back to pretrained/lab1).")
    try:
        return ModelWrapper(str(path))
    except Exception as err:  # noqa: BLE001 - protobuf raises several kinds
        raise st.UnsupportedModelError(f"{path} is not an ONNX model ({type(err).__name__}: {err}); "
                                       "export it with course_utils.export.export_qonnx.") from None


@dataclass
class FlowResult:
    """What ``run_flow`` produced: every stage model, verification results, folding, estimates."""

    stages: dict[str, ModelWrapper]
    verified: dict[str, StageResult]
    skipped: list[str]
    output_scale: float | None
    folding: dict[str, dict[str, int]]
    estimates: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    out_dir: Path | None = None
    allowed_skipped: bool = False
    """True when the caller accepted skipped verification (``run_flow(..., allow_skipped=True)``)."""
    width_notes: list[str] = field(default_factory=list)
    """Accelerator ends whose stream width the AXI DMA cannot take, each naming the layer and width."""
    hls_note: str = ""
    """Which layers stayed HLS and why ("" when all-RTL)."""
    build_dir: Path | None = None
    """FINN's output folder of the run (``report/`` with FINN's estimate reports, intermediate models)."""

    @property
    def fully_verified(self) -> bool:
        """Every stage was verified on the golden batch (nothing skipped)."""
        return not self.skipped and len(self.verified) == len(self.stages)

    @property
    def folded(self) -> ModelWrapper:
        """The folded, specialized dataflow model (``08_folded``)."""
        return self.stages["08_folded"]


def run_flow(qonnx: str | Path | ModelWrapper, *, out_dir: str | Path | None = None,
             golden: Golden | str | Path | None = None, verify: bool = True,
             folding: dict[str, dict[str, int]] | None = None, target_fps: float | None = DEFAULT_TARGET_FPS,
             budget: float | dict[str, float] = DEFAULT_BUDGET, clock_mhz: float = DEFAULT_CLOCK_MHZ,
             fpgapart: str = FPGA_PART, input_datatype: str | None = "UINT8", codegen: bool = False,
             n_verify: int | None = None, allow_skipped: bool = False,
             best_effort: bool | None = None) -> FlowResult:
    """QONNX model -> the eight Lab 2 checkpoints, verified, folded, estimated (and code-generated).

    Runs ``STEPS`` (FINN's step functions and the kit's, ``steps_table()``) with one ``KitBuildConfig``
    (``builder.kit_build_config``) whose output folder is private to the run, in ``build/finn``.

    ``folding``: a FINN folding config; else ``target_fps`` searches the cheapest folding within
    ``budget`` (``search_folding``); with both None every layer stays fully folded (PE=SIMD=1).
    ``best_effort`` (default: True for the default target): when no folding reaches ``target_fps``
    within the budget, take the fastest that fits and say so (``search_best_folding``) instead of
    raising BudgetError, so a wider network than the course's still goes through.
    ``out_dir``: where the checkpoints are saved (None: not saved). ``golden``: the golden batch for
    verification (default: Lab 1's). HLS layers cannot execute here: a stage that cannot be verified
    raises ExecutionError, unless ``allow_skipped=True``, which verifies up to the generic hardware
    graph and lists the rest in ``skipped`` (and ``allowed_skipped`` says so).
    """
    t_all = time.perf_counter()
    model = qonnx if isinstance(qonnx, ModelWrapper) else load_qonnx(qonnx)
    reference: Golden | None = None
    if verify:
        source = golden if golden is not None else st.lab1_inputs()["golden"]
        if source is None:
            raise FileNotFoundError("no golden batch to verify against: export Lab 1 (notebook 05), pass "
                                    "golden=..., or verify=False.")
        reference = source if isinstance(source, Golden) else Golden.load(source)
    if best_effort is None:
        best_effort = folding is None and target_fps == DEFAULT_TARGET_FPS
    # a private folder: concurrent runs (or a notebook) never read a half-written partition file
    cfg = flow_config(clock_mhz=clock_mhz, fpgapart=fpgapart, target_fps=target_fps,
                      input_datatype=input_datatype, folding=folding, budget=budget, best_effort=best_effort)
    state = cfg.state = FlowState(golden=reference,
                                  out=Path(out_dir) if out_dir is not None else None, n_verify=n_verify,
                                  allow_skipped=allow_skipped)
    seconds: dict[str, float] = {}
    model = run_steps(model, cfg, STEPS, seconds)
    if codegen:
        state.stages["08_folded"] = run_steps(model, cfg, CODEGEN_STEPS, seconds)
    seconds["total"] = time.perf_counter() - t_all
    from course_utils.finnflow.folding import get_folding
    from course_utils.finnflow.impl import hls_note

    note = hls_note(state.stages["07_specialized"], fpgapart)
    if note:
        print(note)
    return FlowResult(state.stages, state.verified, state.skipped, state.output_scale,
                      get_folding(state.stages["08_folded"]), state.estimates, seconds, state.out,
                      allow_skipped, state.width_notes, note, Path(cfg.output_dir))
