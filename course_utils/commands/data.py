"""``course data``: download, verify and cache the datasets (MNIST, Fashion-MNIST)."""
from __future__ import annotations

import argparse
import sys
import time


def configure(parser: argparse.ArgumentParser) -> None:
    from course_utils.data import DATASETS

    parser.add_argument("--dataset", default="all", metavar="NAME",
                        help=f"one of {', '.join(DATASETS)} or all (default: all)")
    parser.add_argument("--verify", action="store_true",
                        help="re-hash the cached files (sha256); bad ones are removed and fetched again")
    parser.add_argument("--force", action="store_true",
                        help="fetch fresh copies even if the cache is good")
    parser.add_argument("--mirror", metavar="DIR", default=None,
                        help="a local folder laid out as DIR/<dataset>/<file>.gz "
                             "(default: $COURSE_DATA_MIRROR)")
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help="where to cache the files (default: $COURSE_DATA_DIR or data/ in the kit)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from course_utils import data

    everything = args.dataset.strip().lower() == "all"
    try:
        names = list(data.DATASETS) if everything else [data.get(args.dataset).name]
    except data.DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    failed = []
    for name in names:
        start = time.perf_counter()
        try:
            folder = data.fetch(name, mirror=args.mirror, data_dir=args.data_dir, force=args.force,
                                verify=args.verify, progress=not args.no_progress, log=print)
        except data.DataError as err:
            print(f"error: {err}", file=sys.stderr)
            failed.append(name)
            continue
        ds = data.get(name)
        print(f"{name}: ready in {folder} ({time.perf_counter() - start:.1f} s). "
              f"{ds.title}, {ds.attribution}; licence {ds.licence}.")
    if failed:
        print(f"course data: failed for {', '.join(failed)} (see above for what to do)", file=sys.stderr)
        return 1
    return 0
