"""course_utils.export: quiet QONNX export, QONNX == Brevitas, golden batch, the Lab 1 hand-off, fallback."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper

from course_utils import export, models
from course_utils.models import FloatMLP, MLPConfig, QuantMLP


def _qnn(seed: int, cfg: MLPConfig | None = None) -> QuantMLP:
    """A QuantMLP with random weights and non-trivial BatchNorm statistics."""
    torch.manual_seed(seed)
    qnn = QuantMLP(cfg or MLPConfig())
    qnn.train()
    with torch.no_grad():
        for _ in range(3):
            qnn(torch.randint(0, 256, (128, 400)).float())
    return qnn.eval()


def _pixels(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 400)).astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    qnn = _qnn(0)
    path = tmp_path_factory.mktemp("qonnx") / "m.onnx"
    return qnn, export.export_qonnx(qnn, path)


def test_export_is_quiet(tmp_path, capfd):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export.export_qonnx(_qnn(1), tmp_path / "q.onnx")
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)
    assert caught == []
    assert [p.name for p in tmp_path.iterdir()] == ["q.onnx"]     # no temp file left


def test_exported_graph_has_quant_nodes_and_raw_pixel_input(exported):
    qnn, path = exported
    model = ModelWrapper(str(path))
    assert model.get_tensor_shape(model.graph.input[0].name) == [1, 400]
    ops = [n.op_type for n in model.graph.node]
    assert ops[0] == "Mul" and ops.count("Quant") == 5 and ops.count("Gemm") == 3
    bits = [int(model.get_initializer(n.input[3])) for n in model.graph.node if n.op_type == "Quant"]
    assert bits == [4, 4, 4, 4, 4]


def test_qonnx_execution_equals_brevitas(exported):
    qnn, path = exported
    x = _pixels(16)
    diff = export.verify_qonnx(qnn, path, x)
    assert diff < 1e-4
    y = export.execute_qonnx(path, x)
    with torch.no_grad():
        ref = qnn(torch.from_numpy(x)).numpy()
    assert y.shape == (16, 10) and np.abs(y - ref).max() == pytest.approx(diff)
    assert np.abs(ref).max() > 0.1          # a real comparison, not of zeros


def test_verify_reports_a_mismatch_with_its_size(exported):
    _, path = exported
    other = _qnn(7)
    with pytest.raises(export.ExportMismatch, match=r"max \|diff\| = "):
        export.verify_qonnx(other, path, _pixels(4))


def test_execute_qonnx_checks_the_input_shape(exported):
    _, path = exported
    with pytest.raises(ValueError, match="400"):
        export.execute_qonnx(path, np.zeros((2, 28, 29), np.float32))
    with pytest.raises(FileNotFoundError, match="export it first"):
        export.execute_qonnx(path.parent / "missing.onnx", _pixels(1))


def test_golden_batch_round_trip(tmp_path, exported):
    qnn, _ = exported
    images = np.random.default_rng(3).integers(0, 256, (70, 28, 28), dtype=np.uint8)
    labels = np.arange(70) % 10
    g = export.golden_batch(qnn, images, labels)
    assert g["x"].dtype == np.uint8 and g["x"].shape == (64, 400)
    assert g["logits"].dtype == np.float32 and g["logits"].shape == (64, 10)
    assert g["pred"].dtype == np.int64 and np.array_equal(g["pred"], g["logits"].argmax(1))
    assert g["labels"].dtype == np.uint8 and g["labels"].tolist() == (np.arange(64) % 10).tolist()
    back = export.load_golden(export.save_golden(g, tmp_path / "g.npz"))
    assert all(np.array_equal(back[k], g[k]) for k in g)
    with pytest.raises(ValueError, match="uint8"):
        export.golden_batch(qnn, images.astype(np.float32), labels)
    with pytest.raises(ValueError, match="at least 64"):
        export.golden_batch(qnn, images[:10], labels[:10])
    np.savez(tmp_path / "bad.npz", x=g["x"])
    with pytest.raises(ValueError, match="lacks"):
        export.load_golden(tmp_path / "bad.npz")


def test_checkpoints_round_trip(tmp_path):
    qnn = _qnn(2, MLPConfig(2, 3, hidden=(32,)))
    path = models.save_checkpoint(qnn, tmp_path / "q.pt", {"seed": 2})
    back = models.load_checkpoint(path)
    assert isinstance(back, QuantMLP) and back.cfg == qnn.cfg and back.info == {"seed": 2}
    x = torch.from_numpy(_pixels(8))
    with torch.no_grad():
        assert torch.equal(back(x), qnn(x))
    net = FloatMLP(hidden=(16, 8)).eval()
    fback = models.load_checkpoint(models.save_checkpoint(net, tmp_path / "f.pt"))
    assert isinstance(fback, FloatMLP) and fback.hidden == (16, 8)
    with torch.no_grad():
        assert torch.equal(fback(x), net(x))
    again = models.save_checkpoint(qnn, tmp_path / "again.pt", {"seed": 2})
    assert again.read_bytes() == path.read_bytes()          # byte-reproducible (sha256 in meta.json)
    again.unlink()
    with pytest.raises(FileNotFoundError, match="pretrained"):
        models.load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        models.load_checkpoint(tmp_path / "junk.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pt", "junk.pt", "q.pt"]


@pytest.fixture(scope="module")
def handoff(tmp_path_factory):
    qnn = _qnn(5)
    out = tmp_path_factory.mktemp("build") / "lab1"
    paths = export.save_lab1_artifacts(qnn, out, test_accuracy=0.5, epochs=1, seed=5)
    return qnn, out, paths


def test_save_lab1_artifacts_writes_the_contract(handoff):
    qnn, out, paths = handoff
    assert set(paths) == {"weights", "qonnx", "golden", "meta"}
    names = sorted(p.name for p in out.iterdir())
    assert names == ["golden.npz", "meta.json", "model_qonnx.onnx", "qnn_w4a4.pt"]
    meta = json.loads(paths["meta"].read_text())
    assert meta["config"] == qnn.cfg.to_dict() and meta["seed"] == 5 and meta["epochs"] == 1
    assert meta["versions"]["brevitas"] == "0.13.4"
    assert meta["qonnx_vs_brevitas_max_abs_diff"] < 1e-4
    for role, f in meta["files"].items():
        assert export.sha256(paths[role]) == f["sha256"]
    g = export.load_golden(paths["golden"])
    from course_utils import data
    images, labels = data.load("mnist", "test")
    assert meta["input"]["shape"] == [1, 400] and meta["input"]["crop"] == 20
    assert np.array_equal(g["x"], images[:64, 4:24, 4:24].reshape(64, -1))
    assert np.array_equal(g["labels"], labels[:64])
    assert np.array_equal(models.load_checkpoint(paths["weights"]).state_dict()["layers.0.weight"],
                          qnn.state_dict()["layers.0.weight"])
    assert export.lab1_problem(out) is None


def test_lab1_artifacts_prefers_a_complete_build(handoff, monkeypatch):
    _, out, paths = handoff
    monkeypatch.setenv("COURSE_BUILD_DIR", str(out.parent))
    art = export.lab1_artifacts()
    assert art["source"] == "build" and art["qonnx"] == paths["qonnx"] and art["sweep"] is None
    shipped = export.lab1_artifacts(prefer="pretrained")
    assert shipped["source"] == "pretrained" and shipped["qonnx"].is_file()
    with pytest.raises(ValueError, match="prefer"):
        export.lab1_artifacts(prefer="cloud")


def test_lab1_artifacts_falls_back_when_build_is_missing_or_changed(tmp_path, monkeypatch, capsys, handoff):
    _, out, _ = handoff
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    art = export.lab1_artifacts()
    assert art["source"] == "pretrained" and "does not exist" in capsys.readouterr().out
    lab1 = tmp_path / "lab1"
    lab1.mkdir()
    for f in out.iterdir():
        (lab1 / f.name).write_bytes(f.read_bytes())
    assert export.lab1_artifacts()["source"] == "build"
    (lab1 / "golden.npz").write_bytes(b"changed")
    assert export.lab1_artifacts()["source"] == "pretrained"
    assert "inconsistent (golden.npz changed" in capsys.readouterr().out
    (lab1 / "golden.npz").unlink()
    assert export.lab1_artifacts()["source"] == "pretrained"
    assert "incomplete (missing golden.npz)" in capsys.readouterr().out


def test_lab1_file_falls_back_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    path = export.lab1_file(export.FLOAT_FILE)
    assert path.parent.name == "lab1" and path.parent.parent.name == "pretrained"
    assert "not found" in capsys.readouterr().out
    (tmp_path / "lab1").mkdir()
    (tmp_path / "lab1" / export.FLOAT_FILE).write_bytes(b"x")
    assert export.lab1_file(export.FLOAT_FILE) == tmp_path / "lab1" / export.FLOAT_FILE
    with pytest.raises(FileNotFoundError, match="neither"):
        export.lab1_file("nothing.bin")


def test_failed_verification_replaces_nothing(handoff, tmp_path, monkeypatch):
    qnn, out, _ = handoff
    target = tmp_path / "lab1"
    target.mkdir()
    for f in out.iterdir():
        (target / f.name).write_bytes(f.read_bytes())
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def broken(*args, **kwargs):
        raise export.ExportMismatch("simulated")

    monkeypatch.setattr(export, "verify_qonnx", broken)
    with pytest.raises(export.ExportMismatch):
        export.save_lab1_artifacts(_qnn(9), target)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before   # no staging folder left either
    assert export.lab1_problem(target) is None


def test_sweep_file_round_trip(tmp_path):
    res = {"w4a4": {"weight_bits": 4, "act_bits": 4, "accuracy": 0.97, "epochs": 12, "seconds": 20.0}}
    path = export.save_sweep(res, tmp_path, seed=0, float_accuracy=0.98)
    back = export.load_sweep(path)
    assert back["results"] == res and back["float_accuracy"] == 0.98
    (tmp_path / "x.json").write_text("[]")
    with pytest.raises(ValueError, match="not a sweep file"):
        export.load_sweep(tmp_path / "x.json")


def test_save_rejects_a_float_network(tmp_path):
    with pytest.raises(TypeError, match="QuantMLP"):
        export.save_lab1_artifacts(FloatMLP(), tmp_path)
