"""course_utils.plots (Lab 1 figures): each returns a Figure with the expected content and shows nothing."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from course_utils import plots, quant  # noqa: E402
from course_utils.models import FloatMLP, build_qnn  # noqa: E402
from course_utils.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def no_open_figures():
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a plot function left a figure registered with pyplot"


def test_sample_grid_titles_and_wrong_predictions_in_red():
    images = np.random.default_rng(0).integers(0, 256, (10, 784), dtype=np.uint8)
    labels = np.arange(10)
    preds = labels.copy()
    preds[3] = 5
    fig = plots.sample_grid(images, labels, [f"c{i}" for i in range(10)], preds=preds, n=6, cols=4)
    assert isinstance(fig, Figure) and len(fig.axes) == 8            # 2 rows x 4 columns
    titles = [ax.get_title() for ax in fig.axes[:6]]
    assert titles[0] == "c0 -> c0" and titles[3] == "c3 -> c5"
    assert fig.axes[3].title.get_color() == "red" and fig.axes[0].title.get_color() == "black"
    assert fig.axes[0].images[0].get_array().shape == (28, 28)
    with pytest.raises(ValueError, match="28, 28"):
        plots.sample_grid(np.zeros((2, 3, 4, 5)))


def test_histograms_show_float_and_quantized_levels():
    w = np.random.default_rng(1).normal(size=2000)
    fig = plots.histogram(w, quant.fake_quantize(w, 3), title="t")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["float (2,000 values)", "quantized (7 levels)"]
    ax = fig.axes[0]
    float_edges = [p.get_x() for p in ax.patches[:100]]
    assert len(ax.patches) == 101 and ax.get_yscale() == "linear"   # 100 bars + the quantized outline
    assert np.allclose(ax.patches[100].get_path().vertices[1:-1:2, 0].min(), float_edges[0])  # same bins
    acts = np.maximum(np.random.default_rng(2).normal(0, 1, 5000), 0)   # half are exact zeros: a spike
    assert plots.histogram(acts, quant.fake_quantize(acts, 4, "asymmetric")).axes[0].get_yscale() == "log"
    assert plots.histogram(acts, log=False).axes[0].get_yscale() == "linear"
    fig = plots.weight_histograms(build_qnn(2, 2), {"layers.0": quant.fake_quantize(np.ones(3), 2)})
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["layers.0 (64, 400)", "layers.3 (64, 64)", "layers.6 (10, 64)"]
    assert "quantized (1 levels)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    fig = plots.activation_histograms({"a": np.abs(w), "b": np.abs(w)})
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="no 2-D"):
        plots.weight_histograms(FloatMLP().layers[1])


def test_accuracy_vs_bits_orders_mixed_keys_and_marks_float():
    fig = plots.accuracy_vs_bits({"QAT": {"w4a4": 0.978, "w1a1": 0.95, "w2a2": 0.969},
                                  "PTQ": {"w2a2": 0.1, "w8a8": 0.97}}, float_accuracy=0.98)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["W1A1", "W2A2", "W4A4", "W8A8"]
    qat = ax.get_lines()[0]
    assert list(qat.get_ydata()) == pytest.approx([95.0, 96.9, 97.8])
    assert "float 98.00%" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert list(qat.get_xdata()) == [0, 1, 2] and list(ax.get_lines()[1].get_xdata()) == [1, 3]
    fig = plots.accuracy_vs_bits({"PTQ": {8: 0.97, 2: 0.1, 4: 0.96}})
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["2", "4", "8"]
    assert list(fig.axes[0].get_lines()[0].get_ydata()) == pytest.approx([10.0, 96.0, 97.0])


def test_confusion_matrix_and_curves():
    cm = np.array([[5, 1], [0, 4]])
    fig = plots.confusion_matrix(cm, ["a", "b"])
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0", "1", "4", "5"]
    fig = plots.confusion_matrix(cm, normalize=True)
    assert "0.83" in [t.get_text() for t in fig.axes[0].texts]
    with pytest.raises(ValueError, match="square"):
        plots.confusion_matrix(np.zeros((2, 3)))
    h = History(epoch=[1, 2], lr=[1e-3, 0.0], train_loss=[0.5, 0.2], train_acc=[0.8, 0.9],
                test_loss=[0.4, 0.3], test_acc=[0.85, 0.9], seconds=1.0)
    fig = plots.training_curves(h)
    assert len(fig.axes) == 2 and len(fig.axes[1].get_lines()) == 2
    assert list(fig.axes[1].get_lines()[1].get_ydata()) == pytest.approx([85.0, 90.0])
    with pytest.raises(ValueError, match="no epochs"):
        plots.training_curves(History())
    fig = plots.error_vs_bits({"sym": {2: 1.0, 4: 13.0}})
    assert list(fig.axes[0].get_lines()[0].get_xdata()) == [2, 4]
