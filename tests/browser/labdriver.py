"""Drive the course's JupyterLab in a real headless Chromium (Debian's), for tests/test_browser.py.

The server is started the way `make lab` starts it: the kit's `course lab` command (JupyterLab on
127.0.0.1, token required, the token given through COURSE_LAB_TOKEN), the kit root given by COURSE_ROOT, and
private Jupyter config/data/runtime/IPython folders (the kernels installed in the host env's prefix are
still found). Readiness is polled through the server's REST API (/api/status, /api/sessions,
/api/kernels), never through the toolbar. Notebook results are read twice: from what the page shows and
from the notebook the page saves, as the server's contents API reads it back.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PRINTED_URL = re.compile(r"http://127\.0\.0\.1:\d+/lab/tree/\S*\?token=[0-9a-f]+")
ERROR_TEXT = re.compile(r"Traceback \(most recent call last\)|^\w*(Error|Exception): ", re.M)
# JupyterLab user settings for the private config folder: no news/update toasts over the notebook.
LAB_SETTINGS = {"@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                {"fetchNews": "false", "checkForUpdates": False}}


class LabError(AssertionError):
    """The server or the page did not do what the test expected; the message carries the evidence."""


def wait_for(what: str, probe: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    """Call ``probe`` until it returns something truthy; raise LabError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise LabError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A running `course lab` server in a private Jupyter setup."""

    root: Path
    home: Path
    token: str
    proc: subprocess.Popen
    log: Path
    base_url: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def log_tail(self, n: int = 40) -> str:
        """The last lines of the server's output, for error messages."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-n:])

    def api(self, path: str, *, auth: bool = True, timeout: float = 10) -> tuple[int, Any]:
        """GET ``/api/<path>``: (HTTP status, decoded JSON or None)."""
        req = urllib.request.Request(f"{self.base_url}api/{path}")
        if auth:
            req.add_header("Authorization", f"token {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback)
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, None
        except (urllib.error.URLError, OSError):
            return 0, None

    def session(self, notebook: str) -> dict | None:
        """The server's session of a notebook (path relative to the root), or None."""
        status, sessions = self.api("sessions")
        if status != 200:
            return None
        return next((s for s in sessions if s.get("path") == notebook and s.get("kernel")), None)

    def kernel_state(self, kernel_id: str) -> str | None:
        """The kernel's execution state from /api/kernels/<id> (idle, busy, starting...)."""
        status, kernel = self.api(f"kernels/{kernel_id}")
        return kernel.get("execution_state") if status == 200 else None

    def wait_kernel_idle(self, notebook: str, timeout: float) -> dict:
        """Wait until the notebook has a session whose kernel is idle; return the session."""
        def probe() -> dict | None:
            if self.proc.poll() is not None:
                raise LabError(f"the lab server exited ({self.proc.returncode}):\n{self.log_tail()}")
            sess = self.session(notebook)
            return sess if sess and self.kernel_state(sess["kernel"]["id"]) == "idle" else None
        return wait_for(f"an idle kernel for {notebook}", probe, timeout)

    def stop(self) -> None:
        """Stop the server and its kernels (its own process group only)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def private_jupyter_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a server with its own Jupyter/IPython folders and quiet JupyterLab settings."""
    env = dict(os.environ)
    dirs = {"JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime",
            "IPYTHONDIR": "ipython", "MPLCONFIGDIR": "matplotlib"}
    for var, sub in dirs.items():
        (home / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / sub)
    settings = home / "config" / "lab" / "user-settings"
    for rel, value in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    for var in ("JUPYTER_TOKEN", "JUPYTER_TOKEN_FILE", "JUPYTER_PATH", "JUPYTERLAB_SETTINGS_DIR",
                "JUPYTERLAB_WORKSPACES_DIR", "MPLBACKEND"):
        env.pop(var, None)
    env.update(extra or {})
    return env


def start_lab(root: Path, home: Path, extra_env: dict[str, str] | None = None,
              timeout: float = 300) -> LabServer:
    """Start `course lab` on ``root`` (COURSE_ROOT) as a student does (the token in the environment, never on
    the command line), and take the URL it prints: `course lab` prints it only once that server answers."""
    course = Path(sys.executable).with_name("course")
    if not course.exists():
        raise LabError(f"{course} is missing: the kit is not installed in this environment (make setup).")
    token = secrets.token_hex(24)
    env = private_jupyter_env(home, {"COURSE_ROOT": str(root), "COURSE_LAB_TOKEN": token,
                                     "COURSE_LAB_START_TIMEOUT": str(timeout), **(extra_env or {})})
    log = home / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(course), "lab", "--port", str(free_port())], cwd=root, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = LabServer(root=root, home=home, token=token, proc=proc, log=log, env=env)
    try:
        def printed_url() -> str | None:
            if proc.poll() is not None:
                raise LabError(f"`course lab` exited ({proc.returncode}):\n{server.log_tail()}")
            m = PRINTED_URL.search(log.read_text(errors="replace")) if log.exists() else None
            return m.group(0) if m else None
        url = wait_for("the URL `course lab` prints once its server answers", printed_url, timeout + 30)
        if f"token={token}" not in url:
            raise LabError(f"`course lab` printed {url}, which lacks the token it was given")
        server.base_url = url.split("/lab/", 1)[0] + "/"
        status = server.api("status")[0]
        if status != 200:
            raise LabError(f"the printed URL {url} answers {status} with its token:\n{server.log_tail()}")
    except BaseException:
        server.stop()
        raise
    return server


