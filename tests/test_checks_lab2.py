"""checks.lab2: every checkpoint passes a right answer and fails a wrong one and the untouched placeholder."""
from __future__ import annotations

import copy
import itertools
import re
from pathlib import Path

import pytest

from course_utils import finnflow as ff
from course_utils.checks import lab2
from course_utils.checks._common import CheckFailure
from course_utils.paths import pretrained_dir

LAB1 = pretrained_dir("lab1")


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_BUILD_DIR", str(tmp_path_factory.mktemp("build")))
        ff.setup()
        yield ff.run_flow(LAB1 / "model_qonnx.onnx", golden=ff.Golden.load(LAB1 / "golden.npz"))
    ff.setup()


@pytest.fixture(scope="module")
def converted(flow):
    """The FINN-ONNX model before the input annotation (as notebook 01 has it)."""
    from finn.transformation.qonnx.convert_qonnx_to_finn import ConvertQONNXtoFINN
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.cleanup import cleanup_model

    return cleanup_model(ModelWrapper(str(LAB1 / "model_qonnx.onnx"))).transform(ConvertQONNXtoFINN())


def _placeholder(*_args, **_kwargs):
    raise NotImplementedError("Exercise: placeholder")


def _fails(match: str, fn, *args, **kwargs) -> None:
    with pytest.raises(AssertionError, match=match):
        fn(*args, **kwargs)


def _named(key: str, fn, *args) -> None:
    """The check names catalogued mistake ``key`` (the coverage test below reads these calls)."""
    with pytest.raises(CheckFailure) as info:
        fn(*args)
    assert info.value.mistake == key, str(info.value)


def test_every_lab2_mistake_is_tested():
    tested = set(re.findall(r'_named\("([\d.]+/[\w-]+)"', Path(__file__).read_text(encoding="utf-8")))
    catalogue = {f"{m.exercise}/{m.key}" for m in lab2.MISTAKES}
    assert tested == catalogue, (sorted(catalogue - tested), sorted(tested - catalogue))


# ----------------------------------------------------------------------------- 1.x
def test_ex_1_1(converted, golden, capsys):
    from qonnx.core.datatype import DataType

    def right(model):
        model.set_tensor_datatype(model.graph.input[0].name, DataType["UINT8"])
        return model

    def signed(model):
        model.set_tensor_datatype(model.graph.input[0].name, DataType["INT8"])
        return model

    def forgets_return(model):
        model.set_tensor_datatype(model.graph.input[0].name, DataType["UINT8"])

    lab2.ex_1_1(right, converted, golden)
    assert "Exercise 1.1 passed" in capsys.readouterr().out
    name = converted.graph.input[0].name
    assert converted.get_tensor_datatype(name).name == "FLOAT32", "the check changed the student's model"
    _fails(r"Exercise 1\.1: the input is declared INT8", lab2.ex_1_1, signed, converted, golden)
    _named("1.1/signed-input", lab2.ex_1_1, signed, converted, golden)
    _named("1.1/no-return", lab2.ex_1_1, forgets_return, converted, golden)
    _named("1.1/unchanged", lab2.ex_1_1, lambda m: m, converted, golden)
    _fails(r"Exercise 1\.1: .*missing.*returned None", lab2.ex_1_1, forgets_return, converted, golden)
    _fails(r"Exercise 1\.1: the input datatype was not set", lab2.ex_1_1, lambda m: m, converted, golden)
    _fails(r"Exercise 1\.1: not done yet", lab2.ex_1_1, _placeholder, converted, golden)
    _fails(r"Exercise 1\.1: annotate_input is not done yet", lab2.ex_1_1, ..., converted, golden)


