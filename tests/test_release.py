"""The student bundle: what is in it, and no leak of solutions, hidden tests or grading material.

The leak inspection here is independent of ``release.scan``: it reads the solution notebooks and
every grading.toml itself and searches the bundle's files for their text."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import nbformat
import pytest
import tomllib

from course_utils.authoring import release as rel
from course_utils.authoring.notebooks import BEGIN_RE, END_RE, LINE_RE, solution_notebooks

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The real kit's bundle, written once for the module."""
    target = tmp_path_factory.mktemp("release") / "student-bundle"
    manifest = rel.release(ROOT, target)
    assert manifest["path"] == str(target)
    return target


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _texts(folder: Path):
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            yield path.relative_to(folder).as_posix(), path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue


def _answer_blocks(source: str) -> list[str]:
    """Each marked answer (BEGIN/END block, or a `# SOLUTION` line) as one normalized text."""
    blocks, run = [], None
    for line in source.splitlines():
        if BEGIN_RE.match(line):
            run = []
        elif END_RE.match(line):
            blocks.append(run or [])
            run = None
        elif run is not None:
            run.append(line)
        elif LINE_RE.search(line):
            blocks.append([line])
    return ["\n".join(" ".join(LINE_RE.sub("", ln).split()) for ln in b if ln.strip()) for b in blocks]


def _normalized(text: str) -> str:
    return "\n".join(" ".join(ln.split()) for ln in text.splitlines() if ln.strip())


def test_bundle_has_the_student_material_and_nothing_for_graders(bundle):
    files = _files(bundle)
    assert "README.md" in files and "RELEASE.json" in files
    assert any(f.startswith("course_utils/checks/") for f in files)
    assert "course_utils/authoring/notebooks.py" in files
    assert any(f.startswith("pretrained/") for f in files) and "pyproject.toml" in files
    assert any(f.startswith("requirements/") for f in files)
    for f in files:
        parts = f.split("/")
        assert parts[0] not in ("solutions", "build", ".git", ".venv", "bench"), f
        assert "grading_corpus" not in parts and not parts[-1].startswith(("test_grade", "test_release")), f
        assert parts[-1] != "grading.toml" and "__pycache__" not in parts, f
        assert not (parts[0] == "data" and len(parts) > 2), f"dataset cache in the bundle: {f}"
    for nb in solution_notebooks(ROOT):
        lab = nb.relative_to(ROOT / "solutions").as_posix()
        assert f"labs/{lab}" in files, f"labs/{lab} missing from the bundle"
    readme = (bundle / "README.md").read_text()
    assert "student version" in readme and "make lab" in readme and "{{LABS}}" not in readme
    for nb in (bundle / "labs").rglob("*.ipynb"):
        assert f"`{nb.relative_to(bundle).as_posix()}`" in readme
    manifest = json.loads((bundle / "RELEASE.json").read_text())
    assert manifest["files"] == len(files) - 1


def test_no_solution_markers_answers_or_hidden_tests_in_the_bundle(bundle):
    """Independent leak inspection: every answer block and hidden test, searched in every file."""
    answers = []
    for path in solution_notebooks(ROOT):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and "solution-only" in cell.metadata.get("tags", []):
                answers.append((path.name, _normalized(cell.source)))
            elif cell.cell_type == "code":
                answers += [(path.name, b) for b in _answer_blocks(cell.source) if b.count("\n") >= 1]
    hidden = []
    for toml in (ROOT / "solutions").rglob("grading.toml"):
        for table in tomllib.loads(toml.read_text()).get("notebooks", {}).values():
            for ex in table.get("exercises", {}).values():
                hidden += [h["code"] for h in (ex.get("hidden", []) if isinstance(ex, dict) else [])]
    assert answers, "no multi-line answer blocks found in solutions/: the inspection would be vacuous"
    texts = dict(_texts(bundle))
    normalized = {name: _normalized(text) for name, text in texts.items()}
    allowed_markers = re.compile(r"^course_utils/(authoring/[^/]+\.py|commands/labs\.py)$")
    for name, text in texts.items():
        if not allowed_markers.match(name):
            assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, f"solution marker in {name}"
            assert not re.search(r"#\s*SOLUTION\s*$", text, re.M), f"'# SOLUTION' line in {name}"
    for source, block in answers:
        for name, text in normalized.items():
            assert block not in text, f"an answer block of {source} appears in {name}:\n{block}"
    for code in hidden:
        lines = [ln for ln in _normalized(code).splitlines() if len(ln) >= 12]
        for name, text in texts.items():
            for line in lines:
                assert line not in text, f"hidden-test text in {name}: {line!r}"
    blocking, accepted = rel.split_waived(rel.scan(bundle, ROOT), rel.load_waivers(ROOT))
    assert blocking == []
    assert json.loads((bundle / "RELEASE.json").read_text())["accepted_overlaps"] == accepted


