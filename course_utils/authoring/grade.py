"""Grade a folder of submitted notebooks: sandboxed runs, the solution's checks, gradebook and feedback.

For each student (a sub-folder ``SUBMISSIONS/<student>/`` holding the lab's notebooks, or a file
``SUBMISSIONS/<student>.ipynb`` when one notebook is graded) and each graded notebook:

1. a scratch copy: the kit's package and ``pretrained/`` (no ``solutions/``), the datasets
   (hard links to the grader's verified cache), a home folder; the submission is copied there,
   the submissions folder is never written;
2. the notebook the grader runs: the student's cells, every checkpoint replaced by the solution's
   (``grading_notebook``), plus hidden tests from ``grading.toml``;
3. one worker process per notebook (``grade_worker``) runs it in a kernel started under limits
   (``sandbox``): per-cell and total timeouts, memory, file size, output size;
4. the results are scored (points per exercise, partial credit per part) and written at once:
   ``results/<student>.json``, ``feedback/<student>.md``, ``executed/<student>/<notebook>.ipynb``
   and the rewritten ``gradebook.csv``. ``resume=True`` skips students already graded with the
   same submission and configuration.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nbformat

from course_utils.authoring import cgroups, memory, verdict
from course_utils.authoring import grading_notebook as gnb
from course_utils.authoring.grading_config import LabConfig, Limits, load_config
from course_utils.fileio import write_text_atomic

GRADER_VERSION = "2"
SANDBOX_PATH = Path(__file__).with_name("sandbox.py")
WORKER_GRACE = 45.0
SOLUTION_SLACK = 3   # the solution's run gets 3x the time limits: it compiles what the submissions reuse
_SAFE_RE = re.compile(r"[^A-Za-z0-9._@+-]+")


RTL_CACHE = "rtl-cache"  # in the kernels' kit: the shipped packages' RTL, compiled by the grader


class GradingError(RuntimeError):
    """Grading cannot start (bad arguments, configuration or kit); the message says what to do."""


@dataclass
class Submission:
    """One student's files: notebook stem -> path (a stem missing from the dict was not submitted)."""

    student: str
    notebooks: dict[str, Path]
    notes: list[str] = field(default_factory=list)


@dataclass
class Options:
    """How to grade (what the command line sets)."""

    workers: int = 2
    resume: bool = False
    kernel_user: str | None = None
    keep_scratch: bool = False
    limits: dict[str, float] = field(default_factory=dict)
    scratch_root: Path | None = None
    progress: bool = True
    sandbox: str = "auto"        # "bwrap" (Linux, bubblewrap), "limits" (resource limits only), "auto"
    key_file: Path | None = None  # the HMAC key of the result files (default: verdict.default_key_file())
    cgroups: bool = True          # a pids (and memory) cgroup per notebook run where the grader may make one


# --------------------------------------------------------------------------- small helpers