def test_ex_1_2(flow, golden, capsys):
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import (
        GiveReadableTensorNames,
        GiveUniqueNodeNames,
        RemoveStaticGraphInputs,
    )
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    chain = [InferShapes(), FoldConstants(), GiveUniqueNodeNames(), GiveReadableTensorNames(),
             InferDataTypes(), RemoveStaticGraphInputs()]

    def make(skip=None):
        def tidy_up(model):
            for t in chain:
                if type(t).__name__ != skip:
                    model = model.transform(t)
            return model
        return tidy_up

    finn = flow.stages["01_finn"]
    lab2.ex_1_2(make(), finn, golden)
    assert "Exercise 1.2 passed" in capsys.readouterr().out
    _fails(r"tensor names are not readable", lab2.ex_1_2, make("GiveReadableTensorNames"), finn, golden)
    _fails(r"Exercise 1\.2: GiveUniqueNodeNames is missing.*Found empty node name", lab2.ex_1_2,
           make("GiveUniqueNodeNames"), finn, golden)
    _fails(r"Exercise 1\.2: not done yet", lab2.ex_1_2, _placeholder, finn, golden)
    _named("1.2/no-unique-names", lab2.ex_1_2, make("GiveUniqueNodeNames"), finn, golden)
    _named("1.2/no-readable-names", lab2.ex_1_2, make("GiveReadableTensorNames"), finn, golden)

    def returns_tuple(model):
        return model.transform(InferShapes()), True

    _fails(r"must be a qonnx ModelWrapper, got tuple", lab2.ex_1_2, returns_tuple, finn, golden)
    _named("1.2/returns-tuple", lab2.ex_1_2, returns_tuple, finn, golden)


def test_ex_1_3(flow, capsys):
    def right(model):
        out = {}
        for n in model.graph.node:
            for t in [*n.input, *n.output]:
                if t and model.get_tensor_datatype(t).name != "FLOAT32":
                    out[t] = model.get_tensor_datatype(t).name
        return out

    def only_weights(model):
        return {k: v for k, v in right(model).items() if "param" in k}

    def with_floats(model):
        return {**right(model), "Mul_0_out0": "FLOAT32"}

    tidy = flow.stages["02_tidy"]
    lab2.ex_1_3(right, tidy)
    assert "6 quantized tensors" in capsys.readouterr().out
    _fails(r"missing 3 tensor", lab2.ex_1_3, only_weights, tidy)
    _fails(r"are FLOAT32", lab2.ex_1_3, with_floats, tidy)
    _named("1.3/missing-tensors", lab2.ex_1_3, only_weights, tidy)
    _named("1.3/includes-float", lab2.ex_1_3, with_floats, tidy)
    _fails(r"expected a dict", lab2.ex_1_3, lambda m: list(right(m)), tidy)
    _fails(r"Exercise 1\.3: not done yet", lab2.ex_1_3, _placeholder, tidy)


# ----------------------------------------------------------------------------- 2.x
def test_ex_2_1(flow, golden, capsys):
    from qonnx.transformation.base import Transformation

    class Right(Transformation):
        def apply(self, model):
            mul = model.find_producer(model.graph.output[0].name)
            if mul is None or mul.op_type != "Mul":
                return model, False
            if not model.get_tensor_datatype(mul.input[0]).is_integer():
                return model, False
            scale = float(model.get_initializer(mul.input[1]).reshape(()))
            model.find_producer(mul.input[0]).output[0] = model.graph.output[0].name
            model.graph.node.remove(mul)
            model.set_metadata_prop("output_scale", repr(scale))
            return model, False

    class Greedy(Transformation):  # removes any trailing Mul, even on a float tensor
        def apply(self, model):
            mul = model.find_producer(model.graph.output[0].name)
            if mul is None or mul.op_type != "Mul":
                return model, False
            scale = float(model.get_initializer(mul.input[1]).reshape(()))
            model.set_metadata_prop("output_scale", repr(scale))
            model.find_producer(mul.input[0]).output[0] = model.graph.output[0].name
            model.graph.node.remove(mul)
            return model, False

    class NoMetadata(Transformation):
        def apply(self, model):
            mul = model.find_producer(model.graph.output[0].name)
            integer = mul is not None and model.get_tensor_datatype(mul.input[0]).is_integer()
            if integer and mul.op_type == "Mul":
                model.find_producer(mul.input[0]).output[0] = model.graph.output[0].name
                model.graph.node.remove(mul)
            return model, False

    class Placeholder(Transformation):
        def apply(self, model):
            raise NotImplementedError("Exercise 2.1")

    s, t = flow.stages["03_streamlined"], flow.stages["02_tidy"]
    lab2.ex_2_1(Right, s, t, golden)
    assert "Exercise 2.1 passed" in capsys.readouterr().out
    _fails(r"on the tidy \(not streamlined\) model it removed", lab2.ex_2_1, Greedy, s, t, golden)
    _fails(r"no metadata 'output_scale'", lab2.ex_2_1, NoMetadata, s, t, golden)
    _named("2.1/no-metadata", lab2.ex_2_1, NoMetadata, s, t, golden)
    _named("2.1/float-mul-removed", lab2.ex_2_1, Greedy, s, t, golden)
    _fails(r"expected a Transformation subclass", lab2.ex_2_1, lambda: None, s, t, golden)
    _fails(r"Exercise 2\.1: not done yet", lab2.ex_2_1, Placeholder, s, t, golden)