def test_labs_in_the_bundle_are_the_generated_student_versions(bundle):
    for path in (bundle / "labs").rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        assert nb.cells[0].metadata.get("tags") == ["generated-banner"], path
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs for c in code), f"{path} has outputs"
        if any(c.source.lstrip().startswith("# Exercise") for c in code):
            assert "NotImplementedError" in json.dumps(nb.cells) or "= ..." in json.dumps(nb.cells), path


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_archives_hold_the_same_files_under_one_folder(bundle, tmp_path, fmt):
    manifest = rel.release(ROOT, tmp_path / "course", fmt=fmt)
    archive = Path(manifest["path"])
    assert archive.name == f"course.{fmt}" and archive.is_file()
    if fmt == "zip":
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
    else:
        with tarfile.open(archive) as tf:
            names = [m.name for m in tf.getmembers() if m.isfile()]
    assert all(n.startswith("course/") for n in names)
    assert sorted(n.removeprefix("course/") for n in names) == _files(bundle)
    assert not list(tmp_path.glob(".*tmp*")), "a temporary file was left behind"


# --------------------------------------------------------------------------- the scanner catches leaks

def _mini_kit(tmp_path: Path) -> Path:
    kit = tmp_path / "kit"
    (kit / "course_utils").mkdir(parents=True)
    (kit / "course_utils" / "__init__.py").write_text("")
    (kit / "lectures").mkdir()
    (kit / "pyproject.toml").write_text("")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Lab 9.1: tiny"), nbformat.v4.new_code_cell(
        "# Exercise 1.1: the mean of squares\ndef msq(values):\n    # BEGIN SOLUTION\n"
        "    squares = [value * value for value in values]\n    total_of_squares = sum(squares)\n"
        "    return total_of_squares / len(squares)\n    # END SOLUTION\n\n"
        "secret_offset = 1234567  # SOLUTION")]
    (kit / "solutions" / "lab9_tiny").mkdir(parents=True)
    nbformat.write(nb, kit / "solutions" / "lab9_tiny" / "01_tiny.ipynb")
    (kit / "solutions" / "lab9_tiny" / "grading.toml").write_text(
        '[[notebooks."01_tiny".exercises."1.1".hidden]]\nname = "empty"\npoints = 1\ncode = """\n'
        'assert msq([3.0, 4.0]) == 12.5, "the mean of 9 and 16"\n'
        'assert msq([-2.0]) == 4.0, "negative ok"\n"""\n')
    return kit


def test_a_clean_mini_kit_releases(tmp_path):
    kit = _mini_kit(tmp_path)
    manifest = rel.release(kit, tmp_path / "out")
    assert (tmp_path / "out" / "labs" / "lab9_tiny" / "01_tiny.ipynb").exists()
    assert manifest["files"] >= 4


@pytest.mark.parametrize("where, content, what", [
    ("course_utils/helpers.py",
     "def f(values):\n    squares = [value * value for value in values]\n"
     "    total_of_squares = sum(squares)\n    return total_of_squares / len(squares)\n",
     "solution code from solutions/lab9_tiny/01_tiny.ipynb"),
    ("course_utils/more.py", 'x = 1\nassert msq([3.0, 4.0]) == 12.5, "the mean of 9 and 16"\n'
     'assert msq([-2.0]) == 4.0, "negative ok"\n', "hidden-test code"),
    ("course_utils/notes.py", "# BEGIN SOLUTION\n", "solution marker"),
])
def test_leaks_stop_the_release_and_nothing_is_written(tmp_path, where, content, what):
    kit = _mini_kit(tmp_path)
    (kit / where).write_text(content)
    with pytest.raises(rel.ReleaseError, match=re.escape(what)) as err:
        rel.release(kit, tmp_path / "out")
    assert where in str(err.value)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["kit"], "a partial bundle was left behind"


