"""``course lectures``: export the lecture notebooks to standalone HTML slides that work offline.

The slides use nbconvert's reveal.js template. Its JavaScript and CSS (reveal.js, MathJax 2,
require.js, jQuery) come from ``lectures/package.json`` + ``package-lock.json``, installed with
``npm ci`` into the output folder (``build/lectures/node_modules``) the first time; the HTML refers
to them by relative paths, so the whole output folder can be copied and opened from disk
(``file://``) without a network. Notebooks are executed first (they are committed without outputs),
in a copy: the files in ``lectures/`` are never modified, except by ``--strip``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from course_utils.fileio import atomic_path, write_text_atomic
from course_utils.paths import build_dir, kit_root

# Where nbconvert's reveal template loads each asset from, relative to node_modules/.
ASSETS = {
    "reveal": "reveal.js",
    "mathjax": "mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
    "require": "requirejs/require.js",
    "jquery": "jquery/dist/jquery.min.js",
}
# Files that must exist in node_modules for the slides to work offline.
REQUIRED_FILES = ("reveal.js/dist/reveal.js", "reveal.js/dist/reveal.css", "reveal.js/dist/theme/white.css",
                  "reveal.js/plugin/notes/notes.js", "mathjax/MathJax.js", "requirejs/require.js",
                  "jquery/dist/jquery.min.js")
# nbconvert's reveal template, with three changes: no mermaid loader (it would fetch from a CDN; the
# lectures draw no mermaid diagrams), MathJax without automatic line breaks (they split formulas in
# table cells), and long code and output lines wrap instead of being cut off.
SLIDES_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{% block html_head_js_mermaidjs %}{% endblock %}
{% block html_head_js_mathjax %}
<script src="{{ resources.mathjax_url }}"></script>
<script type="text/x-mathjax-config">
if (window.MathJax) {
    MathJax.Hub.Config({
        tex2jax: {inlineMath: [['$', '$'], ["\\(", "\\)"]], displayMath: [['$$', '$$'], ["\\[", "\\]"]],
                  processEscapes: true, processEnvironments: true},
        displayAlign: "center", messageStyle: "none", CommonHTML: {linebreaks: {automatic: false}}
    });
    MathJax.Hub.Queue(["Typeset", MathJax.Hub]);
}
</script>
{% endblock %}
{% block html_head_css %}
<style type="text/css">
.reveal pre, .reveal .jp-OutputArea-output pre { white-space: pre-wrap; overflow-wrap: break-word; }
.reveal .jp-RenderedImage img { max-height: 560px; }
</style>
{% endblock %}
"""
NPM_HELP = ("install Node.js with npm (Debian/Ubuntu: `sudo apt-get install npm`), or pass --assets DIR "
            "pointing at a folder whose node_modules/ holds the packages of lectures/package.json")


class LectureError(RuntimeError):
    """The slides cannot be built; the message says why and what to do."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                        help="lecture notebooks to export (default: every lectures/NN_*.ipynb)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: build/lectures); it holds the HTML and node_modules/")
    parser.add_argument("--assets", type=Path, default=None,
                        help="use this folder's node_modules/ instead of running `npm ci` into --out")
    parser.add_argument("--no-execute", action="store_true",
                        help="export the notebooks as they are (no figures unless saved with outputs)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    parser.add_argument("--install-assets", action="store_true",
                        help="only install the offline slide assets (npm ci into --out) and exit")
    parser.add_argument("--strip", action="store_true",
                        help="only strip outputs and volatile metadata from lectures/*.ipynb in place")
    parser.add_argument("--check", action="store_true",
                        help="only check that lectures/*.ipynb are committed clean (exit 1 if not)")


def lecture_dir() -> Path:
    """``lectures/`` in the kit."""
    return kit_root() / "lectures"


def lecture_notebooks(folder: Path | None = None) -> list[Path]:
    """The lecture notebooks, in order (``NN_topic.ipynb``; checkpoint folders excluded)."""
    folder = folder or lecture_dir()
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb") if p.is_file())


# ---------------------------------------------------------------------------------------------
# clean notebooks in git
# ---------------------------------------------------------------------------------------------
KEEP_LECTURE_METADATA = ("rise",)
"""Notebook metadata kept besides the authoring defaults: ``rise`` holds the slide settings."""


def clean_lecture(nb: Any) -> Any:
    """``clean_notebook`` (outputs, counts, volatile metadata) that keeps the slide settings; in place."""
    from course_utils.authoring.notebooks import clean_notebook

    keep = {k: nb.metadata[k] for k in KEEP_LECTURE_METADATA if k in nb.metadata}
    clean_notebook(nb)
    nb.metadata.update(keep)
    return nb


def strip_notebook(path: Path) -> bool:
    """Remove outputs and volatile metadata from ``path`` in place; True if the file changed."""
    import nbformat

    from course_utils.authoring.notebooks import write_notebook

    return write_notebook(clean_lecture(nbformat.read(path, as_version=4)), path)


def is_clean(path: Path) -> bool:
    """True if ``path`` is already stripped (what ``strip_notebook`` would write)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    text = nbformat.writes(clean_lecture(nbformat.from_dict(nb)), version=4) + "\n"
    return path.read_text(encoding="utf-8") == text