def test_ex_2_2(flow, capsys):
    def right(model):
        out = {}
        for n in model.get_nodes_by_op_type("MatMul"):
            bad = [x for x in n.input if not model.get_tensor_datatype(x).is_integer()]
            if bad:
                out[n.name] = bad
        return out

    def all_inputs(model):
        return {n.name: list(n.input) for n in model.get_nodes_by_op_type("MatMul")}

    s, t = flow.stages["03_streamlined"], flow.stages["02_tidy"]
    lab2.ex_2_2(right, s, t)
    assert "streamlined: none" in capsys.readouterr().out
    _fails(r"(?s)every MatMul input is listed.*got: +\['Mul_0_out0', 'MatMul_0_param0'\]", lab2.ex_2_2,
           all_inputs, s, t)
    _fails(r"no float MatMul input was found on the tidy model", lab2.ex_2_2, lambda m: {}, s, t)
    _named("2.2/nothing-found", lab2.ex_2_2, lambda m: {}, s, t)
    _named("2.2/all-inputs", lab2.ex_2_2, all_inputs, s, t)
    _fails(r"Exercise 2\.2: not done yet", lab2.ex_2_2, _placeholder, s, t)


# ----------------------------------------------------------------------------- 3.x
def _set(model, folding):
    from qonnx.custom_op.registry import getCustomOp

    for name, attrs in folding.items():
        for k, v in attrs.items():
            getCustomOp(model.get_node_from_name(name)).set_nodeattr(k, v)
    return model


def test_ex_3_1(flow, capsys):
    spec = flow.stages["07_specialized"]
    lab2.ex_3_1(lambda m: _set(m, {"MVAU_rtl_0": {"SIMD": 16, "PE": 4}, "MVAU_rtl_1": {"SIMD": 16},
                                   "MVAU_rtl_2": {"SIMD": 2}}), spec)
    assert "250,000 FPS" in capsys.readouterr().out
    _fails(r"MVAU_rtl_1 still needs 4096 cycles", lab2.ex_3_1,
           lambda m: _set(m, {"MVAU_rtl_0": {"SIMD": 16, "PE": 4}}), spec)
    _fails(r"SIMD=3 does not divide MW=400", lab2.ex_3_1,
           lambda m: _set(m, {"MVAU_rtl_0": {"SIMD": 3}}), spec)
    _fails(r"Exercise 3\.1: not done yet", lab2.ex_3_1, _placeholder, spec)
    _named("3.1/too-slow", lab2.ex_3_1, lambda m: _set(m, {"MVAU_rtl_0": {"SIMD": 16, "PE": 4}}), spec)
    _named("3.1/not-divisor", lab2.ex_3_1, lambda m: _set(m, {"MVAU_rtl_0": {"SIMD": 3}}), spec)
    assert ff.get_folding(spec)["MVAU_rtl_0"] == {"SIMD": 1, "PE": 1}, "the check changed the student's model"


