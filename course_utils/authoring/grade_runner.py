"""Process supervision: each notebook runs in a worker process, its kernel in a sandbox, under limits.

``Runner`` owns everything that touches processes and scratch folders:

- the sandbox (``bwrap``: a bubblewrap sandbox per notebook; ``limits``: resource limits only, with
  ``--kernel-user`` a user switch) and how the process count is bounded (a pids cgroup per run, or
  RLIMIT_NPROC; see ``cgroups`` and ``sandbox``);
- the run folder: the kernels' kit template (the package and ``pretrained/``, no ``solutions/``),
  the verified datasets, and a fresh scratch copy per notebook run;
- the content-keyed build caches (RTL compiled once by the solution's run, then read-only for
  every submission);
- one ``grade_worker`` process per notebook, fed the job on stdin, killed with its kernel past the
  total time limit (``execute``), and Ctrl-C (``stop``).

What the run produced comes back as a ``RunOutput`` (events, why it stopped, peak memory); scoring it
is ``grade_scoring``'s job.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from course_utils.authoring import cgroups, memory
from course_utils.authoring.grade_inputs import GradingError, NotebookPlan, Options
from course_utils.authoring.grading_config import LabConfig
from course_utils.fileio import atomic_path

SANDBOX_PATH = Path(__file__).with_name("sandbox.py")
WORKER_GRACE = 45.0
RTL_CACHE = "rtl-cache"  # in the kernels' kit: the shipped packages' RTL, compiled by the grader


@dataclass
class RunOutput:
    """What one notebook run left behind, read before its job folder is removed."""

    events: list[dict[str, Any]]
    killed: str | None               # "total_timeout", "interrupted" or None
    kernel_said: str = ""            # the last line of the kernel's own log (why it did not start)
    refused: dict[str, int] = field(default_factory=dict)   # forks / OOM kills the cgroups refused
    peak_memory_mb: float | None = None
    peak_memory_from: str = ""


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




class Runner:
    """Runs notebooks in sandboxes for one grader (one lab configuration, one output folder)."""

    def __init__(self, kit_root: Path, package_dir: Path, config: LabConfig, options: Options,
                 cache_root: Path, kernels: list[str]) -> None:
        self.kit_root = kit_root
        self.package_dir = package_dir
        self.config = config
        self.options = options
        self.cache_root = cache_root   # the grader's copies of the build caches (never seen by a sandbox)
        self.sandbox_problem: str | None = None
        self.sandbox = self._sandbox_mode()
        self.cgroups: cgroups.RunGroups | None = None
        self.process_limit = self._process_limit_mode()
        if self.options.kernel_user:
            problem = kernel_user_problem(self.options.kernel_user, kernels)
            if problem:
                raise GradingError(f"--kernel-user {self.options.kernel_user}: {problem}")
        self.lock = threading.Lock()
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()
        self.run_dir: Path | None = None
        self.private = Path()
        self.template = Path()
        self.datasets: dict[str, Path] = {}

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

    def close(self) -> None:
        """Release the cgroups and remove the run folder (unless ``keep_scratch``)."""
        if self.cgroups is not None:
            self.cgroups.close()
            self.cgroups = None
        if self.run_dir and not self.options.keep_scratch:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    # ----------------------------------------------------------------------- build caches

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
        folder = self.cache_root / rel.replace("/", "__")
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
                try:   # keep_existing: another run may put the same content there first
                    with atomic_path(dest / entry.name, folder=True, keep_existing=True) as tmp:
                        shutil.copytree(entry, tmp, symlinks=True, dirs_exist_ok=True)
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

    # ----------------------------------------------------------------------- scratch folders and sandboxes

    def fresh_scratch(self) -> Path:
        """A scratch folder for one notebook run: a full copy of the kit without bubblewrap, an empty
        folder with it (the sandbox binds the template read-only)."""
        if self.sandbox == "bwrap":
            return Path(tempfile.mkdtemp(dir=self.run_dir))
        return self._scratch()

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

    # ----------------------------------------------------------------------- running one notebook

    def execute(self, plan: NotebookPlan, path: Path, merged: nbformat.NotebookNode, nonce: str,
                scratch: Path, executed: Path, solution: bool) -> RunOutput:
        """Run the grading notebook ``merged`` (built from the submitted file ``path``) in a sandbox.

        ``solution``: the solution's own run (trusted): it may write the build caches, and what it
        compiled is kept for the submissions and given back to the kit's caches."""
        stem = plan.spec.stem
        job_dir = Path(tempfile.mkdtemp(prefix="job-", dir=self.private))
        ipc_dir, bwrap = None, None
        if self.sandbox == "bwrap":
            # unix socket paths are limited to ~100 characters: a short private folder
            ipc_dir = Path(tempfile.mkdtemp(prefix="cg-"))
            nb_copy = job_dir / f"{stem}.submitted.ipynb"
            shutil.copyfile(path, nb_copy)
            bwrap = self._bwrap(plan, nb_copy, ipc_dir, solution=solution)
            nb_dir = job_dir  # the launcher's folder outside; inside, bwrap changes to the lab's folder
        else:
            nb_dir = scratch / "kit" / "labs" / plan.lab_folder
            nb_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, nb_dir / f"{stem}.ipynb")
            if not solution:
                self._fill_caches(plan, scratch / "kit")
            if self.options.kernel_user:
                self._give_to_user(nb_dir)
        grading_nb = job_dir / f"{stem}.grading.ipynb"
        nbformat.write(merged, grading_nb)
        executed.parent.mkdir(parents=True, exist_ok=True)
        groups = self.cgroups.job(job_dir.name, plan.limits.processes,
                                  plan.limits.memory_mb + plan.limits.disk_mb) if self.cgroups else []
        job = {"notebook": str(grading_nb), "executed": str(executed),
               "events": str(job_dir / "events.jsonl"), "kernel_log": str(job_dir / "kernel.log"),
               "kernel": plan.spec.kernel, "cwd": str(nb_dir),
               "env": self.kernel_env(scratch, plan), "nonce": nonce, "limits": plan.limits.__dict__,
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
        if solution and self.sandbox != "bwrap":
            self._harvest_caches(plan, scratch / "kit")
        if solution:
            self._return_caches(plan)
        out = RunOutput(events=_read_events(job_dir / "events.jsonl"), killed=killed,
                        kernel_said=_last_error_line(job_dir / "kernel.log"), refused=refused)
        if peak is not None:
            out.peak_memory_mb = round(peak[0] / memory.MB, 1)
            out.peak_memory_from = f"memory cgroup ({peak[1]})"
        elif sampler.peak:
            out.peak_memory_mb = round(sampler.peak / memory.MB, 1)
            out.peak_memory_from = f"PSS of the sandbox's processes, sampled every {sampler.every:g} s"
        if not self.options.keep_scratch:
            shutil.rmtree(job_dir, ignore_errors=True)
        return out

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

    def stop(self) -> None:
        """Stop everything now (Ctrl-C): kill running workers and their kernels."""
        self.stopping.set()
        with self.lock:
            procs = list(self.procs.values())
        for proc in procs:
            _kill_group(proc.pid)


def _read_events(path: Path) -> list[dict[str, Any]]:
    events = []
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events



def _last_error_line(log: Path) -> str:
    """The last line of a kernel's own log that is not a warning (why a kernel failed to start)."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return next((ln.strip()[:300] for ln in reversed(lines) if ln.strip() and "WARNING" not in ln), "")