# ---------------------------------------------------------------------------------------------
# offline assets
# ---------------------------------------------------------------------------------------------
def locked_packages(folder: Path | None = None) -> dict[str, str]:
    """``{package: version}`` pinned in ``lectures/package-lock.json``."""
    lock_path = (folder or lecture_dir()) / "package-lock.json"
    try:
        lock = json.loads(lock_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise LectureError(f"cannot read {lock_path} ({err}); restore it from git") from err
    return {key.removeprefix("node_modules/"): meta["version"]
            for key, meta in lock.get("packages", {}).items() if key.startswith("node_modules/")}


def missing_assets(node_modules: Path, locked: dict[str, str]) -> list[str]:
    """Locked packages absent from ``node_modules`` or at another version (empty: all present)."""
    missing = []
    for name, version in locked.items():
        meta = node_modules / name / "package.json"
        try:
            found = json.loads(meta.read_text(encoding="utf-8")).get("version")
        except (OSError, ValueError):
            found = None
        if found != version:
            missing.append(f"{name}@{version}" + (f" (found {found})" if found else ""))
    if not missing:
        missing = [f"file {rel}" for rel in REQUIRED_FILES if not (node_modules / rel).is_file()]
    return missing


def ensure_assets(out: Path, assets: Path | None = None) -> Path:
    """The ``node_modules`` folder holding the slide assets; run ``npm ci`` into ``out`` if needed."""
    locked = locked_packages()
    if assets is not None:
        node_modules = assets / "node_modules" if (assets / "node_modules").is_dir() else assets
        missing = missing_assets(node_modules, locked)
        if missing:
            raise LectureError(f"--assets {assets}: missing {', '.join(missing)}; run `npm ci` there with "
                               "lectures/package.json and package-lock.json, or leave out --assets")
        return node_modules
    node_modules = out / "node_modules"
    if not missing_assets(node_modules, locked):
        return node_modules
    npm = shutil.which("npm")
    if npm is None:
        raise LectureError(f"slides need reveal.js and MathJax offline; npm was not found: {NPM_HELP}.")
    out.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        with atomic_path(out / name) as tmp:
            shutil.copyfile(lecture_dir() / name, tmp)
    print(f"Installing the slide assets (reveal.js, MathJax, require.js, jQuery) into {node_modules} ...",
          flush=True)
    cmd = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"]
    res = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
    if res.returncode != 0:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-8:])
        raise LectureError(f"`npm ci` failed in {out} (exit {res.returncode}); it needs the npm registry "
                           f"or a filled npm cache once. Output:\n{tail}\nOtherwise: {NPM_HELP}.")
    missing = missing_assets(node_modules, locked)
    if missing:
        raise LectureError(f"`npm ci` finished but {', '.join(missing)} is missing in {node_modules}")
    return node_modules


