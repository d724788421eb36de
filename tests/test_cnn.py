"""CNNs all the way: a tiny seeded QuantCNN through export -> FINN flow (convolution lowering, sliding-window
RTL generators, MVAU_rtl) -> folding -> estimates, verified bit-exact stage by stage."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _hw_helpers import BOARD_PY, run_on_virtual_board

from course_utils import export, torchdata, train
from course_utils.models import CNNConfig, QuantCNN, load_checkpoint, save_checkpoint

TINY = CNNConfig(channels=(4, 8), side=12)
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "rtl" / "cache"  # shared with the other RTL tests and the notebooks

pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def tiny_lab1(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny CNN (12x12 crop, 4 and 8 channels) trained briefly on 4,000 seeded images, exported."""
    train.seed_everything(0)
    qnn = QuantCNN(TINY)
    x, y = torchdata.tensors("mnist", "train", crop=TINY.side)
    train.train(qnn, (x[:4000], y[:4000]), epochs=2, lr=1e-2, progress=False)
    out = tmp_path_factory.mktemp("lab1_cnn")
    paths = export.save_lab1_artifacts(qnn, out, seed=0)
    return {"qnn": qnn, **paths}


@pytest.fixture(scope="module")
def tiny_flow(tiny_lab1: dict, build: Path):
    from course_utils import finnflow as ff

    return ff.run_flow(tiny_lab1["qonnx"], out_dir=build / "lab2_cnn", golden=tiny_lab1["golden"],
                       target_fps=100_000)


# ----------------------------------------------------------------------------- model
def test_cnn_config_shapes_and_refusals():
    cfg = CNNConfig()
    assert cfg.input_shape == (1, 1, 28, 28) and cfg.feature_sides() == [13, 6] and cfg.tag == "w4a4"
    assert CNNConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="binary"):
        CNNConfig(weight_bits=1, act_bits=1)
    with pytest.raises(ValueError, match="shrink"):
        CNNConfig(channels=(4, 4, 4), side=6)


def test_quant_cnn_takes_every_image_form_and_round_trips(tmp_path: Path):
    train.seed_everything(1)
    qnn = QuantCNN(TINY)
    images = torch.randint(0, 256, (3, 28, 28)).float()
    qnn(images)  # one training-mode pass initialises the activation scales (as training does)
    qnn.eval()
    crop = torchdata.crop(images, 12)
    with torch.no_grad():
        ref = qnn(crop)
        for form in (images, images.reshape(3, 784), crop.reshape(3, 1, 12, 12)):
            assert torch.equal(qnn(form), ref)
    assert ref.shape == (3, 10)
    with pytest.raises(ValueError, match="12x12"):
        qnn(torch.zeros(3, 100))
    back = load_checkpoint(save_checkpoint(qnn, tmp_path / "cnn.pt"))
    assert isinstance(back, QuantCNN) and back.cfg == TINY
    with torch.no_grad():
        assert torch.equal(back(crop), ref)


def test_recipe_of_the_cnn():
    assert train.recipe(CNNConfig()).epochs == train.CNN_EPOCHS and train.recipe(CNNConfig()).shift == 0
    assert train.recipe(CNNConfig(side=20)).shift == 1


# ----------------------------------------------------------------------------- export
def test_export_records_the_image_input(tiny_lab1: dict):
    meta = json.loads(Path(tiny_lab1["meta"]).read_text())
    assert meta["input"]["shape"] == [1, 1, 12, 12] and meta["input"]["layout"] == "NCHW"
    assert meta["config"]["kind"] == "cnn" and meta["config"]["channels"] == [4, 8]
    from qonnx.core.modelwrapper import ModelWrapper

    model = ModelWrapper(str(tiny_lab1["qonnx"]))
    assert model.get_tensor_shape(model.graph.input[0].name) == [1, 1, 12, 12]
    ops = {n.op_type for n in model.graph.node}
    assert ops >= {"Conv", "Quant", "BatchNormalization"} and ops & {"MatMul", "Gemm"}
    golden = export.load_golden(tiny_lab1["golden"])
    assert golden["x"].shape == (64, 144)
    # the exported model on flat pixels and on whole 28x28 images: the network's own logits
    got = export.execute_qonnx(tiny_lab1["qonnx"], golden["x"][:4])
    assert np.allclose(got, golden["logits"][:4], atol=1e-4)
    # the trained net beats chance by far (so the bit-exact checks below compare real decisions)
    assert meta["test_accuracy"] > 0.5


