"""The grading configuration of a lab: ``solutions/<lab>/grading.toml`` (points, partial credit, limits).

Format (every key optional; see docs/grading.md)::

    [limits]                     # defaults for every notebook of the lab
    cell_timeout = 120           # seconds per cell (the cell is interrupted after that)
    total_timeout = 900          # seconds per notebook (the kernel is killed after that)
    memory_mb = 4096             # address-space limit of the kernel process
    file_mb = 256                # largest file the kernel may write
    output_kb = 256              # output kept per cell; the rest is cut
    processes = 128              # processes + threads of one sandbox (pids cgroup or RLIMIT_NPROC)

    datasets = ["mnist"]         # made available offline to every submission

    [env]                        # extra environment variables of the kernels
    COURSE_QUICK = "1"

    [notebooks."02_quantization_maths"]
    total_timeout = 180          # any limit can be overridden per notebook
    graded = true                # false: not graded (e.g. a long training notebook)

    [notebooks."02_quantization_maths".exercises]
    "2.1" = 2                    # shorthand: the checkpoint is worth 2 points

    [notebooks."02_quantization_maths".exercises."2.2"]
    checkpoint = 1               # points for passing the solution's checkpoint

    [[notebooks."02_quantization_maths".exercises."2.2".hidden]]
    name = "handles negative zero points"   # partial credit: each hidden test has its own points
    points = 1
    code = '''
    assert ...
    '''

An exercise's score is the sum of the points of its parts that pass (the checkpoint, then each
hidden test), so an exercise with hidden tests gets partial credit. Exercises not named are worth
``default_points`` (1). Hidden tests run in the student's namespace after the checkpoint, with
``checks`` bound to a fresh copy of the course's checks; they pass when they raise nothing.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import tomllib

CONFIG_NAME = "grading.toml"
LIMIT_KEYS = ("cell_timeout", "total_timeout", "memory_mb", "file_mb", "output_kb", "disk_mb", "processes")
_INT_LIMITS = ("memory_mb", "file_mb", "output_kb", "disk_mb", "processes")
_NOTEBOOK_KEYS = {"graded", "exercises", "settings", "caches", *LIMIT_KEYS}
_SETTING_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOP_KEYS = {"limits", "notebooks", "datasets", "default_points", "kernel", "env", "prebuild_rtl"}
# Set by the grader for isolation; grading.toml cannot change them.
RESERVED_ENV = {"PATH", "HOME", "PYTHONPATH", "TMPDIR", "COURSE_ROOT", "COURSE_BUILD_DIR", "COURSE_DATA_DIR",
                "COURSE_DATA_URLS", "COURSE_DATA_MIRROR", "JPY_PARENT_PID"}


class GradingConfigError(ValueError):
    """grading.toml is malformed; the message names the file, the key and what to write."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one notebook run."""

    cell_timeout: float = 120.0
    total_timeout: float = 900.0
    memory_mb: int = 4096
    file_mb: int = 256
    output_kb: int = 256
    disk_mb: int = 512
    processes: int = 128   # processes and threads of one sandbox (a fork bomb stops there)


DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9


@dataclass(frozen=True)
class HiddenTest:
    """A grading-only test of one exercise (never shipped to students): a probe with its own points."""

    name: str
    points: float
    code: str
    hint: str = ""
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL


@dataclass(frozen=True)
class ExerciseRule:
    """Points of one exercise: its probe (the checkpoint part) plus optional hidden tests (partial credit).

    ``probe`` is code run in the student's namespace that assigns ``value``; the grader compares
    that value, outside the kernel, with the value the same code gives on the solution notebook."""

    checkpoint: float = 1.0
    hidden: tuple[HiddenTest, ...] = ()
    probe: str = ""
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    judge: str = ""              # a grader-side judge (authoring/judges.py) instead of equality

    @property
    def max_points(self) -> float:
        """The most this exercise can earn."""
        return self.checkpoint + sum(h.points for h in self.hidden)


