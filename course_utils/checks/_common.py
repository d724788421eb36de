"""Shared helpers of the checkpoints: one friendly pass line, one kind of failure.

A failed check raises :class:`CheckFailure` (an ``AssertionError``). Its plain text (``str(err)``, also what
the grader writes into feedback files) is one short block::

    Exercise 2.2: missing zero point: q is x / scale rounded, without + zero_point.
      input:    x[0] = 0.352, bits = 4
      expected: q[0] = 6
      got:      q[0] = 1
    Hint: q = clip(round(x / scale) + zero_point, 0, 2^bits - 1).

IPython and Jupyter show exactly that block (the ``_render_traceback_`` hook), not a traceback through
the kit. When the student's own function crashed, the block shows only the student's frames.
Checks name common mistakes from a per-lab :class:`Catalogue`; ``CheckFailure.mistake`` says which
(``None`` for a generic failure). numpy-free: this module also runs on the board.
"""
from __future__ import annotations

import linecache
import os
import re
import sys
import traceback
from dataclasses import dataclass
from typing import Any, NoReturn

_KIT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # .../course_utils
_LIB_DIRS = tuple({os.path.dirname(os.__file__), sys.prefix, sys.base_prefix, _KIT_DIR})
_RED, _BOLD, _DIM, _RESET = "\x1b[31m", "\x1b[1m", "\x1b[2m", "\x1b[0m"
MAX_SHOWN = 160   # characters of one shown value


