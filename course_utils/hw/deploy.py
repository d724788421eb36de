"""Write the deploy package: the Lab 2 -> Lab 3 hand-off (docs/ARCHITECTURE.md, "the deploy package").

``write_deploy_package(model, out_dir, ...)`` takes the folded, specialized FINN dataflow model and
writes, into ``out_dir`` (the package folder, e.g. ``build/lab2/deploy/mnist_w4a4``):

* ``accelerator.json``: streams (datatypes, normal/folded/packed shapes, widths), AXI DMA settings,
  TLAST mode, FINN's estimates, the layer chain for the numpy executor, bitstream and versions;
* ``dataflow.onnx`` (the model) and ``dataflow.npz`` (its layer parameters as integer arrays);
* ``golden.npz``: ``x`` uint8, ``y_int`` (computed by FINN's ``execute_onnx`` AND by the kit's numpy
  executor ``course_utils.board.accel``, which must agree bit-exactly or nothing is written),
  ``pred``, ``labels``;
* ``<name>.hwh``: copied from Vivado when given, else generated from the kit's block-design Tcl;
* ``<name>.bit``: copied when given, else a small text file starting with ``PLACEHOLDER BITSTREAM``;
* ``vivado/params.tcl``: the block-design parameters for building the real bitstream
  (``course_utils.hw.vivado.build_bitstream``).

Everything is written into a temporary folder next to ``out_dir`` and renamed into place at the
end, so an interrupted or failed run never leaves a half-written package behind.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from course_utils import fileio
from course_utils.hw.blockdesign import (
    DEFAULT_ACCEL_VLNV,
    DMA_LENGTH_WIDTH,
    dma_stream_bits,
    params_from_accelerator,
    write_params_tcl,
)
from course_utils.hw.boards import get_board, ps7_config
from course_utils.versions import dist_versions

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

SCHEMA = 1
IP_NAME = "finn_accel_0"
DMA_NAME = "axi_dma_0"
ESTIMATE_KEYS = (
    "cycles_per_sample",
    "latency_cycles",
    "fps",
    "latency_us",
    "resources",
    "bottleneck",
    "bottleneck_kind",
)
PASS_THROUGH_OPS = ("StreamingFIFO", "StreamingDataWidthConverter")
PLACEHOLDER_TEXT = """PLACEHOLDER BITSTREAM (not a real FPGA configuration)

This deploy package was written without Vivado, so it has no bitstream. It works with the kit's
virtual board (pynq kernel "PYNQ virtual board (Zynq-7020)"), which reads {name}.hwh and
accelerator.json next to this file. Loading it on a real board fails.

To build the real bitstream on a machine with Vivado 2022.2 or 2024.2 (see docs/hardware.md):
  1. run Lab 2 with Vivado found, so that FINN writes the stitched IP of the accelerator;
  2. in the host environment of the kit:
       from course_utils.hw.vivado import build_bitstream
       build_bitstream("<this package folder>", "<FINN stitched IP folder>")
     (runs tcl/build.tcl with vivado/params.tcl of this package; about 10-20 minutes);
  3. copy the whole package folder to the board (e.g. /home/xilinx/jupyter_notebooks/deploy/{name}/).