def contents_cells(server: LabServer, notebook: str) -> tuple[str, list[dict]] | None:
    """(last_modified, cells) of the notebook as the server reads it (contents API), None if unreadable."""
    status, model = server.api(f"contents/{urllib.parse.quote(notebook)}?content=1&type=notebook")
    if status != 200 or not model or not isinstance(model.get("content"), dict):
        return None
    return model["last_modified"], cells_of(model["content"])


def notebook_cell_sources(path: Path) -> list[dict]:
    """The notebook's cells as stored (type, source text, tags, outputs)."""
    return cells_of(json.loads(path.read_text()))


def cells_of(nb: dict) -> list[dict]:
    """A notebook's cells (type, source text, tags, outputs, execution count)."""
    return [{"type": c["cell_type"], "source": "".join(c.get("source", "")),
             "tags": c.get("metadata", {}).get("tags", []), "outputs": c.get("outputs", []),
             "execution_count": c.get("execution_count")} for c in nb["cells"]]


def first_code_cells(path: Path, limit: int) -> list[int]:
    """Indices of the notebook's first code cells, stopping before the first exercise or checkpoint."""
    picked = []
    for i, cell in enumerate(notebook_cell_sources(path)):
        if cell["type"] != "code":
            continue
        tags = set(cell["tags"])
        if "checkpoint" in tags or any(t.startswith("exercise-") for t in tags) \
                or cell["source"].lstrip().startswith("# Exercise"):
            break
        picked.append(i)
        if len(picked) == limit:
            break
    return picked


class NotebookPage:
    """One notebook open in JupyterLab in a Playwright page."""

    def __init__(self, page: Any, server: LabServer, notebook: str) -> None:
        self.page, self.server, self.notebook = page, server, notebook

    def open(self, timeout: float = 120) -> dict:
        """Open the notebook; wait for its cells on the page and its kernel idle (API); return the session."""
        self.page.goto(f"{self.server.base_url}lab/tree/{self.notebook}?token={self.server.token}")
        self.panel().locator(".jp-Cell").first.wait_for(state="visible", timeout=timeout * 1000)
        return self.server.wait_kernel_idle(self.notebook, timeout)

    def panel(self) -> Any:
        """The notebook's panel (the visible one)."""
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first

    def cell(self, index: int) -> Any:
        """The page element of cell ``index``."""
        return self.panel().locator(".jp-Notebook .jp-Cell").nth(index)

    def run_cell(self, index: int, timeout: float = 300) -> str:
        """Select cell ``index``, press Ctrl+Enter, wait for its execution count and an idle kernel
        (API); return the text the page shows in its output area."""
        cell = self.cell(index)
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputPrompt").first.click()
        self.page.keyboard.press("Escape")  # command mode: Ctrl+Enter runs the selected cell in place
        self.page.keyboard.press("Control+Enter")
        prompt = cell.locator(".jp-InputPrompt").first
        wait_for(f"cell {index} of {self.notebook} to finish ([n]: prompt)",
                 lambda: re.fullmatch(r"\[\d+\]:", prompt.inner_text().strip()), timeout, 0.5)
        self.server.wait_kernel_idle(self.notebook, timeout)
        outputs = cell.locator(".jp-OutputArea-output")
        return "\n".join(outputs.nth(i).inner_text() for i in range(outputs.count()))

    def save(self, path: Path | None = None, timeout: float = 240) -> list[dict]:
        """Save with Ctrl+S and return the cells the server then reads back (contents API).

        Never reads the file while Jupyter may still be writing it: the server's own view is polled until its
        modification time changed and it holds the run (an execution count). On a loaded machine a key press
        can be lost while the page is busy, so Ctrl+S is pressed again (saving twice is harmless) every
        ``resave`` seconds until the server has the run."""
        before = contents_cells(self.server, self.notebook)
        resave = 20.0
        pressed = [0.0]

        def saved() -> list[dict] | None:
            now = contents_cells(self.server, self.notebook)
            if now and (before is None or now[0] != before[0]) and any(c["execution_count"] for c in now[1]):
                return now[1]
            if time.monotonic() - pressed[0] >= resave:
                self.page.keyboard.press("Escape")  # command mode, focus stays in the notebook
                self.page.keyboard.press("Control+s")
                pressed[0] = time.monotonic()
            return None
        return wait_for(f"{self.notebook} saved (server's contents API)", saved, timeout, 0.5)


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless, with the flags that keep it offline and quiet."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def error_outputs(cell: dict) -> list[str]:
    """Error-looking outputs of a saved cell: `error` outputs, or text with a traceback."""
    found = []
    for out in cell["outputs"]:
        if out.get("output_type") == "error":
            found.append(f"{out.get('ename')}: {out.get('evalue')}")
        text = "".join(out.get("text", "")) if isinstance(out.get("text"), list) else out.get("text", "")
        if text and ERROR_TEXT.search(text):
            found.append(text[-500:])
    return found
