"""Benchmark: the kit's CNN (issue 18's accuracy/throughput point) from training to RTL.

    .venv/host/bin/python bench/cnn.py [--epochs 24] [--retrain] [--n-rtl 1000] [--synth]
    .venv/host/bin/python bench/cnn.py --fast --epochs 10 --out build/bench/cnn99 --n-rtl 10000 --synth

Trains the W4A4 ``QuantCNN`` (1->16->32 channels, 3x3 stride-2 convolutions, 28x28 input; seed 0, the
``train.recipe`` of ``CNNConfig``) with ``train.fit`` and prints its MNIST test accuracy and training time
(the checkpoint is cached in ``build/bench/cnn/``: ``--retrain`` trains again); exports it
(``save_lab1_artifacts``), runs the kit's FINN flow with the folding search at ``--target-fps``, prints
the layers, estimated FPS and resources (DSPs as the RTL instantiates them), whether every stage was
verified bit-exact and all-RTL; then simulates the stitched RTL with Verilator on ``--n-rtl`` test images
(measured cycles per image, FPS at 100 MHz, agreement with FINN's Python execution) when Verilator works;
prints the whole design's Yosys counts if cached (``--synth``: synthesize it). ``--fast``: a shorter recipe
(Adam + OneCycle at ``--lr``, batches of ``--batch-size``, +-``--shift``-pixel shifts), resumable per epoch.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def shift_images(x, shift: int, gen):
    """Each ``(N, 784)`` image moved by a random ``(dy, dx)`` in ``-shift..shift`` (zeros shifted in; MNIST's
    border is blank), drawn from the seeded ``gen``: augmentation for networks that see whole 28x28 images."""
    import torch

    n, k = x.shape[0], 2 * shift + 1
    img = torch.nn.functional.pad(x.reshape(n, 28, 28), (shift, shift, shift, shift))
    offs = torch.randint(0, k * k, (n,), generator=gen)
    out = torch.empty_like(x)
    for o in range(k * k):
        sel = (offs == o).nonzero(as_tuple=True)[0]
        if len(sel):
            r, c = o // k, o % k
            out[sel] = img[sel, r:r + 28, c:c + 28].reshape(len(sel), -1)
    return out


def train_fast(out: Path, epochs: int, batch_size: int, lr: float, shift: int, seed: int = 0,
               init: Path | None = None):
    """The CNN trained with Adam + OneCycle at ``lr`` (peak) on ``batch_size`` (CPU-efficient batches) and
    +-``shift``-pixel shifts; the test accuracy printed after every epoch; a resumable state
    (network, optimizer, schedule, generators) saved after every epoch in ``out/train_state.pt``.
    ``init``: a finished run's folder; its network trained on for ``epochs`` more with Adam at ``lr``
    decaying to 0 on a cosine (a cool-down; the recipe records both runs)."""
    import torch
    from tqdm.auto import tqdm

    from course_utils import torchdata, train
    from course_utils.fileio import atomic_file
    from course_utils.models import CNNConfig, QuantCNN

    train.seed_everything(seed)
    net = QuantCNN(CNNConfig())
    x, y = torchdata.tensors("mnist", "train", crop=None)
    test = torchdata.tensors("mnist", "test", crop=None)
    steps = (len(x) + batch_size - 1) // batch_size
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched: torch.optim.lr_scheduler.LRScheduler
    recipe = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "shift": shift, "seed": seed,
              "schedule": "OneCycle (Adam)"}
    base: dict = {}
    if init is not None:
        if not (init / "train_state.pt").is_file():
            sys.exit(f"--finetune-from {init}: no train_state.pt there; train that run first.")
        base = torch.load(init / "train_state.pt", weights_only=False)
        net.load_state_dict(base["net"])
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps)
        recipe = {**recipe, "schedule": "cosine to 0 (Adam), after the base run", "seed": seed + 1,
                  "base": {"folder": str(init), "recipe": base["recipe"], "epochs": base["epoch"]}}
        seed += 1
    else:
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps,
                                                    pct_start=0.15)
    gen, shift_gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 2)
    state_path = out / "train_state.pt"
    log: list[dict] = list(base.get("log", []))
    seconds, start = float(base.get("seconds", 0.0)), 1
    if state_path.is_file():
        st = torch.load(state_path, weights_only=False)
        if st["recipe"] == recipe:
            net.load_state_dict(st["net"])
            opt.load_state_dict(st["opt"])
            sched.load_state_dict(st["sched"])
            gen.set_state(st["gen"])
            shift_gen.set_state(st["shift_gen"])
            log, seconds, start = st["log"], st["seconds"], st["epoch"] + 1
            print(f"resuming after epoch {st['epoch']} ({state_path})", flush=True)
    for ep in range(start, epochs + 1):
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(len(x), generator=gen)
        for i in tqdm(range(0, len(x), batch_size), desc=f"epoch {ep}/{epochs}", mininterval=5):
            idx = perm[i:i + batch_size]
            xb = shift_images(x[idx], shift, shift_gen) if shift else x[idx]
            loss = torch.nn.functional.cross_entropy(net(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        dt = time.perf_counter() - t0
        seconds += dt
        acc = train.evaluate(net, test)["accuracy"]
        log.append({"epoch": ep + int(base.get("epoch", 0)), "test_accuracy": acc, "seconds": round(dt, 1)})
        print(f"epoch {ep}/{epochs}: test accuracy {100 * acc:.2f}%, {dt:.0f} s", flush=True)
        with atomic_file(state_path) as f:
            torch.save({"recipe": recipe, "net": net.state_dict(), "opt": opt.state_dict(),
                        "sched": sched.state_dict(), "gen": gen.get_state(),
                        "shift_gen": shift_gen.get_state(),
                        "log": log, "seconds": seconds, "epoch": ep}, f)
    net.eval()
    info = {"test_accuracy": log[-1]["test_accuracy"], "epochs": len(log), "seed": seed,
            "train_seconds": round(seconds, 1), "recipe": recipe, "per_epoch": log}
    return net, info


def trained(out: Path, epochs: int | None, retrain: bool, fast: dict | None = None):
    from course_utils import train
    from course_utils.models import CNNConfig, load_checkpoint, save_checkpoint

    ckpt = out / "qnn_cnn_w4a4.pt"
    if ckpt.is_file() and not retrain:
        qnn = load_checkpoint(ckpt)
        print(f"trained CNN: {ckpt} (cached; --retrain to train again): {qnn.info}")
        return qnn, qnn.info
    t0 = time.perf_counter()
    if fast is not None:
        qnn, info = train_fast(out, **fast)
        info["wall_seconds"] = round(time.perf_counter() - t0, 1)
    else:
        qnn, hist = train.fit(CNNConfig(), "mnist", seed=0, n_epochs=epochs)
        info = {"test_accuracy": hist.final_test_acc, "epochs": len(hist.epoch), "seed": 0,
                "train_seconds": round(hist.seconds, 1), "wall_seconds": round(time.perf_counter() - t0, 1)}
    save_checkpoint(qnn, ckpt, info)
    print(f"trained CNN: {info}")
    return qnn, info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default: the recipe's 24)")
    ap.add_argument("--retrain", action="store_true", help="train again even if a checkpoint is cached")
    ap.add_argument("--fast", action="store_true",
                    help="train with --batch-size/--lr/--shift and OneCycle, resumable (else train.recipe)")
    ap.add_argument("--batch-size", type=int, default=512, help="with --fast (default 512)")
    ap.add_argument("--lr", type=float, default=3e-3, help="with --fast: peak learning rate")
    ap.add_argument("--shift", type=int, default=1, help="with --fast: random shift in pixels (default 1)")
    ap.add_argument("--finetune-from", type=Path, default=None,
                    help="with --fast: train that run's network --epochs more, Adam at --lr cosine to 0")
    ap.add_argument("--train-only", action="store_true", help="stop after training")
    ap.add_argument("--synth", action="store_true", help="Yosys on the whole design unless cached")
    ap.add_argument("--timeout", type=float, default=5400.0, help="Yosys time limit, seconds")
    ap.add_argument("--out", type=Path, default=None, help="output folder (default build/bench/cnn)")
    ap.add_argument("--target-fps", type=float, default=100_000, help="folding target (default 100,000)")
    ap.add_argument("--n-rtl", type=int, default=1000, help="test images simulated in RTL (0: skip)")
    args = ap.parse_args()

    from course_utils import export
    from course_utils.paths import build_dir

    out = (args.out or build_dir("bench") / "cnn").resolve()  # absolute: Verilator runs elsewhere
    out.mkdir(parents=True, exist_ok=True)
    fast = ({"epochs": args.epochs or 15, "batch_size": args.batch_size, "lr": args.lr, "shift": args.shift,
             "init": args.finetune_from.resolve() if args.finetune_from else None}
            if args.fast else None)
    qnn, info = trained(out, args.epochs, args.retrain, fast)
    if args.train_only:
        return
    paths = export.save_lab1_artifacts(qnn, out / "lab1", test_accuracy=info.get("test_accuracy"),
                                       epochs=info.get("epochs"), seed=0)

    from course_utils import finnflow as ff

    t0 = time.perf_counter()
    flow = ff.run_flow(paths["qonnx"], out_dir=out / "lab2", golden=paths["golden"],
                       target_fps=args.target_fps)
    t_flow = time.perf_counter() - t0
    est = flow.estimates
    ops = [n.op_type for n in flow.folded.graph.node]
    print(f"\nflow: {t_flow:.1f} s, stages verified bit-exact on the golden batch: "
          f"{len(flow.verified)}/{len(flow.stages)}, all-RTL: {all(o.endswith('_rtl') for o in ops)}")
    print(f"  {'layer':<34}{'fold':<18}{'cycles':>8}{'LUT':>8}{'BRAM18':>8}{'DSP':>6}")
    for name, row in est["layers"].items():
        fold = " ".join(f"{k}{row[k]}" for k in ("SIMD", "PE") if row[k] is not None)
        print(f"  {name:<34}{fold:<18}{row['cycles']:>8}{row['LUT']:>8.0f}{row['BRAM_18K']:>8.0f}"
              f"{row['DSP']:>6.0f}")
    res = est["resources"]
    print(f"accuracy {100 * info['test_accuracy']:.2f}% | estimated {est['fps']:,.0f} images/s "
          f"({est['cycles_per_sample']} cycles at {est['clock_mhz']:.0f} MHz) | LUT {res['LUT']:,.0f} "
          f"(FINN, RTL MVAUs count 0) | BRAM18 {res['BRAM_18K']:.0f} | DSP {res['DSP']:.0f} "
          f"({100 * est['utilization']['DSP']:.0f}% of the xc7z020; FINN's estimate {est['finn_dsp']:.0f})")
    summary = {"training": info, "folding": flow.folding, "estimated_fps": est["fps"],
               "cycles_per_sample": est["cycles_per_sample"], "dsp": res["DSP"],
               "verified": f"{len(flow.verified)}/{len(flow.stages)}",
               "all_rtl": all(o.endswith("_rtl") for o in ops)}
    if args.n_rtl:
        summary["rtl"] = rtl_measure(flow, args.n_rtl, out)
    summary["yosys"] = synthesis(flow.folded, out, run=args.synth, timeout=args.timeout)
    from course_utils.fileio import write_text_atomic

    write_text_atomic(out / "summary.json", json.dumps(summary, indent=1, default=str) + "\n")
    print(f"figures written to {out / 'summary.json'}")
    if summary.get("rtl") and summary["rtl"]["bit_exact_images"] != args.n_rtl:
        sys.exit("the RTL is NOT bit-exact with FINN's Python execution")


def synthesis(model, out: Path, run: bool, timeout: float) -> dict | None:
    """The folded design's whole-design Yosys counts next to the xc7z020's capacity: from the cache
    (``build/rtl/synth-cache``, by the design's content), or, with ``run``, synthesized now (10-30 min)."""
    from course_utils.finnflow.estimates import capacity
    from course_utils.rtl import synth as synthmod

    found = synthmod.lookup(model)
    tot = found.totals() if found is not None else None
    if tot is None and run:
        t0 = time.perf_counter()
        design = synthmod.prepare(model, out / "synth")
        whole = synthmod.synthesize_top(design, timeout=timeout)
        synthmod.record(model, design, {}, whole)
        print(f"Yosys: whole design synthesized in {time.perf_counter() - t0:.0f} s")
        tot = whole.resources()
    if tot is None:
        print("Yosys: not synthesized (--synth runs it on the whole stitched design, 10-30 minutes)")
        return None
    cap = capacity()
    print("Yosys (whole stitched design): " + ", ".join(
        f"{k} {tot[k]:,} ({100 * tot[k] / cap[k]:.0f}%)" for k in ("LUT", "FF", "BRAM_18K", "DSP"))
        + " of the xc7z020")
    return {"counts": tot, "percent": {k: round(100 * tot[k] / cap[k], 1) for k in tot}}


def rtl_measure(flow, n: int, out: Path) -> dict | None:
    """Stitched RTL of the folded model on ``n`` test images: bit-exact against FINN's Python execution,
    and the measured interval, latency and throughput next to FINN's estimates."""
    import numpy as np

    from course_utils import data, rtl
    from course_utils.finnflow.verify import execute, stream_inputs
    from course_utils.models import fit_to_inputs
    from course_utils.rtl.verify import cycle_report, execute_rtl

    images, labels = data.load("mnist", "test")
    per = int(np.prod(flow.folded.get_tensor_shape(flow.folded.graph.input[0].name)[1:]))
    x = fit_to_inputs(images[:n].reshape(n, -1), per)
    xs, _ = stream_inputs(x, flow.folded)
    t0 = time.perf_counter()
    try:
        design = rtl.build(flow.folded, out / "rtl", quiet=True)
    except rtl.VerilatorError as err:
        print(f"RTL: skipped ({err})")
        return None
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    y, run, _ = execute_rtl(flow.folded, xs, design)
    t_run = time.perf_counter() - t0
    ref = execute(flow.folded, xs)
    same = int(np.sum(np.all(np.rint(y) == np.rint(ref), axis=1)))
    rep = cycle_report(run, flow.folded)
    acc = float(np.mean(np.argmax(y, axis=1) == labels[:n]))  # argmax: the output scale is positive
    m, e = rep["measured"], rep["estimated"]
    print(f"RTL (Verilator): {same}/{n} test images identical to FINN's Python execution, accuracy "
          f"{100 * acc:.2f}% on them; interval "
          f"{m['interval_cycles']:g} cycles measured vs {e['interval_cycles']} estimated -> "
          f"{m['fps']:,.0f} images/s at {m['clock_mhz']:.0f} MHz; latency {m['latency_cycles']} cycles "
          f"(estimate {e['latency_cycles']}); build {t_build:.0f} s"
          f"{' (cached)' if design.build_seconds == 0 else ''}, run {t_run:.1f} s")
    return {"images": n, "bit_exact_images": same, "accuracy": acc, "interval_cycles": m["interval_cycles"],
            "fps": m["fps"], "latency_cycles": m["latency_cycles"], "estimated": e}


if __name__ == "__main__":
    main()
