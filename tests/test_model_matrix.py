"""The model matrix: W1A1, W2A2, W4A4, W8A8 MLPs and a Fashion-MNIST network through the whole kit.

Each is trained (seeded, short QAT), exported, run through the Lab 2 flow with every stage verified
bit-exactly on its golden batch, estimated, packaged and run by the package's executor (the virtual
board's model mode, and the real pynq stack on the virtual board when the board environment exists).
The W2A2 RTL build (Verilator, about a minute) is ``slow``; ``bench/model_matrix.py --rtl``
prints the whole table. Also: the Lab 2 exercise checkers accept the reference solutions for a
784-128-128 W4A4 MLP, and a part other than the xc7z020 says what to do.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _hw_helpers import BOARD_PY, run_on_virtual_board

from course_utils.finnflow import matrix

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "rtl" / "cache"

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def rows(build):
    """One row per network of ``matrix.MATRIX`` (no RTL: see the slow test)."""
    return {net.name: matrix.run_network(net, build / "matrix" / net.name) for net in matrix.MATRIX}


@pytest.mark.parametrize("name", [n.name for n in matrix.MATRIX])
def test_every_network_goes_all_the_way_bit_exact(rows, name):
    row = rows[name]
    assert row["stages"] == {"train": "ok", "export": "ok", "flow": "ok", "estimate": "ok", "deploy": "ok",
                             "board (model)": "ok"}, row["stages"]
    assert row["verified_stages"] == 8 and row["bit_exact"]
    assert row["logits_match_brevitas"] < 1e-4  # the package's scale (and bias) give Brevitas' logits
    assert row["accuracy"] > 0.5 and abs(row["board_accuracy"] - row["accuracy"]) < 0.03  # 10 classes: 0.1
    assert row["estimated_fps"] > 0 and row["resources"]["LUT"] > 0


def test_below_4_bits_is_all_rtl_and_binary_says_which_layer_stays_hls(rows):
    assert rows["mnist_w2a2"]["hls_layers"] == {} and rows["mnist_w8a8"]["hls_layers"] == {}
    hls = rows["mnist_w1a1"]["hls_layers"]
    assert list(hls) == ["MVAU_hls_0"] and "XNOR" in hls["MVAU_hls_0"]
    spec = json.loads((Path(rows["mnist_w1a1"]["package"]) / "accelerator.json").read_text())
    assert spec["hls_layers"] == hls
    # the output BatchNorm of a binary network: a per-class scale and bias, applied on the host
    assert isinstance(spec["output_scale"], list) and len(spec["output_bias"]) == 10
    w2 = json.loads((Path(rows["mnist_w2a2"]["package"]) / "accelerator.json").read_text())
    assert "hls_layers" not in w2 and isinstance(w2["output_scale"], float) and "output_bias" not in w2
    assert [la["op_type"] for la in w2["layers"]] == ["MVAU_rtl", "Thresholding_rtl", "MVAU_rtl"]


def test_packages_record_their_dataset_and_refuse_another(rows):
    from course_utils.board.package import PackageError, load_package

    pkg = load_package(rows["fashion_w4a4"]["package"])
    assert pkg.dataset == "fashion-mnist" and pkg.classes == 10
    assert pkg.spec["dataset"]["input_shape"] == [12, 12] and "trained on fashion-mnist" in pkg.describe()
    with pytest.raises(PackageError, match="trained on fashion-mnist, not mnist.*chance accuracy"):
        pkg.check_dataset("mnist")
    assert load_package(rows["mnist_w4a4"]["package"]).dataset == "mnist"


def test_the_wide_8_bit_output_stream_is_named(rows):
    """W8A8: 24-bit accumulators x any PE of 10 outputs is no DMA width; the flow says so, naming it."""
    notes = rows["mnist_w8a8"]["width_notes"]
    assert len(notes) == 1 and "output stream of MVAU_rtl_1 is" in notes[0] and "width converter" in notes[0]
    assert rows["mnist_w4a4"]["width_notes"] == []


@pytest.mark.skipif(not BOARD_PY.is_file(), reason="board environment .venv/board not set up")
def test_packages_run_on_the_virtual_board(rows):
    """The real pynq Overlay + DMA on the virtual board (model mode), every package of the matrix."""
    packages = [rows[n]["package"] for n in rows]
    lines = run_on_virtual_board(packages, env={"PYNQ_VIRTUAL_ACCEL": "model"})
    assert lines == [f"{n} MATCH" for n in rows], lines


@pytest.mark.slow
def test_a_2_bit_network_is_rtl_simulated_bit_exact(rows):
    """W2A2 was HLS before the kit asked FINN for RTL layers: its stitched RTL now runs in Verilator,
    bit-exact, at the estimated throughput (W8A8's RTL: tests/test_rtl_small.py; every network:
    bench/model_matrix.py --rtl)."""
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import rtl
    from course_utils.board.package import load_package

    pkg = load_package(rows["mnist_w2a2"]["package"])
    model = ModelWrapper(str(pkg.path / "dataflow.onnx"))
    design = rtl.build(model, pkg.path.parent.parent / "rtl_w2a2", quiet=True, cache=CACHE)
    g = pkg.golden()
    run = design.run(g["x"].astype(np.float32))
    assert np.array_equal(run.outputs, g["y_int"]) and run.outputs.std() > 0
    assert abs(run.fps - rows["mnist_w2a2"]["estimated_fps"]) / run.fps < 0.1


def test_rtl_simulation_of_a_binary_network_says_why_not(rows):
    from qonnx.core.modelwrapper import ModelWrapper

    from course_utils import rtl
    from course_utils.hw.deploy import describe_layers  # noqa: F401 - the package is complete without RTL

    model = ModelWrapper(str(Path(rows["mnist_w1a1"]["package"]) / "dataflow.onnx"))
    with pytest.raises(rtl.HLSLayerError, match=r"cannot simulate MVAU_hls_0 \(MVAU_hls\).*Vitis HLS"):
        rtl.build(model, Path(rows["mnist_w1a1"]["package"]).parent / "never", quiet=True, cache=CACHE)


# ---------------------------------------------------------------- a wider network, Lab 2's checkers
def _solution(notebook: str, name: str) -> str:
    """The source of ``def name`` in a solution notebook (the reference answer)."""
    nb = json.loads((ROOT / "solutions" / "lab2_finn" / notebook).read_text())
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "code" and f"def {name}(" in src:
            return src
    raise AssertionError(f"no def {name} in {notebook}")


@pytest.fixture(scope="module")
def wide(build):
    """07_specialized of a 784-128-128-10 W4A4 MLP (untrained: the checkers look at folding only)."""
    import torch

    from course_utils import export
    from course_utils import finnflow as ff
    from course_utils.models import MLPConfig, QuantMLP

    torch.manual_seed(0)
    qnn = QuantMLP(MLPConfig(hidden=(128, 128), in_features=784)).eval()
    path = export.export_qonnx(qnn, build / "wide" / "w4a4_784_128_128.onnx")
    return ff.run_flow(path, verify=False, out_dir=build / "wide" / "stages")


def test_lab2_checkers_accept_the_reference_solution_for_a_wider_mlp(wide, capsys):
    import itertools

    from qonnx.custom_op.registry import getCustomOp

    from course_utils import finnflow as ff
    from course_utils.authoring import judges
    from course_utils.checks import lab2

    specialized = wide.stages["07_specialized"]
    assert [n.name for n in ff.foldable_nodes(specialized)][:2] == ["MVAU_rtl_0", "Thresholding_rtl_0"]
    ns = {"ff": ff, "getCustomOp": getCustomOp, "itertools": itertools, "np": np,
          "CLOCK_MHZ": 100.0, "FPGA_PART": ff.FPGA_PART}
    exec(_solution("03_hw_layers_and_folding.ipynb", "fold_by_hand"), ns)  # noqa: S102 - the kit's own code
    exec(_solution("03_hw_layers_and_folding.ipynb", "choose_folding"), ns)  # noqa: S102
    assert lab2.fold_target(specialized) == 784
    lab2.ex_3_1(ns["fold_by_hand"], specialized)
    assert "Exercise 3.1 passed: every layer needs <= 784 cycles" in capsys.readouterr().out
    target = lab2.fps_target(specialized, 0.7)  # 500,000 does not fit this network: the fastest that does
    assert 100_000 <= target < 500_000
    lab2.ex_3_2(ns["choose_folding"], specialized, target_fps=target, budget=0.7)
    assert "Exercise 3.2 passed" in capsys.readouterr().out
    folded = ns["fold_by_hand"](_copy(specialized))
    with pytest.MonkeyPatch.context() as mp:  # the grader's judge, on this model's stage
        mp.setitem(judges._STAGES, "07_specialized", specialized)
        assert judges.lab2_fold_by_hand(ff.get_folding(folded), None) is None
        slow = {**ff.get_folding(folded), "MVAU_rtl_0": {"SIMD": 1, "PE": 1}}
        assert "MVAU_rtl_0 still needs 100352 cycles (> 784)" in judges.lab2_fold_by_hand(slow, None)
        assert judges.lab2_choose_folding(ns["choose_folding"](_copy(specialized), target, 0.7), None) is None
        assert "FPS <" in judges.lab2_choose_folding(ff.get_folding(folded), None)  # 784 cycles: too slow


def _copy(model):
    import copy

    from qonnx.core.modelwrapper import ModelWrapper

    return ModelWrapper(copy.deepcopy(model.model))


def test_default_target_takes_the_fastest_folding_that_fits_a_wider_mlp(wide, capsys):
    from course_utils import finnflow as ff

    specialized = wide.stages["07_specialized"]
    with pytest.raises(ff.BudgetError):  # 1 M images/s of a 784-128-128 MLP does not fit the xc7z020
        ff.search_folding(specialized, 1_000_000, 0.7)
    folding, fps = ff.search_best_folding(specialized, 1_000_000, 0.7)
    out = capsys.readouterr().out
    assert "1,000,000 images/s does not fit the budget" in out and "chose the fastest folding" in out
    trial = ff.apply_folding(_copy(specialized), folding)
    est = ff.estimate_summary(trial)
    assert est["fps"] >= fps * 0.999 and not ff.over_budget(est["resources"], 0.7)
    assert wide.estimates["fps"] > 0  # run_flow's default target went through (no BudgetError)


def test_unknown_part_lists_the_known_ones(wide):
    from course_utils import finnflow as ff

    with pytest.raises(ValueError, match=r"no capacity known for part 'xczu3eg-sbva484-1'.*xc7z020\*.*"
                                         r"To add a part"):
        ff.search_folding(wide.stages["07_specialized"], 100_000, 0.7, fpgapart="xczu3eg-sbva484-1")
