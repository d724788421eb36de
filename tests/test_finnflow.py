"""course_utils.finnflow: FINN without Vivado, checkpoints, verification, estimates, folding, streams."""
from __future__ import annotations

import copy
import json
import os
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from course_utils import finnflow as ff
from course_utils.paths import pretrained_dir

LAB1 = pretrained_dir("lab1")


@pytest.fixture(scope="module")
def flow(build: Path, golden: ff.Golden):
    """The whole flow on the shipped Lab 1 model, checkpoints in build/lab2."""
    return ff.run_flow(LAB1 / "model_qonnx.onnx", out_dir=build / "lab2", golden=golden)


def _copy(model):
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(copy.deepcopy(model.model))


# ----------------------------------------------------------------------------- env
def test_setup_puts_finn_folders_under_the_build_dir_not_home(build: Path):
    folder = ff.setup()
    assert folder == (build / "finn").resolve()
    assert os.environ["FINN_BUILD_DIR"] == str(folder)
    assert os.environ["FINN_SETTINGS"] == str(folder / "settings.yaml")
    from finn.util.basic import make_build_dir

    made = Path(make_build_dir("probe_"))
    assert made.parent == folder, "FINN's generated code would go elsewhere"


def test_finn_never_writes_to_the_home_folder(tmp_path: Path):
    import subprocess

    home, build = tmp_path / "home", tmp_path / "build"
    home.mkdir()
    code = ("from course_utils import finnflow as ff; ff.setup(); import finn.builder.build_dataflow; "
            "from finn.util.settings import get_settings; from finn.util.basic import make_build_dir; "
            "make_build_dir('x_'); print(get_settings().finn_build_dir)")
    env = {**os.environ, "HOME": str(home), "COURSE_BUILD_DIR": str(build)}
    env.pop("FINN_BUILD_DIR", None)
    env.pop("FINN_SETTINGS", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == str((build / "finn").resolve())
    assert list(home.iterdir()) == [], f"FINN wrote into the home folder: {list(home.iterdir())}"


def test_setup_follows_a_new_build_dir(build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from finn.util.basic import make_build_dir

    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    ff.setup()
    assert Path(make_build_dir("x_")).parent == (tmp_path / "finn").resolve()
    monkeypatch.setenv("COURSE_BUILD_DIR", str(build))
    ff.setup()
    assert Path(make_build_dir("y_")).parent == (build / "finn").resolve()


def test_builder_imports_without_vivado(build: Path):
    ff.setup()
    import finn.builder.build_dataflow as build_mod
    import finn.xsi as xsi

    assert hasattr(build_mod, "build_dataflow_cfg")
    assert "Placeholder" in (vars(xsi)["SimEngine"].__doc__ or "") or ff.vivado_available()


def test_no_placeholder_simulator_when_vivado_is_installed(tmp_path: Path):
    import subprocess

    fake = tmp_path / "Vivado" / "2024.2"
    (fake / "bin").mkdir(parents=True)
    (fake / "bin" / "vivado").write_text("#!/bin/sh\n")
    code = ("import course_utils.finnflow as ff, finn.xsi as xsi; ff.setup(); "
            "print('SimEngine' in vars(xsi))")
    env = {**os.environ, "XILINX_VIVADO": str(fake), "COURSE_BUILD_DIR": str(tmp_path / "b")}
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    assert out.stdout.strip().splitlines()[-1] == "False", "FINN's real simulator would be shadowed"


def test_vivado_placeholder_is_set_inside_and_removed_after(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("XILINX_VIVADO", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with ff.vivado_placeholder() as found:
        assert found is False
        assert os.environ["XILINX_VIVADO"].startswith("/nonexistent")
    assert "XILINX_VIVADO" not in os.environ
    status = ff.status()
    assert status["vivado"] is None and status["can_synthesize"] is False
    assert status["finn-plus"] == "1.6.1"


# ----------------------------------------------------------------------------- stages
def test_stage_checkpoints_roundtrip_and_unknown_names(flow, build: Path):
    for name in ff.STAGES:
        assert ff.stage_path(name).is_file(), name
    model = ff.load_stage("07_specialized", rebuild=False)
    assert [n.op_type for n in model.graph.node] == ["MVAU_rtl", "Thresholding_rtl", "MVAU_rtl",
                                                     "Thresholding_rtl", "MVAU_rtl"]
    assert not list((build / "lab2").glob(".*.tmp")), "temporary files left behind"
    from qonnx.custom_op.registry import getCustomOp

    parent = ff.load_stage("05_dataflow_parent", rebuild=False)
    sdp = getCustomOp(parent.get_nodes_by_op_type("StreamingDataflowPartition")[0])
    assert Path(sdp.get_nodeattr("model")) == ff.stage_path("06_dataflow").resolve()
    with pytest.raises(ValueError, match="unknown stage '09_x'"):
        ff.stage_path("09_x")


def test_load_stage_rebuilds_missing_checkpoints(tmp_path: Path, capsys):
    path = ff.stage_path("03_streamlined", tmp_path)
    with pytest.raises(FileNotFoundError, match="run notebook 02_streamline"):
        ff.load_stage("03_streamlined", tmp_path, rebuild=False)
    model = ff.load_stage("03_streamlined", tmp_path)
    assert path.is_file() and ff.stage_path("08_folded", tmp_path).is_file()
    assert "rebuilding" in capsys.readouterr().out
    assert [n.op_type for n in model.graph.node][-1] == "Mul"


def test_load_stage_rebuilds_checkpoints_of_another_model(tmp_path: Path, golden, capsys):
    other = pretrained_dir("lab2", "sweep", "model_w8a8.onnx")  # stands for "Lab 1 re-exported since"
    ff.run_flow(other, out_dir=tmp_path, verify=False, target_fps=None)
    stale = ff.load_stage("03_streamlined", tmp_path)
    with pytest.raises(ff.StageMismatchError):
        ff.verify_stage(stale, golden, "03_streamlined", quiet=True)
    fresh = ff.load_stage("03_streamlined", tmp_path, golden=golden)
    assert "another Lab 1 model" in capsys.readouterr().out
    ff.verify_stage(fresh, golden, "03_streamlined", quiet=True)
    for name in ("02_tidy", "08_folded"):  # float and integer-output checkpoints are now current too
        ff.load_stage(name, tmp_path, golden=golden)
        assert "rebuilding" not in capsys.readouterr().out, name
    ff.run_flow(other, out_dir=tmp_path / "b", verify=False, target_fps=None)
    ff.load_stage("08_folded", tmp_path / "b", golden=golden)  # integer outputs: checked with 05's scale
    assert "another Lab 1 model" in capsys.readouterr().out


def test_output_scale_only_for_integer_times_scalar(flow):
    assert ff.output_scale(flow.stages["03_streamlined"]) == pytest.approx(flow.output_scale)
    assert ff.output_scale(flow.stages["02_tidy"]) is None  # MatMul output is float there
    assert ff.output_scale(flow.stages["06_dataflow"]) is None  # ends with an MVAU


def test_unsupported_operator_is_named(flow):
    from onnx import helper

    model = _copy(flow.stages["01_finn"])
    out = model.graph.output[0].name
    model.graph.node[-1].output[0] = "pre_softmax"
    model.graph.node.append(helper.make_node("Softmax", ["pre_softmax"], [out], name="Softmax_9"))
    with pytest.raises(ff.UnsupportedModelError, match=r"Softmax_9 is a Softmax.*on the host"):
        ff.check_qonnx_ops(model)
    ff.check_qonnx_ops(ModelWrapperFromFile(LAB1 / "model_qonnx.onnx"))


def ModelWrapperFromFile(path: Path):  # noqa: N802 - reads like the class it returns
    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(str(path))


def test_missing_or_broken_qonnx_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="export the network in Lab 1"):
        ff.run_flow(tmp_path / "none.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"this is not a protobuf")
    with pytest.raises(ff.UnsupportedModelError, match="is not an ONNX model"):
        ff.run_flow(tmp_path / "bad.onnx")


def test_float_input_is_refused_with_what_to_do(flow):
    from qonnx.core.datatype import DataType

    model = _copy(flow.stages["02_tidy"])
    model.set_tensor_datatype("global_in", DataType["FLOAT32"])
    with pytest.raises(ff.UnsupportedModelError, match=r"'global_in' is FLOAT32.*DataType\['UINT8'\]"):
        ff.flow.streamline(model)
    with pytest.raises(ff.UnsupportedModelError, match="FLOAT32"):
        ff.run_flow(LAB1 / "model_qonnx.onnx", input_datatype=None, verify=False)


def test_node_left_between_hw_layers_is_named(flow):
    model = _copy(flow.stages["04_hw"])
    ff.check_hw_conversion(model)
    model.graph.node[1].domain = ""  # pretend Thresholding_0 could not be converted
    with pytest.raises(ff.UnsupportedModelError, match="Thresholding_0 .* sits between hardware layers"):
        ff.check_hw_conversion(model)
    with pytest.raises(ff.UnsupportedModelError, match="no node was converted"):
        ff.check_hw_conversion(flow.stages["03_streamlined"])


# ----------------------------------------------------------------------------- FINN's step functions
def test_flow_calls_finns_own_step_functions_in_finns_order():
    """The flow's steps are FINN's functions themselves (not copies); the kit's steps are named step_kit_*."""
    from finn.builder import build_dataflow_steps as finn_steps
    from finn.builder.build_dataflow_config import estimate_only_dataflow_steps

    from course_utils.finnflow import flow as fl

    names = [fl.step_name(s) for s in fl.STEPS]
    assert fl.STEPS[names.index("step_tidy_up")] is finn_steps.step_tidy_up
    finn_names = [n for n, s in zip(names, fl.STEPS) if fl.is_finn_step(s)]
    for name in finn_names:
        assert fl.STEPS[names.index(name)] is getattr(finn_steps, name), name
    # FINN's estimate-only builder flow, in its order, but for the two steps the kit does itself
    replaced = {"step_convert_to_hw": "step_kit_convert_to_hw",
                "step_target_fps_parallelization": "step_kit_folding_config"}
    assert finn_names == [n for n in estimate_only_dataflow_steps if n not in replaced]
    for finn_name, kit_name in replaced.items():
        assert kit_name in names and finn_name in fl.step_kit_convert_to_hw.__doc__ + \
            fl.step_kit_folding_config.__doc__
    kit = [s for s in fl.STEPS if not fl.is_finn_step(s)]
    assert all(fl.step_name(s).startswith("step_kit_") for s in kit)
    assert all("FINN" in (s.__doc__ or "") for s in kit), "each kit step says what FINN's step lacks"
    prefix = "step_kit_checkpoint_"
    checkpoints = [n.removeprefix(prefix) for n in names if n.startswith(prefix)]
    # the partition step saves 05_dataflow_parent and 06_dataflow
    assert checkpoints == ["01_finn", "02_tidy", "03_streamlined", "04_hw", "partition", "07_specialized",
                           "08_folded"]
    assert fl.CODEGEN_STEPS[0] is finn_steps.step_hw_codegen
    table = fl.steps_table()
    assert table.loc["step_streamline", "from"] == "FINN"
    assert table.loc["step_kit_prefer_rtl", "from"] == "kit"


def test_flow_config_is_finns_config_and_finn_wrote_its_reports(flow):
    from finn.builder.build_dataflow_config import DataflowBuildConfig

    cfg = ff.kit_build_config(flow.build_dir, clock_mhz=125.0, target_fps=500_000.4, budget=0.5)
    assert isinstance(cfg, DataflowBuildConfig)
    assert cfg._resolve_fpga_part() == ff.FPGA_PART and cfg.synth_clk_period_ns == pytest.approx(8.0)
    assert cfg.target_fps == 500_000 and cfg.budget == 0.5 and cfg.standalone_thresholds
    with pytest.raises(ValueError, match="clock_mhz must be positive"):
        ff.kit_build_config(flow.build_dir, clock_mhz=0)
    # FINN's step_apply_folding_config applied the kit's folding, FINN's estimate step wrote its reports
    applied = json.loads((flow.build_dir / "report" / "applied_folding_config.json").read_text())
    for layer, attrs in flow.folding.items():
        for attr, value in attrs.items():
            assert applied[layer][attr] == value, (layer, attr)
    finn_res = json.loads((flow.build_dir / "report" / "estimate_layer_resources.json").read_text())
    assert finn_res["total"]["BRAM_18K"] == pytest.approx(flow.estimates["resources"]["BRAM_18K"])
    assert (flow.build_dir / "intermediate_models" / "dataflow_parent.onnx").is_file()


def test_flow_refuses_an_illegal_folding_before_finn_applies_it(tmp_path: Path):
    with pytest.raises(ff.FoldingError, match="MVAU_rtl_0"):
        ff.run_flow(LAB1 / "model_qonnx.onnx", verify=False, folding={"MVAU_rtl_0": {"SIMD": 3, "PE": 1}})


# ----------------------------------------------------------------------------- verification
def test_every_stage_verified_bit_exact(flow, golden):
    assert list(flow.verified) == list(ff.STAGES) and not flow.skipped
    want = golden.integer_logits(flow.output_scale)
    for name in ff.STAGES[2:]:
        assert np.array_equal(flow.verified[name].y_int, want), name
    assert np.allclose(flow.verified["01_finn"].outputs, golden.logits, atol=1e-4)


def test_execute_batched_equals_one_by_one(flow, golden):
    model = flow.folded
    x = golden.inputs(10)
    batched = ff.execute(model, x, batch_size=4)  # 4 + 4 + 2
    single = np.concatenate([ff.execute(model, x[i:i + 1]) for i in range(len(x))])
    assert np.array_equal(batched, single) and batched.shape == (10, 10)


def test_corrupted_threshold_names_the_first_differing_tensor(flow, golden):
    prev = flow.verified["04_hw"]
    bad = _copy(flow.stages["04_hw"])
    node = bad.get_nodes_by_op_type("Thresholding")[1]
    thresholds = bad.get_initializer(node.input[1]).copy()
    thresholds[:, 7] += 3
    bad.set_initializer(node.input[1], thresholds)
    with pytest.raises(ff.StageMismatchError, match=r"tensor 'MultiThreshold_1_out0' \(UINT4, output of "
                                                    r"Thresholding_1\) differs first"):
        ff.verify_stage(bad, golden, "04_bad", previous=prev)


def test_mismatch_with_previous_stage_only(flow, golden):
    """A golden batch whose logits match the bad model still fails against the previous stage."""
    prev = flow.verified["07_specialized"]
    bad = _copy(flow.stages["07_specialized"])
    node = bad.get_nodes_by_op_type("MVAU_rtl")[2]
    w = bad.get_initializer(node.input[1]).copy()
    w[0, 0] = -w[0, 0] if w[0, 0] != 0 else 1
    bad.set_initializer(node.input[1], w)
    y_bad = ff.execute(bad, golden.inputs())
    fake = ff.Golden(golden.x, (y_bad * flow.output_scale).astype(np.float32), golden.pred, golden.labels)
    with pytest.raises(ff.StageMismatchError, match=r"differ from the previous stage 07_specialized"):
        ff.verify_stage(bad, fake, "07_bad", previous=prev)


def test_signed_input_declaration_fails_like_the_board(flow, golden):
    from qonnx.core.datatype import DataType

    model = _copy(flow.stages["03_streamlined"])
    model.set_tensor_datatype("global_in", DataType["INT8"])
    x, note = ff.verify.stream_inputs(golden.x, model)
    assert x.min() < 0 and "INT8" in note
    with pytest.raises(ff.StageMismatchError, match="pixels 128..255 arrive as -128..-1"):
        ff.verify_stage(model, golden, "03_int8")


def test_hls_layers_execute_through_their_generic_op(flow, golden):
    from course_utils.finnflow.impl import as_generic

    model = _copy(flow.folded)
    node = model.graph.node[0]
    node.op_type, node.domain = "MVAU_hls", "finn.custom_op.fpgadataflow.hls"  # as if FINN had no RTL MVU
    generic = as_generic(model)
    first = generic.graph.node[0]
    assert (first.op_type, first.domain) == ("MVAU", "finn.custom_op.fpgadataflow")
    assert model.graph.node[0].op_type == "MVAU_hls"  # the given model is unchanged
    x = golden.inputs(8)
    assert np.array_equal(ff.execute(model, x), ff.execute(flow.folded, x))
    assert ff.hls_layers(model) == {"MVAU_rtl_0": "MVAU_hls: FINN specialized MVAU to HLS (set "
                                                  "preferred_impl_style='rtl' before SpecializeLayers)"}
    assert ff.hls_layers(flow.folded) == {} and flow.hls_note == ""


def test_golden_load_errors(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="golden batch"):
        ff.Golden.load(tmp_path / "none.npz")
    np.savez(tmp_path / "g.npz", x=np.zeros((3, 400), np.uint8))
    with pytest.raises(ValueError, match="lacks"):
        ff.Golden.load(tmp_path / "g.npz")
    g = ff.Golden.load(LAB1 / "golden.npz")
    with pytest.raises(ff.StageMismatchError, match="not integer multiples"):
        g.integer_logits(0.0123457)


# ----------------------------------------------------------------------------- estimates
def test_fps_latency_and_errors():
    assert ff.fps_latency(196, 612, 100.0) == (pytest.approx(510204.0816), pytest.approx(6.12))
    assert ff.fps_latency(50, 100, 200.0) == (4e6, 0.5)
    with pytest.raises(ValueError, match="positive"):
        ff.fps_latency(0, 1, 100.0)


def test_estimate_summary_matches_finn_analyses(flow):
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.res_estimation import res_estimation

    est = ff.estimate_summary(flow.folded, 100.0)
    res = flow.folded.analysis(lambda m: res_estimation(m, ff.FPGA_PART))
    cycles = flow.folded.analysis(exp_cycles_per_layer)
    for k in ("LUT", "BRAM_18K"):
        assert est["resources"][k] == sum(r[k] for r in res.values())
    # DSPs as mvu.sv instantiates them: 2 products per DSP48E1 with 8-bit inputs (layer 1), 4 with 4-bit
    assert est["finn_dsp"] == sum(r["DSP"] for r in res.values())
    assert est["resources"]["DSP"] == sum(ff.mvu_dsps(flow.folded, n) or 0 for n in flow.folded.graph.node)
    first = est["layers"]["MVAU_rtl_0"]
    assert first["DSP"] == -(-first["PE"] // 2) * first["SIMD"] == 2 * first["DSP_finn"]
    assert est["cycles_per_sample"] == max(cycles.values())
    assert est["fps"] == pytest.approx(100e6 / est["cycles_per_sample"])
    assert est["bottleneck"] == max(cycles, key=cycles.get)
    assert set(est) >= {"cycles_per_sample", "latency_cycles", "fps", "latency_us", "resources", "bottleneck",
                        "bottleneck_kind"}
    assert est["latency_cycles"] == sum(cycles.values())  # a chain: FINN's critical path is the sum


def test_default_design_meets_the_course_target(flow):
    est = flow.estimates
    assert est["fps"] >= 1_000_000 and est["cycles_per_sample"] == 100  # 400 bytes at 4 bytes per cycle
    assert all(v < 0.7 for v in est["utilization"].values()), est["utilization"]
    folding = flow.folding  # matched PEs: no width converter between an MVAU and its thresholds
    assert folding["Thresholding_rtl_0"]["PE"] == folding["MVAU_rtl_0"]["PE"]
    assert folding["Thresholding_rtl_1"]["PE"] == folding["MVAU_rtl_1"]["PE"]
    assert est["bottleneck_kind"] in ("compute", "input stream")


def test_bottleneck_kind_compute_vs_input_stream(flow):
    base = _copy(flow.stages["07_specialized"])
    kinds = {}
    for simd, pe in ((16, 16), (4, 64)):
        trial = ff.apply_folding(_copy(base), {"MVAU_rtl_0": {"SIMD": simd, "PE": pe}})
        row = next(r for r in ff.layer_estimates(trial) if r["layer"] == "MVAU_rtl_0")
        assert row["cycles"] == 100
        kinds[(simd, pe)] = row["bound"]
    assert kinds == {(16, 16): "compute", (4, 64): "input stream"}


def test_layer_table_and_budget(flow):
    table = ff.layer_table(flow.folded)
    assert list(table.index)[-1] == "total"
    assert table.loc["total", "DSP"] == flow.estimates["resources"]["DSP"]
    assert ff.over_budget({"LUT": 100, "BRAM_18K": 200, "DSP": 10}, 0.7) == {"BRAM_18K": (200.0, 196.0)}
    with pytest.raises(ValueError, match="unknown resource"):
        ff.over_budget({}, {"FF": 0.5})
    with pytest.raises(ValueError, match=r"no capacity known for part 'xcvu9p'.*knows xc7z020\* \(53,200 LUT"
                                         r".*To add a part.*course_utils/hw/boards.py.*KNOWN_PARTS"):
        ff.capacity("xcvu9p")
    assert ff.capacity("xc7z020clg484-1") == ff.capacity()  # another package of the same family


def test_read_reports_of_a_builder_run_and_missing(tmp_path: Path, flow):
    report = tmp_path / "report"
    report.mkdir()
    with pytest.raises(FileNotFoundError, match="estimate_layer_resources.json"):
        ff.read_reports(report)
    (report / "estimate_layer_resources.json").write_text(json.dumps(
        {"A_0": {"LUT": 10, "BRAM_18K": 1, "DSP": 2}, "total": {"LUT": 10, "BRAM_18K": 1, "DSP": 2}}))
    (report / "estimate_layer_cycles.json").write_text(json.dumps({"A_0": 99}))
    (report / "estimate_network_performance.json").write_text(json.dumps({"max_cycles": 99}))
    got = ff.read_reports(report)
    assert got["layers"].loc["total", "DSP"] == 2 and got["layers"].loc["A_0", "cycles"] == 99


def test_save_estimates_is_atomic_json(tmp_path: Path, flow):
    path = ff.save_estimates(flow.estimates, tmp_path / "e" / "estimates.json")
    assert json.loads(path.read_text())["fps"] == pytest.approx(flow.estimates["fps"])
    assert [p.name for p in path.parent.iterdir()] == ["estimates.json"]


# ----------------------------------------------------------------------------- folding
def test_legal_values_and_illegal_folding_message(flow):
    model = _copy(flow.stages["07_specialized"])
    # SIMD = MW is left out: FINN 1.6.1's RTL MVAU drops results under back-pressure at one result per cycle
    assert ff.legal_values(model, "MVAU_rtl_0") == {"SIMD": ff.divisors(400)[:-1],
                                                    "PE": [1, 2, 4, 8, 16, 32, 64]}
    with pytest.raises(ff.FoldingError, match=r"MVAU_rtl_0: SIMD=400 = MW=400 gives one result per cycle"):
        ff.apply_folding(_copy(model), {"MVAU_rtl_0": {"SIMD": 400}})
    assert ff.legal_values(model, "Thresholding_rtl_1") == {"PE": [1, 2, 4, 8, 16, 32, 64]}
    with pytest.raises(ff.FoldingError, match=r"MVAU_rtl_0: SIMD=3 does not divide MW=400.*1, 2, 4, 5, 8"):
        ff.apply_folding(model, {"MVAU_rtl_0": {"SIMD": 3}})
    with pytest.raises(ff.FoldingError, match="no foldable layer named 'MVAU_rtl_9'"):
        ff.apply_folding(model, {"MVAU_rtl_9": {"PE": 2}})
    with pytest.raises(ff.FoldingError, match="has no folding attribute 'SIMD'"):
        ff.apply_folding(model, {"Thresholding_rtl_0": {"SIMD": 2}})


def test_search_meets_target_within_budget_and_keeps_model(flow):
    model = _copy(flow.stages["07_specialized"])
    before = ff.get_folding(model)
    # counted as mvu.sv instantiates DSPs (2 products per DSP48E1 for 8-bit pixels): 1 M FPS on the 20x20
    # crop needs 128 DSPs in layer 1 (256 products per cycle), 2 M FPS 256 of the 154 that 70% allows
    with pytest.raises(ff.BudgetError, match=r"no folding reaches 2,000,000 FPS.*DSP \d+ > 154"):
        ff.search_folding(model, 2_000_000, 0.7)
    for target in (100_000, 500_000, 1_000_000):
        folding = ff.search_folding(model, target, 0.7)
        for t, m in (("Thresholding_rtl_0", "MVAU_rtl_0"), ("Thresholding_rtl_1", "MVAU_rtl_1")):
            assert folding[t]["PE"] == folding[m]["PE"]  # matched: no width converter in between
        trial = ff.apply_folding(_copy(model), folding)
        est = ff.estimate_summary(trial)
        assert est["fps"] >= target
        assert not ff.over_budget(est["resources"], 0.7)
        streams = ff.io_streams(trial)
        assert streams["input"]["dma_ok"] and streams["output"]["dma_ok"]
    assert ff.get_folding(model) == before


def test_search_errors_say_why(flow):
    model = _copy(flow.stages["07_specialized"])
    with pytest.raises(ff.BudgetError, match=r"no folding reaches 500,000 FPS within the budget.*DSP"):
        ff.search_folding(model, 500_000, 0.05)
    with pytest.raises(ff.BudgetError, match=r"MVAU_rtl_0 cannot reach 5,000,000 FPS.*25 cycles"):
        ff.search_folding(model, 5_000_000, 1.0)
    with pytest.raises(ff.BudgetError, match="less than one cycle"):
        ff.search_folding(model, 1e9, 1.0)


def test_design_space_rows(flow):
    rows = ff.design_space(_copy(flow.stages["08_folded"]), [50_000, 500_000, 3_000_000], budget=1.0)
    assert [r["met"] for r in rows] == [True, True, False]
    assert rows[0]["fps"] >= 50_000 and rows[1]["fps"] >= 500_000
    assert rows[0]["DSP"] < rows[1]["DSP"]
    assert "cannot reach" in rows[2]["note"] or "budget" in rows[2]["note"]


def test_dma_widths():
    assert [b for b in range(1, 2049) if ff.dma_width_ok(b)] == [8, 16, 32, 64, 128, 256, 512, 1024]


def test_io_streams_and_dma_report(flow):
    streams = ff.io_streams(flow.folded)
    inp, out = streams["input"], streams["output"]
    assert inp["datatype"] == "UINT8" and inp["bytes_per_sample"] == 400
    assert inp["words_per_sample"] * inp["padded_bits"] == 400 * 8
    assert out["words_per_sample"] * out["folded_shape"][-1] == 10
    bad = ff.apply_folding(_copy(flow.folded), {"MVAU_rtl_2": {"PE": 5}})
    report = ff.dma_report(bad)
    assert "axis_dwidth_converter" in report[1] and "takes it as is" in report[0]
    with pytest.raises(ValueError, match="not a width the AXI DMA accepts"):
        ff.check_dma_widths(bad)


# ----------------------------------------------------------------------------- transforms, views, builder
def test_remove_output_scale(flow, golden):
    model = flow.stages["03_streamlined"].transform(ff.RemoveOutputScale())
    assert model.graph.node[-1].op_type == "MatMul"
    assert ff.recorded_output_scale(model) == pytest.approx(flow.output_scale)
    assert np.array_equal(ff.execute(model, golden.inputs()), golden.integer_logits(flow.output_scale))
    tidy = flow.stages["02_tidy"]
    assert len(tidy.transform(ff.RemoveOutputScale()).graph.node) == len(tidy.graph.node)


def test_show_source_graph_table_and_diff(flow):
    src = ff.show_source(ff.RemoveOutputScale.apply)
    assert src.text.startswith("def apply(self") and "transforms.py" in src.file
    assert "```python" in src._repr_markdown_()
    with pytest.raises(TypeError, match="no Python source"):
        ff.show_source(42)
    table = ff.graph_table(flow.stages["03_streamlined"])
    assert list(table["op"]) == ["MatMul", "MultiThreshold", "MatMul", "MultiThreshold", "MatMul", "Mul"]
    assert "global_in: UINT8 [1, 400]" in table.loc[0, "inputs"]
    diff = ff.graph_diff(flow.stages["02_tidy"], flow.stages["03_streamlined"])
    assert diff.loc["BatchNormalization", "change"] == -2 and diff.loc["Mul", "after"] == 1


def test_show_error(capsys):
    assert ff.show_error(ff.fps_latency, 0, 1, 100.0).startswith("ValueError: cycles (0)")
    assert "ValueError" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="fps_latency was expected to fail"):
        ff.show_error(ff.fps_latency, 1, 1, 100.0)


def test_graph_view_serves_the_model_locally(flow):
    view = ff.graph_view(flow.stages["03_streamlined"], "test_view", height=300)
    assert Path(view.file).is_file() and view.url.startswith("http://localhost:")
    with urllib.request.urlopen(view.url, timeout=10) as resp:
        assert resp.status == 200 and b"netron" in resp.read().lower()
    assert 'height="300"' in view._repr_html_()
    with pytest.raises(FileNotFoundError):
        ff.graph_view("/nonexistent/model.onnx")


def test_graph_view_in_a_container(flow, monkeypatch: pytest.MonkeyPatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("COURSE_NETRON_HOST", "0.0.0.0")
    monkeypatch.setenv("COURSE_NETRON_PORT", str(port))
    view = ff.graph_view(flow.stages["02_tidy"], "container_view")
    assert view.url == f"http://localhost:{port}"
    with urllib.request.urlopen(view.url, timeout=10) as resp:
        assert resp.status == 200


def test_builder_session_restores_streams_and_logging(build: Path):
    import logging

    out, err, handlers = sys.stdout, sys.stderr, list(logging.getLogger().handlers)
    with ff.builder_session():
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the builder does the same
        logging.getLogger().addHandler(logging.NullHandler())
    assert sys.stdout is out and sys.stderr is err
    assert logging.getLogger().handlers == handlers


def test_check_outputs_and_generated_code_errors(tmp_path: Path, flow):
    with pytest.raises(ff.FinnFlowError, match="incomplete: missing layer resources.*Exercise 4.1"):
        ff.check_outputs(tmp_path, hint="Run the builder (Exercise 4.1).")
    with pytest.raises(ff.FinnFlowError, match="MVAU_rtl_0: no generated code"):
        ff.generated_code(flow.stages["07_specialized"])
    table = ff.hidden_steps_table(["step_tidy_up", ff.step_drop_output_scale, "step_foo"])
    assert list(table["what it does for you"])[1:] == ["your own step",
                                                       "see finn.builder.build_dataflow_steps"]


def test_lazy_package_import_is_cheap():
    import subprocess

    code = ("import sys, course_utils.finnflow as f; "
            "assert not any(m.startswith(('finn', 'qonnx', 'torch')) for m in sys.modules), "
            "[m for m in sys.modules if m.startswith(('finn', 'qonnx', 'torch'))][:5]; "
            "assert 'run_flow' in dir(f)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plots_show_the_estimates(flow):
    from course_utils.finnflow import plots

    est = flow.estimates
    fig = plots.resources_vs_capacity(est, budget=0.7)
    ax = fig.axes[0]
    cap = ff.capacity()
    for y, k in enumerate(("LUT", "BRAM_18K", "DSP")):
        width = sum(p.get_width() for p in ax.patches if abs(p.get_y() + p.get_height() / 2 - y) < 1e-6)
        assert width == pytest.approx(100 * est["resources"][k] / cap[k]), k
    assert any(line.get_xdata()[0] == 70 for line in ax.lines), "budget line"
    rows = ff.design_space(flow.folded, [100_000, 500_000], budget=1.0)
    fig = plots.design_space(rows)
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    assert list(lines["DSP (FINN estimate)"].get_xdata()) == [r["fps"] for r in rows]
    assert list(lines["DSP (FINN estimate)"].get_ydata()) == [r["DSP_%"] for r in rows]
