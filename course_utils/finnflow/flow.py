"""The whole Lab 2 flow headless: QONNX -> verified, folded dataflow model -> estimates (-> code).

The same FINN transformations the Lab 2 notebooks apply one by one, in the same order as FINN's
builder (``step_qonnx_to_finn`` ... ``step_generate_estimate_reports``), for scripts, benchmarks,
tests and the bit-width design space. In the labs, students write these chains themselves.
"""
from __future__ import annotations

import copy
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_utils.finnflow.env import DEFAULT_CLOCK_MHZ, FPGA_PART, setup

setup()
from qonnx.core.datatype import DataType  # noqa: E402
from qonnx.core.modelwrapper import ModelWrapper  # noqa: E402

from course_utils.finnflow import stages as st  # noqa: E402
from course_utils.finnflow.errors import ExecutionError  # noqa: E402
from course_utils.finnflow.transforms import minimize_bit_widths  # noqa: E402,F401 (a flow step; lives below)
from course_utils.finnflow.verify import Golden, StageResult, verify_stage  # noqa: E402

DEFAULT_TARGET_FPS = 1_000_000  # 100 cycles per image at 100 MHz: 400 bytes in at 4 bytes per cycle (HP port)
DEFAULT_BUDGET = 0.7


def to_finn(model: ModelWrapper, input_datatype: str | None = "UINT8") -> ModelWrapper:
    """QONNX cleanup, ConvertQONNXtoFINN, and the input annotation (UINT8: raw pixels)."""
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from qonnx.util.cleanup import cleanup_model

    from course_utils.finnflow.conv import check_conv_ops

    st.check_qonnx_ops(model)
    check_conv_ops(model)
    model = cleanup_model(model).transform(ConvertQONNXtoFINN())
    if input_datatype:
        model.set_tensor_datatype(model.graph.input[0].name, DataType[input_datatype])
    return model


def tidy(model: ModelWrapper) -> ModelWrapper:
    """The tidy-up chain of FINN's ``step_tidy_up``."""
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import (
        GiveReadableTensorNames,
        GiveUniqueNodeNames,
        RemoveStaticGraphInputs,
    )
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    for t in (InferShapes(), FoldConstants(), GiveUniqueNodeNames(), GiveReadableTensorNames(),
              InferDataTypes(), RemoveStaticGraphInputs()):
        model = model.transform(t)
    return model


def streamline(model: ModelWrapper) -> ModelWrapper:
    """FINN's ``step_streamline`` (bipolar MatMuls become XNOR-popcount; convolutions are lowered to
    sliding windows + MatMuls, ``conv.lower_convolutions``)."""
    import finn.transformation.streamline.absorb as absorb
    from finn.transformation.streamline import Streamline
    from qonnx.transformation.bipolar_to_xnor import ConvertBipolarMatMulToXnorPopcount
    from qonnx.transformation.general import RemoveUnusedTensors
    from qonnx.transformation.infer_data_layouts import InferDataLayouts

    from course_utils.finnflow.conv import (
        RemoveSingleChannelInputTranspose,
        has_convolutions,
        lower_convolutions,
    )

    model = model.transform(absorb.AbsorbScalarBiasIntoMultiThreshold()).transform(Streamline())
    if has_convolutions(model):
        model = lower_convolutions(model)
    model = model.transform(ConvertBipolarMatMulToXnorPopcount()).transform(Streamline())
    model = model.transform(RemoveSingleChannelInputTranspose())
    model = model.transform(InferDataLayouts()).transform(RemoveUnusedTensors())
    st.check_streamlined(model)
    return model


def to_hw(model: ModelWrapper) -> ModelWrapper:
    """Standalone thresholds first, then matrix layers (RTL-capable MVAUs), then sliding-window
    generators for convolutions (``conv.conv_to_hw``), as ``step_convert_to_hw``."""
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


def partition(model: ModelWrapper, partition_dir: Path) -> tuple[ModelWrapper, ModelWrapper]:
    """``CreateDataflowPartition``: ``(parent model, dataflow partition model)``."""
    from finn.transformation.fpgadataflow.create_dataflow_partition import CreateDataflowPartition
    from qonnx.custom_op.registry import getCustomOp

    parent = model.transform(CreateDataflowPartition(partition_model_dir=str(partition_dir)))
    sdp = parent.get_nodes_by_op_type("StreamingDataflowPartition")
    if len(sdp) != 1:
        raise st.UnsupportedModelError(f"expected one dataflow partition, got {len(sdp)}: hardware layers "
                                       "are interrupted by nodes that stay in software.")
    return parent, ModelWrapper(getCustomOp(sdp[0]).get_nodeattr("model"))


def specialize(model: ModelWrapper, fpgapart: str = FPGA_PART, rtl: bool = True) -> ModelWrapper:
    """``SpecializeLayers`` for the part, as ``step_specialize_layers``.

    With ``rtl`` (default) every node first gets FINN's ``preferred_impl_style="rtl"``
    (``impl.prefer_rtl``): RTL layers at every bit width FINN's RTL layers support (2..8 bits), HLS
    only where FINN has none (``impl.hls_layers`` says which and why). ``rtl=False``: FINN's default
    choice (RTL MVAUs only from 4 bits).
    """
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    from course_utils.finnflow.impl import prefer_rtl

    if rtl:
        model = prefer_rtl(ModelWrapper(copy.deepcopy(model.model)))
    model = model.transform(SpecializeLayers(fpgapart)).transform(GiveUniqueNodeNames())
    return model.transform(InferShapes()).transform(InferDataTypes())


