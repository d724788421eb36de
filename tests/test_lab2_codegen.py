"""Code generation (PrepareIP) for every layer, by hand and through FINN's builder, without Vivado."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from course_utils import finnflow as ff
from course_utils.paths import pretrained_dir

LAB1 = pretrained_dir("lab1")


@pytest.fixture(scope="module")
def flow(build: Path, golden: ff.Golden):
    return ff.run_flow(LAB1 / "model_qonnx.onnx", golden=golden, codegen=True)


def _check_layer_code(model) -> dict[str, list[Path]]:
    """Every layer has its Verilog top module and memory files of the right size; rtllib sources exist."""
    from qonnx.custom_op.registry import getCustomOp

    code = ff.generated_code(model)
    assert set(code) == {n.name for n in model.graph.node}
    for node in model.graph.node:
        inst = getCustomOp(node)
        files = {p.name: p for p in code[node.name]}
        top = f"{node.name}_wrapper.v" if node.op_type.startswith("MVAU") else f"{node.name}.v"
        assert top in files, (node.name, sorted(files))
        assert f"module {node.name}" in files[top].read_text(), f"{top} does not define module {node.name}"
        for src in inst.get_rtl_file_list(abspath=True):
            assert Path(src).is_file(), f"{node.name}: RTL source {src} missing"
        if node.op_type.startswith("MVAU"):
            lines = files["memblock.dat"].read_text().split()
            simd, pe = inst.get_nodeattr("SIMD"), inst.get_nodeattr("PE")
            wbits = inst.get_input_datatype(1).bitwidth()
            mw, mh = inst.get_nodeattr("MW"), inst.get_nodeattr("MH")
            assert len(lines) == inst.calc_wmem() == mw * mh // (simd * pe)
            assert {len(line) for line in lines} == {simd * pe * wbits // 4}, "one weight word per line (hex)"
        else:
            assert any(name.endswith(".dat") and "threshs" in name for name in files), sorted(files)
    return code


def test_prepare_ip_generates_code_for_every_layer(flow):
    model = flow.stages["08_folded"]
    assert [n.op_type for n in model.graph.node] == ["MVAU_rtl", "Thresholding_rtl", "MVAU_rtl",
                                                     "Thresholding_rtl", "MVAU_rtl"]
    code = _check_layer_code(model)
    finn_dir = Path(ff.finn_build_dir()).resolve()
    outside = [p for files in code.values() for p in files if finn_dir not in p.resolve().parents]
    assert not outside, f"generated code outside build/finn: {outside[:2]}"


def _builder_run(out: Path, steps, folding: dict, golden: ff.Golden) -> int:
    import finn.builder.build_dataflow as build
    import finn.builder.build_dataflow_config as build_cfg
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    model = cleanup_model(ModelWrapper(str(LAB1 / "model_qonnx.onnx")))
    model.set_tensor_datatype(model.graph.input[0].name, DataType["UINT8"])
    model.save(str(out / "model_in.onnx"))
    np.save(out / "input.npy", golden.inputs(1))
    np.save(out / "expected.npy", golden.logits[:1])
    ff.folding_config_file(folding, out / "folding.json")
    cfg = build_cfg.DataflowBuildConfig(
        output_dir=str(out / "output"), synth_clk_period_ns=10.0, fpga_part=ff.FPGA_PART, steps=steps,
        generate_outputs=[build_cfg.DataflowOutputType.ESTIMATE_REPORTS],
        folding_config_file=str(out / "folding.json"), standalone_thresholds=True, minimize_bit_width=True,
        save_intermediate_models=True,
        verify_steps=[build_cfg.VerificationStepType.QONNX_TO_FINN_PYTHON,
                      build_cfg.VerificationStepType.TIDY_UP_PYTHON,
                      build_cfg.VerificationStepType.STREAMLINED_PYTHON],
        verify_input_npy=str(out / "input.npy"), verify_expected_output_npy=str(out / "expected.npy"))
    with ff.builder_session():
        return build.build_dataflow_cfg(str(out / "model_in.onnx"), cfg)


def test_builder_codegen_matches_the_manual_flow(flow, build: Path, golden):
    import finn.builder.build_dataflow_config as build_cfg
    from qonnx.core.modelwrapper import ModelWrapper

    steps = list(build_cfg.hw_codegen_dataflow_steps)
    steps.insert(steps.index("step_streamline") + 1, ff.step_drop_output_scale)
    out = build / "lab2" / "builder"
    assert _builder_run(out, steps, flow.folding, golden) == 0
    ff.check_outputs(out / "output")
    assert ff.builder_verification(out / "output") == {"finn_onnx_python": True, "initial_python": True,
                                                       "streamlined_python": True}
    built = ModelWrapper(str(out / "output" / "intermediate_models" / "step_hw_codegen.onnx"))
    _check_layer_code(built)
    reports = ff.read_reports(out / "output" / "report")
    total = reports["layers"].loc["total"]
    for k in ("LUT", "BRAM_18K"):
        assert float(total[k]) == flow.estimates["resources"][k], k
    assert float(total["DSP"]) == flow.estimates["finn_dsp"]  # the kit counts DSPs as the RTL instantiates
    assert reports["performance"]["max_cycles"] == flow.estimates["cycles_per_sample"]
    assert reports["performance"]["critical_path_cycles"] == flow.estimates["latency_cycles"]
    result = ff.verify_stage(built, golden, "builder", quiet=True)
    assert np.array_equal(result.y_int, golden.integer_logits(flow.output_scale))
    assert ff.recorded_output_scale(built) == pytest.approx(flow.output_scale)


def test_without_the_custom_step_the_builder_adds_an_hls_elementwise_mul(flow, build: Path, golden):
    """Why Lab 2 has step_drop_output_scale: FINN turns the output scale into an HLS layer."""
    import finn.builder.build_dataflow_config as build_cfg
    from qonnx.core.modelwrapper import ModelWrapper

    out = build / "lab2" / "builder_plain"
    assert _builder_run(out, list(build_cfg.estimate_only_dataflow_steps), flow.folding, golden) == 0
    model = ModelWrapper(str(out / "output" / "intermediate_models" / "step_generate_estimate_reports.onnx"))
    ops = [n.op_type for n in model.graph.node]
    assert any(op.startswith("ElementwiseMul") and op.endswith("_hls") for op in ops), ops
    # the kit runs it in Python through its generic FINN op (cppsim would need Vitis HLS) and names it
    assert any(name.startswith("ElementwiseMul") for name in ff.hls_layers(model)), ff.hls_layers(model)
    generic = ff.prepare_for_python(model)
    assert not any(n.op_type.endswith("_hls") for n in generic.graph.node)