"""


class DeployError(ValueError):
    """The deploy package cannot be written; the message says why and what to do."""


# ----------------------------------------------------------------------------- the accelerator chain
def _op_family(op_type: str) -> str:
    for family in ("MVAU", "Thresholding", "LabelSelect", "ConvolutionInputGenerator"):
        if op_type == family or op_type.startswith(family + "_"):
            return family
    if op_type.startswith(PASS_THROUGH_OPS):
        return "pass"
    return ""


def _int_array(values: np.ndarray, what: str) -> np.ndarray:
    """``values`` as int64 if they are all integers, else float64 (thresholds may be fractional)."""
    a = np.asarray(values)
    if np.all(np.isfinite(a)) and np.array_equal(a, np.round(a)):
        return a.astype(np.int64)
    if what.endswith(".W"):
        raise DeployError(f"{what}: weights are not integers; the layer is not quantized for hardware.")
    return a.astype(np.float64)


def hw_chain(model: ModelWrapper) -> list[Any]:
    """The dataflow model's nodes from input to output; DeployError if it is not one linear chain."""
    nodes, tensor = [], model.graph.input[0].name
    for _ in range(len(model.graph.node) + 1):
        consumers = model.find_consumers(tensor) or []
        if not consumers:
            break
        if len(consumers) != 1:
            raise DeployError(
                f"tensor {tensor} feeds {len(consumers)} nodes: the kit's deploy package supports "
                "one chain of layers (an MLP or a plain CNN), not branches."
            )
        node = consumers[0]
        nodes.append(node)
        tensor = node.output[0]
    if tensor != model.graph.output[0].name or len(nodes) != len(model.graph.node):
        raise DeployError(
            "the model is not a single chain from its input to its output; pass the dataflow "
            "partition (the model inside StreamingDataflowPartition), folded and specialized."
        )
    return nodes


def describe_layers(model: ModelWrapper) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """The ``layers`` of accelerator.json and the arrays of dataflow.npz, from the dataflow model."""
    from qonnx.custom_op.registry import getCustomOp

    layers: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for node in hw_chain(model):
        if not node.domain.startswith("finn.custom_op.fpgadataflow"):
            raise DeployError(
                f"node {node.name} ({node.op_type}) is not a FINN hardware layer: pass the "
                "dataflow partition, after SpecializeLayers and folding."
            )
        family = _op_family(node.op_type)
        inst = getCustomOp(node)
        if family == "pass":
            continue
        if not family:
            raise DeployError(
                f"layer {node.name} ({node.op_type}) is not supported by the kit's numpy executor "
                "(MVAU, Thresholding, LabelSelect, ConvolutionInputGenerator, FIFOs, width converters): "
                "the virtual board could not run it. Use layers like the course's MLP or QuantCNN."
            )
        attrs = inst.get_nodeattr_types()
        spec: dict[str, Any] = {
            "name": node.name,
            "op": family,
            "op_type": node.op_type,
            "input_dt": inst.get_input_datatype().name,
            "output_dt": inst.get_output_datatype().name,
        }
        if family == "MVAU":
            if "mem_mode" in attrs and inst.get_nodeattr("mem_mode") == "external":
                raise DeployError(
                    f"layer {node.name}: weights streamed from outside (mem_mode=external) are not "
                    "supported; use internal_embedded or internal_decoupled."
                )
            spec.update(
                MW=int(inst.get_nodeattr("MW")),
                MH=int(inst.get_nodeattr("MH")),
                SIMD=int(inst.get_nodeattr("SIMD")),
                PE=int(inst.get_nodeattr("PE")),
                weight_dt=str(inst.get_nodeattr("weightDataType")),
                binary_xnor=int(inst.get_nodeattr("binaryXnorMode")),
                act_val=int(inst.get_nodeattr("ActVal")),
                weights=f"{node.name}.W",
            )
            if "accDataType" in attrs:
                spec["acc_dt"] = inst.get_nodeattr("accDataType")
            arrays[spec["weights"]] = _int_array(model.get_initializer(node.input[1]), spec["weights"])
            if int(inst.get_nodeattr("noActivation")) == 0:
                spec["thresholds"] = f"{node.name}.T"
                arrays[spec["thresholds"]] = _int_array(
                    model.get_initializer(node.input[2]), spec["thresholds"]
                )
        elif family == "ConvolutionInputGenerator":
            if "depthwise" in attrs and int(inst.get_nodeattr("depthwise")):
                raise DeployError(f"layer {node.name}: depthwise convolutions are not supported by the numpy "
                                  "executor; use ordinary convolutions (groups=1).")
            spec.update({k: [int(v) for v in inst.get_nodeattr(k)] for k in
                         ("IFMDim", "OFMDim", "ConvKernelDim", "Stride", "Dilation")})
            spec.update(IFMChannels=int(inst.get_nodeattr("IFMChannels")),
                        SIMD=int(inst.get_nodeattr("SIMD")))
        elif family == "Thresholding":
            spec.update(
                channels=int(inst.get_nodeattr("NumChannels")),
                PE=int(inst.get_nodeattr("PE")),
                act_val=int(inst.get_nodeattr("ActVal")),
                thresholds=f"{node.name}.T",
            )
            t = model.get_initializer(node.input[1])
            if t is None:
                raise DeployError(f"layer {node.name}: thresholds are not constant (runtime-writable?).")
            arrays[spec["thresholds"]] = _int_array(t, spec["thresholds"])
        else:
            spec.update(
                labels=int(inst.get_nodeattr("Labels")),
                K=int(inst.get_nodeattr("K")),
                PE=int(inst.get_nodeattr("PE")),
            )
        layers.append(spec)
    if not layers:
        raise DeployError("the model has no compute layers")
    return layers, arrays