# ----------------------------------------------------------------------------- flow
def test_flow_lowers_convolutions_to_rtl_sliding_windows_bit_exact(tiny_flow):
    assert tiny_flow.fully_verified, tiny_flow.skipped
    assert set(tiny_flow.verified) == set(tiny_flow.stages)
    for name in ("04_hw", "07_specialized", "08_folded"):
        result = tiny_flow.verified[name]
        assert result.y_int is not None and result.output_scale is not None, name
    ops = [n.op_type for n in tiny_flow.folded.graph.node]
    assert ops == ["ConvolutionInputGenerator_rtl", "MVAU_rtl", "Thresholding_rtl",
                   "ConvolutionInputGenerator_rtl", "MVAU_rtl", "Thresholding_rtl", "MVAU_rtl"], ops
    model = tiny_flow.folded
    # the whole graph is in hardware: the input is the NHWC image stream, one UINT8 pixel per value
    assert model.get_tensor_shape(model.graph.input[0].name) == [1, 12, 12, 1]
    assert model.get_tensor_datatype(model.graph.input[0].name).name == "UINT8"


def test_folding_knows_the_sliding_window_generator(tiny_flow):
    from course_utils import finnflow as ff

    model = tiny_flow.folded
    assert ff.legal_values(model, "ConvolutionInputGenerator_rtl_1") == {"SIMD": [1, 2, 4],
                                                                        "parallel_window": [0, 1]}
    assert "ConvolutionInputGenerator_rtl_0" in tiny_flow.folding
    bad = {"ConvolutionInputGenerator_rtl_1": {"SIMD": 3}}
    with pytest.raises(ff.FoldingError, match="IFMChannels=4"):
        ff.apply_folding(_copy(model), bad)
    with pytest.raises(ff.FoldingError, match="parallel_window=1 needs SIMD = IFMChannels = 4"):
        ff.apply_folding(_copy(model), {"ConvolutionInputGenerator_rtl_1": {"SIMD": 2, "parallel_window": 1}})
    # matched streams around each sliding window: it takes and gives as many elements per beat as its
    # neighbours (no width converter), and a Thresholding layer has its MVAU's PE
    from qonnx.custom_op.registry import getCustomOp

    nodes = list(model.graph.node)
    pairs = [(a, b) for a, b in zip(nodes, nodes[1:])
             if "ConvolutionInputGenerator" in a.op_type + b.op_type or b.op_type.startswith("Thresholding")]
    assert len(pairs) == 5
    for prev, node in pairs:
        gives = getCustomOp(prev).get_folded_output_shape()[-1]
        takes = getCustomOp(node).get_folded_input_shape()[-1]
        assert gives == takes, (prev.name, node.name, tiny_flow.folding)
    # a faster target needs the whole window per cycle: parallel_window; the MVAU after it takes the 9-pixel
    # window in more than one beat (SIMD = MW = 9 would give one result per cycle, which FINN 1.6.1's RTL
    # MVAU drops under back-pressure: the full CNN's stall), so a width converter sits between them
    fast = ff.search_folding(model, 400_000)
    assert fast["ConvolutionInputGenerator_rtl_0"] == {"SIMD": 1, "parallel_window": 1}
    assert fast["MVAU_rtl_0"]["SIMD"] in (1, 3)
    from qonnx.custom_op.registry import getCustomOp

    for name, fold in fast.items():
        if name.startswith("MVAU_rtl"):
            assert 2 * fold["SIMD"] <= getCustomOp(model.get_node_from_name(name)).get_nodeattr("MW"), fast
    with pytest.raises(ff.FoldingError, match="MVAU_rtl_0: SIMD=9 = MW=9 gives one result per cycle.*"
                                              r"legal: 1, 3"):
        ff.apply_folding(_copy(model), {"MVAU_rtl_0": {"SIMD": 9}})
    est = tiny_flow.estimates
    assert est["fps"] >= 100_000
    assert any(v["op"] == "ConvolutionInputGenerator_rtl" and v["cycles"] > 0 for v in est["layers"].values())


