"""Write the student bundle: the kit without solutions, hidden tests or grading material.

The bundle is built from an allow-list (``INCLUDE``): the student notebooks (``labs/``, generated
afresh from ``solutions/``), ``lectures/``, the helper package, ``pretrained/``, the data
scripts and licences, the environment files (requirements, environment.yml, Docker), the board
self-tests, and a README for students. Before anything is written where the instructor asked, the
whole bundle is scanned for leaks (``scan``): solution markers, solution code lines, markdown
answers, hidden-test code from any ``grading.toml``, and grading-only files. A leak stops the
release and names file and line; nothing is left behind.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from course_utils.authoring.notebooks import (
    BEGIN_RE,
    END_RE,
    LINE_RE,
    MD_BEGIN,
    MD_END,
    clean_notebook,
    exercise_header,
    generate,
    has_markers,
    solution_notebooks,
    student_version,
)
from course_utils.fileio import atomic_path, publish

INCLUDE = ["course_utils/**", "lectures/**", "pretrained/**", "requirements/**", "scripts/**", "docker/**",
           "data/*", "tests/board/**", "docs/containers.md", "pyproject.toml", "Makefile", "LICENSE",
           "environment.yml", "docker-compose.yml", ".dockerignore"]
EXCLUDE = ["**/__pycache__/**", "**/*.pyc", "**/.ipynb_checkpoints/**", "**/node_modules/**",
           "**/grading.toml", "**/release.toml", "**/grading_corpus/**", "**/test_grade*.py",
           "**/test_release*.py", "**/test_checks_*.py",
           "**/.pytest_cache/**", "**/*.egg-info/**", "**/.DS_Store"]
# Files allowed to *mention* the solution markers: the generator and grader that define them.
MARKER_ALLOWED = ["course_utils/authoring/*.py", "course_utils/commands/labs.py"]
FORBIDDEN_PARTS = {"solutions", "grading_corpus"}
TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".txt", ".toml", ".json", ".yml", ".yaml", ".cfg", ".ini", ".sh",
                 ".tcl", ".v", ".sv", ".c", ".h", ".in", ".lock", ".html", ".csv", ""}
MIN_SECRET_CHARS = 12
MARKER_TEXT_RE = re.compile(r"BEGIN SOLUTION|END SOLUTION|#\s*SOLUTION\s*$|solution-only", re.M)
README_TEMPLATE = Path(__file__).with_name("student_readme.md")


class ReleaseError(RuntimeError):
    """The bundle cannot be released (a leak, a bad target); the message says what to do."""


@dataclass
class Leak:
    """One leak found in a bundle: file, line and what leaked."""

    path: str
    line: int
    what: str
    text: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.what}" + (f": {self.text[:100]!r}" if self.text else "")


@dataclass
class Block:
    """One secret text: a solution answer block or a hidden test, as normalized distinctive lines."""

    source: str
    kind: str
    lines: list[str]


@dataclass
class Secrets:
    """What must never appear in a bundle: solution answer blocks and hidden tests."""

    blocks: list[Block] = field(default_factory=list)

    def lines(self) -> dict[str, Block]:
        """Every secret line -> the block it comes from."""
        return {ln: b for b in self.blocks for ln in b.lines}


def normalize(line: str) -> str:
    """A line as compared for leaks: solution marker removed, whitespace collapsed."""
    return " ".join(LINE_RE.sub("", line).split())


def _distinctive(line: str) -> bool:
    """True when a normalized line is specific enough to count as a leak if copied."""
    if len(line) < MIN_SECRET_CHARS or line.startswith(("#", "import ", "from ", '"' * 3, "'" * 3)):
        return False
    return bool(re.search(r"[A-Za-z_]", line))


def _answer_blocks(source: str) -> list[list[str]]:
    """The marked answer regions of a code cell: each BEGIN/END block, and each marked line."""
    blocks: list[list[str]] = []
    run: list[str] | None = None
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
    return [b for b in blocks if b]


def _markdown_answers(source: str) -> list[list[str]]:
    parts = re.findall(re.escape(MD_BEGIN) + r"(.*?)" + re.escape(MD_END), source, flags=re.S)
    return [part.splitlines() for part in parts]


def public_lines(kit_root: Path) -> set[str]:
    """Every normalized line students see anyway: the generated student version of every notebook."""
    public: set[str] = set()
    for path in solution_notebooks(kit_root):
        rel = path.relative_to(kit_root).as_posix()
        nb = clean_notebook(nbformat.read(path, as_version=4))
        public |= {normalize(ln) for c in student_version(nb, rel).cells for ln in c.source.splitlines()}
    return public


def _secret(lines: list[str], public: set[str]) -> list[str]:
    return [n for n in (normalize(ln) for ln in lines) if _distinctive(n) and n not in public]


def collect_secrets(kit_root: Path) -> Secrets:
    """Solution answers (marked blocks and lines, solution-only cells, markdown answers) and hidden tests.

    Lines students see anyway (in any generated student notebook) are not secret."""
    import tomllib
    public = public_lines(kit_root)
    secrets = Secrets()
    for path in solution_notebooks(kit_root):
        rel = path.relative_to(kit_root).as_posix()
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and "solution-only" in cell.metadata.get("tags", []):
                raw = [cell.source.splitlines()]
            elif cell.cell_type == "code":
                raw = _answer_blocks(cell.source)
            else:
                raw = _markdown_answers(cell.source)
            for block in raw:
                lines = _secret(block, public)
                if lines:
                    secrets.blocks.append(Block(rel, "solution", lines))
    for toml in sorted((kit_root / "solutions").rglob("grading.toml")):
        rel = toml.relative_to(kit_root).as_posix()
        data = tomllib.loads(toml.read_text(encoding="utf-8"))
        for nb_table in data.get("notebooks", {}).values():
            for ex in nb_table.get("exercises", {}).values():
                for test in ex.get("hidden", []) if isinstance(ex, dict) else []:
                    lines = _secret(str(test.get("code", "")).splitlines(), public)
                    if lines:
                        secrets.blocks.append(Block(rel, "hidden-test", lines))
    return secrets


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex: ``*`` stays within one folder, ``**`` spans folders."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("(?:/.*)?")
            i += 3
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _matches(rel: str, patterns: list[str]) -> bool:
    """True if the relative path ``rel`` matches one of the globs."""
    return any(_glob_regex(p).match(rel) for p in patterns)


def _text_lines(path: Path) -> list[str] | None:
    """A file's lines for scanning (a notebook's cell sources and text outputs); None for binaries."""
    if path.suffix not in TEXT_SUFFIXES:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    if path.suffix != ".ipynb":
        return text.splitlines()
    try:
        nb = json.loads(text)
    except ValueError:
        return text.splitlines()
    lines: list[str] = []
    for cell in nb.get("cells", []):
        src = cell.get("source", "")
        lines += ("".join(src) if isinstance(src, list) else str(src)).splitlines()
        for out in cell.get("outputs", []):
            body = out.get("text") or out.get("data", {}).get("text/plain", "")
            lines += ("".join(body) if isinstance(body, list) else str(body)).splitlines()
    return lines


def _block_leaks(rel: str, lines: list[str], blocks: list[Block]) -> list[Leak]:
    """Answer blocks or hidden tests copied into a non-notebook file: ``min(n, 3)`` (hidden tests: 2)
    of their distinctive lines in a row. One shared line alone is not a leak outside notebooks: the
    helper package computes the same things the checks compare against."""
    numbered = ((i, normalize(ln)) for i, ln in enumerate(lines, 1))
    seq = [(i, norm) for i, norm in numbered if _distinctive(norm)]
    leaks = []
    for block in blocks:
        k = min(len(block.lines), 2 if block.kind == "hidden-test" else 3)
        if k < 2:
            continue
        windows = {tuple(block.lines[i:i + k]) for i in range(len(block.lines) - k + 1)}
        for i in range(len(seq) - k + 1):
            if tuple(norm for _, norm in seq[i:i + k]) in windows:
                what = f"{block.kind} code from {block.source} ({k} lines in a row)"
                leaks.append(Leak(rel, seq[i][0], what, seq[i][1]))
                break
    return leaks


def scan(bundle: Path, kit_root: Path, secrets: Secrets | None = None) -> list[Leak]:
    """Every leak in ``bundle``: grading-only files, solution markers, in notebooks any secret line,
    elsewhere any run of secret lines (``_block_leaks``)."""
    secrets = secrets or collect_secrets(kit_root)
    by_line = secrets.lines()
    leaks = []
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        rel = path.relative_to(bundle).as_posix()
        if FORBIDDEN_PARTS & set(Path(rel).parts) or _matches(rel, EXCLUDE):
            leaks.append(Leak(rel, 0, "grading-only or solution file"))
            continue
        lines = _text_lines(path)
        if lines is None:
            continue
        markers_ok = _matches(rel, MARKER_ALLOWED)
        for n, line in enumerate(lines, 1):
            if not markers_ok and MARKER_TEXT_RE.search(line):
                leaks.append(Leak(rel, n, "solution marker", line.strip()))
            block = by_line.get(normalize(line)) if path.suffix == ".ipynb" else None
            if block:
                leaks.append(Leak(rel, n, f"{block.kind} code from {block.source}", normalize(line)))
        if path.suffix != ".ipynb":
            leaks += _block_leaks(rel, lines, secrets.blocks)
    return leaks + reference_leaks(bundle, exercise_helpers(kit_root))


# --------------------------------------------------------------------------- reference implementations

DEF_RE = re.compile(r"^(?:async\s+)?(?:def|class)\s+(\w+)", re.M)


def exercise_helpers(kit_root: Path) -> dict[str, str]:
    """The functions and classes the exercises ask students to write: name -> 'notebook, Exercise N.k'."""
    out: dict[str, str] = {}
    for path in solution_notebooks(kit_root):
        rel = path.relative_to(kit_root).as_posix()
        for cell in nbformat.read(path, as_version=4).cells:
            header = exercise_header(cell.source) if cell.cell_type == "code" else None
            if header and has_markers(cell.source):
                for name in DEF_RE.findall(cell.source):
                    out.setdefault(name, f"{rel}, Exercise {header[0]}")
    return out


def reference_leaks(bundle: Path, helpers: dict[str, str], files: list[Path] | None = None) -> list[Leak]:
    """Top-level definitions in the bundle's Python (or ``files`` in it) named like an exercise's helper
    (leading ``_`` ignored): a student could import the answer instead of writing it."""
    import ast

    leaks = []
    for path in sorted(bundle.rglob("*.py")) if files is None else files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
            else:
                continue
            for name in names:
                if name.lstrip("_") in helpers:
                    leaks.append(Leak(path.relative_to(bundle).as_posix(), node.lineno,
                                      f"reference implementation of {helpers[name.lstrip('_')]}", name))
    return leaks


@dataclass(frozen=True)
class Waiver:
    """An overlap an instructor accepted: solution code of ``solution`` that may appear in ``file``."""

    file: str
    solution: str
    reason: str


WAIVERS_NAME = "release.toml"


def load_waivers(kit_root: Path) -> list[Waiver]:
    """The accepted overlaps in ``solutions/release.toml`` (each needs file, solution and a reason)."""
    import tomllib
    path = kit_root / "solutions" / WAIVERS_NAME
    if not path.exists():
        return []
    try:
        items = tomllib.loads(path.read_text(encoding="utf-8")).get("allow", [])
    except tomllib.TOMLDecodeError as err:
        raise ReleaseError(f"{path}: not valid TOML: {err}") from None
    waivers = []
    for n, item in enumerate(items):
        if not all(isinstance(item.get(k), str) and item[k].strip() for k in ("file", "solution", "reason")):
            raise ReleaseError(f"{path}: allow[{n}] needs file, solution and reason (all non-empty)")
        waivers.append(Waiver(item["file"], item["solution"], item["reason"].strip()))
    return waivers


def split_waived(leaks: list[Leak], waivers: list[Waiver]) -> tuple[list[Leak], list[str]]:
    """(leaks still blocking, accepted overlaps as text). Only solution-code overlaps can be waived."""
    blocking, accepted = [], []
    for leak in leaks:
        waiver = next((w for w in waivers if leak.what.startswith(f"solution code from {w.solution}")
                       and _matches(leak.path, [w.file])), None)
        if waiver:
            accepted.append(f"{leak} -- accepted: {waiver.reason}")
        else:
            blocking.append(leak)
    return blocking, accepted


# --------------------------------------------------------------------------- building the bundle

def bundle_files(kit_root: Path) -> list[str]:
    """The kit files (relative paths) that go into the bundle, besides labs/ and the README."""
    out = []
    for path in sorted(kit_root.rglob("*")):
        rel = path.relative_to(kit_root).as_posix()
        if not path.is_file() or rel.startswith((".git/", ".venv/", "build/", "labs/", "solutions/")):
            continue
        if _matches(rel, INCLUDE) and not _matches(rel, EXCLUDE) and not FORBIDDEN_PARTS & set(path.parts):
            out.append(rel)
    return out


def _title(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def student_readme(bundle: Path) -> str:
    """The README for students, with a table of the lab notebooks found in the bundle."""
    rows = [f"| `{p.relative_to(bundle).as_posix()}` | {_title(p)} |"
            for p in sorted((bundle / "labs").rglob("*.ipynb"))]
    table = "\n".join(["| notebook | what |", "|---|---|", *rows]) if rows else "(no lab notebooks yet)"
    return README_TEMPLATE.read_text(encoding="utf-8").replace("{{LABS}}", table)


def _git_commit(kit_root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(kit_root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def build_bundle(kit_root: Path, dest: Path) -> dict[str, Any]:
    """Write the bundle's files into the empty folder ``dest``; return its manifest."""
    for rel in bundle_files(kit_root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(kit_root / rel, target)
    generate(kit_root, dest / "labs", strip_solutions=False)
    (dest / "README.md").write_text(student_readme(dest), encoding="utf-8")
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for rel in files:
        digest.update(rel.encode() + b"\0" + (dest / rel).read_bytes())
    manifest = {"kind": "student bundle", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "git_commit": _git_commit(kit_root), "files": len(files), "sha256": digest.hexdigest()}
    (dest / "RELEASE.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def stale_labs(kit_root: Path, bundle: Path) -> list[str]:
    """Notebooks whose committed ``labs/`` copy differs from the freshly generated one in the bundle."""
    stale = []
    for new in sorted((bundle / "labs").rglob("*.ipynb")):
        old = kit_root / new.relative_to(bundle)
        if not old.exists() or old.read_bytes() != new.read_bytes():
            stale.append(old.relative_to(kit_root).as_posix())
    return stale


def _archive(src: Path, target: Path, fmt: str) -> None:
    """Write ``src`` as ``target`` (.zip or .tar.gz), top folder named after the archive, atomically."""
    top = target.name.removesuffix(".tar.gz").removesuffix(".zip")
    files = sorted(p for p in src.rglob("*") if p.is_file())
    with atomic_path(target) as tmp:
        if fmt == "zip":
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for p in files:
                    zf.write(p, f"{top}/{p.relative_to(src).as_posix()}")
        else:
            with tarfile.open(tmp, "w:gz") as tf:
                for p in files:
                    tf.add(p, f"{top}/{p.relative_to(src).as_posix()}", recursive=False)


def archive_format(target: Path, fmt: str | None) -> str | None:
    """``zip``/``tar.gz`` from ``fmt`` or the target's suffix; None for a plain folder."""
    if fmt:
        if fmt not in ("zip", "tar.gz"):
            raise ReleaseError(f"unknown archive format {fmt!r}: use zip or tar.gz")
        return fmt
    if target.name.endswith(".tar.gz") or target.suffix == ".tgz":
        return "tar.gz"
    return "zip" if target.suffix == ".zip" else None


def release(kit_root: Path, target: Path, fmt: str | None = None, force: bool = False) -> dict[str, Any]:
    """Build, scan and write the student bundle to ``target`` (a folder, or a .zip/.tar.gz archive).

    Raises ReleaseError (writing nothing) on any leak or when ``target`` exists without ``force``."""
    kit_root, target = kit_root.resolve(), target.resolve()
    fmt = archive_format(target, fmt)
    if fmt and not target.name.endswith(f".{fmt}"):
        target = target.with_name(f"{target.name}.{fmt}")
    if target.exists() and not force and (target.is_file() or any(target.iterdir())):
        raise ReleaseError(f"{target} already exists: choose another path or pass --force to replace it")
    if target.is_relative_to(kit_root) and not target.is_relative_to(kit_root / "build"):
        raise ReleaseError(f"{target} is inside the kit: write the bundle outside it or under build/")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".release-", dir=target.parent) as tmp:
        stage = Path(tmp) / "bundle"
        stage.mkdir()
        manifest = build_bundle(kit_root, stage)
        leaks, accepted = split_waived(scan(stage, kit_root), load_waivers(kit_root))
        if leaks:
            shown = "\n  ".join(str(leak) for leak in leaks[:30])
            more = f"\n  ... and {len(leaks) - 30} more" if len(leaks) > 30 else ""
            raise ReleaseError(f"the bundle would leak {len(leaks)} item(s); nothing was written:\n  "
                               f"{shown}{more}\nRemove them from the files named, exclude the files "
                               "(INCLUDE/EXCLUDE in course_utils/authoring/release.py), or accept an "
                               "intended overlap with a reason in solutions/release.toml (docs/grading.md).")
        manifest["accepted_overlaps"] = accepted
        (stage / "RELEASE.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        manifest["stale_labs"] = stale_labs(kit_root, stage)
        if fmt:
            _archive(stage, target, fmt)
        else:
            publish(stage, target)
    manifest["path"] = str(target)
    return manifest
