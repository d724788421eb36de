"""``course grade``: grade a folder of submitted notebooks (gradebook CSV + feedback per student)."""
from __future__ import annotations

import argparse
import os
import stat
import sys
from pathlib import Path

from course_utils.paths import build_dir, kit_root


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of ``course grade``."""
    parser.add_argument("submissions", type=Path,
                        help="folder with one sub-folder per student (or <student>.ipynb files for one "
                             "notebook); it is only read, never written")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--lab", help="grade every graded notebook of a lab: 1, lab1 or lab1_qat")
    what.add_argument("--notebook", action="append",
                      help="grade one notebook, e.g. lab1_qat/02_quantization_maths (repeatable)")
    parser.add_argument("--out", type=Path, help="output folder (default: build/grading/<lab>)")
    parser.add_argument("--workers", type=int, default=int(os.environ.get("COURSE_GRADE_WORKERS", 2)),
                        help="submissions graded in parallel (default 2)")
    parser.add_argument("--resume", action="store_true",
                        help="skip students already graded with the same files and configuration")
    parser.add_argument("--cell-timeout", type=float, help="seconds per cell (overrides grading.toml)")
    parser.add_argument("--total-timeout", type=float, help="seconds per notebook (overrides grading.toml)")
    parser.add_argument("--memory-mb", type=int, help="memory limit of each kernel (overrides grading.toml)")
    parser.add_argument("--kernel-user", metavar="USER",
                        help="run the kernels as this user (the grader must run as root), e.g. nobody")
    parser.add_argument("--sandbox", choices=("auto", "bwrap", "limits"), default="auto",
                        help="how kernels are isolated: bwrap (bubblewrap: own namespaces, no network, "
                             "read-only kit, disk quota; Linux), limits (resource limits only; with "
                             "--kernel-user in the container), auto (bwrap when it works; default)")
    parser.add_argument("--scratch", type=Path, help="where scratch copies go (default: the system temp)")
    parser.add_argument("--keep-scratch", action="store_true", help="keep scratch copies (debugging)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _warnings(root: Path, kernel_user: str | None) -> list[str]:
    """What a submission could still reach; printed before grading (see docs/grading.md)."""
    sol = root / "solutions"
    if kernel_user:
        real = sol.resolve()
        if any(not p.stat().st_mode & stat.S_IXOTH for p in real.parents):
            return []  # a folder on the way is closed to other users (as in the course container)
        if real.stat().st_mode & (stat.S_IROTH | stat.S_IXOTH):
            return [f"{real} is readable by other users, so also by {kernel_user}: "
                    f"`chmod -R o-rwx {real}` before grading"]
        return []
    return [f"the kernels run as your user: a submission can read {sol} by absolute path (and the "
            "grader flags code mentioning the solutions). Grade in the no-network container, or as root "
            "with --kernel-user (docs/grading.md)."]


def run(args: argparse.Namespace) -> int:
    """Grade; exit 0 when every submission got a result, 1 when grading could not start."""
    from course_utils.authoring.grade import (
        Grader,
        GradingError,
        Options,
        discover,
        find_notebook,
        lab_folder,
    )
    from course_utils.authoring.grading_config import GradingConfigError

    root = kit_root()
    try:
        if args.kernel_user and os.geteuid() != 0:
            raise GradingError("--kernel-user needs the grader to run as root (it drops the kernels to USER)")
        if args.lab:
            folder = lab_folder(root, args.lab)
            notebooks = sorted(p for p in folder.glob("*.ipynb"))
        else:
            notebooks = [find_notebook(root, n) for n in args.notebook]
            folder = notebooks[0].parent
            if any(p.parent != folder for p in notebooks):
                raise GradingError("--notebook: give notebooks of one lab per run")
        out = args.out or build_dir("grading", folder.name if args.lab else
                                    f"{folder.name}-{'-'.join(p.stem for p in notebooks)}", create=False)
        limits = {"cell_timeout": args.cell_timeout, "total_timeout": args.total_timeout,
                  "memory_mb": args.memory_mb}
        options = Options(workers=max(1, args.workers), resume=args.resume, kernel_user=args.kernel_user,
                          keep_scratch=args.keep_scratch, limits={k: v for k, v in limits.items() if v},
                          scratch_root=args.scratch, progress=not args.no_progress,
                          sandbox=args.sandbox)
        if out.resolve().is_relative_to(args.submissions.resolve()):
            raise GradingError("--out must not be inside the submissions folder (it is never written)")
        grader = Grader(root, notebooks, out, options)
        subs = discover(args.submissions, grader.stems)
    except (GradingError, GradingConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if grader.sandbox == "bwrap":
        print("sandbox: bubblewrap (one per submission: own processes, no network, read-only kit, "
              "disk quota, a non-root uid, nothing of the grader's files)")
    else:
        if grader.sandbox_problem:
            print(f"warning: no bubblewrap sandbox: {grader.sandbox_problem}", file=sys.stderr)
        for warning in _warnings(root, args.kernel_user):
            print(f"warning: {warning}", file=sys.stderr)
    limit_line = grader.describe_process_limit()
    if grader.process_limit is None:
        print(f"warning: {limit_line}", file=sys.stderr)
    else:
        print(f"processes: {limit_line}")
    print(f"grading {len(subs)} submission(s) of {', '.join(grader.stems)} with {options.workers} worker(s) "
          f"into {out}")
    import signal

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops like Ctrl-C: the workers and their sandboxes are killed

    signal.signal(signal.SIGTERM, _terminate)
    # Ctrl-C must stop a run even when this process inherited SIGINT as ignored (a job started in the
    # background by a script, or by a test runner's worker): Python then installs no handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        results = grader.grade(subs)
    except GradingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: results so far are in {out}; run again with --resume to continue",
              file=sys.stderr)
        return 130
    if grader.skipped:
        print(f"{len(grader.skipped)} already graded (--resume): {', '.join(grader.skipped)}")
    for res in results:
        flags = f"  [review: {'; '.join(res['flags'])}]" if res.get("flags") else ""
        print(f"  {res['student']:<24} {res['total']:g} / {res['max']:g}  {res['status']}{flags}")
    print(f"gradebook: {out / 'gradebook.csv'}\nfeedback:  {out / 'feedback'}/<student>.md")
    return 0