def stream_description(model: ModelWrapper) -> dict[str, dict[str, Any]]:
    """The ``input``/``output`` entries of accelerator.json: datatypes, shapes, widths, bytes per sample."""
    from qonnx.custom_op.registry import getCustomOp

    chain = hw_chain(model)
    first, last = getCustomOp(chain[0]), getCustomOp(chain[-1])
    out = {}
    for key, tensor, folded, bits in (
        (
            "input",
            model.graph.input[0].name,
            first.get_folded_input_shape(),
            first.get_instream_width_padded(),
        ),
        (
            "output",
            model.graph.output[0].name,
            last.get_folded_output_shape(),
            last.get_outstream_width_padded(),
        ),
    ):
        dt = model.get_tensor_datatype(tensor)
        normal = [int(s) for s in model.get_tensor_shape(tensor)]
        folded = [int(s) for s in folded]
        bits = int(bits)
        if bits % 8:
            raise DeployError(f"{key} stream width {bits} bits is not a whole number of bytes")
        packed = folded[:-1] + [bits // 8]
        out[key] = {
            "datatype": dt.name,
            "shape_normal": normal,
            "shape_folded": folded,
            "shape_packed": packed,
            "stream_width_bits": bits,
            "bytes_per_sample": int(np.prod(packed[1:])),
        }
    return out


# ----------------------------------------------------------------------------- golden outputs
def finn_outputs(model: ModelWrapper, x: np.ndarray) -> np.ndarray:
    """FINN's ``execute_onnx`` of the dataflow model on each sample.

    RTL layers run in their Python mode, HLS layers as their generic FINN op (the Python reference
    model FINN checks the HLS C++ against; ``finnflow.impl.as_generic``).
    """
    import copy

    from finn.core.onnx_exec import execute_onnx
    from finn.util.fpgadataflow import is_rtl_node
    from qonnx.core.modelwrapper import ModelWrapper as MW
    from qonnx.custom_op.registry import getCustomOp
    from tqdm.auto import tqdm

    from course_utils.finnflow.impl import as_generic

    m = as_generic(MW(copy.deepcopy(model.model)))  # HLS layers: their generic op's Python model
    for node in m.graph.node:
        if is_rtl_node(node):
            getCustomOp(node).set_nodeattr("exec_mode", "cppsim")  # the RTL layers' Python model
    iname, oname = m.graph.input[0].name, m.graph.output[0].name
    shape = [1, *m.get_tensor_shape(iname)[1:]]
    outs = []
    for i in tqdm(range(len(x)), desc="FINN execute_onnx", disable=len(x) < 200, leave=False):
        y = execute_onnx(m, {iname: x[i : i + 1].astype(np.float32).reshape(shape)})[oname]
        outs.append(np.asarray(y).reshape(1, -1))
    return np.concatenate(outs, axis=0)


def _check_equal(y_finn: np.ndarray, y_numpy: np.ndarray) -> np.ndarray:
    """The integer outputs if FINN and the numpy executor agree bit-exactly; DeployError otherwise."""
    if not np.array_equal(y_finn, np.round(y_finn)):
        raise DeployError(
            "FINN's outputs of the dataflow model are not integers: the output scale is still "
            "inside the model. Remove the trailing Mul (Lab 2's RemoveOutputScale) and pass it "
            "as output_scale."
        )
    y_int = y_finn.astype(np.int64)
    if y_int.shape != y_numpy.shape or not np.array_equal(y_int, y_numpy):
        bad = np.argwhere(y_int != y_numpy) if y_int.shape == y_numpy.shape else [[0]]
        i = int(bad[0][0])
        raise DeployError(
            f"FINN and the kit's numpy executor disagree (first on sample {i}: FINN "
            f"{y_int[i].tolist() if i < len(y_int) else '?'}, numpy "
            f"{y_numpy[i].tolist() if i < len(y_numpy) else '?'}): the package would make the "
            "virtual board wrong. Report this as a kit bug with the model attached."
        )
    return y_int


# ----------------------------------------------------------------------------- helpers
def _jsonable(value: Any) -> Any:
    """Numpy scalars/arrays and tuples as plain JSON types."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def output_affine_record(output_scale: Any, output_bias: Any, classes: int) -> tuple[Any, Any]:
    """``(scale, bias)`` as accelerator.json records them: a float (or a per-class list) and None/list.

    ``logits = y_int * scale + bias`` on the host. A binary network's output BatchNorm leaves a
    per-class scale and bias (``finnflow.output_affine``); other networks have one positive scale.
    """
    if output_scale is None:
        raise DeployError(
            "output_scale is None: this model has no single output scale (a binary network keeps a "
            "per-class scale and bias after its output BatchNorm). Pass scale, bias = "
            "ff.output_affine(parent) as output_scale=scale, output_bias=bias."
        )
    scale = np.asarray(output_scale, dtype=np.float64)
    if scale.size == 1 and output_bias is None:
        value = float(scale.reshape(()))
        if not (math.isfinite(value) and value > 0):
            raise DeployError(
                f"output_scale must be a positive number (logits = y_int * output_scale), got "
                f"{output_scale!r}; Lab 2's RemoveOutputScale records it."
            )
        return value, None
    bias = np.zeros(()) if output_bias is None else np.asarray(output_bias, dtype=np.float64)
    scale, bias = (np.broadcast_to(a.reshape(-1) if a.size > 1 else a.reshape(()), (classes,))
                   for a in (scale, bias))
    if not (np.all(np.isfinite(scale)) and np.all(np.isfinite(bias)) and np.all(scale != 0)):
        raise DeployError(
            f"the per-class output scale must be finite and non-zero and the bias finite (got scale "
            f"{scale.tolist()}, bias {bias.tolist()}); take them from ff.output_affine(parent)."
        )
    if bias.size and not np.any(bias) and np.all(scale == scale[0]) and scale[0] > 0:
        return float(scale[0]), None
    return [float(v) for v in scale], [float(v) for v in bias]


def dataset_record(dataset: str | None, features: int, classes: int) -> dict[str, Any]:
    """accelerator.json's ``dataset``: its name (None: not recorded), the classes, the input image shape.

    ``input_shape`` is the square centre crop of the 28x28 images the network takes (``[20, 20]`` for
    400 inputs), or ``[features]`` when the input is not a square crop.
    """
    if dataset is not None:
        from course_utils.data import DATASETS

        if dataset not in DATASETS:
            raise DeployError(f"unknown dataset {dataset!r}: use one of {', '.join(sorted(DATASETS))} (the "
                              "dataset the network was trained on, as in Lab 1's meta.json).")
    side = int(round(features ** 0.5))
    square = side * side == features and side <= 28
    return {"name": dataset, "classes": int(classes), "image_shape": [28, 28],
            "input_shape": [side, side] if square else [int(features)],
            "crop": side if square else None}


def _check_inputs(
    name: str, golden_x: Any, estimates: Mapping[str, Any], labels: Any
) -> tuple[np.ndarray, np.ndarray | None]:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", str(name)):
        raise DeployError(
            f"package name {name!r} must start with a letter and use letters, digits, '_' or "
            "'-' (it names the .bit/.hwh files and the overlay)."
        )
    missing = [k for k in ESTIMATE_KEYS if k not in estimates]
    if missing:
        raise DeployError(
            f"estimates lack {', '.join(missing)}: pass course_utils.finnflow.estimate_summary("
            "model, clock_mhz)."
        )
    x = np.asarray(golden_x)
    if x.ndim == 3:
        x = x.reshape(len(x), -1)
    if x.ndim != 2 or len(x) == 0:
        raise DeployError(
            f"golden_x must be a batch of samples (N, features), got shape {np.shape(golden_x)}."
        )
    if x.dtype.kind == "f" and not np.array_equal(x, np.round(x)):
        raise DeployError("golden_x must hold raw integer pixels (0..255), not scaled floats.")
    if x.min() < 0 or x.max() > 255:
        raise DeployError(f"golden_x values span [{x.min()}, {x.max()}]; raw pixels are 0..255.")
    lab = None
    if labels is not None:
        lab = np.asarray(labels).reshape(-1)
        if len(lab) != len(x):
            raise DeployError(f"labels has {len(lab)} entries for {len(x)} golden samples.")
    return x.astype(np.uint8), lab


def _check_replaceable(out: Path) -> None:
    """Refuse to replace a non-empty folder that is not a deploy package."""
    if out.is_dir() and not (out / "accelerator.json").is_file() and any(out.iterdir()):
        raise DeployError(
            f"{out} exists and is not a deploy package: refusing to replace it. Choose "
            "another folder or remove it."
        )


# ----------------------------------------------------------------------------- the writer
def write_deploy_package(
    model: ModelWrapper,
    out_dir: str | Path,
    *,
    name: str,
    board: str = "pynq-z2",
    clock_mhz: float = 100.0,
    golden_x: Any,
    output_scale: Any,
    output_bias: Any = None,
    labels: Any = None,
    estimates: Mapping[str, Any],
    bitstream: str | Path | None = None,
    hwh: str | Path | None = None,
    ip_vlnv: str | None = None,
    rtl_verification: Mapping[str, Any] | None = None,
    rtl_design: Any = None,
    dataset: str | None = None,
) -> Path:
    """Write the deploy package of ``model`` into the folder ``out_dir``; return its path.

    ``model``: the folded, specialized FINN dataflow model (output scale removed); ``golden_x``: raw
    pixels (N, features); ``output_scale`` (and ``output_bias``): logits = y_int * output_scale
    (+ output_bias), one positive number, or per class for a binary network's output affine
    (``finnflow.output_affine``); the board applies them (HLS layers, if any, are recorded in
    ``hls_layers`` with the reason); ``estimates``: Lab 2's
    ``estimate_summary``; ``bitstream``/``hwh``: Vivado's files when built (else a placeholder .bit
    and a generated .hwh); ``ip_vlnv``: the stitched IP's VLNV (default FINN's, or the model's
    ``vivado_stitch_vlnv`` metadata); ``rtl_verification``: what the RTL simulation verified and
    measured (``course_utils.rtl.verify.deploy_record``), recorded as ``rtl_verification``;
    ``rtl_design``: the stitched ``course_utils.rtl`` design, copied into ``rtl/`` for the virtual
    board (:func:`add_rtl_to_package`); ``dataset``: what the network was trained on ("mnist",
    "fashion-mnist"), recorded with the classes and the input shape (``dataset_record``) so that Lab 3
    tests on the right data. Raises
    DeployError (nothing written) on any inconsistency, e.g. a folding that does not divide a layer.
    """
    from qonnx.core.modelwrapper import ModelWrapper as MW

    from course_utils.board.accel import AcceleratorModel
    from course_utils.hw.hwh import generate_hwh

    if not isinstance(model, MW):
        raise DeployError(
            f"model must be a qonnx ModelWrapper (the folded dataflow model), got {type(model)}"
        )
    try:
        b = get_board(board)
        ps7_config(b, clock_mhz)
    except ValueError as err:
        raise DeployError(str(err)) from None
    from course_utils.finnflow.errors import FoldingError
    from course_utils.finnflow.folding import check_folding

    try:
        check_folding(model)
    except FoldingError as err:
        raise DeployError(f"cannot package this model: {err}") from None
    x, lab = _check_inputs(name, golden_x, estimates, labels)
    est_clock = estimates.get("clock_mhz")
    if est_clock is not None and abs(float(est_clock) - float(clock_mhz)) > 1e-6:
        raise DeployError(
            f"the estimates were computed at {est_clock} MHz but the package is for {clock_mhz} "
            "MHz: pass estimate_summary(model, clock_mhz) with the same clock."
        )
    for given, what in ((bitstream, "bitstream"), (hwh, "hwh")):
        if given is not None and not Path(given).is_file():
            raise DeployError(f"{what} file {given} not found.")
    if (bitstream is None) != (hwh is None):
        raise DeployError("give both the bitstream and the .hwh of the same Vivado build (or neither).")

    layers, arrays = describe_layers(model)
    streams = stream_description(model)
    inp, outp = streams["input"], streams["output"]
    classes = int(np.prod(outp["shape_normal"][1:]))
    scale_rec, bias_rec = output_affine_record(output_scale, output_bias, classes)
    if int(np.prod(inp["shape_normal"][1:])) != x.shape[1]:
        raise DeployError(
            f"golden_x has {x.shape[1]} values per sample, the model takes "
            f"{int(np.prod(inp['shape_normal'][1:]))}."
        )
    vlnv = ip_vlnv or model.get_metadata_prop("vivado_stitch_vlnv") or DEFAULT_ACCEL_VLNV
    spec: dict[str, Any] = {
        "schema": SCHEMA,
        "name": name,
        "board": b.key,
        "part": b.part,
        "clock_mhz": float(clock_mhz),
        "ip_name": IP_NAME,
        "ip_vlnv": vlnv,
        "dma_name": DMA_NAME,
        "input": inp,
        "output": outp,
        "output_scale": scale_rec,
        "dma": {
            "mm2s_width_bits": dma_stream_bits(inp["stream_width_bits"], inp["bytes_per_sample"]),
            "s2mm_width_bits": dma_stream_bits(outp["stream_width_bits"], outp["bytes_per_sample"]),
            "length_width": DMA_LENGTH_WIDTH,
            "max_transfer_bytes": (1 << DMA_LENGTH_WIDTH) - 1,
        },
        "tlast": "per_packet",
        "estimates": _jsonable(dict(estimates)),
        "layers": layers,
        "bitstream": {"file": f"{name}.bit", "placeholder": bitstream is None},
        "hwh": {"file": f"{name}.hwh", "generated": hwh is None},
        "versions": dist_versions(("finn-plus", "brevitas", "qonnx", "course-utils")),
    }
    if bias_rec is not None:
        spec["output_bias"] = bias_rec
    spec["dataset"] = dataset_record(dataset, x.shape[1], classes)
    from course_utils.finnflow.impl import hls_layers

    hls = hls_layers(model, b.part)
    if hls:
        spec["hls_layers"] = hls
    if rtl_verification is not None:
        spec["rtl_verification"] = _jsonable(dict(rtl_verification))

    executor = AcceleratorModel.from_description(spec, arrays)
    y_numpy = executor.run(x)
    y_int = _check_equal(finn_outputs(model, x), y_numpy)
    pred = executor.predict(x)
    if bias_rec is not None or np.size(spec["output_scale"]) > 1:   # per-class affine: it decides the class
        scale, bias = np.asarray(spec["output_scale"], np.float64), np.asarray(spec.get("output_bias", 0.0))
        logits = y_int * scale + bias
        pred = np.argmax(logits, axis=1)
    golden = {"x": x, "y_int": y_int, "pred": pred.astype(np.int64)}
    if lab is not None:
        golden["labels"] = lab

    out = Path(out_dir)
    _check_replaceable(out)
    with fileio.atomic_path(out, folder=True) as tmp:  # the old package goes only after the swap
        (tmp / "accelerator.json").write_text(json.dumps(spec, indent=1) + "\n")
        model.save(str(tmp / "dataflow.onnx"))
        np.savez(tmp / "dataflow.npz", **cast(dict[str, Any], arrays))
        np.savez(tmp / "golden.npz", **cast(dict[str, Any], golden))
        if hwh is not None:
            assert bitstream is not None  # both or neither (checked above)
            shutil.copyfile(hwh, tmp / f"{name}.hwh")
            shutil.copyfile(bitstream, tmp / f"{name}.bit")
        else:
            generate_hwh(spec, tmp / f"{name}.hwh")
            (tmp / f"{name}.bit").write_text(PLACEHOLDER_TEXT.format(name=name))
        (tmp / "vivado").mkdir()
        write_params_tcl(params_from_accelerator(spec), tmp / "vivado" / "params.tcl", {"name": name})
        if rtl_design is not None:
            add_rtl_to_package(rtl_design, tmp)
    return out


# ----------------------------------------------------------------------------- the accelerator's RTL
def rtl_files(design: Any) -> tuple[dict[str, Any], str]:
    """``(design.json, harness.cpp)`` that let the board side load or compile a stitched ``design``.

    The harness is regenerated exactly as ``course_utils.rtl.build`` generated it, so its content key
    (and the compiled library in the cache) is the same.
    """
    from course_utils.rtl import top as gen

    if design.kind != "stitched":
        raise DeployError(f"the deploy package needs the stitched design, not a '{design.kind}' one.")
    first, last = design.nodes[0], design.nodes[-1]
    harness = gen.harness([(first.in_bits, last.out_bits, True)], design.taps, len(design.fifos))
    meta = {
        "key": design.key, "kind": design.kind, "clock_mhz": float(design.clock_mhz),
        "in_bits": int(first.in_bits), "out_bits": int(last.out_bits),
        "in_words": int(np.prod(first.in_folded[1:-1])), "out_words": int(np.prod(last.out_folded[1:-1])),
        "in_dtype": first.in_dtype, "out_dtype": last.out_dtype, "n_taps": len(design.taps),
        "n_fifos": len(design.fifos), "nodes": [n.name for n in design.nodes],
    }
    return meta, harness


def add_rtl_to_package(design: Any, package: str | Path) -> Path:
    """Copy the stitched ``design``'s HDL, weight files and harness into ``package/rtl`` (atomically).

    What the virtual board needs to run the accelerator's real RTL without FINN: ``rtl/hdl/`` (the
    patched sources and ``*.dat`` files), ``rtl/harness.cpp`` and ``rtl/design.json``. The compiled
    library stays in the content-keyed cache (``build/rtl/cache/<key>``), where ``rtl.build`` put it.
    """
    package = Path(package)
    if not (package / "accelerator.json").is_file():
        raise DeployError(f"{package} is not a deploy package (no accelerator.json).")
    spec = json.loads((package / "accelerator.json").read_text())
    meta, harness = rtl_files(design)
    in_bits, out_bits = spec["input"]["stream_width_bits"], spec["output"]["stream_width_bits"]
    if (meta["in_bits"], meta["out_bits"]) != (in_bits, out_bits):
        raise DeployError(
            f"the RTL design streams {meta['in_bits']} -> {meta['out_bits']} bits, the package "
            f"{in_bits} -> {out_bits}: they come from different models. Build the RTL of the packaged model.")
    with fileio.atomic_path(package / "rtl", folder=True) as tmp:
        shutil.copytree(design.hdl, tmp / "hdl", ignore=shutil.ignore_patterns("fifo_gauge*", "*.log"))
        (tmp / "harness.cpp").write_text(harness)
        (tmp / "design.json").write_text(json.dumps(meta, indent=1) + "\n")
    return package / "rtl"
