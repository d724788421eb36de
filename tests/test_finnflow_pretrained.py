"""pretrained/lab2: the shipped deploy package is what scripts/pretrained_lab2.py makes; the sweep models."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from course_utils import finnflow as ff
from course_utils.paths import kit_root, pretrained_dir

SHIPPED = pretrained_dir("lab2")
PACKAGE = SHIPPED / "deploy" / "mnist_w4a4"


def _script():
    path = kit_root() / "scripts" / "pretrained_lab2.py"
    spec = importlib.util.spec_from_file_location("pretrained_lab2", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hwh(path: Path) -> str:
    """The .hwh without its generation timestamp."""
    return re.sub(r'TIMESTAMP="[^"]*"', 'TIMESTAMP=""', path.read_text())


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pretrained_lab2")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_BUILD_DIR", str(tmp_path_factory.mktemp("build")))
        ff.setup()
        assert _script().main(["--out", str(out), "--only", "deploy", "--quiet"]) == 0
    ff.setup()
    return out


def test_shipped_deploy_package_is_reproducible(rebuilt: Path):
    new = rebuilt / "deploy" / "mnist_w4a4"
    assert sorted(p.name for p in new.iterdir()) == sorted(p.name for p in PACKAGE.iterdir())
    load = lambda path: json.loads(path.read_text())  # noqa: E731
    assert load(new / "accelerator.json") == load(PACKAGE / "accelerator.json")
    assert (new / "dataflow.onnx").read_bytes() == (PACKAGE / "dataflow.onnx").read_bytes()
    for name in ("dataflow.npz", "golden.npz"):
        with np.load(new / name) as a, np.load(PACKAGE / name) as b:
            assert sorted(a.files) == sorted(b.files), name
            for key in a.files:
                assert np.array_equal(a[key], b[key]), f"{name}:{key}"
    assert (new / "mnist_w4a4.bit").read_text() == (PACKAGE / "mnist_w4a4.bit").read_text()
    assert _hwh(new / "mnist_w4a4.hwh") == _hwh(PACKAGE / "mnist_w4a4.hwh")
    assert (new / "vivado" / "params.tcl").read_text() == (PACKAGE / "vivado" / "params.tcl").read_text()
    assert load(rebuilt / "design.json") == load(SHIPPED / "design.json")


def test_shipped_design_meets_the_target_and_matches_lab1():
    design = json.loads((SHIPPED / "design.json").read_text())
    spec = json.loads((PACKAGE / "accelerator.json").read_text())
    est = design["estimates"]
    assert est["fps"] >= 1_000_000 and est["clock_mhz"] == 100.0  # the HP port's rate: 400 bytes per image
    assert all(v < 0.7 for v in est["utilization"].values())       # DSPs as mvu.sv instantiates them
    assert spec["input"]["bytes_per_sample"] == 400 and design["qonnx"] == "pretrained/lab1/model_qonnx.onnx"
    rec = spec["rtl_verification"]  # measured in Verilator by the script: bit-exact, 100 cycles per image
    assert rec["stitched"] and rec["bit_exact_samples"] == 64
    assert rec["measured"]["interval_cycles"] <= 100 and rec["measured"]["fps"] >= 1_000_000
    assert spec["estimates"]["cycles_per_sample"] == est["cycles_per_sample"]
    assert spec["output_scale"] == pytest.approx(design["output_scale"])
    assert {spec["input"]["stream_width_bits"], spec["output"]["stream_width_bits"]} <= set(ff.DMA_WIDTHS)
    with np.load(PACKAGE / "golden.npz") as g, np.load(pretrained_dir("lab1", "golden.npz")) as lab1:
        assert np.array_equal(g["x"], lab1["x"]), "the golden batch is not Lab 1's: re-run the script"
        q = lab1["logits"].astype(np.float64) / spec["output_scale"]
        assert np.array_equal(g["y_int"], np.rint(q).astype(np.int64)), "package outputs differ from Brevitas"


SWEEP = SHIPPED / "sweep"


# FINN's RTL MVAU from 2 bits up (the kit asks for RTL layers); a binary MVAU stays HLS, as the first layer of
# W1A1 does not: its inputs are 8-bit pixels
@pytest.mark.parametrize("tag, bits, hw_op", [("w1a1", 1, "MVAU_rtl"), ("w2a2", 2, "MVAU_rtl"),
                                              ("w8a8", 8, "MVAU_rtl")])
def test_sweep_models_are_the_bit_widths_they_claim(tag: str, bits: int, hw_op: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch):
    from qonnx.core.modelwrapper import ModelWrapper

    info = json.loads((SWEEP / "sweep.json").read_text())[tag]
    assert info["weight_bits"] == bits and info["act_bits"] == bits and 0.9 < info["accuracy"] <= 1.0
    model = ModelWrapper(str(SWEEP / info["qonnx"]))
    weight_quant = [n for n in model.graph.node if n.op_type in ("Quant", "BipolarQuant")]
    assert weight_quant, "no quantizers in the exported model"
    if bits > 1:
        widths = {float(model.get_initializer(n.input[3])) for n in model.graph.node if n.op_type == "Quant"}
        assert widths == {float(bits)}, widths
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    ff.setup()
    result = ff.run_flow(model, verify=False, target_fps=500_000, budget=1.0)
    ops = [n.op_type for n in result.folded.graph.node]
    assert ops[0] == hw_op, ops
    assert ("MVAU_hls" in ops) == (bits == 1), ops      # binary hidden layers: FINN has no RTL layer
    assert result.estimates["fps"] >= 500_000
