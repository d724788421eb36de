"""Kernel side of the grader: the code of every injected check cell (never imported by the kit).

The grader embeds this file's *source* in each injected cell and runs it with ``exec`` in a fresh
namespace holding ``ARGS``, so it never depends on a file or a module the student's code could
have replaced. It builds fresh modules of the course's checks from source text sent by the grader
(not from ``sys.modules``), runs the solution's checkpoint (or a hidden test) in a copy of the
student's namespace with ``checks`` bound to those fresh modules, and publishes one result as a
display message with the grader's MIME type and the run's nonce. The grader reads that message
only from this cell's outputs. Limits: code running in the same kernel can still subvert anything
(patch IPython, numpy, the display machinery); grade in the no-network container (docs/grading.md).
"""
import sys
import time
import types

# ARGS is provided by the grader: nonce, mime, exercise, part, code, modules (name -> source).
_args = ARGS  # noqa: F821 - injected by the grader
_started = time.monotonic()


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


def _publish(passed, message, error=None):
    from IPython.display import publish_display_data
    status = "passed" if passed else "FAILED"
    label = f"Exercise {_args['exercise']} ({_args['part']})"
    payload = {"nonce": _args["nonce"], "exercise": _args["exercise"], "part": _args["part"],
               "passed": bool(passed), "message": str(message)[:4000], "error": error,
               "seconds": round(time.monotonic() - _started, 3)}
    publish_display_data({"text/plain": f"Course grader: {label} {status}. {str(message)[:500]}",
                          _args["mime"]: payload})


def _run():
    from IPython import get_ipython
    shell = get_ipython()
    checks = _fresh_checks(_args["modules"])
    namespace = dict(shell.user_ns)
    namespace["checks"] = checks
    before = set(namespace)
    code = shell.transform_cell(_args["code"])
    try:
        exec(compile(code, f"<course-grader check {_args['exercise']}>", "exec"), namespace)
    except AssertionError as err:
        _publish(False, err, "AssertionError")
        return
    except BaseException as err:  # noqa: BLE001 - every failure of student code is a result
        _publish(False, f"{type(err).__name__}: {err}", type(err).__name__)
        return
    if _args["part"] == "checkpoint":  # names a checkpoint cell defines stay, as in the student's run
        for name in set(namespace) - before - {"checks", "__builtins__"}:
            shell.user_ns[name] = namespace[name]
    _publish(True, "passed")


try:
    _run()
except BaseException as _err:  # noqa: BLE001 - the harness itself failed (e.g. interrupted)
    _publish(False, f"{type(_err).__name__}: {_err}", type(_err).__name__)
