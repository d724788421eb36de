"""The ``course`` command: one entry point for students, instructors and CI.

Each sub-command lives in ``course_utils/commands/<name>.py`` with ``configure(parser)`` and
``run(args) -> int``; only the chosen one is imported, so ``course --help`` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS: dict[str, str] = {
    "doctor": "what is installed, which tools and boards are found, what will be skipped",
    "data": "download, verify and cache the datasets (MNIST, Fashion-MNIST)",
    "lab": "start JupyterLab with the course on 127.0.0.1 (token protected)",
    "work": "copy new course notebooks into your work/ folder (never overwrites your edits)",
    "labs": "regenerate the student notebooks in labs/ from solutions/",
    "lectures": "export the lecture notebooks to offline HTML slides",
    "release": "write the student bundle (no solutions, no hidden tests)",
    "grade": "grade a folder of submitted notebooks (gradebook CSV + feedback)",
    "demo": "run the whole pipeline headless and write one report",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only ``command``'s module is imported to add its options."""
    parser = argparse.ArgumentParser(
        prog="course", description="Neural Networks: From Python to FPGA - course kit command line.",
        epilog="Run `course <command> --help` for a command's options.")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(f"course_utils.commands.{name}").configure(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the command; return its exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in COMMANDS:
        command = None
    args = build_parser(command).parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    module = importlib.import_module(f"course_utils.commands.{args.command}")
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