def test_a_max_pool_is_refused_by_name(tiny_lab1: dict):
    from onnx import helper
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import finnflow as ff
    from course_utils.finnflow.flow import to_finn

    model = ModelWrapper(str(tiny_lab1["qonnx"]))
    conv = model.get_nodes_by_op_type("Conv")[0]
    pooled = conv.output[0] + "_pooled"
    for consumer in model.find_consumers(conv.output[0]):
        consumer.input[list(consumer.input).index(conv.output[0])] = pooled
    model.graph.node.append(helper.make_node("MaxPool", [conv.output[0]], [pooled], name="my_pool",
                                             kernel_shape=[2, 2], strides=[1, 1]))
    with pytest.raises(ff.UnsupportedModelError, match="my_pool is a MaxPool.*HLS.*stride-2 convolution"):
        to_finn(model)


# ----------------------------------------------------------------------------- RTL, deploy, virtual board
@pytest.fixture(scope="module")
def tiny_rtl(tiny_flow, tiny_lab1: dict):
    """The stitched RTL of the folded CNN (Verilator, cached by content), verified on the golden batch."""
    from course_utils import finnflow as ff
    from course_utils import rtl

    design = rtl.build(tiny_flow.folded, ROOT / "build" / "tests" / "rtl_cnn", quiet=True, cache=CACHE)
    golden = ff.Golden.load(tiny_lab1["golden"])
    result = ff.verify_stage(tiny_flow.folded, golden, "08_folded", level="rtlsim", design=design,
                             previous=tiny_flow.verified["08_folded"], quiet=True)
    return design, result


@pytest.mark.slow
def test_stitched_rtl_of_the_cnn_is_bit_exact_at_the_estimated_rate(tiny_flow, tiny_rtl):
    from course_utils.rtl.verify import cycle_report

    design, result = tiny_rtl
    ops = {n.op for n in design.nodes}
    assert {"ConvolutionInputGenerator_rtl", "MVAU_rtl", "Thresholding_rtl"} <= ops
    assert result.level == "rtlsim" and result.y_int is not None and len(result.y_int) == 64
    rep = cycle_report(result.rtl, tiny_flow.folded)
    assert rep["interval_matches_estimate"], rep


@pytest.mark.slow
def test_stitched_cnn_is_bit_exact_under_back_pressure(tiny_flow, tiny_rtl, tiny_lab1: dict):
    """The output is not read for the first 3,000 cycles: every layer meets back-pressure and waits, none may
    lose a word (the full CNN's stall: an MVAU with SIMD = MW dropped results), and an assertion inside
    the RTL would stop the run with AssertionFailedError instead of being printed and ignored."""
    from course_utils import finnflow as ff
    from course_utils.finnflow.verify import stream_inputs

    design, result = tiny_rtl
    golden = ff.Golden.load(tiny_lab1["golden"])
    x, _ = stream_inputs(golden.x, tiny_flow.folded)
    run = design.run(x, out_ready_from=3000)
    assert run.tlast_ok
    assert run.out_cycle[0] >= 3000  # nothing left before the output was read: the pipeline filled up
    assert np.array_equal(run.outputs, result.y_int)


