"""From a folded, specialized FINN dataflow model to the HDL of its stitched accelerator, without Vivado.

The same transformations FINN's own stitching uses: ``InsertDWC`` (width converters where a layer's
output stream is not as wide as the next layer's input), ``InsertFIFO`` (FIFOs between layers),
every converter and FIFO as RTL, ``SpecializeLayers``, then ``PrepareIP`` (Verilog wrappers and
weight/threshold files for every node). The node sources and the finn-rtllib files they need are
copied into ``<folder>/hdl``, where the named patches (``patches.py``) fix the copies.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from course_utils import fileio
from course_utils.finnflow.env import DEFAULT_CLOCK_MHZ, FPGA_PART, setup
from course_utils.rtl.errors import HLSLayerError, RTLError

if TYPE_CHECKING:
    from qonnx.core.modelwrapper import ModelWrapper

INFRA = ("StreamingFIFO", "StreamingDataWidthConverter")
"""Node families the stitching inserts (not layers of the network)."""
EXTRA_SOURCES = ("memstream/hdl/memstream_axi.sv", "memstream/hdl/memstream.sv", "axi/hdl/axilite.sv",
                 "skid/skid.sv", "fifo/hdl/fifo.sv")
"""finn-rtllib files that the MVAU weight streamer and the FIFOs need but no node lists."""


@dataclass
class NodeInfo:
    """One node of the stitched graph, as the generated top and the driver need it."""

    name: str
    op: str
    module: str
    file: str
    in_bits: int
    out_bits: int
    in_folded: list[int]
    out_folded: list[int]
    in_dtype: str
    out_dtype: str
    in_tensor: str
    out_tensor: str
    exp_cycles: int
    layer: bool
    weight_streamer: str | None = None
    depth: int | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


def _family(op_type: str) -> str:
    return op_type.removesuffix("_hls").removesuffix("_rtl")


def check_all_rtl(model: ModelWrapper) -> None:
    """Raise HLSLayerError naming every layer that is not an RTL layer (and why that matters here)."""
    from finn.util.fpgadataflow import is_hls_node, is_rtl_node

    hls = [n for n in model.graph.node if is_hls_node(n)]
    other = [n for n in model.graph.node if not is_hls_node(n) and not is_rtl_node(n)]
    if other:
        names = ", ".join(f"{n.name} ({n.op_type})" for n in other)
        raise RTLError(f"RTL simulation needs a specialized dataflow partition; these nodes are not hardware "
                       f"layers: {names}. Simulate the folded model (stage 08), after SpecializeLayers.")
    if hls:
        names = ", ".join(f"{n.name} ({n.op_type})" for n in hls)
        raise HLSLayerError(
            f"cannot simulate {names}: an HLS layer has no HDL until Vitis HLS synthesizes it, and Vitis HLS "
            "is not installed here. Use an all-RTL design: >= 4-bit weights and activations (or set the "
            "node's preferred_impl_style='rtl' before SpecializeLayers), standalone thresholds, argmax on "
            "the host.")


def stitch_model(model: ModelWrapper, fpgapart: str = FPGA_PART, clock_mhz: float = DEFAULT_CLOCK_MHZ,
                 fifo_depth: int | None = None) -> ModelWrapper:
    """FINN's stitching transformations on a copy: width converters, FIFOs, all RTL, ``PrepareIP``.

    Layer names are kept; the inserted nodes are named ``StreamingDataWidthConverter_rtl_N`` and
    ``StreamingFIFO_rtl_N``. ``fifo_depth`` overrides the FIFOs' depth (default: FINN's shallow 2).
    """
    setup()
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.insert_fifo import InsertFIFO
    from finn.transformation.fpgadataflow.prepare_ip import PrepareIP
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from qonnx.core.modelwrapper import ModelWrapper as MW
    from qonnx.custom_op.registry import getCustomOp

    from course_utils.finnflow.folding_rules import check_folding

    model = MW(copy.deepcopy(model.model))
    check_all_rtl(model)
    check_folding(model)
    layer_names = [n.name for n in model.graph.node]
    model = model.transform(InsertDWC()).transform(InsertFIFO(create_shallow_fifos=True))
    for node in model.graph.node:
        if _family(node.op_type) in INFRA:
            inst = getCustomOp(node)
            inst.set_nodeattr("preferred_impl_style", "rtl")
            if fifo_depth is not None and _family(node.op_type) == "StreamingFIFO":
                inst.set_nodeattr("depth", int(fifo_depth))
    model = model.transform(SpecializeLayers(fpgapart))
    counters: dict[str, int] = {}
    layers = iter(layer_names)
    for node in model.graph.node:
        if _family(node.op_type) in INFRA:
            i = counters.get(node.op_type, 0)
            counters[node.op_type] = i + 1
            node.name = f"{node.op_type}_{i}"
        else:
            node.name = next(layers)
    check_all_rtl(model)
    return model.transform(PrepareIP(fpgapart, 1000.0 / clock_mhz))


def _rtllib() -> Path:
    from finn.util.settings import get_settings

    return Path(get_settings().finn_rtllib)


def _normalize(text: str, code_dirs: list[str]) -> str:
    """Generated HDL with the node's (random) code-generation folders made relative."""
    for d in code_dirs:
        text = text.replace(d.rstrip("/") + "/", "")
    return text


