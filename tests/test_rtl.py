"""The kit's default accelerator (the shipped deploy package's dataflow model) as real RTL in Verilator.

One stitched and one node-by-node build, cached by content hash under ``build/tests/rtl`` (a second
run of the suite reuses them; any change of the HDL gives a new hash and a rebuild).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "pretrained" / "lab2" / "deploy" / "mnist_w4a4"
CACHE = ROOT / "build" / "rtl" / "cache"  # shared with the notebook run (default build folder)
FOLDER = ROOT / "build" / "tests" / "rtl_default"

pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def model(build):
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(str(DEPLOY / "dataflow.onnx"))


@pytest.fixture(scope="module")
def scale() -> float:
    return json.loads((DEPLOY / "accelerator.json").read_text())["output_scale"]


@pytest.fixture(scope="module")
def stitched(model):
    from course_utils import rtl

    return rtl.build(model, FOLDER / "stitched", quiet=True, cache=CACHE)


@pytest.fixture(scope="module")
def nodes(model):
    from course_utils import rtl

    return rtl.build(model, FOLDER / "nodes", kind="nodes", quiet=True, cache=CACHE)


def test_stitched_rtl_is_bit_exact_on_the_golden_batch_at_finns_cycles(model, golden, scale, stitched,
                                                                        capsys):
    from course_utils import finnflow as ff
    from course_utils.rtl.verify import cycle_report

    result = ff.verify_stage(model, golden, "09_rtlsim", output_scale=scale, level="rtlsim", design=stitched)
    assert "64/64 golden samples match Brevitas in RTL simulation" in capsys.readouterr().out
    assert np.array_equal(result.y_int, golden.integer_logits(scale))
    rep = cycle_report(result.rtl, model)
    assert rep["estimated"]["interval_cycles"] == 100
    assert rep["measured"]["interval_cycles"] == 100.0  # 400 bytes at 4 bytes per cycle: 1 M images/s
    # FINN's latency is the sum of the layers' cycles; the stitched design adds its FIFOs and width
    # converters (measured 308 cycles, FINN's sum 246 for the 1 M images/s default)
    assert rep["estimated"]["latency_cycles"] <= rep["measured"]["latency_cycles"] <= 2 * rep["estimated"][
        "latency_cycles"]
    assert rep["measured"]["tlast_ok"] is True
    occ = rep["measured"]["fifo_max_occupancy"]
    assert len(occ) == len(stitched.fifos) == 8 and max(occ.values()) >= 1  # 5 layers, 2 width converters


def test_cache_is_reused_and_keyed_by_hdl_not_data(model, stitched, tmp_path):
    from course_utils import rtl
    from course_utils.rtl.verilate import content_key

    again = rtl.build(model, FOLDER / "stitched", quiet=True, cache=CACHE)
    assert again.key == stitched.key and again.build_seconds == 0.0
    hdl = tmp_path / "hdl"
    shutil.copytree(stitched.hdl, hdl)
    cpp = "// harness"
    base = content_key(hdl, cpp)
    (hdl / "MVAU_rtl_1_memblock.dat").write_text("0\n")  # data: read at simulation start, not compiled
    assert content_key(hdl, cpp) == base
    wrapper = hdl / "MVAU_rtl_1_wrapper.v"
    wrapper.write_text(wrapper.read_text() + "// edited\n")  # any change of the HDL: stale, rebuilt
    assert content_key(hdl, cpp) != base


def test_corrupted_weight_file_is_caught_naming_the_layer(model, golden, scale, stitched, tmp_path):
    from course_utils import finnflow as ff
    from course_utils import rtl

    copy = tmp_path / "corrupt"
    shutil.copytree(stitched.folder, copy)
    dat = copy / "hdl" / "MVAU_rtl_1_memblock.dat"
    lines = dat.read_text().split("\n")
    lines[5] = ("0" if lines[5][0] != "0" else "7") + lines[5][1:]  # one weight word of layer 2
    dat.write_text("\n".join(lines))
    with pytest.raises(ff.StageMismatchError,
                       match=r"09_rtlsim: \d+/64 samples differ.*layer MVAU_rtl_1 is the first whose "
                             "RTL output"):
        ff.verify_stage(model, golden, "09_rtlsim", output_scale=scale, level="rtlsim", design=rtl.load(copy))


def test_node_by_node_rtl_matches_python_and_finns_cycle_estimates(model, golden, nodes):
    from course_utils.rtl.verify import verify_nodes

    report = verify_nodes(model, golden.inputs(16), design=nodes, quiet=True)
    assert list(report) == ["MVAU_rtl_0", "Thresholding_rtl_0", "MVAU_rtl_1", "Thresholding_rtl_1",
                            "MVAU_rtl_2"]
    for layer, row in report.items():
        assert abs(row["measured_cycles"] - row["exp_cycles"]) <= 10, (layer, row)
    assert report["MVAU_rtl_0"]["exp_cycles"] == 100


def test_a_stall_is_a_bounded_diagnosis_naming_the_stream(model, golden, stitched):
    from course_utils import rtl

    x = golden.inputs(2)
    with pytest.raises(rtl.StallError, match="not being read.*back to stream"):
        stitched.run(x, out_ready_from=-1, max_idle=2000)
    words = stitched.words(x[:1])[:50]  # half a sample: the design waits for the rest
    with pytest.raises(rtl.StallError, match="input stream ran dry: 50 words.*50 of 100"):
        stitched.run(x[:1], words=words, max_idle=2000)


def test_a_design_built_from_another_folding_is_refused(model, golden, stitched):
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp

    from course_utils import finnflow as ff
    from course_utils import rtl

    other = ModelWrapper(str(DEPLOY / "dataflow.onnx"))
    getCustomOp(other.get_node_from_name("MVAU_rtl_2")).set_nodeattr("PE", 1)
    with pytest.raises(rtl.RTLError, match="built from another model.*MVAU_rtl_2"):
        ff.verify_stage(other, golden, "09_rtlsim", output_scale=1.0, level="rtlsim", design=stitched)


def test_exercise_5_1_checks_the_prediction_against_finn_and_the_rtl(model, golden, stitched, capsys):
    from qonnx.custom_op.registry import getCustomOp

    from course_utils import finnflow as ff
    from course_utils.checks import lab2

    run = stitched.run(golden.inputs(8))

    def slowest(m):
        out = []
        for node in ff.foldable_nodes(m):
            inst = getCustomOp(node)
            if node.op_type.startswith("MVAU"):
                out.append(inst.get_nodeattr("MW") // inst.get_nodeattr("SIMD")
                           * (inst.get_nodeattr("MH") // inst.get_nodeattr("PE")))
            else:
                out.append(inst.get_nodeattr("NumChannels") // inst.get_nodeattr("PE"))
        return max(out)

    lab2.ex_5_1(slowest, model, run)
    assert "Exercise 5.1 passed: 100 cycles per image predicted from the folding, 100 measured in RTL" in \
        capsys.readouterr().out
    with pytest.raises(AssertionError, match="Exercise 5.1: for the lab's folding you predict 246 cycles"):
        lab2.ex_5_1(lambda m: 246, model, run)  # the latency sum is not the interval
    with pytest.raises(AssertionError, match="Exercise 5.1: for another folding"):
        lab2.ex_5_1(lambda m: 100, model, run)  # a constant: right only for the lab's folding


def test_the_deploy_package_records_its_rtl_verification(model, golden, scale, stitched, tmp_path):
    from course_utils import finnflow as ff
    from course_utils import rtl
    from course_utils.board.package import load_package
    from course_utils.hw.deploy import write_deploy_package

    result = ff.verify_stage(model, golden, "09_rtlsim", output_scale=scale, level="rtlsim", design=stitched,
                             quiet=True)
    record = rtl.deploy_record(result.rtl, model, stitched)
    out = write_deploy_package(model, tmp_path / "pkg", name="mnist_w4a4", golden_x=golden.x,
                               output_scale=scale, labels=golden.labels, estimates=ff.estimate_summary(model),
                               rtl_verification=record)
    spec = json.loads((out / "accelerator.json").read_text())
    rec = spec["rtl_verification"]
    assert rec["level"] == "rtlsim" and rec["bit_exact_samples"] == 64 and rec["design_key"] == stitched.key
    assert rec["measured"]["interval_cycles"] == 100.0 and rec["simulator"] == "Verilator 5.48.0"
    assert spec["estimates"]["resources"]["DSP"] == 148.0 and spec["estimates"]["finn_dsp"] == 84.0
    assert load_package(out).spec["rtl_verification"] == rec  # the board side reads it unchanged
