"""The lecture notebooks and `course lectures`: conventions, clean in git, offline slides in Chromium."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from course_utils import cli
from course_utils.commands import lectures as lec

ROOT = Path(__file__).resolve().parent.parent
LECTURES = ROOT / "lectures"
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


# --- the notebooks --------------------------------------------------------------------------------
def test_two_lectures_named_by_convention():
    names = [p.name for p in lec.lecture_notebooks()]
    assert names == ["01_basic_concepts.ipynb", "02_workflow_and_tools.ipynb"]


@pytest.mark.parametrize("path", lec.lecture_notebooks(), ids=lambda p: p.stem)
def test_lecture_is_a_slide_deck(path):
    nb = _read(path)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata.get("rise", {}).get("scroll") is True          # long slides scroll in RISE
    types = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    assert None not in types, "every cell needs slideshow metadata (View > Cell Toolbar > Slideshow)"
    assert set(types) <= SLIDE_TYPES
    first = nb.cells[0]
    number = int(path.name[:2])
    assert first.cell_type == "markdown" and types[0] == "slide"
    assert first.source.startswith(f"# Lecture {number}:")
    setup = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# Setup: run this cell")]
    assert len(setup) == 1, "exactly one setup cell"
    headings = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert any(h.startswith("## Summary") for h in headings)
    assert any(h.startswith("## References") for h in headings)
    assert types.count("slide") >= 8
    assert len({c.id for c in nb.cells}) == len(nb.cells)


@pytest.mark.parametrize("path", lec.lecture_notebooks(), ids=lambda p: p.stem)
def test_lecture_committed_clean_and_self_contained(path):
    assert lec.is_clean(path), f"{path.name} has outputs: run `course lectures --strip`"
    text = path.read_text(encoding="utf-8")
    # every figure is drawn by code: no remote or local image files in the markdown
    assert not re.search(r"!\[[^\]]*\]\(", text)
    assert not re.search(r"<img\s", text, re.I)
    assert "attachments" not in text


def test_lectures_cite_published_figures_with_their_source():
    text = "\n".join(c.source for c in _read(LECTURES / "02_workflow_and_tools.ipynb").cells)
    for fact in ("12.3 million", "0.31 µs", "21,906", "283 µs", "arXiv:1612.07119", "arXiv:1809.04570"):
        assert fact in text


# --- strip / check ----------------------------------------------------------------------------------
def _dirty_copy(tmp_path: Path) -> Path:
    src = LECTURES / "01_basic_concepts.ipynb"
    nb = _read(src)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    code.execution_count = 7
    code.metadata["execution"] = {"iopub.status.busy": "2024-01-01T00:00:00Z"}
    nb.metadata["widgets"] = {"state": {}}
    dest = tmp_path / src.name
    nbformat.write(nb, dest)
    return dest


def test_strip_removes_outputs_and_keeps_slide_settings(tmp_path):
    dirty = _dirty_copy(tmp_path)
    assert not lec.is_clean(dirty)
    assert lec.strip_notebook(dirty) is True
    assert lec.is_clean(dirty)
    nb = _read(dirty)
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code")
    assert "widgets" not in nb.metadata and nb.metadata["rise"]["scroll"] is True
    assert all("slideshow" in c.metadata for c in nb.cells)
    assert [c.source for c in nb.cells] == [c.source for c in _read(LECTURES / dirty.name).cells]
    assert lec.strip_notebook(dirty) is False                      # idempotent


def test_cli_check_and_strip(tmp_path, capsys):
    dirty = _dirty_copy(tmp_path)
    assert cli.main(["lectures", "--check", str(dirty)]) == 1
    assert "course lectures --strip" in capsys.readouterr().err
    assert cli.main(["lectures", "--strip", str(dirty)]) == 0
    assert cli.main(["lectures", "--check", str(dirty)]) == 0
    assert cli.main(["lectures", "--check", str(tmp_path / "missing.ipynb")]) == 1
    assert "not found" in capsys.readouterr().err


# --- assets -----------------------------------------------------------------------------------------
def test_locked_packages_pin_the_slide_assets():
    locked = lec.locked_packages()
    assert set(locked) >= {"reveal.js", "mathjax", "requirejs", "jquery"}
    assert locked["mathjax"].startswith("2.")                      # nbconvert's template uses MathJax 2
    manifest = json.loads((LECTURES / "package.json").read_text())
    assert manifest["dependencies"] == {k: v for k, v in locked.items() if k in manifest["dependencies"]}


def _fake_modules(root: Path, versions: dict[str, str]) -> Path:
    nm = root / "node_modules"
    for name, version in versions.items():
        (nm / name).mkdir(parents=True, exist_ok=True)
        (nm / name / "package.json").write_text(json.dumps({"name": name, "version": version}))
    for rel in lec.REQUIRED_FILES:
        f = nm / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("/* stub */")
    return nm


def test_missing_assets_reports_versions(tmp_path):
    locked = lec.locked_packages()
    nm = _fake_modules(tmp_path, locked)
    assert lec.missing_assets(nm, locked) == []
    (nm / "reveal.js" / "package.json").write_text(json.dumps({"version": "3.0.0"}))
    assert lec.missing_assets(nm, locked) == [f"reveal.js@{locked['reveal.js']} (found 3.0.0)"]
    shutil.rmtree(nm / "jquery")
    assert f"jquery@{locked['jquery']}" in lec.missing_assets(nm, locked)


def test_ensure_assets_uses_given_folder_and_explains_problems(tmp_path, monkeypatch):
    locked = lec.locked_packages()
    good = tmp_path / "good"
    nm = _fake_modules(good, locked)
    assert lec.ensure_assets(tmp_path / "out", assets=good) == nm
    with pytest.raises(lec.LectureError, match="--assets .*missing .*reveal.js@"):
        lec.ensure_assets(tmp_path / "out", assets=tmp_path / "empty")
    monkeypatch.setattr(lec.shutil, "which", lambda _name: None)
    with pytest.raises(lec.LectureError, match="npm was not found.*apt-get install npm"):
        lec.ensure_assets(tmp_path / "fresh")


def test_cli_install_assets_reports_missing_npm(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(lec.shutil, "which", lambda _name: None)
    assert cli.main(["lectures", "--install-assets", "--out", str(tmp_path / "out")]) == 1
    assert "npm was not found" in capsys.readouterr().err
    good = tmp_path / "good"
    _fake_modules(good, lec.locked_packages())
    assert cli.main(["lectures", "--install-assets", "--assets", str(good)]) == 0
    assert "slide assets ready" in capsys.readouterr().out


def test_asset_urls_are_relative(tmp_path):
    urls = lec.asset_urls(tmp_path / "slides", tmp_path / "node_modules")
    assert urls["reveal"] == "../node_modules/reveal.js"
    assert urls["mathjax"].startswith("../node_modules/mathjax/MathJax.js?config=")
    same_dir = lec.asset_urls(tmp_path, tmp_path / "node_modules")
    assert same_dir["jquery"] == "node_modules/jquery/dist/jquery.min.js"


def test_export_references_only_local_files(tmp_path):
    nb = _read(LECTURES / "01_basic_concepts.ipynb")
    html = lec.export_slides(nb, tmp_path / "l1.slides.html", tmp_path / "node_modules").read_text()
    loads = re.findall(r'(?:src|href)="([^"#][^"]*)"', html) + re.findall(r'"([^"]+\.js)"', html)
    assert loads, "the page loads nothing?"
    remote = [u for u in loads if re.match(r"(https?:)?//", u)]
    assert remote == [], f"remote assets in the slides: {remote}"
    assert "node_modules/reveal.js/dist/reveal.js" in html and "mermaid" not in html.split("<body")[0]
    assert "Lecture 1: Basic concepts" in html
    assert not list(tmp_path.glob("*.tmp"))


def test_build_rejects_missing_notebook(tmp_path):
    with pytest.raises(lec.LectureError, match="not found"):
        lec.build([tmp_path / "nope.ipynb"], tmp_path / "out", execute=False)
    with pytest.raises(lec.LectureError, match="no lecture notebooks"):
        lec.build([], tmp_path / "out")


# --- the real thing: execute, export, open offline in Chromium ----------------------------------------
@pytest.fixture(scope="module")
def slide_assets() -> Path:
    """node_modules with the locked slide assets (npm ci into build/lectures once), else skip."""
    from course_utils.paths import build_dir

    try:
        return lec.ensure_assets(build_dir("lectures"))
    except lec.LectureError as err:
        pytest.skip(f"slide assets unavailable: {err}")


def _pixels_not_blank(png: Path) -> tuple[int, float]:
    """(distinct colours, fraction of non-white pixels) of a screenshot."""
    from PIL import Image

    img = Image.open(png).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 20) or []
    dark = sum(img.convert("L").histogram()[:200])
    return len(colours), dark / (img.width * img.height)


@pytest.mark.browser
@pytest.mark.slow
def test_course_lectures_exports_offline_slides_that_render(tmp_path, slide_assets):
    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed: run `python3 scripts/system_deps.py` (Debian package chromium)")
    out = tmp_path / "slides"
    assert cli.main(["lectures", "--out", str(out), "--assets", str(slide_assets.parent)]) == 0
    htmls = sorted(out.glob("*.slides.html"))
    assert [h.name for h in htmls] == ["01_basic_concepts.slides.html", "02_workflow_and_tools.slides.html"]
    for html in htmls:   # executed: printed results and figures embedded, no warnings or errors shown
        text = html.read_text(encoding="utf-8")
        assert text.count("data:image/png;base64,") >= 5
        assert text.count('data-mime-type="text/plain"') >= 10
        assert 'data-mime-type="application/vnd.jupyter.stderr"' not in text and "Traceback" not in text

    titles = ("Lecture 1: Basic concepts", "Lecture 2: The workflow and the tools")
    remote = check_slides_in_chromium(list(zip(htmls, titles)), tmp_path)
    assert remote == [], f"the slides tried to reach the network: {remote}"


def check_slides_in_chromium(decks: list[tuple[Path, str]], shot_dir: Path) -> list[str]:
    """Open each deck offline in Chromium; assert its first slides render; return remote URLs tried."""
    from playwright.sync_api import sync_playwright

    remote: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
                ("file:", "data:")) else (remote.append(route.request.url), route.abort()))
            for html, title in decks:
                page = context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
                page.goto(html.as_uri())
                page.wait_for_selector(".reveal.ready", state="attached", timeout=60_000)
                page.wait_for_function("window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0",
                                       timeout=60_000)
                first = page.inner_text(".reveal .slides section.present")
                assert title.lower() in first.lower(), f"{html.name}: first slide shows {first[:80]!r}"
                shots = []
                for i in range(3):     # title, objectives, first content slide
                    shot = shot_dir / f"{html.stem}-{i}.png"
                    page.wait_for_timeout(500)
                    page.screenshot(path=str(shot))
                    shots.append(shot.read_bytes())
                    colours, dark = _pixels_not_blank(shot)
                    assert colours >= 20, f"{shot.name}: only {colours} colours, the slide looks blank"
                    assert 0.003 < dark < 0.6, f"{shot.name}: {dark:.1%} dark pixels"
                    page.keyboard.press("Space")
                assert len(set(shots)) == 3, f"{html.name}: navigating did not change the slide"
                # formulas typeset by the local MathJax, figures decoded
                assert page.evaluate("document.querySelectorAll('.MathJax_CHTML').length") > 5
                widths = page.evaluate("Array.from(document.querySelectorAll('.reveal img'))"
                                       ".map(i => i.naturalWidth)")
                assert widths and min(widths) > 0, f"{html.name}: figures missing or not decoded"
                assert errors == [], f"JavaScript errors in {html.name}: {errors}"
                page.close()
        finally:
            browser.close()
    return remote


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "lectures").glob("*.ipynb")),
                         ids=lambda p: p.name)
def test_lecture_code_lines_fit_a_slide(path):
    """Code lines stay under 85 characters: longer ones wrap mid-expression in the HTML slides."""
    nb = nbformat.read(path, as_version=4)
    long = [ln for c in nb.cells if c.cell_type == "code" for ln in c.source.splitlines() if len(ln) > 84]
    assert not long, "\n".join(long)


def test_sample_grid_labels_are_readable():
    import numpy as np

    from course_utils import plots

    fig = plots.sample_grid(np.zeros((4, 784), np.uint8), np.arange(4))
    assert {ax.title.get_fontsize() for ax in fig.axes if ax.get_title()} == {plots.LABEL_SIZE}
    assert plots.LABEL_SIZE >= 11