def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file and a rename (never half-written)."""
    write_text_atomic(path, text)


def safe_name(student: str) -> str:
    """A file-name-safe form of a student id."""
    return _SAFE_RE.sub("_", student).strip("._") or "student"


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _fmt(points: float) -> str:
    return f"{points:g}"


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def bwrap_problem(bwrap: str | None = None) -> str | None:
    """Why a bubblewrap sandbox cannot run here (None when it can): tried for real, once."""
    import platform
    if platform.system() != "Linux":
        return f"bubblewrap needs Linux (this is {platform.system()}): grade in the container"
    exe = bwrap or shutil.which("bwrap")
    if not exe:
        return "bubblewrap is not installed (Debian/Ubuntu: `sudo apt-get install bubblewrap`)"
    from course_utils.authoring import sandbox as sb
    with tempfile.TemporaryDirectory(prefix="cg-probe-") as ipc:
        argv = sb.bwrap_argv(programs=[sys.executable], ro_binds={}, dirs=[f"{sb.INSIDE_ROOT}/tmp"],
                             ipc_dir=ipc, disk_mb=1, bwrap=exe)
        try:
            res = subprocess.run([*argv, sys.executable, "-I", "-S", "-c", "import os; print(os.getuid())"],
                                 capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"{exe} did not run: {err}"
    if res.returncode != 0 or res.stdout.strip() != str(sb.SANDBOX_UID):
        return (f"{exe} cannot create a sandbox here ({(res.stderr or res.stdout).strip()[:300]}): user "
                "namespaces may be disabled (e.g. in a container); grade in the course container with "
                "--kernel-user, or enable unprivileged user namespaces")
    return None


def kernel_user_problem(user: str, kernels: list[str]) -> str | None:
    """Why ``user`` could not run the kernels (no such user, or an interpreter it cannot reach), or None."""
    import pwd
    import sysconfig

    from jupyter_client.kernelspec import KernelSpecManager
    try:
        pwd.getpwnam(user)
    except KeyError:
        return f"there is no user {user!r} on this machine"
    programs = [Path(sys.executable), Path(sysconfig.get_paths()["stdlib"])]
    for name in kernels:
        argv0 = KernelSpecManager().get_kernel_spec(name).argv[0]
        programs.append(Path(sys.executable if argv0 in ("python", "python3") else argv0))
    for program in programs:
        real = program.resolve()
        for folder in reversed(real.parents):
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                return (f"{user} cannot reach {real} ({folder} is mode {stat.filemode(mode)}): "
                        "install Python where every user can run it (as in the course container)")
    return None


# --------------------------------------------------------------------------- what to grade

def lab_folder(kit_root: Path, lab: str) -> Path:
    """``solutions/lab<N>_*`` for ``lab`` = "1", "lab1" or a folder name such as "lab1_qat"."""
    sol = kit_root / "solutions"
    if (sol / lab).is_dir():
        return sol / lab
    number = lab.removeprefix("lab")
    matches = sorted(p for p in sol.glob(f"lab{number}_*") if p.is_dir())
    if len(matches) != 1:
        have = ", ".join(sorted(p.name for p in sol.iterdir() if p.is_dir())) if sol.is_dir() else "none"
        raise GradingError(f"no single solutions folder for lab {lab!r} in {sol} (found: {have}); "
                           "pass --lab with a folder name such as lab1_qat")
    return matches[0]


def find_notebook(kit_root: Path, name: str) -> Path:
    """A solution notebook from a path, ``lab1_qat/02_x``, or a unique stem such as ``02_x``."""
    direct = Path(name)
    if direct.suffix == ".ipynb" and direct.is_file() and "solutions" in direct.resolve().parts:
        return direct.resolve()
    stem = Path(name).name.removesuffix(".ipynb")
    parent = Path(name).parent.name
    hits = [p for p in (kit_root / "solutions").rglob(f"{stem}.ipynb")
            if ".ipynb_checkpoints" not in p.parts and (not parent or p.parent.name == parent)]
    if len(hits) != 1:
        raise GradingError(f"notebook {name!r}: {len(hits)} matching solution notebooks under "
                           f"{kit_root / 'solutions'}; name it as <lab folder>/<notebook>, e.g. "
                           "lab1_qat/02_quantization_maths")
    return hits[0]


def discover(submissions: Path, stems: list[str]) -> list[Submission]:
    """The students in ``submissions``: one folder per student, or ``<student>.ipynb`` for one notebook."""
    if not submissions.is_dir():
        raise GradingError(f"submissions folder {submissions} does not exist")
    found: dict[str, Submission] = {}
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir():
            sub = Submission(entry.name, {})
            files = sorted(p for p in entry.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            for stem in stems:
                named = [p for p in files if p.stem == stem]
                if named:
                    sub.notebooks[stem] = min(named, key=lambda p: len(p.parts))
            if len(stems) == 1 and not sub.notebooks and len(files) == 1:
                sub.notebooks[stems[0]] = files[0]
                sub.notes.append(f"The notebook was named '{files[0].name}', not '{stems[0]}.ipynb'; "
                                 "it was graded as that notebook.")
        elif entry.suffix == ".ipynb" and len(stems) == 1:
            sub = Submission(entry.stem, {stems[0]: entry})
        else:
            continue
        key = safe_name(sub.student)
        if key in {safe_name(s) for s in found}:
            raise GradingError(f"two submissions map to the student id {key!r}: rename one of them")
        found[sub.student] = sub
    if not found:
        raise GradingError(f"no submissions in {submissions}: expected one folder per student "
                           "(<student>/<notebook>.ipynb) or <student>.ipynb files")
    return list(found.values())


# --------------------------------------------------------------------------- the grader

@dataclass
class NotebookPlan:
    """One graded notebook: its solution spec and effective limits."""

    spec: gnb.SolutionSpec
    limits: Limits
    lab_folder: str


class Grader:
    """Grades submissions of one lab (or one notebook) into an output folder."""

    def __init__(self, kit_root: Path, solution_notebooks: list[Path], out_dir: Path,
                 options: Options | None = None, package_dir: Path | None = None) -> None:
        self.kit_root = kit_root.resolve()
        self.options = options or Options()
        self.out = out_dir.resolve()
        self.package_dir = (package_dir or self._package_dir()).resolve()
        if not solution_notebooks:
            raise GradingError("nothing to grade: no solution notebooks selected")
        lab_dir = solution_notebooks[0].parent
        self.lab = lab_dir.name
        self.config: LabConfig = load_config(lab_dir)
        unknown_nb = sorted(set(self.config.notebooks) - {p.stem for p in lab_dir.glob("*.ipynb")})
        if unknown_nb:
            raise GradingError(f"{self.config.path} names notebook(s) {unknown_nb} that {lab_dir} "
                               "does not have")
        self.plans = [self._plan(p) for p in solution_notebooks if self.config.notebook(p.stem).graded]
        if not self.plans:
            raise GradingError(f"every selected notebook has `graded = false` in {self.config.path}")
        names = {p.stem for p in solution_notebooks}
        self.stems = [p.spec.stem for p in self.plans if p.spec.stem in names]
        self.key = verdict.load_key(self.options.key_file)
        self.expected: dict[str, dict[str, Any]] = {}
        self.tampered = set()
        self.sandbox_problem: str | None = None
        self.sandbox = self._sandbox_mode()
        self.cgroups: cgroups.RunGroups | None = None
        self.process_limit = self._process_limit_mode()
        if self.options.kernel_user:
            kernels = sorted({p.spec.kernel for p in self.plans})
            problem = kernel_user_problem(self.options.kernel_user, kernels)
            if problem:
                raise GradingError(f"--kernel-user {self.options.kernel_user}: {problem}")
        self.modules = {p.spec.stem: gnb.check_sources(self.package_dir, p.spec.check_modules)
                        for p in self.plans}
        self.fingerprint_base = self._fingerprint_base()
        self.lock = threading.Lock()
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.kernel_pids: set[int] = set()
        self.stopping = threading.Event()
        self.run_dir: Path | None = None

    def _sandbox_mode(self) -> str:
        """"bwrap" or "limits", from the option; "bwrap" when asked and not possible is an error."""
        wanted = self.options.sandbox
        if wanted not in ("auto", "bwrap", "limits"):
            raise GradingError(f"--sandbox {wanted!r}: use auto, bwrap or limits")
        if wanted == "limits":
            return "limits"
        if wanted == "auto" and self.options.kernel_user:
            return "limits"  # the container path: kernels switched to another user
        problem = bwrap_problem()
        if problem is None:
            if self.options.kernel_user:
                raise GradingError("--kernel-user is for --sandbox limits (a bubblewrap sandbox already runs "
                                   "the kernel as its own non-root user)")
            return "bwrap"
        if wanted == "bwrap":
            raise GradingError(f"--sandbox bwrap: {problem}")
        self.sandbox_problem = problem
        return "limits"

    def _process_limit_mode(self) -> str | None:
        """How a sandbox's process count is bounded here: "cgroup" (a pids cgroup per notebook run, which
        works whoever runs the grader), "rlimit" (RLIMIT_NPROC in the bubblewrap sandbox's user
        namespace: enforced only when the grader is not root), "rlimit-user" (RLIMIT_NPROC of the
        --kernel-user, shared by all its kernels) or None (a fork bomb is not bounded: warned)."""
        if self.options.cgroups:
            probe = cgroups.RunGroups.create(("pids",))
            if probe is not None:
                probe.close()
                return "cgroup"
        if self.sandbox == "bwrap" and os.geteuid() != 0:
            return "rlimit"
        if self.sandbox == "limits" and self.options.kernel_user:
            return "rlimit-user"
        return None

    def describe_process_limit(self) -> str:
        """One line for the instructor: how processes and memory are bounded in each sandbox."""
        lim = self.config.limits.processes
        if self.process_limit == "cgroup":
            return (f"at most {lim} processes+threads per notebook (a pids cgroup) and, where the memory "
                    "cgroup is writable, memory_mb + disk_mb for the whole sandbox")
        if self.process_limit == "rlimit":
            return (f"at most {lim} processes+threads per notebook (RLIMIT_NPROC in the sandbox's user "
                    "namespace)")
        if self.process_limit == "rlimit-user":
            return (f"at most {lim} x {self.options.workers} processes+threads for all kernels of "
                    f"{self.options.kernel_user} together (RLIMIT_NPROC)")
        return ("NO process-count limit: a fork bomb in a submission can exhaust this machine's processes "
                "(run the grader as root with a writable pids cgroup, or as an unprivileged user with "
                "bubblewrap; docs/grading.md)")

    def _package_dir(self) -> Path:
        local = self.kit_root / "course_utils"
        if (local / "checks").is_dir():
            return local
        import course_utils
        return Path(course_utils.__file__).parent

    def _plan(self, path: Path) -> NotebookPlan:
        try:
            spec = gnb.read_solution(path, self.config.kernel)
        except (ValueError, OSError) as err:
            raise GradingError(f"cannot read the solution notebook: {err}") from None
        if not spec.exercises:
            raise GradingError(f"{path} has no '# Exercise N.k:' cells: nothing to grade")
        unknown = gnb.unknown_exercises(spec, self.config)
        if unknown:
            raise GradingError(f"{self.config.path} names exercise(s) {unknown} for {spec.stem}, which has "
                               f"only {spec.exercises}")
        no_probe = [ex for ex in spec.exercises if not self.config.exercise(spec.stem, ex).probe]
        if no_probe:
            where = self.config.path or path.parent / "grading.toml"
            raise GradingError(f"{where}: exercise(s) {no_probe} of {spec.stem} have no `probe` (code that "
                               "assigns `value`, compared with the solution's value outside the kernel): "
                               "they cannot be graded; see docs/grading.md")
        limits = replace(self.config.notebook(spec.stem).limits, **{
            k: (int(v) if k in ("memory_mb", "file_mb", "output_kb", "disk_mb", "processes") else float(v))
            for k, v in self.options.limits.items() if v})
        return NotebookPlan(spec=spec, limits=limits, lab_folder=path.parent.name)

    def _fingerprint_base(self) -> str:
        h = hashlib.sha256(f"v{GRADER_VERSION}|{self.config.fingerprint()}".encode())
        for plan in self.plans:
            h.update(plan.spec.path.read_bytes())
            h.update(json.dumps(self.modules[plan.spec.stem], sort_keys=True).encode())
            h.update(json.dumps(plan.limits.__dict__, sort_keys=True).encode())
        h.update(gnb.HARNESS_PATH.read_bytes())
        return h.hexdigest()

    def fingerprint(self, sub: Submission) -> str:
        """What a result depends on: grader, configuration, solutions, checks and the submitted files."""
        h = hashlib.sha256(self.fingerprint_base.encode())
        for stem in self.stems:
            path = sub.notebooks.get(stem)
            digest = sha256_bytes(path.read_bytes()) if path and path.is_file() else "missing"
            h.update(f"{stem}:{digest}".encode())
        return h.hexdigest()[:32]

    # ----------------------------------------------------------------------- columns and output

    def columns(self) -> list[tuple[str, str, str]]:
        """(notebook stem, exercise id, column name) for every graded exercise, in order."""
        ids = [ex for stem in self.stems for ex in self._plan_of(stem).spec.exercises]
        dup = {ex for ex in ids if ids.count(ex) > 1}
        return [(stem, ex, f"{stem}:{ex}" if ex in dup else f"Exercise {ex}")
                for stem in self.stems for ex in self._plan_of(stem).spec.exercises]

    def _plan_of(self, stem: str) -> NotebookPlan:
        return next(p for p in self.plans if p.spec.stem == stem)

    def max_points(self) -> float:
        """The most a student can earn."""
        return sum(self.config.exercise(stem, ex).max_points for stem, ex, _ in self.columns())

    def result_path(self, student: str) -> Path:
        """Where a student's result JSON goes."""
        return self.out / "results" / f"{safe_name(student)}.json"

    # ----------------------------------------------------------------------- preparing the runs

    def prepare(self) -> None:
        """Make the run folder: the kernels' kit template (no solutions) and the datasets cache."""
        base = self.options.scratch_root or Path(tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="course-grade-", dir=base))
        os.chmod(self.run_dir, 0o711)
        self.private = self.run_dir / "private"
        self.private.mkdir(mode=0o700)
        self.template = self.private / "kit"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
        shutil.copytree(self.package_dir, self.template / "course_utils", ignore=ignore)
        if (self.kit_root / "pretrained").is_dir():
            shutil.copytree(self.kit_root / "pretrained", self.template / "pretrained", ignore=ignore)
        for name in ("pyproject.toml", "LICENSE"):
            if (self.kit_root / name).is_file():
                shutil.copy2(self.kit_root / name, self.template / name)
        self._prebuild_rtl()
        self.datasets = self._datasets()
        if self.process_limit == "cgroup":
            self.cgroups = cgroups.RunGroups.create()

    def _prebuild_rtl(self) -> None:
        """Lab 3's virtual board runs the shipped package's RTL (board/rtlsim): compile it once here, on the
        host (or take it from the kit's cache), into the template's build cache, so that no sandbox spends
        its time limit compiling Verilator (minutes) and every submission runs the same library."""
        assert self.template is not None
        found = self.template.glob("pretrained/*/deploy/*/rtl/design.json")
        packages = sorted(p.parent.parent for p in found)
        if not packages or not self.config.prebuild_rtl:
            return
        from course_utils.board import rtlsim

        dest = self._cache_host(RTL_CACHE)   # its entries are bound read-only into every sandbox
        for pkg in packages:
            try:
                compiled = rtlsim.load_package_rtl(pkg, quiet=True)
            except rtlsim.RTLUnavailable as err:
                raise GradingError(f"the shipped deploy package {pkg.name} needs its RTL compiled for the "
                                   f"virtual board: {err}") from None
            (dest / compiled.key).mkdir(parents=True, exist_ok=True)
            shutil.copy2(compiled.lib, dest / compiled.key / compiled.lib.name)

    def _cache_dirs(self, plan: NotebookPlan) -> list[str]:
        """Kit-relative folders of content-keyed build caches this notebook's kernels use: the RTL cache
        (``COURSE_RTL_CACHE``) and ``caches`` of grading.toml. The solution's run writes into them; every
        submission then sees each entry read-only (same content, same key: no compiling) in a writable
        folder of its own sandbox (a design the student's code changed compiles there, as usual)."""
        return [RTL_CACHE, *[c for c in self.config.notebook(plan.spec.stem).caches if c != RTL_CACHE]]

    def _cache_host(self, rel: str) -> Path:
        """The grader's copy of a cache folder (next to the expected values, never seen by a sandbox).

        Created once, seeded with the complete entries of the instructor's own kit cache of the same name
        (``build/rtl/cache`` for the RTL cache): entries are keyed by a hash of their content, so a design
        Lab 2 or the tests already compiled is not compiled again by the solution's run."""
        folder = self.out / "expected" / "caches" / rel.replace("/", "__")
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            self._seed_cache(rel, folder)
        return folder

    def _kit_cache(self, rel: str) -> Path:
        """The instructor's own cache of that name: ``build/rtl/cache`` (or ``$COURSE_RTL_CACHE``) for the
        RTL cache, else the folder of the kit."""
        if rel == RTL_CACHE:
            from course_utils.board import rtlsim

            return rtlsim.cache_dir()
        return self.kit_root / rel

    def _seed_cache(self, rel: str, folder: Path) -> None:
        for entry in self._cache_entries(self._kit_cache(rel)):
            # finished entries only: each build moves its result into place at once (temporaries: ".*")
            if entry.is_dir() and any(entry.iterdir()) and not (folder / entry.name).exists():
                shutil.copytree(entry, folder / entry.name, symlinks=True)

    def _return_caches(self, plan: NotebookPlan) -> None:
        """After the solution's run (trusted): give the kit's own caches what it compiled, so that the next
        grading run (another class, the next lab) and the instructor's notebooks do not compile it again.

        Only complete entries the kit lacks are copied, each into a temporary name and then renamed into
        place (a reader never sees half an entry); a kit cache that cannot be written (a read-only kit) is
        left as it is, and grading goes on."""
        for rel in self._cache_dirs(plan):
            dest = self._kit_cache(rel)
            for entry in self._cache_entries(self._cache_host(rel)):
                if not entry.is_dir() or not any(entry.iterdir()) or (dest / entry.name).exists():
                    continue
                try:
                    dest.mkdir(parents=True, exist_ok=True)
                    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=dest))
                    shutil.copytree(entry, tmp / "entry", symlinks=True)
                    with contextlib.suppress(OSError):   # another run put the same content there first
                        os.rename(tmp / "entry", dest / entry.name)
                    shutil.rmtree(tmp, ignore_errors=True)
                except OSError:
                    return

    @staticmethod
    def _cache_entries(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []

    def _fill_caches(self, plan: NotebookPlan, kit: Path) -> None:
        """Without bubblewrap: copy the cache entries into a scratch kit."""
        for rel in self._cache_dirs(plan):
            for entry in self._cache_entries(self._cache_host(rel)):
                target = kit / rel / entry.name
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, target)

    def _harvest_caches(self, plan: NotebookPlan, kit: Path) -> None:
        """Without bubblewrap: keep what the solution's run compiled into a scratch kit's caches."""
        for rel in self._cache_dirs(plan):
            host = self._cache_host(rel)
            for entry in self._cache_entries(kit / rel):
                if not (host / entry.name).exists():
                    (shutil.copytree if entry.is_dir() else shutil.copy2)(entry, host / entry.name)

    def _datasets(self) -> dict[str, Path]:
        """The grader's verified dataset folders (fetched offline from the mirror when missing)."""
        if not self.config.datasets:
            return {}
        from course_utils import data
        out = {}
        for name in self.config.datasets:
            try:
                out[name] = data.fetch(name, progress=False)
            except data.DataError as err:
                raise GradingError(f"dataset {name} is needed by the submissions and is not available "
                                   f"offline:\n{err}") from None
        return out

    def _scratch(self) -> Path:
        """A fresh scratch copy for one student: kit template, datasets (hard links), home, build."""
        assert self.run_dir is not None
        scratch = Path(tempfile.mkdtemp(prefix="s-", dir=self.run_dir))
        shutil.copytree(self.template, scratch / "kit")
        for name, folder in self.datasets.items():
            dest = scratch / "data" / name
            dest.mkdir(parents=True)
            for f in folder.iterdir():
                if f.is_file() and not f.name.startswith("."):
                    try:
                        os.link(f, dest / f.name)
                    except OSError:
                        shutil.copy2(f, dest / f.name)
        for sub in ("home", "tmp", "kit/build"):
            (scratch / sub).mkdir(parents=True, exist_ok=True)
        if self.options.kernel_user:
            self._give_to_user(scratch)
        return scratch

    def _give_to_user(self, folder: Path) -> None:
        """Let the kernel user own ``folder`` (dataset files stay the grader's: readable, not writable)."""
        import pwd
        entry = pwd.getpwnam(self.options.kernel_user or "")
        for root, _dirs, files in os.walk(folder):
            os.chown(root, entry.pw_uid, entry.pw_gid)
            if Path(root).parent.name == "data" and Path(root).parent.parent.parent == self.run_dir:
                continue
            for name in files:
                os.chown(Path(root) / name, entry.pw_uid, entry.pw_gid)

    def kernel_env(self, scratch: Path, plan: NotebookPlan) -> dict[str, str]:
        """The kernel's whole environment: nothing from the grader's, everything pointing into scratch
        (in a bubblewrap sandbox: the sandbox's own ``/course``, whatever the folder outside)."""
        if self.sandbox == "bwrap":
            from course_utils.authoring.sandbox import INSIDE_ROOT
            scratch = Path(INSIDE_ROOT)
        kit = self._kit_in(scratch)
        threads = str(max(1, (os.cpu_count() or 1) // max(1, self.options.workers)))
        env = {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": str(scratch / "home"),
            "TMPDIR": str(scratch / "tmp"), "MPLCONFIGDIR": str(scratch / "home" / ".matplotlib"),
            "IPYTHONDIR": str(scratch / "home" / ".ipython"), "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(kit),
            "COURSE_ROOT": str(kit), "COURSE_BUILD_DIR": str(kit / "build"),
            "COURSE_DATA_DIR": str(scratch / "data"), "COURSE_DATA_URLS": "http://127.0.0.1:9/",
            "COURSE_DATA_TIMEOUT": "5", "COURSE_GRADING": "1", "MALLOC_ARENA_MAX": "2",
            "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
            "TQDM_DISABLE": "1", "JUPYTER_PLATFORM_DIRS": "1",
        }
        env["COURSE_RTL_CACHE"] = str(kit / RTL_CACHE)   # compiled designs: see _cache_dirs
        env.update(self.config.env)
        return env

    def _kit_in(self, scratch: Path) -> Path:
        """The kit's folder as the kernel sees it (the sandbox's /course, or scratch/kit)."""
        return scratch if self.sandbox == "bwrap" else scratch / "kit"

    def _bwrap(self, plan: NotebookPlan, notebook: Path, ipc_dir: Path, solution: bool = False) -> list[str]:
        """The bubblewrap command line of one notebook's kernel (see sandbox.bwrap_argv)."""
        from jupyter_client.kernelspec import KernelSpecManager

        from course_utils.authoring import sandbox as sb
        argv0 = KernelSpecManager().get_kernel_spec(plan.spec.kernel).argv[0]
        program = sys.executable if argv0 in ("python", "python3") else argv0
        inside = sb.INSIDE_ROOT
        lab = f"{inside}/labs/{plan.lab_folder}"
        binds = {str(self.template / "course_utils"): f"{inside}/course_utils"}
        for name in ("pretrained", "pyproject.toml", "LICENSE"):
            if (self.template / name).exists():
                binds[str(self.template / name)] = f"{inside}/{name}"
        for name, folder in self.datasets.items():
            binds[str(folder)] = f"{inside}/data/{name}"
        binds[str(notebook)] = f"{lab}/{plan.spec.stem}.ipynb"
        dirs = [f"{inside}/{d}" for d in ("build", "home", "tmp", "data")] + [lab]
        rw_binds = {}
        for rel in self._cache_dirs(plan):
            host = self._cache_host(rel)
            if solution:   # the solution's run (trusted) fills the caches
                rw_binds[str(host)] = f"{inside}/{rel}"
                continue
            dirs.append(f"{inside}/{rel}")
            for entry in self._cache_entries(host):
                binds[str(entry)] = f"{inside}/{rel}/{entry.name}"
        return sb.bwrap_argv(programs=[program, sys.executable], ro_binds=binds, dirs=dirs,
                             ipc_dir=str(ipc_dir), disk_mb=plan.limits.disk_mb, chdir=lab,
                             bwrap=shutil.which("bwrap") or "bwrap", rw_binds=rw_binds)

    def sandbox_prefix(self, plan: NotebookPlan, pidfile: Path, scratch: Path,
                       bwrap: list[str] | None = None, ipc_dir: Path | None = None,
                       cgroup_dirs: list[Path] | None = None) -> list[str]:
        """The sandbox wrapper's command line (run isolated from the scratch copy: -I -S, by file)."""
        lim = plan.limits
        cpu = int(lim.total_timeout * (os.cpu_count() or 1) + 60)
        prefix = [sys.executable, "-I", "-S", str(SANDBOX_PATH), "--memory-mb", str(lim.memory_mb),
                  "--file-mb", str(lim.file_mb), "--cpu-seconds", str(cpu), "--pidfile", str(pidfile)]
        for folder in cgroup_dirs or []:
            prefix += ["--cgroup", str(folder)]
        if bwrap:
            from course_utils.authoring.sandbox import INSIDE_IPC, inner_argv
            # RLIMIT_NPROC is set again inside, in the sandbox's own user namespace (see sandbox.py)
            return [*prefix, "--ipc", f"{ipc_dir}:{INSIDE_IPC}", "--", *bwrap,
                    *inner_argv(sys.executable, lim.processes)]
        if self.options.kernel_user:
            prefix += ["--user", self.options.kernel_user, "--home", str(scratch / "home")]
            if self.process_limit == "rlimit-user":  # counts every kernel of that user
                prefix += ["--processes", str(lim.processes * max(1, self.options.workers))]
        return [*prefix, "--"]

    # ----------------------------------------------------------------------- running one notebook

    def run_notebook(self, student: str, plan: NotebookPlan, path: Path, scratch: Path,
                     expected: dict[str, Any] | None = None, executed: Path | None = None) -> dict[str, Any]:
        """Grade one submitted notebook; returns its result record (never raises for student errors).

        ``expected``: the solution's probe values (``expectations()``); None runs the solution itself
        and returns the raw values in ``record["values"]``."""
        stem = plan.spec.stem
        if expected is None:   # the solution's own run: trusted, once, and it fills the build caches
            lim = plan.limits
            plan = replace(plan, limits=replace(lim, cell_timeout=lim.cell_timeout * SOLUTION_SLACK,
                                                total_timeout=lim.total_timeout * SOLUTION_SLACK))
        record: dict[str, Any] = {"notebook": stem, "file": str(path), "parts": [], "problems": [],
                                  "notes": [], "stopped": None, "seconds": 0.0}
        start = time.monotonic()
        try:
            submission = gnb.read_submission(path)
            merged = gnb.build(submission, plan.spec, self.config, self.modules[stem])
        except gnb.SubmissionError as err:
            record["invalid"] = str(err)
            record["parts"] = self._unreached(plan, f"not graded: {err}")
            return record
        record["notes"] += merged.notes
        record["flags"] = []
        assert self.run_dir is not None
        job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=self.private))
        ipc_dir, bwrap = None, None
        if self.sandbox == "bwrap":
            # unix socket paths are limited to ~100 characters: a short private folder
            ipc_dir = Path(tempfile.mkdtemp(prefix="cg-"))
            nb_copy = job_dir / f"{stem}.submitted.ipynb"
            shutil.copyfile(path, nb_copy)
            bwrap = self._bwrap(plan, nb_copy, ipc_dir, solution=expected is None)
            nb_dir = job_dir  # the launcher's folder outside; inside, bwrap changes to the lab's folder
        else:
            nb_dir = scratch / "kit" / "labs" / plan.lab_folder
            nb_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, nb_dir / f"{stem}.ipynb")
            if expected is not None:
                self._fill_caches(plan, scratch / "kit")
            if self.options.kernel_user:
                self._give_to_user(nb_dir)
        grading_nb = job_dir / f"{stem}.grading.ipynb"
        nbformat.write(merged.nb, grading_nb)
        executed = executed or self.out / "executed" / safe_name(student) / f"{stem}.ipynb"
        executed.parent.mkdir(parents=True, exist_ok=True)
        groups = self.cgroups.job(job_dir.name, plan.limits.processes,
                                  plan.limits.memory_mb + plan.limits.disk_mb) if self.cgroups else []
        job = {"notebook": str(grading_nb), "executed": str(executed),
               "events": str(job_dir / "events.jsonl"), "kernel_log": str(job_dir / "kernel.log"),
               "kernel": plan.spec.kernel, "cwd": str(nb_dir),
               "env": self.kernel_env(scratch, plan), "nonce": merged.nonce, "limits": plan.limits.__dict__,
               "sandbox_prefix": self.sandbox_prefix(plan, job_dir / "kernel.pid", scratch, bwrap, ipc_dir,
                                                     groups),
               "ipc_dir": str(ipc_dir or "")}
        refused = {"processes": 0, "memory": 0}
        measured_by_cgroup = any(memory.cgroup_peak([g]) for g in groups)
        sampler = memory.TreeSampler(memory.pid_from_file(job_dir / "kernel.pid"))
        peak: tuple[int, str] | None = None
        try:
            if measured_by_cgroup:
                killed = self._run_worker(job, job_dir, plan.limits.total_timeout)
            else:   # no memory cgroup: sample the PSS of the sandbox's processes
                with sampler:
                    killed = self._run_worker(job, job_dir, plan.limits.total_timeout)
        finally:
            if groups:
                refused = cgroups.RunGroups.refused(groups)
                peak = memory.cgroup_peak(groups)
                cgroups.RunGroups.release(groups)
            if ipc_dir:
                shutil.rmtree(ipc_dir, ignore_errors=True)
        if expected is None and self.sandbox != "bwrap":
            self._harvest_caches(plan, scratch / "kit")
        if expected is None:
            self._return_caches(plan)
        events = _read_events(job_dir / "events.jsonl")
        record.update(_outcome(events, merged, plan, killed, _last_error_line(job_dir / "kernel.log"),
                               expected=expected, rules=self.part_rules(plan), refused=refused))
        record["seconds"] = round(time.monotonic() - start, 2)
        if peak is not None:
            record["peak_memory_mb"] = round(peak[0] / memory.MB, 1)
            record["peak_memory_from"] = f"memory cgroup ({peak[1]})"
        elif sampler.peak:
            record["peak_memory_mb"] = round(sampler.peak / memory.MB, 1)
            record["peak_memory_from"] = f"PSS of the sandbox's processes, sampled every {sampler.every:g} s"
        ran = [e for e in events if e.get("event") == "cell"]
        record["cell_seconds"] = round(sum(float(e.get("seconds", 0)) for e in ran), 2)
        record["slowest_cells"] = [[round(float(e.get("seconds", 0)), 1), merged.describe(int(e["index"]))]
                                   for e in sorted(ran, key=lambda e: -float(e.get("seconds", 0)))[:5]]
        if not self.options.keep_scratch:
            shutil.rmtree(job_dir, ignore_errors=True)
        return record

    def part_rules(self, plan: NotebookPlan) -> dict[str, dict[str, Any]]:
        """"exercise|part" -> tolerance and hint of every graded part of a notebook."""
        rules = {}
        for ex in plan.spec.exercises:
            rule = self.config.exercise(plan.spec.stem, ex)
            rules[f"{ex}|checkpoint"] = {"rtol": rule.rtol, "atol": rule.atol, "hint": "",
                                         "judge": rule.judge}
            for h in rule.hidden:
                rules[f"{ex}|hidden: {h.name}"] = {"rtol": h.rtol, "atol": h.atol, "hint": h.hint}
        return rules

    def expectations(self) -> dict[str, dict[str, Any]]:
        """The value of every probe on the solution notebooks (run in the same sandbox, once; cached
        in the output folder, authenticated, keyed by the grader's fingerprint)."""
        cache = self.out / "expected" / "values.json"
        old = _load_json(cache)
        if old and verdict.verify(old, self.key) and old.get("fingerprint") == self.fingerprint_base:
            return old["values"]
        values: dict[str, dict[str, Any]] = {}

        def run(plan: NotebookPlan) -> dict[str, Any]:
            scratch = self._scratch() if self.sandbox != "bwrap" else Path(tempfile.mkdtemp(dir=self.run_dir))
            try:
                return self.run_notebook("solution", plan, plan.spec.path, scratch, expected=None,
                                         executed=self.out / "expected" / f"{plan.spec.stem}.ipynb")
            finally:
                shutil.rmtree(scratch, ignore_errors=True)

        plans = [p for p in self.plans if p.spec.stem in self.stems]
        with ThreadPoolExecutor(max_workers=max(1, self.options.workers)) as pool:
            records = list(pool.map(run, plans))
        for plan, record in zip(plans, records, strict=True):
            broken = [f"Exercise {p['exercise']} ({p['part']}): {p.get('reason', 'no value')}"
                      for p in record["parts"] if not p.get("passed")]
            if broken or record.get("stopped"):
                raise GradingError(f"the solution notebook {plan.spec.path} does not pass its own grading "
                                   f"(fix the probe in {self.config.path} or the notebook): "
                                   + "; ".join(broken[:5] or [str(record.get('stop_text'))])
                                   + f"; see {self.out / 'expected' / (plan.spec.stem + '.ipynb')}")
            values[plan.spec.stem] = record["values"]
        atomic_write(cache, json.dumps(verdict.sign({"fingerprint": self.fingerprint_base, "values": values},
                                                    self.key), default=str))
        return values

    def _run_worker(self, job: dict[str, Any], job_dir: Path, total_timeout: float) -> str | None:
        """Start the worker, feed it the job, wait; kill it (and its kernel) past the time limit."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "JPY_"))}
        env.update(JUPYTER_RUNTIME_DIR=str(job_dir / "runtime"), JUPYTER_PLATFORM_DIRS="1",
                   PYTHONDONTWRITEBYTECODE="1")
        log = open(job_dir / "worker.log", "wb")  # noqa: SIM115 - closed below
        killed = None
        try:
            proc = subprocess.Popen([sys.executable, "-m", "course_utils.authoring.grade_worker"],
                                    stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                    env=env, start_new_session=True)
            with self.lock:
                self.procs[proc.pid] = proc
            try:
                assert proc.stdin is not None
                proc.stdin.write(json.dumps(job).encode())
                proc.stdin.close()
                proc.wait(timeout=total_timeout + WORKER_GRACE)
            except subprocess.TimeoutExpired:
                killed = "total_timeout"
            finally:
                if self.stopping.is_set() and killed is None and proc.returncode is None:
                    killed = "interrupted"
                _kill_group(proc.pid)
                proc.wait()
                self._kill_kernel(job_dir / "kernel.pid")
                with self.lock:
                    self.procs.pop(proc.pid, None)
        finally:
            log.close()
        if proc.returncode not in (0, None) and killed is None and self.stopping.is_set():
            killed = "interrupted"
        return killed

    def _kill_kernel(self, pidfile: Path) -> None:
        """Kill the kernel's process group (it runs in its own session) and anything it started."""
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        _kill_group(pid)

    def _unreached(self, plan: NotebookPlan, reason: str) -> list[dict[str, Any]]:
        """Zero-point parts for every check of a notebook that could not run."""
        parts = []
        for ex in plan.spec.exercises:
            rule = self.config.exercise(plan.spec.stem, ex)
            named = [("checkpoint", rule.checkpoint)] if plan.spec.checkpoints.get(ex) else []
            named += [(f"hidden: {h.name}", h.points) for h in rule.hidden]
            parts += [{"exercise": ex, "part": part, "points": 0.0, "max": points, "passed": False,
                       "reason": reason} for part, points in named]
        return parts

    # ----------------------------------------------------------------------- one student

    def grade_student(self, sub: Submission) -> dict[str, Any]:
        """Run each graded notebook of one student in a fresh scratch copy; return the scored result.

        Every notebook starts cold (as the labs are designed to), so one notebook's failure or
        tampering cannot reach the next, and the grader never writes where student code ran."""
        result: dict[str, Any] = {"student": sub.student, "fingerprint": self.fingerprint(sub),
                                  "notebooks": [], "notes": list(sub.notes), "graded_at": time.time()}
        for plan in [self._plan_of(s) for s in self.stems]:
            if self.stopping.is_set():
                raise KeyboardInterrupt
            path = sub.notebooks.get(plan.spec.stem)
            if path is None:
                why = f"not graded: {plan.spec.stem}.ipynb was not submitted"
                result["notebooks"].append({"notebook": plan.spec.stem, "missing": True, "problems": [],
                                            "notes": [], "parts": self._unreached(plan, why)})
                continue
            scratch = self._scratch() if self.sandbox != "bwrap" else Path(tempfile.mkdtemp(dir=self.run_dir))
            try:
                result["notebooks"].append(self.run_notebook(sub.student, plan, path, scratch,
                                                             expected=self.expected.get(plan.spec.stem, {})))
            finally:
                if not self.options.keep_scratch:
                    shutil.rmtree(scratch, ignore_errors=True)
        peaks = [n["peak_memory_mb"] for n in result["notebooks"] if n.get("peak_memory_mb")]
        if peaks:   # the notebooks run one after the other: the student's peak is the largest
            result["peak_memory_mb"] = max(peaks)
        return score(result, self)

    # ----------------------------------------------------------------------- all students

    def grade(self, submissions: list[Submission],
              on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """Grade every submission in parallel; write each result as it comes; return all results."""
        self.out.mkdir(parents=True, exist_ok=True)
        for sub in ("results", "feedback", "executed"):
            (self.out / sub).mkdir(exist_ok=True)
        done: dict[str, dict[str, Any]] = {}
        todo = []
        self.tampered: set[str] = set()
        for sub in submissions:
            old = _load_json(self.result_path(sub.student))
            if not self.options.resume or old is None:
                todo.append(sub)
            elif not verdict.verify(old, self.key):
                self.tampered.add(sub.student)  # changed after grading: regrade, and say so
                todo.append(sub)
            elif old.get("fingerprint") == self.fingerprint(sub) and old.get("status") != "grader_error":
                done[sub.student] = old
            else:
                todo.append(sub)
        self.skipped = sorted(done)
        self.prepare()
        try:
            self.expected = self.expectations() if todo else {}
            self._write_gradebook(submissions, done)
            self._grade_parallel(todo, submissions, done, on_result)
        finally:
            if self.cgroups is not None:
                self.cgroups.close()
                self.cgroups = None
            if self.run_dir and not self.options.keep_scratch:
                shutil.rmtree(self.run_dir, ignore_errors=True)
        return [done[s.student] for s in submissions if s.student in done]

    def _grade_parallel(self, todo: list[Submission], everyone: list[Submission],
                        done: dict[str, dict[str, Any]],
                        on_result: Callable[[dict[str, Any]], None] | None) -> None:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(todo), desc=f"grading {self.lab}", unit="student",
                   disable=not self.options.progress)
        pool = ThreadPoolExecutor(max_workers=max(1, self.options.workers))
        futures = {pool.submit(self._safe_grade, sub): sub for sub in todo}
        try:
            for fut in as_completed(futures):
                res = fut.result()
                self._save(res)
                done[res["student"]] = res
                self._write_gradebook(everyone, done)
                bar.set_postfix_str(f"{res['student']}: {_fmt(res['total'])}/{_fmt(res['max'])}")
                bar.update(1)
                if on_result:
                    on_result(res)
        except KeyboardInterrupt:
            self.stop()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()

    def _safe_grade(self, sub: Submission) -> dict[str, Any]:
        """grade_student, turning a grader bug into a recorded 'grader_error' (the others go on)."""
        try:
            res = self.grade_student(sub)
            if sub.student in self.tampered:
                res["flags"] = sorted({*res["flags"], FLAG_TAMPERED})
                res["notes"].append("The stored result of this submission had been changed after grading "
                                    "(its signature did not match); it was graded again.")
            return res
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - one broken submission must not stop the rest
            res = {"student": sub.student, "fingerprint": self.fingerprint(sub), "notebooks": [],
                   "notes": [f"The grader failed on this submission: {type(err).__name__}: {err}. "
                             "It will be graded again by the next run with --resume."]}
            return score(res, self, status="grader_error")

    def stop(self) -> None:
        """Stop everything now (Ctrl-C): kill running workers and their kernels."""
        self.stopping.set()
        with self.lock:
            procs = list(self.procs.values())
        for proc in procs:
            _kill_group(proc.pid)

    def _save(self, res: dict[str, Any]) -> None:
        signed = verdict.sign(json.loads(json.dumps(res, default=str)), self.key)
        res["hmac"] = signed["hmac"]
        atomic_write(self.result_path(res["student"]), json.dumps(signed, indent=1, default=str))
        atomic_write(self.out / "feedback" / f"{safe_name(res['student'])}.md", feedback(res, self))

    def _write_gradebook(self, everyone: list[Submission], done: dict[str, dict[str, Any]]) -> None:
        with self.lock:
            atomic_write(self.out / "gradebook.csv", gradebook_csv(
                [done[s.student] for s in everyone if s.student in done], self.columns()))


