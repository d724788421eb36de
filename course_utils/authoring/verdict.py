"""The grader's verdict, decided outside the student's process, and the authentication of its results.

``compare`` checks a value a probe obtained from a submission against the value the same probe
obtained from the solution notebook (both plain JSON data, see ``_harness._plain``): numbers within
a tolerance, arrays by shape and values, strings, booleans and keys exactly. ``sign`` / ``verify``
add an HMAC-SHA256 (a grader-side key, never visible to the kernels) to the result files, so a result
changed after grading is detected by ``--resume`` and regraded.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
from pathlib import Path
from typing import Any

from course_utils.fileio import write_text_atomic

KEY_ENV = "COURSE_GRADER_KEY_FILE"


def _num(x: Any) -> float | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int | float):
        return float(x)
    if isinstance(x, dict) and set(x) == {"__float__"}:
        return float(x["__float__"])
    return None


def _array(x: Any) -> dict[str, Any] | None:
    return x if isinstance(x, dict) and "__array__" in x else None


def _flat(data: Any) -> list[Any]:
    if isinstance(data, list):
        return [v for item in data for v in _flat(item)]
    return [data]


def _short(x: Any) -> str:
    text = json.dumps(x, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def compare(expected: Any, got: Any, rtol: float = 1e-6, atol: float = 1e-9,
            where: str = "value") -> str | None:
    """None when ``got`` matches ``expected``; else one sentence naming the first difference."""
    exp_arr, got_arr = _array(expected), _array(got)
    if exp_arr is not None:
        if got_arr is None:
            got_vals, got_shape = (_flat(got), None) if isinstance(got, list) else (None, None)
            if got_vals is None:
                return f"{where}: expected an array of shape {tuple(exp_arr['shape'])}, got {_short(got)}"
        else:
            got_vals, got_shape = _flat(got_arr["data"]), got_arr["shape"]
        if got_shape is not None and list(got_shape) != list(exp_arr["shape"]):
            return f"{where}: shape {tuple(got_shape)}, expected {tuple(exp_arr['shape'])}"
        exp_vals = _flat(exp_arr["data"])
        if len(exp_vals) != len(got_vals):
            return f"{where}: {len(got_vals)} elements, expected {len(exp_vals)}"
        for i, (e, g) in enumerate(zip(exp_vals, got_vals, strict=True)):
            problem = compare(e, g, rtol, atol, f"{where}[{i}] (flattened)")
            if problem:
                return problem
        return None
    if got_arr is not None and isinstance(expected, list):
        as_array = {"__array__": "?", "shape": got_arr["shape"], "data": expected}
        return compare(as_array, got, rtol, atol, where)
    e_num, g_num = _num(expected), _num(got)
    if e_num is not None:
        if g_num is None:
            return f"{where}: expected the number {expected!r}, got {_short(got)}"
        if math.isnan(e_num) and math.isnan(g_num):
            return None
        if math.isinf(e_num) or math.isinf(g_num):
            return None if e_num == g_num else f"{where}: {g_num!r}, expected {e_num!r}"
        if abs(e_num - g_num) <= atol + rtol * abs(e_num):
            return None
        return f"{where}: {g_num:.8g}, expected {e_num:.8g}"
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{where}: expected a dict, got {_short(got)}"
        if set(expected) != set(got):
            missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
            return f"{where}: keys differ (missing {missing[:5]}, unexpected {extra[:5]})"
        for key in expected:
            problem = compare(expected[key], got[key], rtol, atol, f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    if isinstance(expected, list):
        if not isinstance(got, list):
            return f"{where}: expected a list of {len(expected)}, got {_short(got)}"
        if len(expected) != len(got):
            return f"{where}: {len(got)} items, expected {len(expected)}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            problem = compare(e, g, rtol, atol, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if expected != got or type(expected) is not type(got):
        return f"{where}: {_short(got)}, expected {_short(expected)}"
    return None


# --------------------------------------------------------------------------- authentication

def default_key_file() -> Path:
    """Where the grader keeps its key: ``$COURSE_GRADER_KEY_FILE``, else the user's config folder."""
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "course-grader" / "hmac.key"


def load_key(path: Path | None = None) -> bytes:
    """The grader's HMAC key (created, mode 600, on first use)."""
    path = path or default_key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_text_atomic(path, secrets.token_hex(32) + "\n")
        os.chmod(path, 0o600)
    text = path.read_text(encoding="utf-8").strip()
    if len(text) < 32:
        raise ValueError(f"the grader key {path} is too short: delete it and a new one is made")
    return text.encode()


def _canonical(data: dict[str, Any]) -> bytes:
    body = {k: v for k, v in data.items() if k != "hmac"}
    return json.dumps(body, sort_keys=True, default=str, separators=(",", ":")).encode()


def sign(data: dict[str, Any], key: bytes) -> dict[str, Any]:
    """``data`` with an ``hmac`` field over everything else."""
    data = dict(data)
    data["hmac"] = hmac.new(key, _canonical(data), hashlib.sha256).hexdigest()
    return data


def verify(data: dict[str, Any] | None, key: bytes) -> bool:
    """True when ``data`` carries a valid ``hmac`` made with ``key``."""
    if not isinstance(data, dict) or not isinstance(data.get("hmac"), str):
        return False
    good = hmac.new(key, _canonical(data), hashlib.sha256).hexdigest()
    return hmac.compare_digest(good, data["hmac"])