@dataclass(frozen=True)
class NotebookRule:
    """How one notebook is graded."""

    graded: bool = True
    limits: Limits = field(default_factory=Limits)
    exercises: dict[str, ExerciseRule] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)   # the notebook's own switches, as graded
    caches: tuple[str, ...] = ()   # kit-relative build caches filled by the solution's run, read-only after


@dataclass(frozen=True)
class LabConfig:
    """The grading configuration of a lab folder (defaults when it has no grading.toml)."""

    path: Path | None
    limits: Limits = field(default_factory=Limits)
    datasets: tuple[str, ...] = ("mnist",)
    default_points: float = 1.0
    kernel: str | None = None
    notebooks: dict[str, NotebookRule] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    prebuild_rtl: bool = False   # compile the shipped deploy packages' RTL on the host before grading

    def notebook(self, stem: str) -> NotebookRule:
        """The rule of notebook ``stem`` (lab defaults when it is not named)."""
        return self.notebooks.get(stem, NotebookRule(limits=self.limits))

    def exercise(self, stem: str, ex_id: str) -> ExerciseRule:
        """The rule of exercise ``ex_id`` of notebook ``stem``."""
        return self.notebook(stem).exercises.get(ex_id, ExerciseRule(checkpoint=self.default_points))

    def fingerprint(self) -> str:
        """A hash of the effective configuration (a change forces regrading on --resume)."""
        blob = json.dumps(_plain(self), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _plain(cfg: LabConfig) -> dict[str, Any]:
    data = asdict(cfg)
    data.pop("path", None)
    return data


def _err(path: Path, msg: str) -> GradingConfigError:
    return GradingConfigError(f"{path}: {msg} (format: docs/grading.md)")


def _number(path: Path, where: str, value: Any, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise _err(path, f"{where} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def _limits(path: Path, where: str, table: dict[str, Any], base: Limits) -> Limits:
    values: dict[str, Any] = {}
    for key in LIMIT_KEYS:
        if key in table:
            minimum = 1.0
            num = _number(path, f"{where}.{key}", table[key], minimum)
            values[key] = int(num) if key in _INT_LIMITS else num
    limits = replace(base, **values)
    if limits.cell_timeout > limits.total_timeout:
        raise _err(path, f"{where}: cell_timeout ({limits.cell_timeout:g} s) is longer than "
                         f"total_timeout ({limits.total_timeout:g} s)")
    return limits


def _hidden(path: Path, where: str, items: Any) -> tuple[HiddenTest, ...]:
    if not isinstance(items, list):
        raise _err(path, f"{where}.hidden must be an array of tables ([[...hidden]])")
    tests = []
    for n, item in enumerate(items):
        w = f"{where}.hidden[{n}]"
        if not isinstance(item, dict) or not isinstance(item.get("code"), str) or not item["code"].strip():
            raise _err(path, f"{w} needs a non-empty `code = '''...'''`")
        unknown = set(item) - {"name", "points", "code", "hint", "rtol", "atol"}
        if unknown:
            raise _err(path, f"{w}: unknown key(s) {sorted(unknown)}; use name, points, code, hint, rtol, "
                             "atol")
        if "value" not in item["code"]:
            raise _err(path, f"{w}.code must assign `value` (what the grader compares with the solution's)")
        tests.append(HiddenTest(name=str(item.get("name", f"hidden test {n + 1}")),
                                points=_number(path, f"{w}.points", item.get("points", 1)),
                                code=item["code"], hint=str(item.get("hint", "")),
                                rtol=_number(path, f"{w}.rtol", item.get("rtol", DEFAULT_RTOL)),
                                atol=_number(path, f"{w}.atol", item.get("atol", DEFAULT_ATOL))))
    return tuple(tests)


def _exercise(path: Path, where: str, value: Any, default_points: float) -> ExerciseRule:
    if not isinstance(value, dict):
        return ExerciseRule(checkpoint=_number(path, where, value))
    unknown = set(value) - {"checkpoint", "hidden", "points", "probe", "rtol", "atol", "judge"}
    if unknown:
        raise _err(path, f"{where}: unknown key(s) {sorted(unknown)}; use checkpoint, probe, rtol, atol "
                         "and [[...hidden]]")
    points = value.get("checkpoint", value.get("points", default_points))
    probe = value.get("probe", "")
    if not isinstance(probe, str) or (probe and "value" not in probe):
        raise _err(path, f"{where}.probe must be code that assigns `value`")
    judge = value.get("judge", "")
    if judge:
        from course_utils.authoring.judges import JUDGES
        if judge not in JUDGES:
            raise _err(path, f"{where}.judge: unknown judge {judge!r}; known: {sorted(JUDGES)}")
    return ExerciseRule(checkpoint=_number(path, f"{where}.checkpoint", points),
                        hidden=_hidden(path, where, value.get("hidden", [])), probe=probe,
                        rtol=_number(path, f"{where}.rtol", value.get("rtol", DEFAULT_RTOL)),
                        atol=_number(path, f"{where}.atol", value.get("atol", DEFAULT_ATOL)), judge=judge)


def parse_config(data: dict[str, Any], path: Path) -> LabConfig:
    """Validate the parsed TOML ``data`` of ``path`` into a LabConfig."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise _err(path, f"unknown top-level key(s) {sorted(unknown)}; expected {sorted(_TOP_KEYS)}")
    limits = _limits(path, "limits", data.get("limits", {}), Limits())
    default_points = _number(path, "default_points", data.get("default_points", 1))
    datasets = data.get("datasets", ["mnist"])
    if not isinstance(datasets, list) or not all(isinstance(d, str) for d in datasets):
        raise _err(path, "datasets must be a list of dataset names, e.g. [\"mnist\"]")
    notebooks = {}
    for stem, table in data.get("notebooks", {}).items():
        where = f"notebooks.{stem}"
        if not isinstance(table, dict):
            raise _err(path, f"{where} must be a table")
        bad = set(table) - _NOTEBOOK_KEYS
        if bad:
            raise _err(path, f"{where}: unknown key(s) {sorted(bad)}; expected {sorted(_NOTEBOOK_KEYS)}")
        exercises = {str(ex): _exercise(path, f"{where}.exercises.{ex}", v, default_points)
                     for ex, v in table.get("exercises", {}).items()}
        settings = table.get("settings", {})
        if not isinstance(settings, dict) or not all(
                _SETTING_RE.match(k) and isinstance(v, (bool, int, float, str)) for k, v in settings.items()):
            raise _err(path, f"{where}.settings must map names of the notebook's settings to plain values, "
                             "e.g. settings = {{ TRAIN = false }}")
        caches = table.get("caches", [])
        if not isinstance(caches, list) or not all(
                isinstance(c, str) and c and not c.startswith("/") and ".." not in c.split("/")
                for c in caches):
            raise _err(path, f"{where}.caches must be a list of folders relative to the kit, e.g. "
                             "[\"build/handbuilt/verilator\"]")
        notebooks[stem] = NotebookRule(graded=bool(table.get("graded", True)),
                                       limits=_limits(path, where, table, limits), exercises=exercises,
                                       settings=dict(settings), caches=tuple(c.strip("/") for c in caches))
    kernel = data.get("kernel")
    if kernel is not None and not isinstance(kernel, str):
        raise _err(path, "kernel must be a kernel name such as \"python3\"")
    env = data.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise _err(path, "[env] values must be strings, e.g. COURSE_QUICK = \"1\"")
    reserved = sorted(set(env) & RESERVED_ENV)
    if reserved:
        raise _err(path, f"[env] cannot set {reserved}: the grader sets them to isolate the kernels")
    return LabConfig(path=path, limits=limits, datasets=tuple(datasets), default_points=default_points,
                     kernel=kernel, notebooks=notebooks, env=dict(env),
                     prebuild_rtl=bool(data.get("prebuild_rtl", False)))


def load_config(lab_dir: Path) -> LabConfig:
    """Read ``lab_dir/grading.toml`` (defaults when absent); raise GradingConfigError when malformed."""
    path = lab_dir / CONFIG_NAME
    if not path.exists():
        return LabConfig(path=None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise _err(path, f"not valid TOML: {err}") from None
    return parse_config(data, path)