# --------------------------------------------------------------------------- events -> outcome

def _read_events(path: Path) -> list[dict[str, Any]]:
    events = []
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


FLAG_REFUTED = "a check reported success that the grader's own comparison refutes"
FLAG_FORGED = "forged or extra grader messages in a check cell"
FLAG_NO_RESULT = "a grader check cell published no result (the notebook interfered with it)"
FLAG_DETACHED = "left processes running outside its kernel's session (killed with its sandbox)"
FLAG_TAMPERED = "its stored result was changed after grading (regraded)"
FLAG_PROCESSES = "started processes until the sandbox's process limit stopped it (a fork bomb?)"

STOP_REASONS = {
    "total_timeout": "the notebook reached its total time limit of {total:g} s",
    "kernel_died": "the notebook's Python kernel stopped in {where}: the code called os._exit() or "
                   "os.kill, crashed, or was killed for using more than {memory} MB of memory",
    "kernel_stuck": "{where} ran past its {cell_timeout:g} s limit and ignored the interrupt, "
                    "so the run was stopped there",
    "grader_error": "the grader could not run the notebook: {message}",
    "interrupted": "grading was interrupted",
    "no_start": "the notebook's kernel did not start: {message}",
}


def _stop_text(reason: str, stop: dict[str, Any], limits: Limits, merged: gnb.GradingNotebook) -> str:
    index = stop.get("index", -1)
    where = merged.describe(index) if 0 <= index < len(merged.nb.cells) else "an unknown cell"
    return STOP_REASONS.get(reason, reason).format(
        total=limits.total_timeout, where=where, memory=limits.memory_mb, cell_timeout=limits.cell_timeout,
        message=stop.get("message", "see the worker log"))


