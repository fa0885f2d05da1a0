"""The instructor's command line: ``lstm-course release | grade | check | bench``."""

from __future__ import annotations

import argparse
import sys

from lstm_course.instructor import release as release_mod
from lstm_course.instructor.grading.cli import register as register_grading
from lstm_course.instructor.perf import bench


def _release(args: argparse.Namespace) -> int:
    root = release_mod.find_root()
    if args.check:
        stale = release_mod.stale_chapters(root)
        if stale:
            print("chapters/ is out of date with solutions/ for: " + ", ".join(stale)
                  + "\nRun `lstm-course release` and commit chapters/.", file=sys.stderr)
            return 1
        print("chapters/ is up to date with solutions/.")
        return 0
    for chapter in release_mod.release(root, args.chapters or None):
        print(f"released chapters/{chapter}/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lstm-course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="write the student notebooks in chapters/ from solutions/")
    rel.add_argument("chapters", nargs="*", help="chapter folder names (default: all)")
    rel.add_argument("--check", action="store_true",
                     help="change nothing; exit 1 and name the chapters whose chapters/ is stale")
    rel.set_defaults(func=_release)
    bench.register(sub)
    register_grading(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
