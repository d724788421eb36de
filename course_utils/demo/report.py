"""The demo's one report, as Markdown (``report.md`` + PNGs in ``report_files/``) and as a single
self-contained HTML file (``report.html``: figures embedded as base64 PNG, no external URLs).

The Markdown is built from ``state.json`` and the stages' artifacts; the HTML is that Markdown rendered
by markdown-it-py, so they always say the same thing. Written atomically; works for a failed or partial
run too.
"""
from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from course_utils import tools
from course_utils.demo.config import DemoConfig
from course_utils.demo.stages import PREDS_DIR, REFERENCE, STAGES, match_text
from course_utils.demo.state import RunState, now, write_text
from course_utils.fileio import write_bytes_atomic
from course_utils.numeric import pct as _pct

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FILES_DIR = "report_files"
HOST_TOOLS = ("torch", "brevitas", "finn-plus", "qonnx", "onnx", "onnxruntime", "numpy", "matplotlib", "tqdm",
              "course-utils")
CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1050px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;
padding-bottom:.2em;margin-top:1.8em}table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}th{background:#f3f3f3}
td[style*=right]{white-space:nowrap}
code{background:#f4f4f4;padding:0 .25em;border-radius:3px}figure{margin:1em 0}figcaption{color:#555;
font-size:.9em}img{max-width:100%}.bad{color:#b00020;font-weight:bold}.ok{color:#176317}"""


# ----------------------------------------------------------------------------- the document

@dataclass
class Doc:
    """The report as Markdown blocks (headings, paragraphs, lists, tables, figures); the HTML page is that
    Markdown rendered by markdown-it-py, so the two always say the same thing."""

    files_dir: Path
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    figures: dict[str, bytes] = field(default_factory=dict)

    def h(self, level: int, text: str) -> None:
        """A heading."""
        self.blocks.append(("h", (level, text)))

    def p(self, text: str) -> None:
        """A paragraph (Markdown: ``code`` and **bold** spans allowed)."""
        self.blocks.append(("p", text))

    def ul(self, items: list[str]) -> None:
        """A bullet list."""
        if items:
            self.blocks.append(("ul", list(items)))

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        """A table; columns of numbers are right-aligned."""
        self.blocks.append(("table", (header, [[_cell(c) for c in r] for r in rows])))

    def figure(self, name: str, fig: Figure, caption: str) -> None:
        """A figure: PNG in ``files_dir`` for Markdown, base64 in the HTML."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        self.figures[name] = buf.getvalue()
        self.blocks.append(("fig", (name, caption)))

    def markdown(self) -> str:
        """The Markdown text (figures as ``report_files/<name>.png``)."""
        out: list[str] = []
        for kind, val in self.blocks:
            if kind == "h":
                out.append(f"{'#' * val[0]} {val[1]}\n")
            elif kind == "p":
                out.append(f"{val}\n")
            elif kind == "ul":
                out.append("\n".join(f"- {item}" for item in val) + "\n")
            elif kind == "table":
                header, rows = val
                align = ["---:" if _numeric_column([r[i] for r in rows if i < len(r)]) else "---"
                         for i in range(len(header))]
                lines = ["| " + " | ".join(header) + " |", "|" + "".join(f"{a}|" for a in align)]
                lines += ["| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in r) + " |"
                          for r in rows]
                out.append("\n".join(lines) + "\n")
            elif kind == "fig":
                name, caption = val
                out.append(f"![{caption}]({self.files_dir.name}/{name}.png)\n\n*{caption}*\n")
        return "\n".join(out)

    def html(self, title: str) -> str:
        """One self-contained HTML page: the Markdown rendered by markdown-it-py (CommonMark and tables, raw
        HTML escaped), inline CSS, figures as data URIs."""
        body = _renderer(self.files_dir.name, self.figures).render(self.markdown())
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n{body}</body></html>\n")


def _renderer(files_dir: str, figures: dict[str, bytes]) -> MarkdownIt:
    """markdown-it-py for the report's page: figures under ``files_dir`` embedded from ``figures``, and the
    words MISMATCH and FAILED marked."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")

    def image(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
              env: EnvType) -> str:
        token = tokens[idx]
        name = str(token.attrGet("src") or "").removeprefix(f"{files_dir}/").removesuffix(".png")
        if name in figures:
            token.attrSet("src", "data:image/png;base64," + base64.b64encode(figures[name]).decode("ascii"))
        return self.image(tokens, idx, options, env)

    def text(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
             env: EnvType) -> str:
        out = self.text(tokens, idx, options, env)
        for word in ("MISMATCH", "FAILED"):
            out = out.replace(word, f'<span class="bad">{word}</span>')
        return out

    md.add_render_rule("image", image)
    md.add_render_rule("text", text)
    return md


def _cell(value: Any) -> str:
    """A table cell as text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _numeric_column(cells: list[str]) -> bool:
    """True for a column whose filled cells all read as numbers (right-aligned)."""
    filled = [c.strip() for c in cells if c.strip()]
    return bool(filled) and all(re.fullmatch(r"[-+]?[\d,]+(\.\d+)?\s*(%|s|MHz|us|µs)?", c) for c in filled)


# ----------------------------------------------------------------------------- facts from the run

def host_versions() -> dict[str, str]:
    """Versions of the host tools (and Vivado / Vitis HLS, found or not)."""
    import platform

    out = {"python (host)": platform.python_version()}
    for dist in HOST_TOOLS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    for tool in (tools.find_vivado(), tools.find_vitis_hls()):
        out[tool.name] = (f"{tool.version() or 'version unknown'} ({tool.executable})" if tool.found
                          else f"not found ({tool.source})")
    return out


def _eval_reference(run_dir: Path, n: int, labels: np.ndarray | None) -> float | None:
    """Brevitas accuracy on the first ``n`` test images (the checked subset), from the saved predictions."""
    path = run_dir / PREDS_DIR / f"{REFERENCE}.npy"
    if labels is None or not path.is_file():
        return None
    preds = np.load(path)[:n]
    return float(np.mean(preds == labels[:n]))


def _test_labels(cfg: DemoConfig) -> np.ndarray | None:
    """The test labels of the run's dataset (None if unavailable)."""
    try:
        from course_utils import data

        return data.load(cfg.dataset, "test")[1].astype(np.int64)
    except Exception:  # noqa: BLE001 - the report must render for a run whose data stage failed
        return None


def accuracy_rows(state: RunState, cfg: DemoConfig) -> list[list[Any]]:
    """The accuracy table: one row per stage that checked predictions."""
    rows: list[list[Any]] = []
    for name in ("float", "qat"):
        r = state.result(name)
        if r:
            verdict = "reference" if name == REFERENCE else "n/a (float model)"
            rows.append([name, r["model"], r["test_samples"], _pct(r["accuracy"]), verdict])
    checked = []
    for name, key in (("export", "accuracy_row"), ("finn", "accuracy_rows"), ("deploy", "accuracy_row"),
                      ("board", "accuracy_row")):
        found = state.result(name).get(key)
        checked += ([found] if isinstance(found, dict) else list(found or []))
    n = max((c["samples"] for c in checked if c["stage"] != "deploy package"), default=0)
    qat = state.result("qat")
    if checked and qat and n and n != qat.get("test_samples"):
        acc = _eval_reference(state.run_dir, n, _test_labels(cfg))
        rows.append(["qat", f"{qat['model']}, the same first {n:,} test images", n, _pct(acc), "reference"])
    for c in checked:
        rows.append([c["stage"], c["model"], c["samples"], _pct(c["accuracy"]), _verdict(c)])
    return rows


def _verdict(row: dict[str, Any]) -> str:
    """The 'identical predictions' cell of an accuracy row."""
    n, same = row["samples"], row.get("identical", 0)
    ties, matching = row.get("ties", 0), row.get("matching", same)
    if matching != n:
        return f"MISMATCH: {matching:,}/{n:,}"
    text = f"**yes**: {n:,}/{n:,} identical to {row['must_match']}"
    if ties:
        text = (f"**yes**: {n:,}/{n:,} match {row['must_match']} ({same:,} identical, {ties:,} exact "
                f"tie{'s' if ties > 1 else ''}: equal scores, the lower class wins)")
    if row.get("bit_exact_with"):
        text += f"; bit-exact with {row['bit_exact_with']}"
    return text


def skipped_items(state: RunState, cfg: DemoConfig) -> list[str]:
    """Every 'skipped and why' line of the run."""
    items = []
    for s in STAGES:
        rec = state.record(s.name)
        if rec.get("status") == "skipped":
            items.append(f"**{s.name}**: {rec.get('skip_reason')}")
    finn = state.result("finn")
    for note in finn.get("verify_skipped", []) + finn.get("execution_skipped", []):
        items.append(f"**finn** (verification): {note}")
    board = state.result("board")
    for note in board.get("notes", []):
        items.append(f"**board**: {note}")
    if cfg.quick:
        items.append(f"**quick mode**: {cfg.train_epochs} training epoch(s) instead of Lab 1's recipe, "
                     f"{cfg.eval_n:,} test images checked per stage instead of all, sweep shortened (no FINN "
                     "estimates per bit width): accuracies are not representative.")
    if not state.result("sweep") and state.record("sweep").get("status") != "skipped":
        items.append("**sweep**: did not run (an earlier stage failed or the run stopped).")
    return items


# ----------------------------------------------------------------------------- figures

def _stage_times_figure(names: list[str], secs: list[float]) -> Figure:
    """Horizontal bars of seconds per stage."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 0.35 * len(names) + 1.0), layout="constrained")
    ax = fig.subplots()
    ax.barh(names, secs, color="#4C72B0")
    for y, v in enumerate(secs):
        ax.text(v, y, f" {v:.1f} s", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title("Time per stage")
    ax.set_xlim(0, max(secs + [1.0]) * 1.2)
    return fig


# ----------------------------------------------------------------------------- sections

def _last_invocation(state: RunState) -> dict[str, Any]:
    """The record of the latest ``course demo`` call on this run folder."""
    return state.data["invocations"][-1] if state.data["invocations"] else {}


def _section_summary(doc: Doc, state: RunState, cfg: DemoConfig) -> None:
    """Where, when, the failure (if any) and the key results."""
    inv = _last_invocation(state)
    status = inv.get("status", "unknown")
    doc.p(f"Run folder `{state.run_dir}`, report written {now()}. Options: {cfg.describe()}.")
    doc.p(f"Network taken to hardware: **{cfg.network}**.")
    if status != "complete":
        failed = inv.get("failed_stage")
        rec = state.record(failed) if failed else {}
        doc.h(2, "FAILED" if failed else "Incomplete run")
        if failed:
            doc.p(f"Stage **{failed}** FAILED: `{rec.get('error', '?')}`. Full log: `{rec.get('log')}` (in "
                  "the run folder). Everything written so far is kept; run the same command again to resume "
                  f"at **{failed}** (`--fresh` starts over).")
        else:
            doc.p(f"The last run ended with status '{status}'. Run the same command again to resume.")
    board, finn, qat = state.result("board"), state.result("finn"), state.result("qat")
    items = []
    if board:
        row, facts = board["accuracy_row"], board["facts"]
        items.append(f"Board ({board['target']}): accuracy **{_pct(row['accuracy'])}** on {row['samples']:,} "
                     f"test images, {match_text(row)}; {facts['samples']:,} images in "
                     f"{1e3 * facts['seconds']:.2f} ms = {facts['fps']:,.0f} images/s, "
                     f"{facts['timing_label']}.")
    elif qat:
        items.append(f"Brevitas QAT accuracy {_pct(qat['accuracy'])} (no board result).")
    if finn:
        e = finn["estimates"]
        used = ", ".join(f"{k} {e['resources'][k]:,.0f} ({100 * e['utilization'][k]:.1f}%)"
                         for k in ("LUT", "BRAM_18K", "DSP"))
        items.append(f"FINN estimate at {e['clock_mhz']:g} MHz: **{e['fps']:,.0f} FPS**, latency "
                     f"{e['latency_us']:.2f} us, bottleneck `{e['bottleneck']}` ({e['bottleneck_kind']} "
                     f"bound); {used} of the board.")
    total = sum(float(state.record(s.name).get("seconds") or 0) for s in STAGES)
    if inv:
        items.append(f"This run: {inv.get('seconds', 0):.1f} s wall time (ran {len(inv.get('ran', []))} "
                     f"stages, resumed {len(inv.get('resumed', []))}); all stages as recorded: "
                     f"{total:.1f} s.")
    items.append(f"{len(skipped_items(state, cfg))} item(s) skipped or substituted, each with its reason "
                 "below.")
    doc.h(2, "Summary")
    doc.ul(items)


def _section_accuracy(doc: Doc, state: RunState, cfg: DemoConfig) -> None:
    """The accuracy table across stages."""
    doc.h(2, "Accuracy at every stage")
    rows = accuracy_rows(state, cfg)
    if not rows:
        doc.p("No stage has produced predictions yet.")
        return
    doc.table(["stage", "model", "test images", "accuracy", "identical predictions (required)"], rows)
    doc.p("From the QONNX export on, every stage computes the same integer arithmetic as the Brevitas "
          "network, so their predictions must be identical, image by image: the demo fails the stage "
          "otherwise. The one allowed difference is an exact tie: two classes with the same integer "
          "score, where the hardware (argmax) takes the lower class and Brevitas' float rounding may take "
          "the other. Integer stages (FINN HW layers, folded model, deploy package, board) must moreover "
          "agree with each other bit-exactly. The float baseline is a different network (reference only).")


def _section_times(doc: Doc, state: RunState) -> None:
    """Seconds per stage, FINN's sub-steps, the machine's load."""
    doc.h(2, "Time per stage")
    inv = _last_invocation(state)
    rows, names, secs = [], [], []
    for s in STAGES:
        rec = state.record(s.name)
        status = rec.get("status", "not run")
        when = "" if not rec else ("this run" if rec.get("invocation") == inv.get("n")
                                   else f"run {rec.get('invocation')}")
        sec = rec.get("seconds")
        text = rec.get("skip_reason") if status == "skipped" else rec.get("summary") or rec.get("error") or ""
        rows.append([s.name, "FAILED" if status == "failed" else status,
                     f"{sec:.1f} s" if sec is not None else "", when, text])
        if sec is not None:
            names.append(s.name)
            secs.append(float(sec))
    rows.append(["**total**", "", f"{sum(secs):.1f} s", "", ""])
    doc.table(["stage", "status", "time", "produced by", "what it did"], rows)
    finn = state.result("finn")
    if finn.get("sub_seconds"):
        doc.p("FINN sub-steps: " + ", ".join(f"{k} {v:.2f} s" for k, v in finn["sub_seconds"].items()) + ".")
    host = inv.get("host_before") or {}
    if host:
        doc.p(f"Machine: {host.get('cpus')} CPUs ({host.get('machine')}), OMP_WAIT_POLICY "
              f"{host.get('omp_wait_policy') or 'unset'}. Runs of this folder (load average over 1/5/15 "
              "minutes, before and after each: the machine may be shared, judge the times by it):")
        runs = [[r.get("n"), r.get("started", ""), r.get("status", ""), f"{r.get('seconds', 0):.1f} s",
                 ", ".join(r.get("ran", [])) or "none", (r.get("host_before") or {}).get("load_avg"),
                 (r.get("host_after") or {}).get("load_avg")] for r in state.data["invocations"][-8:]]
        doc.table(["run", "started", "status", "wall time", "stages run", "load before", "load after"], runs)
    if secs:
        doc.figure("stage_times", _stage_times_figure(names, secs), "Seconds per stage (as recorded)")


def _section_training(doc: Doc, state: RunState) -> None:
    """Float baseline and QAT: recipe, time, accuracy, training curves."""
    fl, qat = state.result("float"), state.result("qat")
    if not (fl or qat):
        return
    from course_utils import plots

    doc.h(2, "Training")
    rows = [[r["model"], r["epochs"], f"{r['lr']:g}", r["batch_size"], f"{r['train_seconds']:.1f} s",
             _pct(r["accuracy"])] for r in (fl, qat) if r]
    doc.table(["network", "epochs", "learning rate", "batch", "training time", "test accuracy"], rows)
    if qat:
        doc.figure("qat_training", plots.training_curves(qat["history"], title=qat["model"]),
                   "QAT: loss and accuracy per epoch")


def _sweep_hardware(entry: dict[str, Any], finn: dict[str, Any] | None) -> list[str]:
    """The FINN columns of a sweep row (from the entry, or from the main design's estimates)."""
    from course_utils.demo.stages import layer_kinds

    f = entry.get("finn") or {}
    if not f and finn:
        e = finn["estimates"]
        f = {"fps": e["fps"], "resources": e["resources"], "layer_kinds": layer_kinds(e)}
    if "error" in f:
        return [f["error"], "", "", "", ""]
    if not f:
        return ["not estimated", "", "", "", ""]
    res = f["resources"]
    return ["+".join(f["layer_kinds"]), f"{res['LUT']:,.0f}", f"{res['BRAM_18K']:,.0f}",
            f"{res['DSP']:,.0f}", f"{f['fps']:,.0f}"]


def _section_sweep(doc: Doc, state: RunState, cfg: DemoConfig) -> None:
    """Accuracy vs bit width: table (+ FINN estimates per width) and plot."""
    doc.h(2, "Accuracy vs bit width")
    sw, rec = state.result("sweep"), state.record("sweep")
    if rec.get("status") == "skipped":
        doc.p(f"Skipped: {rec.get('skip_reason')}")
        return
    if not sw:
        doc.p("Not available: the sweep stage did not finish.")
        return
    from course_utils import plots

    finn = state.result("finn")
    rows = []
    for t, r in sw["results"].items():
        main = finn if t == cfg.tag and not sw.get("shortened") else None
        rows.append([t.upper(), _pct(r["accuracy"]), r["epochs"], f"{r['seconds']:.1f} s",
                     *_sweep_hardware(r, main)])
    doc.table(["bits", "test accuracy", "epochs", "training time", "FINN layers", "LUT", "BRAM18", "DSP",
               "est. FPS"], rows)
    doc.p(f"Sweep: {sw['note']}. Below 4 bits FINN maps the layers to HLS (not RTL), which this machine "
          "cannot execute without Vitis HLS; 1-bit networks use bipolar (+-1) quantizers.")
    series = {"QAT (Brevitas)": {t: r["accuracy"] for t, r in sw["results"].items()}}
    doc.figure("accuracy_vs_bits", plots.accuracy_vs_bits(series, sw.get("float_accuracy")),
               "Test accuracy vs bit width (dashed: float baseline)")


def _deploy_sentence(dep: dict[str, Any]) -> str:
    """One paragraph on the deploy package's streams, DMA and files."""
    i, o, d = dep["input"], dep["output"], dep["dma"]
    bit = "PLACEHOLDER (no Vivado)" if dep["placeholder_bitstream"] else "built by Vivado"
    hwh = "generated from the kit block-design Tcl (dry run)" if dep["hwh_generated"] else "from Vivado"
    return (f"Deploy package `{dep['package']}`: input {i['datatype']} folded {i['shape_folded']} on a "
            f"{i['stream_width_bits']}-bit stream ({i['bytes_per_sample']} bytes/image); output "
            f"{o['datatype']} folded {o['shape_folded']} on a {o['stream_width_bits']}-bit stream "
            f"({o['bytes_per_sample']} bytes/image); AXI DMA MM2S {d['mm2s_width_bits']} bits, S2MM "
            f"{d['s2mm_width_bits']} bits, {d['length_width']}-bit length register; TLAST {dep['tlast']}; "
            f"bitstream {bit}; .hwh {hwh}.")


def _section_hardware(doc: Doc, state: RunState, cfg: DemoConfig) -> None:
    """FPS, latency, bottleneck, resources against the board, folding, streams."""
    finn = state.result("finn")
    doc.h(2, f"Hardware: FINN estimates on {cfg.part} at {cfg.clock_mhz:g} MHz")
    if not finn:
        doc.p("Not available: the FINN stage did not finish.")
        return
    from course_utils.finnflow.plots import resources_vs_capacity
    from course_utils.hw.boards import get_board

    e = finn["estimates"]
    board = get_board(cfg.board)
    cap = board.capacity.as_dict()
    why = (" (it needs no more cycles than words arrive on its input stream: only a wider input stream "
           "makes it faster)" if e["bottleneck_kind"] == "input stream"
           else " (more PE/SIMD on this layer would make it faster)")
    doc.ul([f"Throughput **{e['fps']:,.0f} FPS** (target {cfg.target_fps:,.0f}): {e['cycles_per_sample']:,} "
            f"cycles per image at {e['clock_mhz']:g} MHz; latency {e['latency_cycles']:,} cycles = "
            f"{e['latency_us']:.2f} us.",
            f"Bottleneck: `{e['bottleneck']}`, {e['bottleneck_kind']} bound{why}.",
            (f"Output scale {finn['output_scale']:.6g} (logits = integer outputs x scale, on the host)."
             if finn.get("output_scale") is not None else
             "Output affine per class (logits = integer outputs x scale + bias, on the host: the output "
             "BatchNorm of a binary network)."),
            f"Verified bit-exact on the {finn['golden_samples']}-image golden batch: "
            + ", ".join(f"`{s}`" for s in finn["verified_on_golden"]) + "."])
    rows = [[k, f"{e['resources'][k]:,.0f}", f"{cap[k]:,}", f"{100 * e['resources'][k] / cap[k]:.1f}%",
             f"{100 * cfg.budget:.0f}%"] for k in ("LUT", "BRAM_18K", "DSP")]
    doc.table(["resource", "estimated use", f"{board.name} capacity", "used", "budget"], rows)
    doc.figure("resources", resources_vs_capacity(e, cfg.part, cfg.budget),
               f"Estimated resources per layer against the {board.name}'s {cfg.part}")
    rows = [[name, L["op"], L.get("SIMD"), L.get("PE"), L["cycles"], f"{L['LUT']:,.0f}",
             f"{L['BRAM_18K']:,.0f}", f"{L['DSP']:,.0f}", L["in_bits"], L["out_bits"], L["bound"]]
            for name, L in e["layers"].items()]
    doc.table(["layer", "op", "SIMD", "PE", "cycles", "LUT", "BRAM18", "DSP", "in bits", "out bits", "bound"],
              rows)
    code = finn.get("generated_code") or {}
    if code:
        doc.p("Generated code (PrepareIP): " + ", ".join(f"`{k}` {v} files" for k, v in code.items())
              + f" in `{finn.get('generated_code_dir')}`.")
    dep = state.result("deploy")
    if dep:
        doc.p(_deploy_sentence(dep))


def _synthesis_found(state: RunState, cfg: DemoConfig) -> dict[str, Any] | None:
    """The synthesis stage's result, else the cached or shipped synthesis of the run's folded model."""
    syn = state.result("synthesis")
    if syn:
        return syn
    finn = state.result("finn")
    folded = Path(state.run_dir) / "lab2" / "08_folded.onnx"
    if not finn or not folded.is_file():
        return None
    try:
        from course_utils import finnflow as ff

        ff.setup()
        from qonnx.core.modelwrapper import ModelWrapper

        from course_utils.demo.stages import synthesis_summary
        from course_utils.rtl import synth

        model = ModelWrapper(str(folded))
        found = synth.lookup(model)
        return synthesis_summary(model, finn["estimates"], found, cfg.budget) if found is not None else None
    except Exception as err:  # the report never fails on an optional lookup
        return {"error": f"{type(err).__name__}: {err}"}


def _section_resources(doc: Doc, state: RunState, cfg: DemoConfig) -> None:
    """Resources: FINN's estimate next to Yosys' synthesized counts where they exist, each labelled."""
    doc.h(2, f"Resources: FINN estimate vs Yosys synthesis ({cfg.part})")
    if not state.result("finn"):
        doc.p("Not available: the FINN stage did not finish.")
        return
    found = _synthesis_found(state, cfg)
    rec = state.record("synthesis")
    if not found or "error" in found:
        why = (f"the synthesis stage was skipped: {rec.get('skip_reason')}" if rec.get("status") == "skipped"
               else found["error"] if found else "no synthesis of this design in the cache")
        doc.p(f"**Estimates only** (FINN's formulas; not synthesized: {why}). The table above is FINN's "
              "estimate: for RTL layers it counts 0 LUT and a few tens for width converters, where Yosys "
              "counts thousands (docs/synthesis.md). Run `course demo` without `--quick`, or Lab 2.6, to "
              "synthesize.")
        return
    import pandas as pd

    from course_utils.finnflow.plots import synthesis_vs_estimate
    from course_utils.hw.boards import get_board

    cap = get_board(cfg.board).capacity.as_dict()
    syn = found["synthesized"]
    est = state.result("finn")["estimates"]["resources"]
    where = {"cache": "this machine's synthesis cache", "shipped": "the kit's shipped results "
             "(pretrained/lab2/synthesis.json)"}.get(found.get("origin", ""), "the synthesis stage")
    doc.p(f"Synthesized with Yosys (`synth_xilinx -family xc7`), totals from **{syn['source']}**, taken "
          f"from {where}. Yosys is not Vivado: no place and route, so no timing closure and no final "
          "utilization; its LUT mapping of wide multiplexers can be larger.")
    rows = [[k, f"{est.get(k, 0):,.0f}" if k in est else "not estimated", f"{syn['resources'][k]:,}",
             f"{cap[k]:,}", f"{100 * syn['utilization'][k]:.1f}%", f"{100 * cfg.budget:.0f}%"]
            for k in ("LUT", "FF", "BRAM_18K", "DSP")]
    doc.table(["resource", "FINN estimate", f"synthesized ({syn['source']})", "capacity", "synthesized use",
               "budget"], rows)
    for msg in syn["over_budget"]:
        doc.p(f"**Over budget (synthesized)**: {msg}.")
    if not syn["over_budget"]:
        doc.p(f"Within the {100 * cfg.budget:.0f}% budget in synthesized LUT, FF, BRAM and DSP.")
    table = [[r["node"], f"{r['LUT est']:,.0f}", _syn(r, "LUT"), _syn(r, "LUT ratio"), _syn(r, "FF"),
              f"{r['BRAM_18K est']:,.0f}", _syn(r, "BRAM_18K"), f"{r['DSP est']:,.0f}", _syn(r, "DSP"),
              r["source"]] for r in found["rows"]]
    doc.table(["node", "LUT est", "LUT syn", "ratio", "FF syn", "BRAM18 est", "BRAM18 syn", "DSP est",
               "DSP syn", "figure"], table)
    frame = pd.DataFrame(found["rows"]).set_index("node")
    doc.figure("synthesis", synthesis_vs_estimate(frame),
               "Per node: FINN's estimate vs Yosys' synthesized count (LUT on a log scale)")


def _syn(row: dict[str, Any], key: str) -> str:
    """A synthesized cell of the per-node table ("not synthesized" where there is none)."""
    k = key if key.endswith("ratio") else f"{key} syn"
    v = row.get(k)
    if k not in row:
        return "not synthesized"
    if v is None:
        return "-"
    if v == float("inf"):
        return "est. 0"
    return f"{v:,.2f}" if key.endswith("ratio") else f"{v:,.0f}"


def _section_board(doc: Doc, state: RunState, cfg: DemoConfig) -> None:
    """Where inference ran, its timing, the confusion matrix."""
    board = state.result("board")
    doc.h(2, "On the board")
    if not board:
        rec = state.record("board")
        doc.p(f"Skipped: {rec['skip_reason']}" if rec.get("status") == "skipped"
              else "Not available: the board stage did not finish.")
        return
    from course_utils import data, plots

    f = board["facts"]
    doc.ul([f"Where: {f['where']} ({board['target']}).",
            f"{f['samples']:,} test images through pynq `Overlay` + `allocate` + AXI DMA (Lab 3's "
            f"`runtime.infer`, up to {f['max_batch']:,} images per transfer); the package's golden batch "
            f"({f['golden_samples']} images) first, bit-exact.",
            f"Timing: {f['timing']}.",
            f"Overlay load {f['overlay_load_s']:.2f} s."])
    names = list(data.get(cfg.dataset).classes)
    doc.figure("confusion", plots.confusion_matrix(np.array(board["confusion"]), names,
                                                   title="Board predictions: confusion matrix"),
               "Confusion matrix of the board's predictions (rows: true class)")


def _section_versions(doc: Doc, state: RunState) -> None:
    """Versions of every tool, host and board environment."""
    doc.h(2, "Tool versions")
    rows = [[k, v, "host"] for k, v in host_versions().items()]
    for k, v in (state.result("board").get("facts", {}).get("versions") or {}).items():
        rows.append([k, v, "board environment"])
    doc.table(["tool", "version", "environment"], rows)


def _section_artifacts(doc: Doc, state: RunState) -> None:
    """What each stage wrote, and its log."""
    doc.h(2, "Artifacts")
    items = []
    for s in STAGES:
        rec = state.record(s.name)
        arts = sorted(rec.get("artifacts") or {})
        if not arts:
            continue
        more = f" and {len(arts) - 6} more" if len(arts) > 6 else ""
        items.append(f"**{s.name}** ({rec.get('status')}): " + ", ".join(f"`{a}`" for a in arts[:6]) + more
                     + f"; log `{rec.get('log')}`")
    doc.ul(items or ["none yet"])
    doc.p("All paths are relative to the run folder; `state.json` records each file's sha256, so a later run "
          "resumes past a stage only while its files are unchanged.")


def build(state: RunState, files_dir: Path) -> tuple[Doc, str]:
    """The report document of the run in ``state`` and its title."""
    import matplotlib

    matplotlib.use("Agg")
    cfg = DemoConfig.from_dict(state.data["config"])
    title = f"course demo: {cfg.dataset} {cfg.tag.upper()} on {cfg.board}" + (" (quick)" if cfg.quick else "")
    doc = Doc(files_dir)
    doc.h(1, title)
    _section_summary(doc, state, cfg)
    _section_accuracy(doc, state, cfg)
    _section_times(doc, state)
    doc.h(2, "What was skipped, and why")
    doc.ul(skipped_items(state, cfg) or ["nothing: every stage ran for real."])
    _section_training(doc, state)
    _section_sweep(doc, state, cfg)
    _section_hardware(doc, state, cfg)
    _section_resources(doc, state, cfg)
    from course_utils.demo import rtl_stage

    rtl_stage.section(doc, state)
    _section_board(doc, state, cfg)
    _section_versions(doc, state)
    _section_artifacts(doc, state)
    return doc, title


def write_report(state: RunState) -> tuple[Path, Path]:
    """Write ``report.md`` (+ ``report_files/*.png``) and ``report.html`` into the run folder."""
    run_dir = state.run_dir
    files_dir = run_dir / FILES_DIR
    doc, title = build(state, files_dir)
    files_dir.mkdir(parents=True, exist_ok=True)
    for name, png in doc.figures.items():
        write_bytes_atomic(files_dir / f"{name}.png", png)
    md = write_text(run_dir / "report.md", doc.markdown())
    page = write_text(run_dir / "report.html", doc.html(title))
    return md, page