def generate_code(model: ModelWrapper, clock_mhz: float = DEFAULT_CLOCK_MHZ,
                  fpgapart: str = FPGA_PART) -> ModelWrapper:
    """``PrepareIP``: Verilog for RTL layers, HLS C++ + Tcl for HLS layers (no Vivado needed)."""
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP
    from qonnx.transformation.general import GiveUniqueNodeNames

    model = model.transform(GiveUniqueNodeNames())
    return model.transform(PrepareIP(fpgapart, 1000.0 / clock_mhz))


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
    from course_utils.finnflow.estimates import estimate_summary
    from course_utils.finnflow.folding import (
        apply_folding,
        dma_width_notes,
        search_best_folding,
        search_folding,
    )

    t_all = time.perf_counter()
    seconds: dict[str, float] = {}
    model = qonnx if isinstance(qonnx, ModelWrapper) else load_qonnx(qonnx)
    if verify and golden is None:
        golden = st.lab1_inputs()["golden"]
    if verify and not isinstance(golden, Golden):
        golden = Golden.load(golden)
    out = Path(out_dir) if out_dir is not None else None
    # a private folder: concurrent runs (or a notebook) never read a half-written partition file
    part_dir = Path(tempfile.mkdtemp(prefix="partitions_", dir=setup()))
    stages: dict[str, ModelWrapper] = {}
    verified: dict[str, StageResult] = {}
    skipped: list[str] = []
    prev: StageResult | None = None

    def stage(name: str, m: ModelWrapper) -> None:
        nonlocal prev
        stages[name] = m
        if out is not None:
            st.save_stage(m, name, out)
        if verify and not skipped:
            try:
                prev = verified[name] = verify_stage(m, golden, name, previous=prev, n=n_verify, quiet=True)
            except ExecutionError as err:
                if not allow_skipped:
                    raise ExecutionError(
                        f"verification of stage {name} (and later) would be skipped: {err} Pass "
                        "allow_skipped=True to run the flow anyway; the result then lists the unverified "
                        "stages in .skipped.") from err
                skipped.append(f"{name} and later: {err}")

    def timed(key: str, fn: Any, *args: Any) -> Any:
        t0 = time.perf_counter()
        result = fn(*args)
        seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - t0
        return result

    stage("01_finn", timed("to_finn", to_finn, model, input_datatype))
    if input_datatype is None:
        st.check_integer_input(stages["01_finn"])
    stage("02_tidy", timed("tidy", tidy, stages["01_finn"]))
    stage("03_streamlined", timed("streamline", streamline, stages["02_tidy"]))
    scale = st.output_scale(stages["03_streamlined"])
    hw = timed("to_hw", lambda m: minimize_bit_widths(to_hw(m)), stages["03_streamlined"])
    stage("04_hw", hw)
    parent, dataflow = timed("partition", partition, hw, part_dir)
    if out is not None:  # the parent refers to the saved (atomically written) 06 checkpoint
        from qonnx.custom_op.registry import getCustomOp

        sdp = getCustomOp(parent.get_nodes_by_op_type("StreamingDataflowPartition")[0])
        sdp.set_nodeattr("model", str(st.save_stage(dataflow, "06_dataflow", out).resolve()))
    stage("05_dataflow_parent", parent)
    stage("06_dataflow", dataflow)
    stage("07_specialized", timed("specialize", specialize, dataflow, fpgapart))
    folded = ModelWrapper(copy.deepcopy(stages["07_specialized"].model))
    t0 = time.perf_counter()
    if folding is None and target_fps is not None:
        if best_effort is None:
            best_effort = target_fps == DEFAULT_TARGET_FPS
        if best_effort:
            folding, _ = search_best_folding(folded, target_fps, budget, clock_mhz, fpgapart)
        else:
            folding = search_folding(folded, target_fps, budget, clock_mhz, fpgapart)
    if folding:
        apply_folding(folded, folding)
    folded = minimize_bit_widths(folded)  # accumulator widths (so stream widths) change with it
    width_notes = dma_width_notes(folded, "folding and minimize_bit_widths")
    for line in width_notes:
        print(line)
    seconds["folding"] = time.perf_counter() - t0
    stage("08_folded", folded)
    estimates = timed("estimates", estimate_summary, folded, clock_mhz, fpgapart)
    if codegen:
        stages["08_folded"] = timed("codegen", generate_code, folded, clock_mhz, fpgapart)
    seconds["total"] = time.perf_counter() - t_all
    from course_utils.finnflow.folding import get_folding
    from course_utils.finnflow.impl import hls_note

    note = hls_note(stages["07_specialized"], fpgapart)
    if note:
        print(note)
    return FlowResult(stages, verified, skipped, scale, get_folding(folded), estimates, seconds, out,
                      allow_skipped, width_notes, note)
