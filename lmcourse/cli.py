"""The `lmcourse` command: one entry point for students and instructors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lmcourse.chapters import ROOT

DESCRIPTION = """\
lmcourse: build a language model, chapter by chapter.

students:     lmcourse status                  where each exercise stands
instructors:  lmcourse export [--check]        regenerate lmcourse/*.py and exercises/ from solutions/
              lmcourse release DIR             write the student repository (no solution code)
              lmcourse grade SUBMISSIONS_DIR   autograde, write feedback and grades.csv
"""


def cmd_status(args) -> int:
    from lmcourse.status import report

    print(report(args.chapters, time_limit=args.time_limit))
    return 0


def cmd_export(args) -> int:
    from lmcourse.export import export

    changed = export(ROOT, check=args.check)
    if args.check:
        if changed:
            print("stale (run `lmcourse export` and commit):\n  " + "\n  ".join(changed))
            return 1
        print("lmcourse/ and exercises/ match solutions/")
        return 0
    print("\n".join(f"wrote {p}" for p in changed) or "everything was already up to date")
    return 0


def cmd_release(args) -> int:
    from lmcourse.release import release

    leaks = release(ROOT, args.dir)
    if leaks:
        print("solution code leaked into the release:\n  " + "\n  ".join(leaks), file=sys.stderr)
        return 1
    print(f"student release written to {args.dir}; no solution code or hidden tests in it")
    return 0


def cmd_grade(args) -> int:
    from lmcourse.grading import grade

    if not args.submissions.is_dir():
        print(f"{args.submissions} is not a folder of submissions (one folder or .zip per student)",
              file=sys.stderr)
        return 2
    grades = grade(args.submissions, args.course_dir, ROOT / "solutions", args.db, args.timeout)
    totals: dict[tuple[str, str], list[float]] = {}
    for g in grades:
        total = totals.setdefault((g.student, g.chapter), [0.0, 0.0])
        total[0] += g.score
        total[1] += g.max_score
    for (student, chapter), (score, max_score) in sorted(totals.items()):
        print(f"{student:<20} {chapter:<16} {score:g} / {max_score:g}")
    print(f"grades: {args.course_dir / 'grades.csv'}; feedback: {args.course_dir / 'feedback'}/")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="lmcourse", description=DESCRIPTION,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    status = commands.add_parser("status", help="show each exercise as stub, implemented or passing",
                                 description="Show each chapter's exercises as stub, implemented, or "
                                 "passing the visible tests of its notebook, run against your package.")
    status.add_argument("chapters", nargs="*", metavar="CHAPTER",
                        help="only these chapters, e.g. 03 or attention (default: all)")
    status.add_argument("--time-limit", type=float, default=120, metavar="SECONDS",
                        help="give up on a chapter whose tests run longer (default 120)")
    status.set_defaults(run=cmd_status)

    export = commands.add_parser("export", help="regenerate lmcourse/*.py and exercises/ from solutions/",
                                 description="Write each chapter's `#| export` cells to its module in "
                                 "lmcourse/, and the student notebooks to exercises/ (nbgrader).")
    export.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if any generated file is stale")
    export.set_defaults(run=cmd_export)

    rel = commands.add_parser("release", help="write the student repository to DIR",
                              description="Write a standalone student repository: exercises, book, "
                              "and the package with every exercise a stub. Fails if solution code leaks.")
    rel.add_argument("dir", type=Path, metavar="DIR", help="a new or empty folder")
    rel.set_defaults(run=cmd_release)

    grade = commands.add_parser("grade", help="autograde submissions; write feedback and grades.csv",
                                description="Autograde every chapter in SUBMISSIONS_DIR (one folder or "
                                ".zip per student, named for the student) with nbgrader.")
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR")
    grade.add_argument("--course-dir", type=Path, default=Path("grading"), metavar="DIR",
                       help="grading workspace: gradebook, autograded copies, feedback (default ./grading)")
    grade.add_argument("--db", metavar="URL", help="gradebook as an SQLAlchemy URL (default: SQLite in the "
                       "workspace)")
    grade.add_argument("--timeout", type=int, default=120, metavar="SECONDS",
                       help="per-cell time limit; a cell over it scores 0 (default 120)")
    grade.set_defaults(run=cmd_grade)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
