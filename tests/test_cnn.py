"""CNNs all the way: a tiny seeded QuantCNN through export -> FINN flow (convolution lowering, sliding-window
RTL generators, MVAU_rtl) -> folding -> estimates, verified bit-exact stage by stage."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils import export, torchdata, train
from course_utils.models import CNNConfig, QuantCNN, load_checkpoint, save_checkpoint

TINY = CNNConfig(channels=(4, 8), side=12)


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
    assert ff.legal_values(model, "ConvolutionInputGenerator_rtl_1") == {"SIMD": [1, 2, 4]}
    assert "ConvolutionInputGenerator_rtl_0" in tiny_flow.folding
    bad = {"ConvolutionInputGenerator_rtl_1": {"SIMD": 3}}
    with pytest.raises(ff.FoldingError, match="IFMChannels=4"):
        ff.apply_folding(_copy(model), bad)
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


def _copy(model):
    import copy

    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(copy.deepcopy(model.model))
