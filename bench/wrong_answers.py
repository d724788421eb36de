"""Student notebooks with every exercise answered wrong in its most common way: does each checkpoint name
the mistake, or fall back to a generic message?

Run: .venv/host/bin/python bench/wrong_answers.py [--all | --notebooks lab1_qat/02_quantization_maths ...]
Executes the generated student notebooks (labs/) with each exercise cell replaced by a typical wrong
answer, then reads every checkpoint's error: "named" when its first line names a mistake of the lab's
catalogue (``checks.labN.MISTAKES``), "generic" otherwise (target: 0 generic). Prints one row per
exercise and the totals. Lab 3 runs on the "PYNQ virtual board" kernel.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
HEADER = "# Exercise {ex}: wrong on purpose (bench/wrong_answers.py)\n"

# The most common wrong answer of each exercise (what students hand in first, seen in the trial).
WRONG: dict[str, dict[str, str]] = {
    "lab1_qat/01_data_and_float_baseline": {
        "1.1": ("def to_inputs(images):\n"
                "    flat = np.asarray(images).reshape(len(images), -1)\n"
                "    return torch.tensor(flat / 255.0, dtype=torch.float32)\n"),
        "1.2": "def accuracy(logits, labels):\n    return (logits.argmax(dim=1) == labels).float().mean()\n",
        "1.3": ("def train_step(net, optimizer, xb, yb):\n    net.train()\n"
                "    loss = nn.functional.cross_entropy(net(xb), yb)\n    loss.backward()\n"
                "    optimizer.step()\n    return loss.item()\n"),
        "1.4": ("def most_confused(cm):\n    i, j = np.unravel_index(np.argmax(cm), cm.shape)\n"
                "    return int(i), int(j)\n"),
    },
    "lab1_qat/02_quantization_maths": {
        "2.1": ("def quantize_symmetric(x, bits):\n    qmax = 2 ** (bits - 1) - 1\n"
                "    scale = np.abs(x).max() / qmax\n    return (x / scale).astype(int), scale\n\n\n"
                "def dequantize(q, scale, zero_point=0):\n    return (np.asarray(q) - zero_point) * scale\n"),
        "2.2": ("def quantize_asymmetric(x, bits):\n    lo, hi = min(x.min(), 0.0), max(x.max(), 0.0)\n"
                "    scale = (hi - lo) / (2**bits - 1)\n    zero_point = int(np.round(-lo / scale))\n"
                "    return np.clip(np.round(x / scale), 0, 2**bits - 1), scale, zero_point\n"),
        "2.3": "def sqnr_db(x, x_hat):\n    return 20 * np.log10(np.sum(x**2) / np.sum((x - x_hat) ** 2))\n",
        "2.4": ("def quantize_per_channel(w, bits):\n    qmax = 2 ** (bits - 1) - 1\n"
                "    scales = np.abs(w).max() / qmax\n    return np.round(w / scales), scales\n"),
        "2.5": ("def int_linear(q_x, q_w, scale_x, scale_w):\n"
                "    return (q_x @ q_w.T) * scale_x * scale_w\n"),
    },
    "lab1_qat/03_post_training_quantization": {
        "3.1": ("def quantize_weights(net, bits):\n    with torch.no_grad():\n"
                "        for module in net.modules():\n            if isinstance(module, nn.Linear):\n"
                "                w_hat = quant.fake_quantize(module.weight.numpy(), bits)\n"
                "                module.weight.copy_(torch.tensor(w_hat, dtype=torch.float32))\n"
                "    return net\n"),
        "3.2": ("def calibrate_scale(acts, bits, percentile=100.0):\n"
                "    return float(np.max(acts)) / (2**bits - 1)\n"),
        "3.3": ("def smallest_bits(results, float_acc, max_drop=0.01):\n"
                "    return min(b for b, a in results.items() if a >= float_acc - max_drop)\n"),
    },
    "lab1_qat/04_qat_with_brevitas": {
        "4.2": "def integer_weights(layer):\n    return layer.quant_weight().value.detach().numpy()\n",
        "4.3": ("def weight_memory_bits(qnn):\n"
                "    return sum(p.numel() for p in qnn.parameters()) * qnn.cfg.weight_bits\n"),
    },
    "lab2_finn/01_import_and_tidy": {
        "1.1": ("def annotate_input(model):\n"
                "    model.set_tensor_datatype(model.graph.input[0].name, DataType['INT8'])\n"
                "    return model\n"),
        "1.2": ("def tidy_up(model):\n"
                "    for t in (InferShapes(), FoldConstants(), GiveReadableTensorNames(),\n"
                "              InferDataTypes(), RemoveStaticGraphInputs()):\n"
                "        model = model.transform(t)\n    return model\n"),
        "1.3": ("def quantized_tensors(model):\n    found = {}\n    for node in model.graph.node:\n"
                "        for tensor in node.input:\n            if 'param' in tensor:\n"
                "                found[tensor] = model.get_tensor_datatype(tensor).name\n    return found\n"),
    },
    "lab3_zynq/01_overlay_and_dma": {
        "1.1": ("def decode_dmasr(value):\n    bits = {'halted': 1, 'idle': 2, 'internal_error': 5, "
                "'slave_error': 6, 'decode_error': 7, 'complete': 13}\n"
                "    return {k: bool(value >> b & 1) for k, b in bits.items()}\n"),
        "1.2": ("def pack_image(x, spec):\n"
                "    return np.asarray(x, np.uint8).reshape(spec.shape_packed[1:])[:, ::-1]\n"),
        "1.3": ("def unpack_output(raw, spec):\n    bits, out = spec.datatype.bitwidth, []\n"
                "    for word in np.asarray(raw).reshape(spec.words_per_sample, spec.word_bytes):\n"
                "        w = int.from_bytes(word.tobytes(), 'little')\n"
                "        out += [(w >> (i * bits)) & ((1 << bits) - 1) for i in range(spec.elems_per_word)]\n"
                "    return np.array(out)\n"),
    },
}
KERNELS = {"lab3_zynq": "pynq-virtual-board"}
QUICK = ["lab1_qat/02_quantization_maths", "lab1_qat/03_post_training_quantization",
         "lab3_zynq/01_overlay_and_dma"]


def _catalogue_names(lab: str) -> dict[str, set[str]]:
    import importlib

    module = importlib.import_module(f"course_utils.checks.{lab}")
    names: dict[str, set[str]] = {}
    for m in module.MISTAKES:
        names.setdefault(m.exercise, set()).add(m.name)
    return names


def run_notebook(name: str, timeout: int = 600) -> list[dict]:
    """Execute ``labs/<name>.ipynb`` with the wrong answers; one row per exercise answered wrong."""
    from nbclient import NotebookClient

    path = ROOT / "labs" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    wrong = WRONG[name]
    for cell in nb.cells:
        for tag in cell.metadata.get("tags", []):
            if tag.startswith("exercise-") and tag.removeprefix("exercise-") in wrong:
                ex = tag.removeprefix("exercise-")
                cell.source = HEADER.format(ex=ex) + wrong[ex]
    folder = name.split("/")[0]
    lab = "lab" + folder[3]
    names = {ex: n for ex, n in _catalogue_names(lab).items()}
    all_names = set().union(*names.values()) if names else set()
    with tempfile.TemporaryDirectory() as tmp:
        env_before = dict(os.environ)
        os.environ.update({"COURSE_QUICK": "1", "COURSE_BUILD_DIR": str(Path(tmp) / "build"),
                           "MPLBACKEND": "Agg"})
        try:
            NotebookClient(nb, timeout=timeout, allow_errors=True, kernel_name=KERNELS.get(folder, "python3"),
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        finally:
            os.environ.clear()
            os.environ.update(env_before)
    rows = []
    for cell in nb.cells:
        if "checkpoint" not in cell.metadata.get("tags", []):
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        first = errors[0]["evalue"].splitlines()[0] if errors else ""
        ex = first.split(":", 1)[0].removeprefix("Exercise ").strip() if errors else ""
        problem = first.split(": ", 1)[1] if ": " in first else first
        if not errors:
            text = "".join(o.get("text", "") for o in cell.get("outputs", []))
            ex = text.split(" passed", 1)[0].removeprefix("Exercise ").strip() if "passed" in text else "?"
            if ex not in wrong:
                continue
            rows.append({"notebook": name, "exercise": ex, "result": "passed (not caught)", "message": ""})
            continue
        if ex not in wrong:
            continue
        named = any(problem.startswith(n) for n in all_names)
        rows.append({"notebook": name, "exercise": ex, "result": "named" if named else "generic",
                     "message": first})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", nargs="*", default=QUICK, choices=list(WRONG),
                        help=f"default: {' '.join(QUICK)} (a few minutes)")
    parser.add_argument("--all", action="store_true", help="every notebook of the table (about 20 minutes)")
    args = parser.parse_args()
    if args.all:
        args.notebooks = list(WRONG)
    total: dict[str, int] = {}
    start = time.perf_counter()
    for name in args.notebooks:
        t0 = time.perf_counter()
        rows = run_notebook(name)
        for r in rows:
            total[r["result"]] = total.get(r["result"], 0) + 1
            print(f"{r['notebook']:40s} {r['exercise']:4s} {r['result']:8s} {r['message'][:110]}")
        missing = sorted(set(WRONG[name]) - {r["exercise"] for r in rows})
        for ex in missing:
            total["no checkpoint output"] = total.get("no checkpoint output", 0) + 1
            print(f"{name:40s} {ex:4s} no checkpoint output (cell not reached?)")
        print(f"  {name}: {time.perf_counter() - t0:.1f} s")
    print(f"exercises answered wrong: {sum(total.values())}; " + ", ".join(f"{k}: {v}" for k, v in
                                                                        sorted(total.items())))
    wall = time.perf_counter() - start
    print(f"generic fallbacks: {total.get('generic', 0)} (target 0); wall {wall:.1f} s")
    return 0 if total.get("generic", 0) == 0 and not total.get("passed (not caught)") else 1


if __name__ == "__main__":
    sys.exit(main())