def _explain_error(ename: str, evalue: str, limits: Limits) -> str:
    """A student-facing sentence for a cell error, with the limit it hit when one applies."""
    text = f"{ename}: {evalue[:300]}" if evalue.strip() else ename
    if ename == "MemoryError" or "Unable to allocate" in evalue or "Cannot allocate memory" in evalue:
        return f"{text} (the notebook may use at most {limits.memory_mb} MB of memory)"
    if "File too large" in evalue:
        return f"{text} (files written by the notebook may be at most {limits.file_mb} MB)"
    return text


def _last_error_line(log: Path) -> str:
    """The last line of a kernel's own log that is not a warning (why a kernel failed to start)."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return next((ln.strip()[:300] for ln in reversed(lines) if ln.strip() and "WARNING" not in ln), "")


def _judge(part: dict[str, Any], res: dict[str, Any], key: str, expected: dict[str, Any] | None,
           rule: dict[str, Any], values: dict[str, Any], flags: set[str]) -> None:
    """Decide one part from the harness's message: compare the probe's value with the solution's
    (outside the kernel); the course's check gives only the feedback text."""
    check = res.get("check") if isinstance(res.get("check"), dict) else None
    said = str(check.get("message", "")) if check and not check.get("passed") else ""
    if res.get("probe_error"):
        part["reason"] = said or f"the grader's test of your code raised {res['probe_error']}"
        if res.get("harness_error") and not said:
            flags.add(FLAG_NO_RESULT)
        return
    judge = None
    if rule.get("judge"):
        from course_utils.authoring.judges import JUDGES
        judge = JUDGES[rule["judge"]]
    if expected is None:  # the solution's own run: record its value
        values[key] = res.get("value")
        part["passed"] = check is None or bool(check.get("passed"))
        if not part["passed"]:
            part["reason"] = said or "the course's check failed on the solution"
        elif judge is not None:
            verdict_text = judge(res.get("value"), None)
            if verdict_text:
                part["passed"] = False
                part["reason"] = f"the judge {rule['judge']} rejects the solution: {verdict_text}"
        return
    if key not in expected:
        part["reason"] = "the grader has no expected value for this part (a grader error)"
        return
    if judge is not None:
        try:
            diff = judge(res.get("value"), expected[key])
        except Exception as err:  # noqa: BLE001 - a malformed answer is a wrong answer
            diff = f"your answer could not be checked: {type(err).__name__}: {err}"
    else:
        diff = verdict.compare(expected[key], res.get("value"), rule.get("rtol", 1e-6),
                               rule.get("atol", 1e-9))
    if diff is None:
        part["passed"] = True
        return
    part["reason"] = said or rule.get("hint") or f"your results differ from the expected ones: {diff}"
    if check and check.get("passed"):
        flags.add(FLAG_REFUTED)


