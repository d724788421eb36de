"""Shared helpers of the checkpoints: one friendly pass line, one kind of failure."""
from __future__ import annotations

from typing import Any, NoReturn


def passed(exercise: str, detail: str) -> None:
    """Print the pass line of an exercise."""
    print(f"Exercise {exercise} passed: {detail}")


def fail(exercise: str, problem: str, hint: str | None = None) -> NoReturn:
    """Raise the AssertionError of a failed check: what is wrong and, if given, a hint."""
    msg = f"Exercise {exercise}: {problem}"
    if hint:
        msg += f" Hint: {hint}"
    raise AssertionError(msg)


def require(exercise: str, condition: bool, problem: str, hint: str | None = None) -> None:
    """``fail`` unless ``condition`` holds."""
    if not condition:
        fail(exercise, problem, hint)


def not_done(exercise: str, obj: Any, what: str) -> None:
    """Fail with 'not done yet' if ``obj`` is still the ``...`` placeholder (or None)."""
    if obj is Ellipsis or obj is None:
        fail(exercise, f"{what} is not done yet (still the `...` placeholder).",
             "write your answer in the exercise cell above, run it, then run this check again.")


def call(exercise: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call the student's function; turn its NotImplementedError or crash into a clear failure."""
    if not callable(fn):
        fail(exercise, f"expected a function, got {type(fn).__name__}.",
             "pass the function itself, without calling it: check(my_function).")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        fail(exercise, "not done yet: the function still raises NotImplementedError.",
             "replace the `raise NotImplementedError(...)` line with your code.")
    except AssertionError:
        raise
    except Exception as err:  # noqa: BLE001 - any crash of student code becomes a hint
        fail(exercise, f"your function raised {type(err).__name__}: {err}",
             "run it on a small example in a new cell to see where it fails.")