def short(value: Any, limit: int = MAX_SHOWN) -> str:
    """A one-line, bounded repr of ``value`` (numpy arrays summarised, long text cut)."""
    size = getattr(value, "size", 0)
    size = value.numel() if callable(size) and hasattr(value, "numel") else size   # torch tensors
    if hasattr(value, "shape") and hasattr(value, "dtype") and isinstance(size, int) and size > 8:
        flat = value.reshape(-1)
        text = f"array(shape={tuple(value.shape)}, dtype={value.dtype}, starts {flat[:4].tolist()})"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = repr(value.tolist() if hasattr(value, "tolist") else value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Example:
    """A concrete counterexample: the input, what was expected and what the student's code gave."""

    input: str
    expected: str
    got: str

    def lines(self) -> list[str]:
        """The three indented lines of the block."""
        return [f"  input:    {self.input}", f"  expected: {self.expected}", f"  got:      {self.got}"]


class CheckFailure(AssertionError):
    """A failed checkpoint: ``str(err)`` is the plain-text message, shown without a traceback in Jupyter."""

    def __init__(self, exercise: str, problem: str, hint: str | None = None, *,
                 example: Example | None = None, mistake: str | None = None, cell: str | None = None,
                 frames: list[str] | None = None) -> None:
        self.exercise, self.problem, self.hint = exercise, problem, hint
        self.example, self.mistake, self.cell, self.frames = example, mistake, cell, list(frames or [])
        super().__init__(self.text)

    @property
    def lines(self) -> list[str]:
        """The message as lines (no colours)."""
        out = [f"Exercise {self.exercise}: {self.problem}"]
        if self.frames:
            out += ["  in your code:", *(f"    {f}" for f in self.frames)]
        if self.example:
            out += self.example.lines()
        if self.cell:
            out.append(f"Fix it in the {self.cell} cell, run that cell, then run this check again.")
        if self.hint:
            out.append(f"Hint: {self.hint}")
        return out

    @property
    def text(self) -> str:
        """The plain-text message (what the grader's feedback shows)."""
        return "\n".join(self.lines)

    def __str__(self) -> str:
        return self.text

    def _render_traceback_(self) -> list[str]:
        """What IPython prints instead of a traceback: the message, first line in red."""
        first, *rest = self.lines
        head = f"{_RED}{_BOLD}Exercise {self.exercise} not passed.{_RESET} {first.split(': ', 1)[1]}"
        return [head, *(f"{_DIM}{ln}{_RESET}" if ln.startswith("    ") else ln for ln in rest)]


@dataclass(frozen=True)
class Mistake:
    """A common mistake a check recognises: its key, a short name, and the hint it teaches."""

    exercise: str
    key: str
    name: str
    hint: str


class Catalogue:
    """The named mistakes of one lab's checks (``lab1.MISTAKES``), raised with :meth:`fail`."""

    def __init__(self, lab: str) -> None:
        self.lab = lab
        self._items: dict[tuple[str, str], Mistake] = {}

    def add(self, exercise: str, key: str, name: str, hint: str) -> None:
        """Register a mistake (a key is unique within its exercise)."""
        if (exercise, key) in self._items:
            raise ValueError(f"mistake {exercise}/{key} is registered twice")
        self._items[exercise, key] = Mistake(exercise, key, name, hint)

    def __iter__(self) -> Any:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def get(self, exercise: str, key: str) -> Mistake:
        """The mistake ``key`` of ``exercise``; KeyError names the catalogue."""
        try:
            return self._items[exercise, key]
        except KeyError:
            raise KeyError(f"{self.lab}: no mistake {exercise}/{key} in the catalogue") from None

    def fail(self, exercise: str, key: str, detail: str = "", *, example: Example | None = None,
             cell: str | None = None, at: str | None = None) -> NoReturn:
        """Raise the failure that names mistake ``key`` of ``exercise`` (with an optional detail).

        ``at`` is the exercise being checked when the mistake belongs to an earlier one (then ``cell``
        names the cell to fix)."""
        m = self.get(exercise, key)
        problem = f"{m.name}: {detail}" if detail else f"{m.name}."
        raise CheckFailure(at or exercise, problem, m.hint, example=example, mistake=f"{exercise}/{key}",
                           cell=cell)

    def crash(self, exercise: str, key: str, err: BaseException) -> tuple[str, str, str]:
        """``(problem, hint, mistake)`` naming ``key`` for a crash of student code (``call(hints=)``)."""
        m = self.get(exercise, key)
        return f"{m.name} ({type(err).__name__}: {str(err)[:160]}).", m.hint, f"{exercise}/{key}"

    def exercises(self) -> list[str]:
        """The exercises that have at least one named mistake."""
        return sorted({m.exercise for m in self}, key=lambda e: [int(p) for p in e.split(".")])


def passed(exercise: str, detail: str) -> None:
    """Print the pass line of an exercise."""
    print(f"Exercise {exercise} passed: {detail}")


def fail(exercise: str, problem: str, hint: str | None = None, *, example: Example | None = None,
         cell: str | None = None) -> NoReturn:
    """Raise the CheckFailure of a failed check: what is wrong and, if given, a hint."""
    raise CheckFailure(exercise, problem, hint, example=example, cell=cell)


def require(exercise: str, condition: object, problem: str, hint: str | None = None, *,
            example: Example | None = None, cell: str | None = None) -> None:
    """``fail`` unless ``condition`` holds."""
    if not condition:
        fail(exercise, problem, hint, example=example, cell=cell)


def not_done(exercise: str, obj: Any, what: str, cell: str | None = None) -> None:
    """Fail with 'not done yet' if ``obj`` is still the ``...`` placeholder (or None)."""
    if obj is Ellipsis or obj is None:
        where = f"the {cell} cell" if cell else "the exercise cell above"
        fail(exercise, f"{what} is not done yet (still the `...` placeholder).",
             f"write your answer in {where}, run it, then run this check again.")


def _cell_name(filename: str) -> str:
    """'cell In[7]' for a Jupyter cell's file name, else the file's base name."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
        number = getattr(getattr(shell, "compile", None), "_filename_map", {}).get(filename)
        if number is not None:
            return f"cell In[{number}]"
    except Exception:  # noqa: BLE001 - no IPython: plain file names
        pass
    if re.search(r"ipykernel_\d+|<ipython-input-", filename):
        return "your cell"
    return os.path.basename(filename)


def student_frames(err: BaseException, limit: int = 3) -> list[str]:
    """The frames of ``err``'s traceback that are the student's code (not the kit, numpy or Python)."""
    out = []
    for fr in traceback.extract_tb(err.__traceback__):
        path = os.path.abspath(fr.filename) if not fr.filename.startswith("<") else fr.filename
        if path.startswith(_LIB_DIRS) and not re.search(r"ipykernel_\d+", path):
            continue
        code = (fr.line or linecache.getline(fr.filename, fr.lineno or 0)).strip()
        out.append(f"{_cell_name(fr.filename)}, line {fr.lineno}, in {fr.name}: {code}")
    return out[-limit:]


def call(exercise: str, fn: Any, *args: Any, cell: str | None = None, hints: Any = None,
         **kwargs: Any) -> Any:
    """Call the student's function; turn its NotImplementedError or crash into a clear failure.

    ``hints(err)`` may return ``(problem, hint, mistake)`` naming a known crash (e.g. a broadcasting mistake);
    ``cell`` names the exercise cell that defines ``fn`` when it is not the one above the check.
    """
    if not callable(fn):
        fail(exercise, f"expected a function, got {type(fn).__name__}.",
             "pass the function itself, without calling it: check(my_function).", cell=cell)
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        where = f"the {cell} cell" if cell else "the exercise cell"
        raise CheckFailure(exercise, "not done yet: the function still raises NotImplementedError.",
                           f"replace the `raise NotImplementedError(...)` line in {where} with your code.",
                           cell=cell) from None
    except AssertionError:
        raise
    except Exception as err:  # noqa: BLE001 - any crash of student code becomes a hint
        frames = student_frames(err)
        named = hints(err) if hints is not None else None
        problem, hint, mistake = named or (f"your function raised {type(err).__name__}: {err}",
                                           "run it on a small example in a new cell to see where it fails.",
                                           None)
        failure = CheckFailure(exercise, problem, hint, frames=frames, cell=cell, mistake=mistake)
        raise failure from None
