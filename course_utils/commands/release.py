"""``course release``: write the student bundle (no solutions, no hidden tests) to a folder or archive."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_utils.paths import kit_root


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``course release``."""
    parser.add_argument("target", type=Path,
                        help="folder to create, or an archive path ending in .zip or .tar.gz")
    parser.add_argument("--archive", choices=("zip", "tar.gz"),
                        help="write an archive (the suffix is added to TARGET if missing)")
    parser.add_argument("--force", action="store_true", help="replace TARGET if it exists")
    parser.add_argument("--scan", type=Path, metavar="BUNDLE",
                        help="do not build: only scan an existing bundle folder for leaks")


def run(args: argparse.Namespace) -> int:
    """Build, scan and write the bundle; exit 1 (writing nothing) on a leak or a bad target."""
    from course_utils.authoring.release import ReleaseError, release, scan

    root = kit_root()
    if args.scan:
        leaks = scan(args.scan, root)
        for leak in leaks:
            print(f"LEAK {leak}")
        print(f"{len(leaks)} leak(s) in {args.scan}")
        return 1 if leaks else 0
    try:
        manifest = release(root, args.target, fmt=args.archive, force=args.force)
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"student bundle written: {manifest['path']} ({manifest['files']} files, no leaks found)")
    for overlap in manifest["accepted_overlaps"]:
        print(f"note: accepted overlap (solutions/release.toml): {overlap}")
    if manifest["stale_labs"]:
        print("note: labs/ in the kit is out of date (the bundle has freshly generated notebooks); run "
              "`course labs` and commit:\n  " + "\n  ".join(manifest["stale_labs"]))
    return 0