def collect_sources(model: ModelWrapper, hdl: Path) -> list[NodeInfo]:
    """Copy every node's HDL and data into ``hdl`` (flat, relative paths); describe the nodes.

    Every MVAU's ``memblock.dat`` becomes ``<node>_memblock.dat`` (FINN names them all alike).
    """
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from qonnx.custom_op.registry import getCustomOp

    hdl.mkdir(parents=True, exist_ok=True)
    rtllib = _rtllib()
    cycles = model.analysis(exp_cycles_per_layer)
    code_dirs = [getCustomOp(n).get_nodeattr("code_gen_dir_ipgen") for n in model.graph.node]
    nodes: list[NodeInfo] = []
    for node in model.graph.node:
        inst = getCustomOp(node)
        cg = Path(inst.get_nodeattr("code_gen_dir_ipgen"))
        for f in inst.get_rtl_file_list(abspath=True):
            f = Path(f)
            if not f.is_relative_to(cg) and not (hdl / f.name).exists():
                shutil.copy(f, hdl / f.name)
        streamer = None
        for f in sorted(cg.iterdir()):
            if f.suffix == ".dat" and f.name == "memblock.dat":
                shutil.copy(f, hdl / f"{node.name}_memblock.dat")
            elif f.suffix == ".dat":
                shutil.copy(f, hdl / f.name)
            elif f.suffix in (".v", ".sv"):
                text = _normalize(f.read_text(), code_dirs)
                if f.name.endswith("_memstream_wrapper.v"):
                    text = re.sub(r'"memblock\.dat"', f'"{node.name}_memblock.dat"', text)
                    streamer = f.stem
                (hdl / f.name).write_text(text)
        top = inst.get_nodeattr("gen_top_module") or node.name
        attrs = {a: inst.get_nodeattr(a) for a in ("SIMD", "PE", "MW", "MH", "NumChannels", "depth",
                                                    "inWidth", "outWidth", "mem_mode")
                 if a in inst.get_nodeattr_types()}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
        is_mvau = _family(node.op_type) == "MVAU"
        # MVAUs and sliding-window generators (ConvolutionInputGenerator_rtl) have their top in a wrapper
        wrapped = is_mvau or (not (hdl / f"{top}.v").is_file() and (hdl / f"{top}_wrapper.v").is_file())
        nodes.append(NodeInfo(
            name=node.name, op=node.op_type, module=top,
            file=f"{top}_wrapper.v" if wrapped else f"{top}.v",
            in_bits=int(inst.get_instream_width_padded(0)), out_bits=int(inst.get_outstream_width_padded(0)),
            in_folded=[int(v) for v in inst.get_folded_input_shape(0)],
            out_folded=[int(v) for v in inst.get_folded_output_shape(0)],
            in_dtype=inst.get_input_datatype(0).name, out_dtype=inst.get_output_datatype(0).name,
            in_tensor=node.input[0], out_tensor=node.output[0],
            exp_cycles=int(cycles.get(node.name, 0)), layer=_family(node.op_type) not in INFRA,
            weight_streamer=streamer if is_mvau else None,
            depth=int(attrs["depth"]) if "depth" in attrs else None, attrs=attrs))
        if is_mvau and streamer is None and attrs.get("mem_mode") != "internal_embedded":
            raise RTLError(f"{node.name}: PrepareIP wrote no weight streamer "
                           f"(mem_mode={attrs.get('mem_mode')}); "
                           "the kit simulates MVAUs with internal_decoupled weights.")
    for rel in EXTRA_SOURCES:
        if not (hdl / Path(rel).name).exists():
            shutil.copy(rtllib / rel, hdl / Path(rel).name)
    for path in hdl.iterdir():  # data files of other nodes referenced by absolute path
        if path.suffix in (".v", ".sv"):
            path.write_text(_normalize(path.read_text(), code_dirs))
    return nodes


def write_nodes(nodes: list[NodeInfo], path: Path) -> None:
    """Save the node descriptions as JSON."""
    fileio.write_text_atomic(path, json.dumps([asdict(n) for n in nodes], indent=1))


def read_nodes(path: Path) -> list[NodeInfo]:
    """Load node descriptions written by ``write_nodes``."""
    return [NodeInfo(**d) for d in json.loads(path.read_text())]