def _outcome(events: list[dict[str, Any]], merged: gnb.GradingNotebook, plan: NotebookPlan,
             killed: str | None, kernel_said: str = "", expected: dict[str, Any] | None = None,
             rules: dict[str, dict[str, Any]] | None = None,
             refused: dict[str, int] | None = None) -> dict[str, Any]:
    """Turn the worker's events into parts (per check) and cell problems (per student cell).

    ``refused``: what the sandbox's cgroups refused (forks at the process limit, OOM kills)."""
    limits = plan.limits
    rules = rules or {}
    cells = {e["index"]: e for e in events if e.get("event") == "cell"}
    stops = [e for e in events if e.get("event") == "stopped"]
    started = any(e.get("event") == "started" for e in events)
    stop = stops[0] if stops else {}
    reason = stop.get("reason") or killed
    if not started and reason in (None, "grader_error"):
        message = stop.get("message", "see the worker log")
        if kernel_said:
            message = f"{message} (the kernel said: {kernel_said})"
        reason, stop = "no_start", {"message": message}
    if reason is None and not any(e.get("event") == "finished" for e in events):
        reason = "kernel_died"
    stop_text = _stop_text(reason, stop, limits, merged) if reason else None
    flags: set[str] = set()
    if any(e.get("event") == "detached" for e in events):
        flags.add(FLAG_DETACHED)
    refused = refused or {}
    most = max([int(e.get("count", 0)) for e in events if e.get("event") == "processes"], default=0)
    # a fork bomb: forks refused at the cgroup's limit, or (RLIMIT_NPROC, no counter) a sandbox that still
    # held half its process allowance when the notebook ended
    forked = refused.get("processes", 0) > 0 or most >= max(16, limits.processes // 2)
    if forked:
        flags.add(FLAG_PROCESSES)
    values: dict[str, Any] = {}
    parts = []
    timeout_text = (f"the check did not finish within {limits.cell_timeout:g} s and was "
                    "interrupted: look for an infinite loop or very slow code")
    for inj in merged.injected:
        ev = cells.get(inj.index)
        key = f"{inj.exercise}|{inj.part}"
        part = {"exercise": inj.exercise, "part": inj.part, "max": inj.points, "points": 0.0, "passed": False}
        if ev is None:
            part["reason"] = "not graded: the run stopped before this check (see below)"
        elif ev.get("timed_out"):
            part["reason"] = timeout_text
        elif ev.get("result") is not None:
            _judge(part, ev["result"], key, expected, rules.get(key, {}), values, flags)
        elif ev.get("error"):
            ename, evalue = ev["error"]
            part["reason"] = f"the check could not run: {_explain_error(ename, evalue, limits)}"
            flags.add(FLAG_NO_RESULT)
        else:
            part["reason"] = ev.get("problem") or ("no result was recorded (the notebook interfered with the "
                                                   "grader's output)")
            flags.add(FLAG_FORGED if ev.get("problem") else FLAG_NO_RESULT)
        if part["passed"]:
            part["points"] = inj.points
        parts.append(part)
    problems = []
    for index, ev in sorted(cells.items()):
        if ev.get("kind") != "student":
            continue
        where = merged.describe(index)
        if ev.get("timed_out"):
            problems.append(f"{where} did not finish within {limits.cell_timeout:g} s and was interrupted: "
                            "look for an infinite loop or very slow code.")
        elif ev.get("error"):
            problems.append(f"{where} raised {_explain_error(ev['error'][0], ev['error'][1], limits)}")
        if ev.get("truncated"):
            problems.append(f"{where} printed more than {limits.output_kb} KB; the rest of its output "
                            "was cut.")
    if forked:
        problems.append(f"The notebook started processes until the sandbox's limit ({limits.processes} "
                        "processes and threads) refused more"
                        + (f" ({refused['processes']} refused)." if refused.get("processes") else "."))
    if refused.get("memory"):
        problems.append(f"The sandbox ran out of its memory ({limits.memory_mb + limits.disk_mb} MB for "
                        "every process and file of the notebook together) and the kernel's system killed a "
                        "process.")
    out = {"parts": parts, "problems": problems, "stopped": reason, "stop_text": stop_text,
           "executed_cells": len(cells), "flags": sorted(flags)}
    if expected is None:
        out["values"] = values
    return out


# --------------------------------------------------------------------------- scoring and reports

def score(result: dict[str, Any], grader: Grader, status: str | None = None) -> dict[str, Any]:
    """Add per-exercise points, the total and a status to a student's result."""
    per_ex: dict[str, float] = {}
    for nb in result["notebooks"]:
        for part in nb.get("parts", []):
            key = _column_key(grader, nb["notebook"], part["exercise"])
            per_ex[key] = per_ex.get(key, 0.0) + float(part["points"])
    result["exercises"] = {name: per_ex.get(name, 0.0) for _, _, name in grader.columns()}
    result["total"] = round(sum(result["exercises"].values()), 6)
    result["max"] = grader.max_points()
    if status is None:
        nbs = result["notebooks"]
        if any(n.get("invalid") for n in nbs):
            status = "invalid"
        elif nbs and all(n.get("missing") for n in nbs):
            status = "not_submitted"
        elif any(n.get("stopped") for n in nbs):
            status = "incomplete"
        elif any(n.get("missing") for n in nbs):
            status = "partly_submitted"
        else:
            status = "graded"
    result["status"] = status
    result["flags"] = sorted({f for n in result["notebooks"] for f in n.get("flags", [])})
    return result


def _column_key(grader: Grader, stem: str, ex: str) -> str:
    return next(name for s, e, name in grader.columns() if s == stem and e == ex)


def gradebook_csv(results: Iterable[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """The gradebook: one row per student, one column per exercise, then total, max, status, flags and the
    student's peak memory in MB (the largest of their notebooks' sandboxes; empty when not measured)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["student", *[name for _, _, name in columns], "total", "max", "status", "flags",
                     "peak_memory_mb"])
    for res in sorted(results, key=lambda r: r["student"]):
        ex = res.get("exercises", {})
        peak = res.get("peak_memory_mb")
        writer.writerow([_cell_text(res["student"]), *[_fmt(ex.get(name, 0.0)) for _, _, name in columns],
                         _fmt(res.get("total", 0.0)), _fmt(res.get("max", 0.0)), res.get("status", ""),
                         "; ".join(res.get("flags", [])), f"{peak:.0f}" if peak else ""])
    return buf.getvalue()


def _cell_text(text: str) -> str:
    """A CSV cell that spreadsheets will not run as a formula."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


def feedback(res: dict[str, Any], grader: Grader) -> str:
    """The student's feedback in Markdown: score, each exercise, hints, problems and notes."""
    lines = [f"# Feedback: {grader.lab}, {res['student']}", "",
             f"**Total: {_fmt(res['total'])} / {_fmt(res['max'])} points** (status: {res['status']})", ""]
    for nb in res["notebooks"]:
        parts = nb.get("parts", [])
        got, most = sum(p["points"] for p in parts), sum(p["max"] for p in parts)
        lines += [f"## {nb['notebook']}.ipynb: {_fmt(got)} / {_fmt(most)}", ""]
        if nb.get("invalid"):
            lines += [f"Your file could not be graded: {nb['invalid']}", ""]
        if nb.get("missing"):
            lines += ["Not submitted.", ""]
        lines += ["| exercise | part | points | result |", "|---|---|---|---|"]
        for p in parts:
            verdict = "passed" if p["passed"] else "not passed"
            points = f"{_fmt(p['points'])} / {_fmt(p['max'])}"
            lines.append(f"| {p['exercise']} | {p['part']} | {points} | {verdict} |")
        lines.append("")
        failed = [p for p in parts if not p["passed"]]
        if failed and not nb.get("missing") and not nb.get("invalid"):
            lines += ["### What to fix", ""]
            lines += [f"- Exercise {p['exercise']} ({p['part']}): {_one_line(p.get('reason', ''))}"
                      for p in failed]
            lines.append("")
        if nb.get("stop_text"):
            lines += ["### The run stopped early", "", f"- {nb['stop_text']}; later checks were not run.", ""]
        if nb.get("problems"):
            lines += ["### Problems while running your notebook", ""]
            lines += [f"- {_one_line(p)}" for p in nb["problems"]]
            lines.append("")
        if nb.get("notes"):
            lines += ["### Notes", ""] + [f"- {n}" for n in nb["notes"]] + [""]
    if res.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in res["notes"]] + [""]
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())[:1200]
