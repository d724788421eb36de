"""Kernel side of the grader: the code of every injected check cell (never imported by the kit).

The grader embeds this file's *source* in each injected cell and runs it with ``exec`` in a fresh
namespace holding ``ARGS``. It does two things and decides nothing:

1. runs the solution's checkpoint (``ARGS["check"]``, optional) in a copy of the student's
   namespace with ``checks`` bound to fresh modules built from source text the grader sent: its
   message is the student's *feedback* (what is wrong, a hint);
2. runs the exercise's probe (``ARGS["probe"]``: code from grading.toml that assigns ``value``) in
   another copy of that namespace and turns ``value`` into plain JSON data (numbers, strings,
   lists, dicts; arrays as ``{"__array__": dtype, shape, data}``).

Both travel back in one display message with the grader's MIME type and the run's nonce. The
grader compares the probe's value *outside the kernel* with the value the same probe gave on the
solution notebook: whatever this process does (shadowed builtins, patched modules, forged
messages), it can only report values, never its own success.
"""
import math
import sys
import time
import types

# ARGS is provided by the grader: nonce, mime, exercise, part, check, probe, modules (name -> source).
_args = globals()["ARGS"]  # injected by the grader
_started = time.monotonic()
_MAX_ITEMS = 200_000


def _fresh_checks(modules):
    """Fresh module objects built from source; intra-package imports resolve to them."""
    saved = {name: sys.modules.get(name) for name in modules}
    fresh = {}
    try:
        for name, source in modules.items():
            mod = types.ModuleType(name)
            mod.__file__ = f"<course-grader {name}>"
            mod.__package__ = name.rpartition(".")[0]
            sys.modules[name] = mod
            exec(compile(source, mod.__file__, "exec"), mod.__dict__)
            fresh[name] = mod
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    package = types.ModuleType("course_utils.checks")
    for name, mod in fresh.items():
        setattr(package, name.rpartition(".")[2], mod)
    return package


def _plain(value, budget):
    """JSON-able data of ``value`` (arrays and tensors as dtype, shape and data)."""
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError("the probe's value is too large")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v, budget) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, budget) for v in value]
    module = type(value).__module__.split(".")[0]
    if module == "torch" and hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if hasattr(value, "dtype") and hasattr(value, "shape") and hasattr(value, "tolist"):
        budget[0] -= int(getattr(value, "size", 0) or 0)
        if budget[0] < 0:
            raise ValueError("the probe's value is too large")
        data = value.tolist()
        return {"__array__": str(value.dtype), "shape": list(value.shape), "data": _plain(data, [10**9])}
    if hasattr(value, "item") and not hasattr(value, "__len__"):
        return _plain(value.item(), budget)
    return {"__object__": f"{type(value).__module__}.{type(value).__qualname__}"}


def _run_check(shell, checks):
    """The solution's checkpoint in a copy of the student's namespace: (passed, message, error)."""
    namespace = dict(shell.user_ns)
    namespace["checks"] = checks
    before = set(namespace)
    code = shell.transform_cell(_args["check"])
    try:
        exec(compile(code, f"<course-grader check {_args['exercise']}>", "exec"), namespace)
    except AssertionError as err:
        return False, str(err), "AssertionError"
    except BaseException as err:  # noqa: BLE001 - every failure of student code is a result
        return False, f"{type(err).__name__}: {err}", type(err).__name__
    for name in set(namespace) - before - {"checks", "__builtins__"}:  # as in the student's own run
        shell.user_ns[name] = namespace[name]
    return True, "passed", None


def _run_probe(shell, checks):
    """The probe in a copy of the student's namespace: (plain value, error text or None)."""
    namespace = dict(shell.user_ns)
    namespace["checks"] = checks
    namespace.pop("value", None)
    try:
        exec(compile(_args["probe"], f"<course-grader probe {_args['exercise']}>", "exec"), namespace)
        if "value" not in namespace:
            return None, "the probe assigned no `value` (a grading.toml error)"
        return _plain(namespace["value"], [_MAX_ITEMS]), None
    except BaseException as err:  # noqa: BLE001 - a crash of student code is a result
        return None, f"{type(err).__name__}: {str(err)[:500]}"


def _publish(payload):
    from IPython.display import publish_display_data
    payload.update(nonce=_args["nonce"], exercise=_args["exercise"], part=_args["part"],
                   seconds=round(time.monotonic() - _started, 3))
    label = f"Exercise {_args['exercise']} ({_args['part']})"
    check = payload.get("check") or {}
    said = f" The course's check says: {str(check.get('message'))[:500]}" if check else ""
    publish_display_data({"text/plain": f"Course grader: {label}: values recorded.{said}",
                          _args["mime"]: payload})


def _main():
    from IPython import get_ipython
    shell = get_ipython()
    checks = _fresh_checks(_args["modules"])
    payload: dict[str, object] = {"check": None, "value": None, "probe_error": None}
    if _args.get("check"):
        passed, message, error = _run_check(shell, checks)
        payload["check"] = {"passed": passed, "message": str(message)[:4000], "error": error}
    if _args.get("probe"):
        payload["value"], payload["probe_error"] = _run_probe(shell, checks)
    _publish(payload)


try:
    _main()
except BaseException as _err:  # noqa: BLE001 - the harness itself failed (e.g. interrupted)
    _publish({"check": None, "value": None, "probe_error": f"{type(_err).__name__}: {_err}",
              "harness_error": True})
