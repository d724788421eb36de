"""``course labs``: regenerate the student notebooks in ``labs/`` from ``solutions/``."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from course_utils.paths import kit_root


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if labs/ differs from what solutions/ generate")
    parser.add_argument("--keep-solution-outputs", action="store_true",
                        help="do not strip outputs from the solution notebooks in place")


def run(args: argparse.Namespace) -> int:
    from course_utils.authoring.notebooks import AuthoringError, generate

    root = kit_root()
    try:
        if args.check:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "labs"
                generate(root, out, strip_solutions=False)
                stale = _differences(out, root / "labs")
            if stale:
                print("labs/ is out of date (run `course labs`):\n  " + "\n  ".join(stale), file=sys.stderr)
                return 1
            print("labs/ matches solutions/")
            return 0
        res = generate(root, strip_solutions=not args.keep_solution_outputs)
    except AuthoringError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for key in ("stripped", "written", "removed"):
        for path in res[key]:
            print(f"{key:9} {path}")
    print(f"{len(res['written'])} written, {len(res['unchanged'])} unchanged, "
          f"{len(res['removed'])} removed, {len(res['stripped'])} solution(s) stripped of outputs")
    return 0


def _differences(new: Path, old: Path) -> list[str]:
    """Relative paths that differ between two notebook trees."""
    names = {p.relative_to(new) for p in new.rglob("*.ipynb")}
    if old.exists():
        names |= {p.relative_to(old) for p in old.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts}
    diff = []
    for rel in sorted(names):
        a, b = new / rel, old / rel
        if not (a.exists() and b.exists()) or a.read_bytes() != b.read_bytes():
            diff.append(f"labs/{rel.as_posix()}")
    return diff
