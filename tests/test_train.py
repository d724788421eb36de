"""course_utils.train: seeded reproducible training, evaluation helpers, confusion matrix, quick mode."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from course_utils import torchdata, train
from course_utils.models import FloatMLP, MLPConfig, QuantMLP


@pytest.fixture(scope="module")
def small_mnist():
    x, y = torchdata.tensors("mnist", "train")
    xt, yt = torchdata.tensors("mnist", "test")
    return (x[:3000], y[:3000]), (xt[:1000], yt[:1000])


def _fit_float(data, seed: int, epochs: int = 2) -> tuple[FloatMLP, train.History]:
    train.seed_everything(seed)
    net = FloatMLP(hidden=(32,))
    hist = train.train(net, data[0], data[1], epochs=epochs, lr=3e-3, batch_size=128, seed=seed,
                       progress=False)
    return net, hist


def test_same_seed_same_weights_other_seed_other_weights(small_mnist):
    a, hist = _fit_float(small_mnist, seed=3)
    b, _ = _fit_float(small_mnist, seed=3)
    c, _ = _fit_float(small_mnist, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["layers.0.weight"], sc["layers.0.weight"])
    assert hist.epoch == [1, 2]
    assert len(hist.train_loss) == len(hist.test_acc) == 2 and hist.seconds > 0
    assert hist.final_test_acc > 0.75            # 2 epochs on 3000 images (~82%)
    assert hist.train_loss[1] < hist.train_loss[0]
    assert hist.lr[1] < hist.lr[0] and hist.lr[1] == pytest.approx(0.0, abs=1e-9)  # cosine to 0
    keys = {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}
    assert set(hist.to_dict()) >= keys


def test_train_accepts_a_dataloader_and_no_test_data(small_mnist):
    (x, y), test = small_mnist
    loader = DataLoader(TensorDataset(x, y), batch_size=128, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    net = FloatMLP(hidden=(16,))
    hist = train.train(net, loader, epochs=2, lr=1e-2, progress=False)
    assert hist.test_acc == [] and hist.final_test_acc is None
    assert len(hist.train_acc) == 2 and hist.train_acc[1] > hist.train_acc[0]
    assert not net.training
    assert train.evaluate(net, test)["accuracy"] > 0.7


def test_train_rejects_bad_input(small_mnist):
    (x, y), _ = small_mnist
    with pytest.raises(ValueError, match="epochs"):
        train.train(FloatMLP(), (x, y), epochs=0, progress=False)
    with pytest.raises(ValueError, match="raw pixels"):
        train.train(FloatMLP(), (x / 255.0, y), epochs=1, progress=False)
    with pytest.raises(ValueError, match="labels"):
        train.train(FloatMLP(), (x, y[:10]), epochs=1, progress=False)
    with pytest.raises(TypeError, match="pair"):
        train.evaluate(FloatMLP(), x)
    with pytest.raises(ValueError, match=r"\(N, 784\)"):
        train.predict(FloatMLP(), np.zeros(784, np.uint8))
    with pytest.raises(ValueError, match="takes 400 raw pixels"):
        train.predict(FloatMLP(), np.zeros((2, 500), np.uint8))
    with pytest.raises(ValueError, match="whole images"):  # shifts move the crop inside whole images
        train.train(FloatMLP(), (x, y), epochs=1, shift=1, progress=False)


def test_crop_contract_and_seeded_shifts():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    c = torchdata.crop(images)
    assert c.shape == (50, 400) and c.dtype == np.uint8
    assert np.array_equal(c, images[:, 4:24, 4:24].reshape(50, 400))
    assert np.array_equal(torchdata.crop(images.reshape(50, 784), 20), c)
    with pytest.raises(ValueError, match="crop size"):
        torchdata.crop(images, 30)
    full = torch.from_numpy(images.reshape(50, 784).astype(np.float32))
    net = FloatMLP(hidden=(8,)).eval()
    assert torch.equal(net(full), net(torch.from_numpy(c.astype(np.float32))))  # whole images are cropped
    a = torchdata.random_shift_crop(full, 20, 1, torch.Generator().manual_seed(1))
    b = torchdata.random_shift_crop(full, 20, 1, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (50, 400)
    windows = {(dy, dx): images[:, 4 + dy:24 + dy, 4 + dx:24 + dx].reshape(50, 400)
               for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    used = set()
    for i in range(50):  # every row is one of the nine +-1-pixel windows of its own image
        match = [k for k, w in windows.items() if np.array_equal(a[i].numpy(), w[i])]
        assert match
        used.add(match[0])
    assert len(used) > 3
    assert torch.equal(torchdata.random_shift_crop(full, 20, 0), torch.from_numpy(c.astype(np.float32)))
    with pytest.raises(ValueError, match="shift"):
        torchdata.random_shift_crop(full, 20, 5)


def test_evaluate_predict_logits_agree(small_mnist):
    net, _ = _fit_float(small_mnist, seed=0, epochs=1)
    xt, yt = small_mnist[1]
    images = torchdata.data.load("mnist", "test")[0][:1000]  # whole images: the network crops them
    assert np.array_equal(torchdata.crop(images), xt.numpy().astype(np.uint8))
    out = train.logits(net, images)
    assert np.array_equal(out, train.logits(net, xt))
    pred = train.predict(net, images)
    assert out.shape == (1000, 10) and out.dtype == np.float32
    assert pred.dtype == np.int64 and np.array_equal(pred, out.argmax(1))
    ev = train.evaluate(net, (images, yt.numpy().astype(np.uint8)))
    assert ev["accuracy"] == pytest.approx(float(np.mean(pred == yt.numpy())))
    expected_loss = torch.nn.functional.cross_entropy(torch.from_numpy(out), yt).item()
    assert ev["loss"] == pytest.approx(expected_loss, rel=1e-5)
    net.train()
    train.logits(net, images[:5])
    assert net.training                                  # mode restored


def test_confusion_matrix_counts():
    cm = train.confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 1], num_classes=3)
    assert cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 2]]
    assert cm.sum() == 5
    with pytest.raises(ValueError, match="length"):
        train.confusion_matrix([0, 1], [0])
    with pytest.raises(ValueError, match="0..2"):
        train.confusion_matrix([0, 3], [0, 1], num_classes=3)


def test_quick_mode_and_recipes(monkeypatch):
    monkeypatch.delenv(train.QUICK_ENV, raising=False)
    assert not train.quick() and train.epochs(12) == 12
    monkeypatch.setenv(train.QUICK_ENV, "1")
    assert train.quick() and train.epochs(12) == 1
    assert train.recipe(MLPConfig(1, 1)) == train.Recipe(epochs=30, lr=1e-2, shift=1)
    assert train.recipe(MLPConfig(4, 4)) == train.Recipe(epochs=30, lr=1e-3, batch_size=256, shift=1)
    # every quantized MLP gets the default's recipe (the shipped sweep networks, bench/pareto.py's wider MLP)
    assert train.recipe(MLPConfig(2, 2)) == train.recipe(MLPConfig(8, 8)) == train.DEFAULT_RECIPE
    assert train.recipe(MLPConfig(hidden=(256, 256))) == train.DEFAULT_RECIPE
    assert train.recipe(None) == train.Recipe(epochs=12, shift=0)


def test_seed_everything_fixes_threads_and_rngs():
    train.seed_everything(5)
    a = (np.random.rand(), torch.rand(1).item())
    train.seed_everything(5)
    assert (np.random.rand(), torch.rand(1).item()) == a
    assert torch.get_num_threads() == train.THREADS


def test_quantized_training_and_sweep_reuse(small_mnist):
    train.seed_everything(0)
    qnn = QuantMLP(MLPConfig(2, 2, hidden=(32,), dropout=0.0))
    hist = train.train(qnn, small_mnist[0], small_mnist[1], epochs=2, lr=3e-3, progress=False)
    assert hist.final_test_acc > 0.6
    levels = torch.unique(qnn.layers[0].quant_weight().int())
    assert set(levels.tolist()) <= {-1, 0, 1}            # 2-bit narrow range
    entry = train.sweep_entry(qnn.cfg, hist)
    assert entry["accuracy"] == hist.final_test_acc and entry["epochs"] == 2
    done = {"w2a2": entry}
    assert train.sweep([(2, 2)], done=done, progress=False) == done   # reused, nothing trained


def test_dropout_acts_in_training_only():
    torch.manual_seed(0)
    qnn = QuantMLP(MLPConfig(4, 4, hidden=(32,), dropout=0.5))
    x = torch.randint(0, 256, (64, 400)).float()
    qnn.train()
    a, b = qnn(x), qnn(x)
    assert not torch.equal(a, b)                       # a new dropout mask every call
    qnn.eval()
    assert torch.equal(qnn(x), qnn(x))
    assert [type(m).__name__ for m in qnn.layers].count("Dropout") == 0  # not a layer: nothing to export
    with pytest.raises(ValueError, match="dropout"):
        QuantMLP(MLPConfig(dropout=1.0))
