"""The numpy accelerator executor (course_utils.board.accel) against hand-checked cases and against FINN.

The FINN comparison runs the course's dataflow model (built from pretrained/lab1 with the real FINN
transformations) with FINN's own executor on the full MNIST test set, and the numpy executor on the
same 10,000 images: every integer output must be equal.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from _hw_helpers import dataflow_model

from course_utils.board.accel import AcceleratorModel, Layer, int_type


def _desc(layers: list[dict], in_dt: str, out_dt: str, n_in: int, n_out: int) -> dict:
    return {
        "name": "t",
        "layers": layers,
        "input": {"datatype": in_dt, "shape_normal": [1, n_in]},
        "output": {"datatype": out_dt, "shape_normal": [1, n_out]},
    }


def test_int_types() -> None:
    assert (int_type("UINT8").min, int_type("UINT8").max) == (0, 255)
    assert (int_type("INT4").min, int_type("INT4").max) == (-8, 7)
    assert (int_type("BIPOLAR").min, int_type("BIPOLAR").max) == (-1, 1)
    with pytest.raises(ValueError, match="not an integer FINN datatype"):
        int_type("FLOAT32")


def test_thresholds_count_the_thresholds_at_or_below_x() -> None:
    t = np.array([[0, 10, 20], [-5, -5, 3]])
    layer = Layer(
        {
            "name": "th",
            "op": "Thresholding",
            "channels": 2,
            "input_dt": "INT8",
            "output_dt": "UINT2",
            "act_val": 0,
        },
        thresholds=t,
    )
    x = np.array([[-1, -6], [0, -5], [19, 2], [20, 3], [127, 127]])
    assert layer.run(x).tolist() == [[0, 0], [1, 2], [2, 2], [3, 3], [3, 3]]
    # unsorted rows give the same counts (FINN counts, it does not search)
    layer_u = Layer(dict(layer.spec), thresholds=t[:, ::-1].copy())
    assert np.array_equal(layer_u.run(x), layer.run(x))
    # a single global threshold row applies to every channel; act_val shifts; BIPOLAR maps 0/1 -> -1/+1
    g = Layer({**layer.spec, "output_dt": "INT2", "act_val": -2}, thresholds=np.array([[0, 10, 20]]))
    assert g.run(np.array([[5, 25]])).tolist() == [[-1, 1]]
    b = Layer({**layer.spec, "output_dt": "BIPOLAR"}, thresholds=np.array([[0], [0]]))
    assert b.run(np.array([[-3, 4]])).tolist() == [[-1, 1]]


def test_thresholds_match_qonnx_multithreshold() -> None:
    from qonnx.custom_op.general.multithreshold import multithreshold

    rng = np.random.default_rng(0)
    x = rng.integers(-3000, 3000, (500, 64))
    t = np.sort(rng.integers(-3000, 3000, (64, 15)), axis=1)
    t[::3] = t[::3, ::-1]  # some unsorted rows
    layer = Layer(
        {
            "name": "th",
            "op": "Thresholding",
            "channels": 64,
            "input_dt": "INT13",
            "output_dt": "UINT4",
            "act_val": 0,
        },
        thresholds=t,
    )
    ref = multithreshold(x.astype(np.float32), t.astype(np.float32), channels_last=True)
    assert np.array_equal(layer.run(x), ref.astype(np.int64))


def test_mvau_is_exact_beyond_float_precision() -> None:
    x = np.array([[2**31 - 1, -(2**31)]])
    w = np.array([[2**15 - 1], [2**15 - 1]])
    layer = Layer(
        {
            "name": "mv",
            "op": "MVAU",
            "MW": 2,
            "MH": 1,
            "input_dt": "INT32",
            "weight_dt": "INT16",
            "output_dt": "INT64",
        },
        weights=w,
    )
    assert int(layer.run(x)[0, 0]) == (2**31 - 1) * (2**15 - 1) - 2**31 * (2**15 - 1)


def test_binary_layers_are_xnor_popcount() -> None:
    rng = np.random.default_rng(1)
    xb, wb = rng.integers(0, 2, (20, 9)), rng.integers(0, 2, (9, 4))
    spec = {
        "name": "bin",
        "op": "MVAU",
        "MW": 9,
        "MH": 4,
        "input_dt": "BINARY",
        "weight_dt": "BINARY",
        "output_dt": "UINT4",
        "binary_xnor": 1,
    }
    popcount = (xb[:, :, None] == wb[None, :, :]).sum(axis=1)
    assert np.array_equal(Layer(spec, weights=wb).run(xb), popcount)
    spec_bp = {**spec, "input_dt": "BIPOLAR", "weight_dt": "BIPOLAR", "binary_xnor": 0}
    assert np.array_equal(Layer(spec_bp, weights=2 * wb - 1).run(2 * xb - 1), popcount)


def test_label_select_takes_the_largest_lowest_index_first() -> None:
    layer = Layer(
        {"name": "ls", "op": "LabelSelect", "labels": 4, "K": 2, "input_dt": "INT8", "output_dt": "UINT2"}
    )
    assert layer.run(np.array([[1, 5, 5, 0], [-3, -2, -1, -1]])).tolist() == [[1, 2], [2, 3]]


def _fc0(mw: int = 3, mh: int = 2) -> dict:
    """A one-layer description: MVAU fc0, UINT8 in, INT4 weights, INT8 out."""
    layer = {"name": "fc0", "op": "MVAU", "MW": mw, "MH": mh, "input_dt": "UINT8", "weight_dt": "INT4",
             "output_dt": "INT8", "weights": "fc0.W"}
    return _desc([layer], "UINT8", "INT8", mw, mh)


def test_errors_name_the_layer() -> None:
    w = np.full((3, 2), 7)
    model = AcceleratorModel.from_description(_fc0(), {"fc0.W": w})
    assert model.run(np.array([[1, 2, 3]])).tolist() == [[42, 42]]
    with pytest.raises(ValueError, match=r"layer fc0 \(MVAU\) output: values span \[5355, 5355\].*INT8"):
        model.run(np.array([[255, 255, 255]]))  # the accumulator type is too small: hardware would wrap
    with pytest.raises(ValueError, match="layer fc0 .* input: .*UINT8"):
        model.run(np.array([[256, 0, 0]]))
    with pytest.raises(ValueError, match="input: values are not integers"):
        model.run(np.array([[0.5, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="expected inputs of 3 values per sample"):
        model.run(np.zeros((2, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"weights have shape \(3, 2\), expected \(MW, MH\) = \(2, 3\)"):
        AcceleratorModel.from_description(_fc0(mw=2, mh=3), {"fc0.W": w})
    with pytest.raises(ValueError, match="array 'fc0.W' missing from dataflow.npz"):
        AcceleratorModel.from_description(_fc0(), {})
    with pytest.raises(ValueError, match="op 'StreamingMaxPool' is not supported"):
        AcceleratorModel.from_description(
            _desc([{"name": "p", "op": "StreamingMaxPool"}], "UINT8", "UINT8", 1, 1), {}
        )
    with pytest.raises(ValueError, match="layer c: sliding window without IFMDim"):
        AcceleratorModel.from_description(
            _desc([{"name": "c", "op": "ConvolutionInputGenerator"}], "UINT8", "UINT8", 1, 1), {}
        )


def test_from_package_needs_the_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a complete deploy package"):
        AcceleratorModel.from_package(tmp_path)


# ----------------------------------------------------------------------------- against FINN
@pytest.fixture(scope="module")
def course_model():
    model, _, _ = dataflow_model()
    from course_utils.hw.deploy import describe_layers, stream_description

    layers, arrays = describe_layers(model)
    desc = {"name": "mnist", "layers": layers, **stream_description(model)}
    return model, AcceleratorModel.from_description(desc, arrays)


@pytest.fixture(scope="module")
def mnist_test(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    from course_utils import data

    images, labels = data.load("mnist", "test", data_dir=tmp_path_factory.mktemp("data"))
    return images[:, 4:24, 4:24].reshape(len(images), -1), labels  # the 20x20 centre crops the model takes


def test_golden_batch_per_sample_execute_onnx(course_model) -> None:
    """FINN's execute_onnx, one sample at a time as FINN verifies, on Lab 1's golden batch."""
    from course_utils.hw.deploy import finn_outputs

    model, executor = course_model
    golden = np.load(Path(__file__).resolve().parent.parent / "pretrained" / "lab1" / "golden.npz")
    y_finn = finn_outputs(model, golden["x"])
    y_np = executor.run(golden["x"])
    assert y_np.dtype == np.int64 and y_np.shape == (len(golden["x"]), 10)
    assert np.array_equal(y_finn, y_np)
    assert np.array_equal(np.argmax(y_np, axis=1), golden["pred"])  # = Brevitas's predictions


@pytest.mark.slow
def test_full_mnist_test_set_bit_exact(course_model, mnist_test) -> None:
    """All 10,000 test images: numpy executor == FINN execute_onnx (batched), bit for bit."""
    from course_utils.finnflow.verify import execute

    model, executor = course_model
    x, labels = mnist_test
    assert x.shape == (10_000, 400)
    t0 = time.perf_counter()
    y_finn = execute(model, x, batch_size=1000)
    t_finn = time.perf_counter() - t0
    t0 = time.perf_counter()
    y_np = executor.run(x)
    t_np = time.perf_counter() - t0
    print(
        f"\n10,000 MNIST test images: FINN execute_onnx (batched) {t_finn:.2f} s, numpy executor {t_np:.3f} s"
    )
    assert np.array_equal(y_finn.astype(np.int64), y_np)
    assert np.array_equal(y_finn, np.round(y_finn))
    acc = float(np.mean(np.argmax(y_np, axis=1) == labels))
    assert acc > 0.95, acc
    # the batched FINN run equals FINN's per-sample run (how the deploy writer checks its golden batch)
    from course_utils.hw.deploy import finn_outputs

    assert np.array_equal(finn_outputs(model, x[:100]), y_finn[:100])
    # speed is bench/bench_hw.py's business (printed above): a loaded machine must not turn a test red


@pytest.mark.slow
def test_another_folding_computes_the_same(course_model, mnist_test) -> None:
    """Folding changes the streams, not the function: the executor agrees across foldings."""
    model2, _, _ = dataflow_model("alt")
    from course_utils.hw.deploy import describe_layers, finn_outputs, stream_description

    layers, arrays = describe_layers(model2)
    other = AcceleratorModel.from_description(
        {"name": "alt", "layers": layers, **stream_description(model2)}, arrays
    )
    x = mnist_test[0][:2000]
    assert [spec["PE"] for spec in layers] != [layer.spec["PE"] for layer in course_model[1].layers]
    assert np.array_equal(other.run(x), course_model[1].run(x))
    assert np.array_equal(finn_outputs(model2, x[:50]), other.run(x[:50]))


def test_narrow_integer_inputs_do_not_wrap() -> None:
    """uint8 input arrays (the pixels) go through every op without unsigned wrap-around."""
    xb = np.array([[0, 1, 1, 0]], dtype=np.uint8)
    wb = np.array([[1], [1], [0], [0]])
    spec = {
        "name": "bin",
        "op": "MVAU",
        "MW": 4,
        "MH": 1,
        "input_dt": "BINARY",
        "weight_dt": "BINARY",
        "output_dt": "UINT3",
        "binary_xnor": 1,
    }
    assert Layer(spec, weights=wb).run(xb).tolist() == [[2]]
    ls = Layer(
        {"name": "ls", "op": "LabelSelect", "labels": 3, "K": 1, "input_dt": "UINT8", "output_dt": "UINT2"}
    )
    assert ls.run(np.array([[0, 200, 7]], dtype=np.uint8)).tolist() == [[1]]