def test_an_accepted_overlap_needs_a_reason_and_only_covers_solution_code(tmp_path):
    kit = _mini_kit(tmp_path)
    (kit / "course_utils" / "helpers.py").write_text(
        "def f(values):\n    squares = [value * value for value in values]\n"
        "    total_of_squares = sum(squares)\n    return total_of_squares / len(squares)\n")
    waivers = kit / "solutions" / "release.toml"
    waivers.write_text('[[allow]]\nfile = "course_utils/helpers.py"\n'
                       'solution = "solutions/lab9_tiny/01_tiny.ipynb"\n')
    with pytest.raises(rel.ReleaseError, match=r"allow\[0\] needs file, solution and reason"):
        rel.release(kit, tmp_path / "out")
    waivers.write_text(waivers.read_text() + 'reason = "the helper is taught after the exercise"\n')
    manifest = rel.release(kit, tmp_path / "out")
    assert len(manifest["accepted_overlaps"]) == 1
    assert "course_utils/helpers.py" in manifest["accepted_overlaps"][0]
    assert "taught after the exercise" in (tmp_path / "out" / "RELEASE.json").read_text()
    assert not (tmp_path / "out" / "solutions").exists()
    (kit / "course_utils" / "more.py").write_text("# BEGIN SOLUTION\n")
    waivers.write_text(waivers.read_text().replace("helpers.py", "*.py"))
    with pytest.raises(rel.ReleaseError, match=r"course_utils/more.py:1: solution marker"):
        rel.release(kit, tmp_path / "out2")


def test_a_secret_line_in_a_notebook_is_a_leak(tmp_path):
    kit = _mini_kit(tmp_path)
    lecture = nbformat.v4.new_notebook()
    lecture.cells = [nbformat.v4.new_code_cell("secret_offset = 1234567")]
    nbformat.write(lecture, kit / "lectures" / "01_talk.ipynb")
    with pytest.raises(rel.ReleaseError, match=r"lectures/01_talk.ipynb:1: solution code"):
        rel.release(kit, tmp_path / "out")


def test_scan_flags_grading_files_in_a_bundle(tmp_path):
    kit = _mini_kit(tmp_path)
    (tmp_path / "b" / "solutions").mkdir(parents=True)
    (tmp_path / "b" / "solutions" / "x.ipynb").write_text("{}")
    (tmp_path / "b" / "tests" / "grading_corpus").mkdir(parents=True)
    (tmp_path / "b" / "tests" / "grading_corpus" / "corpus.py").write_text("")
    (tmp_path / "b" / "lab").mkdir()
    (tmp_path / "b" / "lab" / "grading.toml").write_text("")
    leaks = {leak.path for leak in rel.scan(tmp_path / "b", kit)}
    assert leaks == {"solutions/x.ipynb", "tests/grading_corpus/corpus.py", "lab/grading.toml"}


def test_targets_are_checked(tmp_path):
    kit = _mini_kit(tmp_path)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    with pytest.raises(rel.ReleaseError, match="already exists.*--force"):
        rel.release(kit, tmp_path / "taken")
    rel.release(kit, tmp_path / "taken", force=True)
    assert not (tmp_path / "taken" / "x").exists() and (tmp_path / "taken" / "README.md").exists()
    with pytest.raises(rel.ReleaseError, match="inside the kit"):
        rel.release(kit, kit / "labs-copy")
    with pytest.raises(rel.ReleaseError, match="unknown archive format"):
        rel.release(kit, tmp_path / "a", fmt="rar")


def test_cli_release_and_scan(tmp_path):
    kit = _mini_kit(tmp_path)
    env_run = lambda *a: subprocess.run([sys.executable, "-m", "course_utils.cli", "release", *a],  # noqa: E731
                                        capture_output=True, text=True, timeout=300,
                                        env={"COURSE_ROOT": str(kit), "PATH": "/usr/bin:/bin"})
    res = env_run(str(tmp_path / "bundle.zip"))
    assert res.returncode == 0, res.stderr
    assert "student bundle written" in res.stdout and (tmp_path / "bundle.zip").is_file()
    res = env_run(str(tmp_path / "x"), "--scan", str(kit))
    assert res.returncode == 1 and "LEAK solutions/lab9_tiny/01_tiny.ipynb" in res.stdout
