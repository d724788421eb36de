"""Checkpoint feedback: one short block (exercise, mistake, counterexample, hint), no traceback of the kit,
the student's own frames only when their code crashed; the same plain text for the grader."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course_utils import checks
from course_utils.checks import _common, lab1
from course_utils.checks._common import Catalogue, CheckFailure, Example

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _failure(fn, *args) -> CheckFailure:
    with pytest.raises(CheckFailure) as info:
        fn(*args)
    return info.value


def test_failure_is_an_assertion_error_with_plain_text():
    err = _failure(lab1.ex_2_3, lambda x, xh: float(20 * np.log10(np.sum(x**2) / np.sum((x - xh) ** 2))))
    assert isinstance(err, AssertionError)
    text = str(err)
    assert text == err.text and not ANSI.search(text)
    lines = text.splitlines()
    assert lines[0].startswith("Exercise 2.3: 20 * log10")
    assert [ln.split(":")[0].strip() for ln in lines[1:4]] == ["input", "expected", "got"]
    assert lines[-1].startswith("Hint: the ratio is of powers")
    assert err.mistake == "2.3/20log10" and len(lines) <= 6


def test_render_hook_shows_the_block_without_a_traceback():
    err = _failure(lab1.ex_2_3, lambda x, xh: -1.0)
    shown = [ANSI.sub("", ln) for ln in err._render_traceback_()]
    assert shown[0].startswith("Exercise 2.3 not passed. ")
    assert "Traceback" not in "\n".join(shown) and "_common.py" not in "\n".join(shown)
    assert shown[1:] == err.lines[1:]


def test_student_crash_shows_only_the_student_frames():
    def sqnr(x, x_hat):
        return helper(x) / 0

    def helper(x):
        return np.asarray(x).reshape(3, 7)   # a crash inside numpy, called from student code

    err = _failure(lab1.ex_2_3, sqnr)
    assert err.problem.startswith("your function raised ValueError")
    assert len(err.frames) == 2, err.frames
    assert "in sqnr: return helper(x) / 0" in err.frames[0] and "in helper" in err.frames[1]
    assert all(f.startswith("test_checks_feedback.py, line ") for f in err.frames), err.frames
    assert err.__cause__ is None and err.__suppress_context__   # no "during handling" second traceback


def test_placeholder_is_one_block_without_context():
    def placeholder(x, xh):
        raise NotImplementedError("Exercise 2.3: write sqnr_db")

    err = _failure(lab1.ex_2_3, placeholder)
    assert "not done yet" in err.problem and err.__suppress_context__
    assert err.mistake is None


def test_earlier_cell_is_named():
    def quantize_asymmetric(x, bits):
        lo, hi = min(x.min(), 0.0), max(x.max(), 0.0)
        s = (hi - lo) / (2**bits - 1)
        z = int(np.round(-lo / s))
        return np.clip(np.round(x / s) + z, 0, 2**bits - 1), s, z

    def dequantize_without_zp(q, scale, zero_point=0):
        return np.asarray(q) * scale

    err = _failure(lab1.ex_2_2, quantize_asymmetric, dequantize_without_zp)
    assert err.exercise == "2.2" and err.mistake == "2.1/deq-no-zero-point"
    assert "Fix it in the Exercise 2.1 cell" in str(err)


def test_catalogue_rejects_duplicates_and_unknown_keys():
    cat = Catalogue("labX")
    cat.add("1.1", "a", "mistake a", "do b")
    with pytest.raises(ValueError):
        cat.add("1.1", "a", "again", "x")
    with pytest.raises(KeyError, match="no mistake 1.1/b"):
        cat.fail("1.1", "b")
    with pytest.raises(CheckFailure) as info:
        cat.fail("1.1", "a", "detail", example=Example("x = 1", "2", "3"))
    assert str(info.value) == ("Exercise 1.1: mistake a: detail\n  input:    x = 1\n  expected: 2\n"
                               "  got:      3\nHint: do b")


def test_short_bounds_long_values():
    assert len(_common.short(list(range(1000)))) <= _common.MAX_SHOWN
    assert _common.short(np.arange(100)).startswith("array(shape=(100,)")
    assert _common.short(0.1234567891) == "0.123457"


@pytest.mark.slow
def test_jupyter_kernel_shows_the_short_block(tmp_path):
    """In a real kernel: a failed check's error output is the block; a crash shows the student's cell."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        def run(code):
            msg_id = kc.execute(code)
            errors = []
            while True:
                msg = kc.get_iopub_msg(timeout=60)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "error":
                    errors.append(msg["content"])
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    return errors

        assert not run("import numpy as np\nfrom course_utils import checks")
        [err] = run("checks.lab1.ex_2_3(lambda x, xh: 10 ** (np.sum(x**2) / np.sum((x - xh)**2) / 10))")
        shown = ANSI.sub("", "\n".join(err["traceback"]))
        assert err["ename"] == "CheckFailure" and err["evalue"].startswith("Exercise 2.3: ")
        assert shown.startswith("Exercise 2.3 not passed.") and "Hint:" in shown
        assert "Traceback" not in shown and "_common.py" not in shown and "lab1.py" not in shown
        assert len(shown.splitlines()) <= 6
        assert not run("def sqnr_db(x, x_hat):\n    ratio = np.sum(x**2) / 0\n    return undefined_name")
        [err] = run("checks.lab1.ex_2_3(sqnr_db)")
        shown = ANSI.sub("", "\n".join(err["traceback"]))
        frame = r"cell In\[\d+\], line 3, in sqnr_db: return undefined_name"
        assert "NameError" in shown and re.search(frame, shown), shown
        assert "lab1.py" not in shown and "_common.py" not in shown
        [err] = run('checks.environment("lab3")')     # Lab 3 opened on "Python 3"
        shown = ANSI.sub("", "\n".join(err["traceback"]))
        assert err["ename"] == "EnvironmentMismatch" and shown.startswith("Wrong kernel: this Lab 3 notebook")
        assert "'PYNQ virtual board (Zynq-7020)'" in shown and "Traceback" not in shown
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


