"""The model matrix: networks other than the course's, each taken through the whole kit.

Each network is trained (seeded, short QAT on a subset), exported, run through the Lab 2 flow with
every stage verified on a golden batch, estimated, packaged for the board and run by the package's
executor (the virtual board's model mode); all-RTL designs are also built and simulated with
Verilator. ``run_network`` returns one row of the table ``bench/model_matrix.py`` prints and
``tests/test_model_matrix.py`` checks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Network:
    """One network of the matrix: dataset, bit widths, hidden layers, input crop, training budget."""

    name: str
    dataset: str = "mnist"
    weight_bits: int = 4
    act_bits: int = 4
    hidden: tuple[int, ...] = (32,)
    crop: int = 12
    n_train: int = 10000
    epochs: int = 3
    seed: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def in_features(self) -> int:
        return self.crop * self.crop


MATRIX: tuple[Network, ...] = (
    Network("mnist_w1a1", weight_bits=1, act_bits=1, hidden=(64,)),
    Network("mnist_w2a2", weight_bits=2, act_bits=2),
    Network("mnist_w4a4", weight_bits=4, act_bits=4),
    Network("mnist_w8a8", weight_bits=8, act_bits=8),
    Network("fashion_w4a4", dataset="fashion-mnist", weight_bits=4, act_bits=4),
)
"""The matrix ``make test`` runs (tiny: 144 inputs, one hidden layer, three epochs on 10,000 images)."""


def train_network(net: Network) -> tuple[Any, float]:
    """Seeded short QAT of ``net`` on ``net.n_train`` training images; ``(qnn, test accuracy)`` on 2,000."""
    from course_utils import torchdata
    from course_utils.models import MLPConfig, QuantMLP
    from course_utils.train import evaluate, seed_everything, train

    seed_everything(net.seed)
    cfg = MLPConfig(weight_bits=net.weight_bits, act_bits=net.act_bits, hidden=tuple(net.hidden),
                    in_features=net.in_features)
    qnn = QuantMLP(cfg)
    x, y = torchdata.tensors(net.dataset, "train", crop=net.crop)
    order = np.random.default_rng(net.seed).permutation(len(x))[: net.n_train]
    train(qnn, (x[order], y[order]), epochs=net.epochs, seed=net.seed, progress=False, lr=3e-3)
    xt, yt = torchdata.tensors(net.dataset, "test", crop=net.crop)
    acc = evaluate(qnn.eval(), (xt[:2000], yt[:2000]))["accuracy"]
    return qnn.eval(), float(acc)


def run_network(net: Network, out: str | Path, *, n_golden: int = 32, rtl: bool = False,
                rtl_cache: str | Path | None = None, target_fps: float | None = None) -> dict[str, Any]:
    """Train, export, flow (verified), estimate, deploy and run ``net``; return its row of the matrix.

    ``rtl``: also build the stitched RTL with Verilator and check it on the golden batch when the
    design is all-RTL. Stages that fail are recorded (``stages[name] = "failed: ..."``), not raised.
    """
    import torch

    from course_utils import export
    from course_utils import finnflow as ff
    from course_utils.board.accel import AcceleratorModel
    from course_utils.board.package import load_package
    from course_utils.hw.deploy import write_deploy_package

    out = Path(out)
    row: dict[str, Any] = {"network": net.name, "dataset": net.dataset,
                           "bits": f"W{net.weight_bits}A{net.act_bits}",
                           "layers": "-".join(map(str, (net.in_features, *net.hidden, 10))), "stages": {}}
    t0 = time.perf_counter()
    qnn, row["accuracy"] = train_network(net)
    row["stages"]["train"] = "ok"
    from course_utils import torchdata

    xt, yt = torchdata.tensors(net.dataset, "test", crop=net.crop)
    x = xt[:n_golden].numpy().astype(np.uint8)
    with torch.no_grad():
        logits = qnn(torch.from_numpy(x.astype(np.float32))).numpy()
    golden = ff.Golden(x=x, logits=logits, pred=logits.argmax(1), labels=yt[:n_golden].numpy())
    path = export.export_qonnx(qnn, out / f"{net.name}.onnx")
    row["stages"]["export"] = "ok"
    try:
        kw = {"target_fps": target_fps} if target_fps is not None else {}
        res = ff.run_flow(path, golden=golden, out_dir=out / "stages", **kw)
    except Exception as err:  # noqa: BLE001 - a row of the table, not a crash
        row["stages"]["flow"] = f"failed: {type(err).__name__}: {err}"
        return row
    row["stages"]["flow"] = "ok" if res.fully_verified else "unverified: " + "; ".join(res.skipped)
    row["verified_stages"] = len(res.verified)
    row["hls_layers"] = ff.hls_layers(res.folded)
    row["width_notes"] = res.width_notes
    est = res.estimates
    row["stages"]["estimate"] = "ok"
    row["estimated_fps"] = float(est["fps"])
    row["resources"] = {k: float(est["resources"][k]) for k in ("LUT", "BRAM_18K", "DSP")}
    affine = ff.output_affine(res.stages["05_dataflow_parent"])
    try:
        scale, bias = affine if affine is not None else (None, None)
        pkg_path = write_deploy_package(
            res.folded, out / "deploy" / net.name, name=net.name, golden_x=x, labels=golden.labels,
            output_scale=scale, output_bias=None if bias is None or not np.any(bias) else bias,
            estimates=est, dataset=net.dataset)
    except Exception as err:  # noqa: BLE001
        row["stages"]["deploy"] = f"failed: {type(err).__name__}: {err}"
        return row
    pkg = load_package(pkg_path)
    row["stages"]["deploy"] = "ok"
    row["package"] = str(pkg_path)
    g = pkg.golden()
    board = AcceleratorModel.from_package(pkg_path)
    y = board.run(g["x"])
    row["bit_exact"] = bool(np.array_equal(y, g["y_int"]))
    row["logits_match_brevitas"] = float(np.max(np.abs(pkg.logits(y) - logits)))
    xall = xt[:2000].numpy().astype(np.uint8)
    row["board_accuracy"] = float(np.mean(board.predict(xall) == yt[:2000].numpy()))
    row["stages"]["board (model)"] = "ok" if row["bit_exact"] else "failed: not bit-exact"
    if rtl:
        if row["hls_layers"]:
            row["stages"]["rtlsim"] = "n/a: HLS layers " + ", ".join(row["hls_layers"])
        else:
            from course_utils import rtl as rtlmod

            design = rtlmod.build(res.folded, out / "rtl", quiet=True, cache=rtl_cache)
            run = design.run(x.astype(np.float32))
            ok = np.array_equal(run.outputs, g["y_int"])
            row["stages"]["rtlsim"] = "ok" if ok else "failed: not bit-exact"
            row["rtl_bit_exact"] = bool(ok)
            row["measured_fps"] = float(run.fps)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    """The matrix as a Markdown table."""
    head = ("| network | data | bits | layers | train | flow | estimate | deploy | board | RTL sim "
            "| bit-exact | accuracy | est. FPS | RTL FPS | LUT | BRAM18 | DSP | HLS layers |")
    lines = [head, "|" + "---|" * 18]
    for r in rows:
        s = r["stages"]
        res = r.get("resources", {})
        short = {k: ("ok" if v == "ok" else v.split(":")[0]) for k, v in s.items()}
        lines.append(
            f"| {r['network']} | {r['dataset']} | {r['bits']} | {r['layers']} | {short.get('train', '-')} | "
            f"{short.get('flow', '-')} | {short.get('estimate', '-')} | {short.get('deploy', '-')} | "
            f"{short.get('board (model)', '-')} | {short.get('rtlsim', '-')} | "
            f"{'yes' if r.get('bit_exact') else 'no'} | {100 * r.get('accuracy', 0):.1f}% | "
            f"{r.get('estimated_fps', 0):,.0f} | "
            f"{(format(r['measured_fps'], ',.0f') if 'measured_fps' in r else '-')} | "
            f"{res.get('LUT', 0):,.0f} | {res.get('BRAM_18K', 0):g} | {res.get('DSP', 0):g} | "
            f"{', '.join(r.get('hls_layers', {})) or '-'} |")
    return "\n".join(lines)