def asset_urls(html_dir: Path, node_modules: Path) -> dict[str, str]:
    """Relative URLs (from the HTML's folder) of each asset nbconvert's reveal template loads."""
    rel = Path(os.path.relpath(node_modules, html_dir)).as_posix()
    return {key: f"{rel}/{path}" for key, path in ASSETS.items()}


# ---------------------------------------------------------------------------------------------
# execute and export
# ---------------------------------------------------------------------------------------------
def execute_notebook(path: Path, timeout: int = 600) -> Any:
    """Run a copy of the notebook top to bottom (cwd = its folder); return the executed notebook."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    client = NotebookClient(nb, timeout=timeout, kernel_name=kernel,
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as err:
        raise LectureError(f"{path.name} failed while executing; fix the notebook (run it in JupyterLab "
                           f"to see the cell). Error:\n{err}") from err
    return nb


def export_slides(nb: Any, dest: Path, node_modules: Path) -> Path:
    """Write ``nb`` as reveal.js slides to ``dest`` (atomically), loading assets from ``node_modules``."""
    from nbconvert import SlidesExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    urls = asset_urls(dest.parent, node_modules)
    exporter = SlidesExporter(
        reveal_url_prefix=urls["reveal"], mathjax_url=urls["mathjax"], require_js_url=urls["require"],
        jquery_url=urls["jquery"], reveal_theme="white", reveal_transition="none", reveal_scroll=True,
        reveal_number="c/t", exclude_input_prompt=True, exclude_output_prompt=True,
        raw_template=SLIDES_TEMPLATE)
    exporter.register_preprocessor(TagRemovePreprocessor(remove_input_tags=("slides-hide-input",),
                                                         remove_cell_tags=("slides-skip",)), enabled=True)
    nb.metadata.pop("widgets", None)  # widget state would load its JavaScript from a CDN
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": dest.stem.split(".")[0]}})
    return write_text_atomic(dest, body)


def build(notebooks: list[Path], out: Path, execute: bool = True, timeout: int = 600,
          assets: Path | None = None) -> list[Path]:
    """Export each notebook to ``out/<name>.slides.html``; return the written files."""
    import nbformat
    from tqdm.auto import tqdm

    if not notebooks:
        raise LectureError(f"no lecture notebooks found in {lecture_dir()} (expected NN_topic.ipynb)")
    for nb_path in notebooks:
        if not nb_path.is_file():
            raise LectureError(f"{nb_path} not found; give a path to a lecture notebook or no argument")
    node_modules = ensure_assets(out, assets)
    written = []
    for nb_path in tqdm(notebooks, desc="lectures", unit="notebook"):
        nb = execute_notebook(nb_path, timeout) if execute else nbformat.read(nb_path, as_version=4)
        written.append(export_slides(nb, out / f"{nb_path.stem}.slides.html", node_modules))
    return written


def run(args: argparse.Namespace) -> int:
    notebooks = [Path(p).resolve() for p in args.notebooks] or lecture_notebooks()
    missing = [str(p) for p in notebooks if not p.is_file()]
    if missing:
        print(f"error: not found: {', '.join(missing)}; give paths of lecture notebooks "
              "(lectures/NN_topic.ipynb) or none for all", file=sys.stderr)
        return 1
    if args.strip or args.check:
        dirty = [p for p in notebooks if not is_clean(p)]
        if args.check:
            for p in dirty:
                print(f"not clean (outputs or volatile metadata): {p}", file=sys.stderr)
            if dirty:
                print("run `course lectures --strip` before committing", file=sys.stderr)
            return 1 if dirty else 0
        for p in notebooks:
            if strip_notebook(p):
                print(f"stripped  {p}")
        return 0
    out = (args.out or build_dir("lectures", create=False)).resolve()
    if args.install_assets:
        try:
            node_modules = ensure_assets(out, args.assets)
        except LectureError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"slide assets ready in {node_modules}")
        return 0
    try:
        written = build(notebooks, out, execute=not args.no_execute, timeout=args.timeout, assets=args.assets)
    except LectureError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote     {path}")
    print(f"Open them in a browser (offline): file://{written[0]}\n  (keep node_modules/ next to them; "
          "press S for speaker notes, Esc for an overview)")
    return 0