ROOT = Path(__file__).resolve().parents[1]


def test_environment_passes_here_and_names_the_board_kernel_for_lab3():
    checks.environment("lab1")
    checks.environment("lab2")
    with pytest.raises(checks.EnvironmentMismatch) as info:
        checks.environment("lab3")
    text = str(info.value)
    assert text.startswith("Wrong kernel: this Lab 3 notebook needs the kernel "
                           "'PYNQ virtual board (Zynq-7020)'.")
    assert "has no pynq" in text and "Kernel > Change Kernel..." in text
    assert "You are probably on the kernel 'Python 3 (ipykernel)'" in text
    assert ANSI.sub("", info.value._render_traceback_()[0]) == text.splitlines()[0]
    with pytest.raises(ValueError, match="unknown lab 'lab9'"):
        checks.environment("lab9")


def test_environment_on_the_board_kernel_names_python3_for_lab1():
    board = ROOT / ".venv" / "board" / "bin" / "python"
    if not board.exists():
        pytest.skip("no board environment (.venv/board): `make setup` creates it")
    out = subprocess.run([str(board), "-c", "from course_utils import checks; checks.environment('lab3'); "
                          "checks.environment('lab1')"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 1
    assert "Wrong kernel: this Lab 1 notebook needs the kernel 'Python 3 (ipykernel)'" in out.stderr
    assert "has no torch" in out.stderr


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("lab[123]_*/0[1-4]_*.ipynb")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_setup_cell_checks_the_kernel_first(path):
    nb = nbformat.read(path, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code" and c.source.lstrip().startswith("# Setup"))
    lab = "lab" + path.parent.name[3]
    code = [ln for ln in setup.source.splitlines() if ln.strip() and not ln.startswith(("#", "%"))]
    assert code[:2] == ["from course_utils import checks", f'checks.environment("{lab}")'
                        + "   # stops here, saying which kernel to select, on the wrong one"], code[:2]