def _cheapest(model, target_fps, budget, dma=True):
    from qonnx.custom_op.registry import getCustomOp

    cap = ff.capacity()
    target = int(100e6 // target_fps)
    folding = {}
    nodes = list(model.graph.node)
    for node in nodes:
        inst = getCustomOp(node)
        legal = ff.legal_values(model, node.name)
        best = None
        for values in itertools.product(*legal.values()):
            fold = dict(zip(legal, values))
            for k, v in fold.items():
                inst.set_nodeattr(k, v)
            if dma and node is nodes[0] and not ff.dma_width_ok(inst.get_instream_width_padded()):
                continue
            if dma and node is nodes[-1] and not ff.dma_width_ok(inst.get_outstream_width_padded()):
                continue
            if inst.get_exp_cycles() <= target:
                res = inst.node_res_estimation(ff.FPGA_PART)
                cost = sum(res[k] / (budget * cap[k]) for k in ("LUT", "BRAM_18K", "DSP"))
                if best is None or cost < best[0]:
                    best = (cost, fold)
        folding[node.name] = best[1]
    return folding


def test_ex_3_2(flow, capsys):
    spec = flow.stages["07_specialized"]
    lab2.ex_3_2(_cheapest, spec)
    assert "Exercise 3.2 passed: 500,000 FPS" in capsys.readouterr().out

    def fastest(model, target_fps, budget):  # fully unrolled: way over the DSP budget
        return {n.name: {k: v[-1] for k, v in ff.legal_values(model, n.name).items()}
                for n in model.graph.node}

    def too_slow(model, target_fps, budget):
        return _cheapest(model, 100_000, budget)

    _fails(r"over the resource budget: .*DSP", lab2.ex_3_2, fastest, spec)
    _fails(r"the output stream \(MVAU_rtl_2\) is \d+ bits wide, not a width the AXI DMA accepts", lab2.ex_3_2,
           lambda m, t, b: _cheapest(m, t, b, dma=False), spec)
    _fails(r"estimated [\d,]+ FPS < 500,000 \(slowest layer MVAU_rtl_0", lab2.ex_3_2, too_slow, spec)
    _fails(r"SIMD=3 does not divide", lab2.ex_3_2, lambda m, t, b: {"MVAU_rtl_0": {"SIMD": 3}}, spec)
    _fails(r"expected a folding dict", lab2.ex_3_2, lambda m, t, b: None, spec)
    _named("3.2/over-budget", lab2.ex_3_2, fastest, spec)
    _named("3.2/dma-width", lab2.ex_3_2, lambda m, t, b: _cheapest(m, t, b, dma=False), spec)
    _named("3.2/too-slow", lab2.ex_3_2, too_slow, spec)
    _fails(r"Exercise 3\.2: not done yet", lab2.ex_3_2, _placeholder, spec)


# ----------------------------------------------------------------------------- 4.x
def test_ex_4_1(capsys):
    import finn.builder.build_dataflow_config as build_cfg

    def right():
        steps = list(build_cfg.hw_codegen_dataflow_steps)
        steps.insert(steps.index("step_streamline") + 1, ff.step_drop_output_scale)
        return steps

    def at_the_end():
        return [*build_cfg.hw_codegen_dataflow_steps, ff.step_drop_output_scale]

    def as_string():
        steps = list(build_cfg.hw_codegen_dataflow_steps)
        steps.insert(steps.index("step_streamline") + 1, "step_drop_output_scale")
        return steps

    lab2.ex_4_1(right)
    assert "Exercise 4.1 passed" in capsys.readouterr().out
    _fails(r"comes after 'step_hw_codegen'", lab2.ex_4_1, at_the_end)
    _fails(r"the custom step is a string", lab2.ex_4_1, as_string)
    _fails(r"Exercise 4\.1: not done yet", lab2.ex_4_1, _placeholder)
    _named("4.1/wrong-position", lab2.ex_4_1, at_the_end)
    _named("4.1/as-string", lab2.ex_4_1, as_string)
    assert list(build_cfg.hw_codegen_dataflow_steps) == right()[:3] + right()[4:]


def test_ex_4_1_catches_a_modified_default_list(monkeypatch: pytest.MonkeyPatch):
    import finn.builder.build_dataflow_config as build_cfg

    steps = list(build_cfg.hw_codegen_dataflow_steps)
    monkeypatch.setattr(build_cfg, "hw_codegen_dataflow_steps", steps)

    def mutates():
        steps.insert(steps.index("step_streamline") + 1, ff.step_drop_output_scale)
        return steps

    _fails(r"the default step list of FINN was modified", lab2.ex_4_1, mutates)
    _named("4.1/modified-default", lab2.ex_4_1, mutates)


def test_ex_4_2(flow, capsys):
    streams = ff.io_streams(flow.folded)

    def right(s, batch):
        return (batch * s["input"]["words_per_sample"] * s["input"]["padded_bits"] // 8,
                batch * s["output"]["words_per_sample"] * s["output"]["padded_bits"] // 8)

    def elements(s, batch):
        return batch * 400, batch * 10

    lab2.ex_4_2(right, copy.deepcopy(streams))
    assert "400 bytes in" in capsys.readouterr().out
    _fails(r"(?s)values counted, not bytes.*expected: \(MM2S, S2MM\) = \(400, 20\).*got: +\(400, 10\)",
           lab2.ex_4_2, elements, streams)
    _fails(r"expected a pair", lab2.ex_4_2, lambda s, b: 400 * b, streams)
    _named("4.2/elements", lab2.ex_4_2, elements, streams)
    _named("4.2/swapped", lab2.ex_4_2, lambda s, b: right(s, b)[::-1], streams)
    _named("4.2/no-batch", lab2.ex_4_2, lambda s, b: right(s, 1), streams)
    _fails(r"Exercise 4\.2: not done yet", lab2.ex_4_2, _placeholder, streams)


# ----------------------------------------------------------------------------- 6.x (synthesis)
def _syn_over(column="syn", drop_total=True, percent=False, pick="idxmax"):
    def over_budget(table, capacity, budget):
        layers = table.drop("total") if drop_total else table
        out = {}
        for k in ("LUT", "FF", "BRAM_18K", "DSP"):
            if f"{k} {column}" not in layers:
                continue
            used = layers[f"{k} %"].sum() if percent else layers[f"{k} {column}"].sum()
            if used > budget * (1 if percent else capacity[k]):
                out[k] = getattr(layers[f"{k} {column}"], pick)()
        return out
    return over_budget


def test_ex_6_1(capsys):
    lab2.ex_6_1(_syn_over())
    out = capsys.readouterr().out
    assert "Exercise 6.1 passed: LUT over budget, most in StreamingDataWidthConverter_rtl_0" in out
    _named("6.1/estimates", lab2.ex_6_1, _syn_over(column="est"))
    _named("6.1/total-row", lab2.ex_6_1, _syn_over(drop_total=False))
    _named("6.1/percent", lab2.ex_6_1, _syn_over(percent=True))
    _named("6.1/smallest", lab2.ex_6_1, _syn_over(pick="idxmin"))
    _fails("not done yet", lab2.ex_6_1, ...)
    _fails("NotImplementedError", lab2.ex_6_1, _placeholder)
    _fails("expected a dict", lab2.ex_6_1, lambda t, c, b: ["LUT"])


def test_ex_6_1_also_checks_the_students_own_table():
    """A function right on the checkpoint's table but wrong on the student's (here: hard-coded) fails."""
    table = lab2.ex61_table()
    table.loc["MVAU_rtl_1", "LUT syn"] = 30_000  # now the largest LUT user
    table.loc["total", "LUT syn"] = table.drop("total")["LUT syn"].sum()
    lab2.ex_6_1(_syn_over(), table)
    known = {0.6: {"LUT": "StreamingDataWidthConverter_rtl_0", "DSP": "MVAU_rtl_0"},
             0.7: {"LUT": "StreamingDataWidthConverter_rtl_0"}}
    _named("6.1/smallest", lab2.ex_6_1, lambda t, c, b: known[b], table)