@pytest.fixture(scope="module")
def tiny_package(tiny_flow, tiny_lab1: dict, tiny_rtl, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from course_utils import finnflow as ff
    from course_utils.hw.deploy import write_deploy_package
    from course_utils.rtl.verify import deploy_record

    design, result = tiny_rtl
    golden = ff.Golden.load(tiny_lab1["golden"])
    return write_deploy_package(
        tiny_flow.folded, tmp_path_factory.mktemp("deploy") / "mnist_cnn_tiny", name="mnist_cnn_tiny",
        golden_x=golden.x, output_scale=tiny_flow.output_scale, labels=golden.labels,
        estimates=tiny_flow.estimates, rtl_verification=deploy_record(result.rtl, tiny_flow.folded, design),
        rtl_design=design)


@pytest.mark.slow
def test_deploy_package_of_the_cnn_streams_nhwc_images(tiny_package: Path, tiny_lab1: dict):
    from course_utils.board.accel import AcceleratorModel
    from course_utils.board.package import load_package

    spec = json.loads((tiny_package / "accelerator.json").read_text())
    assert spec["input"]["shape_normal"] == [1, 12, 12, 1] and spec["input"]["bytes_per_sample"] == 144
    assert [layer["op"] for layer in spec["layers"]][:2] == ["ConvolutionInputGenerator", "MVAU"]
    assert spec["layers"][0]["ConvKernelDim"] == [3, 3] and spec["layers"][0]["Stride"] == [2, 2]
    acc = AcceleratorModel.from_package(tiny_package)
    golden = export.load_golden(tiny_lab1["golden"])
    y = acc.run(golden["x"])
    assert np.allclose(y * spec["output_scale"], golden["logits"], atol=1e-4)  # Brevitas, via numpy only
    pkg = load_package(tiny_package)
    # one channel: the NHWC stream is the crop's pixels row by row, one byte each
    assert np.array_equal(pkg.input.pack(golden["x"]).reshape(64, -1), golden["x"])
    assert np.array_equal(pkg.input.from_images(np.zeros((2, 28, 28), np.uint8)).shape, (2, 144))
    # a wrong window size in the package is caught by the executor, naming the layer
    spec["layers"][0]["IFMDim"] = [11, 11]
    with np.load(tiny_package / "dataflow.npz") as npz:
        bad = AcceleratorModel.from_description(spec, {k: npz[k] for k in npz.files})
    with pytest.raises(ValueError, match="ConvolutionInputGenerator_rtl_0: expected 11x11x1"):
        bad.run(golden["x"][:2])


@pytest.mark.slow
@pytest.mark.skipif(not BOARD_PY.is_file(), reason="board environment .venv/board not set up")
@pytest.mark.parametrize("accel", ["model", "rtl"])
def test_the_cnn_runs_on_the_virtual_board(tiny_package: Path, accel: str):
    """The real pynq Overlay + DMA driver on the virtual board: the numpy model, and the stitched RTL."""
    lines = run_on_virtual_board([tiny_package], env={"PYNQ_VIRTUAL_ACCEL": accel,
                                                      "COURSE_RTL_CACHE": str(CACHE)}, timeout=900)
    assert [line.split()[-1] for line in lines] == ["MATCH"], lines


def _copy(model):
    import copy

    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(copy.deepcopy(model.model))


# ------------------------------------------------------------------ the stall's cause, smallest case
@pytest.mark.slow
def test_an_rtl_mvau_with_simd_equal_to_mw_loses_results_under_back_pressure(build: Path):
    """The full CNN's stall reproduced on the smallest case: a 64-12-10 W4A4 MLP whose last MVAU takes
    its whole 12-value input in one beat (SIMD = MW = 12: one result per cycle, 10 per sample back to
    back), forced past the kit's folding check. With its output not read for a while, FINN 1.6.1's RTL
    MVAU overflows its output queue; the simulation stops with AssertionFailedError naming it (before: a
    printed line, lost words and, much later, a StallError). The kit's folding refuses this SIMD (a legal
    folding under back-pressure: the tiny CNN's test above)."""
    import torch
    from qonnx.custom_op.registry import getCustomOp

    from course_utils import export, rtl
    from course_utils import finnflow as ff
    from course_utils.finnflow import folding_rules
    from course_utils.models import MLPConfig, QuantMLP

    torch.manual_seed(0)
    qnn = QuantMLP(MLPConfig(weight_bits=4, act_bits=4, hidden=(12,), in_features=64)).eval()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(export, "INPUT_SHAPE", (1, 64))
        path = export.export_qonnx(qnn, build / "mlp_64_12.onnx")
    # the last MVAU is the bottleneck (10 results per sample, back to back), as the CNN's first MVAU was
    legal = {"MVAU_rtl_0": {"SIMD": 32, "PE": 12}, "Thresholding_rtl_0": {"PE": 12},
             "MVAU_rtl_1": {"SIMD": 6, "PE": 1}}
    res = ff.run_flow(path, verify=False, target_fps=None, folding=legal)
    x = np.random.default_rng(0).integers(0, 256, (64, 64)).astype(np.float32)
    with pytest.raises(ff.FoldingError, match="SIMD=12 = MW=12 gives one result per cycle"):
        ff.apply_folding(_copy(res.folded), {"MVAU_rtl_1": {"SIMD": 12}})
    bad = _copy(res.folded)
    getCustomOp(bad.get_node_from_name("MVAU_rtl_1")).set_nodeattr("SIMD", 12)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(folding_rules, "check_folding", lambda model: None)  # what the kit refuses, built anyway
        design = rtl.build(bad, ROOT / "build" / "tests" / "rtl_simd_eq_mw", quiet=True, cache=CACHE)
    with pytest.raises(rtl.AssertionFailedError, match="Overflowing output queue.*SIMD <= MW/2"):
        design.run(x, out_ready_from=200)
