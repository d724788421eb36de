"""The folded FINN hardware model predicts exactly what Brevitas predicts, on the full MNIST test set.

The hardware model computes integers; Brevitas computes the same quantized maths in floating point. In
float64 the two agree bit-exactly (logits = y_int * output_scale) on all 10,000 test images, hence the
same predictions and the same accuracy. (In float32, Brevitas can land on the other side of an activation
rounding boundary or break an exact tie between two logits differently; the test shows those cases are
rare and exactly of that kind.)
"""
from __future__ import annotations

import numpy as np
import pytest

from course_utils import finnflow as ff


@pytest.fixture(scope="module")
def setup_flow(tmp_path_factory: pytest.TempPathFactory):
    from course_utils.export import lab1_artifacts

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_BUILD_DIR", str(tmp_path_factory.mktemp("build")))
        ff.setup()
        lab1 = lab1_artifacts(prefer="pretrained")
        yield lab1, ff.run_flow(lab1["qonnx"], golden=ff.Golden.load(lab1["golden"]))
    ff.setup()


@pytest.mark.slow
def test_hw_model_equals_brevitas_on_the_full_test_set(setup_flow):
    import torch

    from course_utils import data, torchdata
    from course_utils.models import load_checkpoint

    lab1, flow = setup_flow
    images, labels = data.load("mnist", "test")
    x = torchdata.crop(images)  # the 20x20 centre crops: the model's 400 inputs
    assert len(x) == 10_000

    y_hw = ff.execute(flow.folded, x.astype(np.float32))  # the folded, specialized RTL dataflow model
    assert np.array_equal(y_hw, np.rint(y_hw)), "hardware outputs must be integers"
    y_hw = y_hw.astype(np.int64)

    qnn = load_checkpoint(lab1["weights"]).eval()
    with torch.no_grad():
        logits64 = qnn.double()(torch.from_numpy(x.astype(np.float64))).numpy()
        logits32 = qnn.float()(torch.from_numpy(x.astype(np.float32))).numpy()
    q = logits64 / flow.output_scale
    assert np.max(np.abs(q - np.rint(q))) < 1e-3, "Brevitas logits are not integer multiples of the scale"
    y_brevitas = np.rint(q).astype(np.int64)

    assert np.array_equal(y_hw, y_brevitas), f"{int((y_hw != y_brevitas).any(1).sum())} images differ"
    pred_hw, pred_brevitas = y_hw.argmax(1), y_brevitas.argmax(1)
    assert np.array_equal(pred_hw, pred_brevitas)
    acc_hw, acc_brevitas = float((pred_hw == labels).mean()), float((pred_brevitas == labels).mean())
    assert acc_hw == acc_brevitas
    assert acc_hw > 0.95, f"the shipped W4A4 model should be accurate, got {acc_hw:.4f}"

    # float32 Brevitas: every disagreement is a rounding-boundary or exact-tie case
    pred32 = logits32.argmax(1)
    int32 = np.rint(logits32 / flow.output_scale).astype(np.int64)
    differ = np.flatnonzero(pred32 != pred_hw)
    top2 = np.sort(y_hw, axis=1)[:, -2:]
    for i in differ:
        tie = top2[i, 0] == top2[i, 1]
        rounding = not np.array_equal(int32[i], y_hw[i])
        assert tie or rounding, f"image {i}: float32 Brevitas predicts {pred32[i]}, hardware {pred_hw[i]}"
    assert len(differ) <= 10, f"{len(differ)} float32 disagreements"
    print(f"accuracy {acc_hw:.4f} (hardware = float64 Brevitas on 10,000 images); float32 Brevitas differs "
          f"on {len(differ)} prediction(s), all ties or rounding boundaries")
