#!/usr/bin/env python3
"""Container health check: the Jupyter server answers on ``/api`` (version only, no token needed).

Exit 0 when healthy, 1 otherwise (the reason on stderr). Under JupyterHub the server's port and prefix
come from JUPYTERHUB_SERVICE_URL. ``/api`` does not count as activity, so idle-culling still works.
Standard library only.
"""
from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit


def health_url(environ: dict[str, str]) -> str:
    """The URL to probe: ``http://127.0.0.1:<port><prefix>api``."""
    service = environ.get("JUPYTERHUB_SERVICE_URL")
    if service:
        parts = urlsplit(service)
        prefix = parts.path if parts.path.endswith("/") else parts.path + "/"
        return f"http://127.0.0.1:{parts.port or 8888}{prefix}api"
    return f"http://127.0.0.1:{int(environ.get('COURSE_LAB_PORT', 8888))}/api"


def problem(url: str, timeout: float = 4.0) -> str | None:
    """None when ``url`` answers 200 with a JSON server version, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (local http only)
            body = json.loads(resp.read().decode() or "{}")
    except (urllib.error.URLError, OSError, ValueError) as err:
        return f"{url}: {err}"
    if "version" not in body:
        return f"{url}: unexpected answer {body!r}"
    return None


def main() -> int:
    """Probe the server once; exit status for Docker's HEALTHCHECK."""
    reason = problem(health_url(dict(os.environ)))
    if reason:
        print(f"unhealthy: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
