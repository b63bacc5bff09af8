"""The `lmcourse` command: one entry point for students and instructors."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lmcourse.course.chapters import ROOT

DESCRIPTION = """\
lmcourse: build a language model, chapter by chapter.

students:     lmcourse status                  where each exercise stands
              lmcourse train CONFIG            train a model from scratch (configs/default.toml)
              lmcourse chat                    talk to SmolLM2, running on the course's code
              lmcourse serve                   OpenAI-compatible API and a web chat page
instructors:  lmcourse export [--check]        regenerate lmcourse/*.py and exercises/ from solutions/
              lmcourse release DIR             write the student repository (no solution code)
              lmcourse grade SUBMISSIONS_DIR   autograde, write feedback and grades.csv
              lmcourse grade --mutants         the hidden tests' catch rate, per chapter
"""


def cmd_status(args) -> int:
    from lmcourse.course.status import report

    print(report(args.chapters, time_limit=args.time_limit))
    return 0


def cmd_train(args) -> int:
    import os

    # A small model is thousands of tiny operations per step; OpenMP threads that spin while they
    # wait for each other make 2 threads 10x slower than 1 as soon as anything else runs. Waiting
    # passively costs little on an idle machine. Set before torch (and its OpenMP) is loaded.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from lmcourse.course.threads import use_threads
    from lmcourse.runs.config import ConfigError, load
    from lmcourse.runs.trainer import train
    from lmcourse.storage.checkpoint import CheckpointError

    use_threads()  # training.threads, when set, overrides it

    try:
        result = train(load(args.config, args.set), resume=args.resume)
    except (ConfigError, CheckpointError, NotImplementedError) as error:  # the last: an exercise still a stub
        print(f"lmcourse train: {error}", file=sys.stderr)
        return 2
    return 130 if result.interrupted else 0


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model and --int8, shared by `lmcourse chat` and `lmcourse serve`."""
    parser.add_argument("--model", default="smollm2-135m-instruct",
                        help="a pretrained model the course knows (default: %(default)s), a GGUF file, or a run "
                        "of `lmcourse train` (its folder or one of its checkpoints)")
    parser.add_argument("--int8", action="store_true",
                        help="int8 weights (chapter 09): faster, slightly different answers")


def load_engine_or_none(args, command: str):
    """The engine for --model and --int8, or None after saying on stderr why it cannot be loaded."""
    from lmcourse.course.threads import use_threads
    from lmcourse.serving.engine import load_engine
    from lmcourse.storage.checkpoint import CheckpointError

    use_threads()
    try:
        return load_engine(args.model, args.int8)
    except (ValueError, FileNotFoundError, CheckpointError) as error:
        print(f"lmcourse {command}: {error}", file=sys.stderr)
        return None


def cmd_chat(args) -> int:
    from lmcourse.generate import check_sampling
    from lmcourse.serving.chat import chat
    from lmcourse.serving.engine import SamplingParams

    try:
        check_sampling(args.temperature, 0, args.top_p)
        if args.max_tokens < 1:
            raise ValueError(f"--max-tokens must be at least 1, got {args.max_tokens}")
    except ValueError as error:
        print(f"lmcourse chat: {error}", file=sys.stderr)
        return 2
    engine = load_engine_or_none(args, "chat")
    if engine is None:
        return 2
    chat(engine, SamplingParams(max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
                                seed=args.seed), args.system)
    return 0


def cmd_serve(args) -> int:
    import uvicorn

    from lmcourse.serving.server import create_app

    engine = load_engine_or_none(args, "serve")
    if engine is None:
        return 2
    app = create_app(engine, max_tokens_limit=args.max_tokens_limit)
    print(f"Serving {args.model}: chat page http://{args.host}:{args.port}/ , API http://{args.host}:{args.port}/v1",
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_export(args) -> int:
    from lmcourse.course.export import export

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
    from lmcourse.course.release import release

    leaks = release(ROOT, args.dir, args.reveal_through)
    if leaks:
        print("solution code leaked into the release:\n  " + "\n  ".join(leaks), file=sys.stderr)
        return 1
    revealed = f"; reference code of chapters up to {args.reveal_through} included" if args.reveal_through else ""
    print(f"student release written to {args.dir}; no solution code or hidden tests in it{revealed}")
    return 0


def cmd_grade(args) -> int:
    if args.mutants:
        return cmd_grade_mutants(args)
    from lmcourse.course.grading import grade

    if args.submissions is None or not args.submissions.is_dir():
        print(f"{args.submissions or 'SUBMISSIONS_DIR'} is not a folder of submissions (one folder or .zip per "
              "student); `lmcourse grade --mutants` grades the mutants instead", file=sys.stderr)
        return 2
    course = args.course_dir or Path("grading")
    print(f"autograding {args.submissions} into {course}/ (per-cell time limit {args.timeout} s)")
    result = grade(args.submissions, course, ROOT / "solutions", args.db, args.timeout, args.chapter,
                   progress=lambda line: print("  " + line, flush=True))
    print(f"{len(result.graded)} notebooks autograded in {result.seconds:.0f} s")
    if result.issues:
        print(f"needs a look (also in {course / 'issues.csv'}):")
        for issue in result.issues:
            print(f"  {issue.student:<24} {issue.chapter or '-':<16} {issue.problem}")
    print(f"grades: {course / 'grades.csv'} (per test cell), {course / 'totals.csv'} (per chapter); "
          f"feedback: {course / 'feedback'}/STUDENT/CHAPTER/")
    return 1 if result.failed else 0


def cmd_grade_mutants(args) -> int:
    """`lmcourse grade --mutants`: the catch rate of the hidden tests, per chapter, through nbgrader."""
    import tempfile
    import time

    from lmcourse.course.mutants import grade_mutants, table

    if args.submissions is not None or args.db:
        print("--mutants grades the mutants in tests/mutants/, in a gradebook of its own: leave out "
              "SUBMISSIONS_DIR and --db", file=sys.stderr)
        return 2
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        course = args.course_dir or Path(tmp)
        print(f"autograding a submission per mutant in tests/mutants/ (workspace {course}/)")
        outcomes, unmutated = grade_mutants(ROOT, course, args.chapter, timeout=args.timeout,
                                            progress=lambda line: print("  " + line, flush=True))
    seconds = time.monotonic() - began
    print(f"{len(outcomes)} mutants autograded in {seconds:.0f} s ({seconds / max(len(outcomes), 1):.1f} s each)")
    print(table(outcomes, unmutated))
    return 0 if outcomes and all(o.caught for o in outcomes) and not unmutated else 1


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

    train = commands.add_parser("train", help="train a model from scratch with a config file",
                                description="Train chapter 04's model with chapter 05's code, as CONFIG says "
                                "(configs/default.toml explains every key): progress, evaluations and samples, "
                                "checkpoints, a loss curve, and Hugging Face and GGUF exports in output.dir. "
                                "Ctrl-C saves a checkpoint first. Several processes: torchrun --nproc_per_node N "
                                "-m lmcourse.cli train CONFIG.")
    train.add_argument("config", type=Path, metavar="CONFIG", help="a .toml or .yaml training config")
    train.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                       help="override a key of the config, e.g. --set training.steps=200 (repeatable)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in output.dir from its latest checkpoint, exactly")
    train.set_defaults(run=cmd_train)

    talk = commands.add_parser("chat", help="talk to a model in the terminal",
                               description="Chat with a model in the terminal; answers stream as they are "
                               "generated. /reset forgets the conversation, /quit leaves.")
    add_model_arguments(talk)
    talk.add_argument("--system", help="a system prompt (default: the model's own)")
    talk.add_argument("--temperature", type=float, default=0.0, help="0 is greedy (default 0)")
    talk.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling's p (default 1)")
    talk.add_argument("--max-tokens", type=int, default=256, help="longest answer (default 256)")
    talk.add_argument("--seed", type=int, help="seed for sampling")
    talk.set_defaults(run=cmd_chat)

    serve = commands.add_parser("serve", help="serve a model over an OpenAI-compatible HTTP API",
                                description="Serve a model: POST /v1/chat/completions and /v1/completions "
                                "(streaming too), GET /v1/models, GET /health, a chat page at /.")
    add_model_arguments(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--max-tokens-limit", type=int, default=4096, metavar="N",
                       help="refuse requests for more than N new tokens (default 4096)")
    serve.set_defaults(run=cmd_serve)

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
    rel.add_argument("--reveal-through", metavar="NN",
                     help="ship the reference code of chapters 00 to NN (after their deadline), so that a "
                     "student who is stuck can go on with the later chapters")
    rel.set_defaults(run=cmd_release)

    grade = commands.add_parser("grade", help="autograde submissions; write feedback and grades.csv",
                                description="Autograde every chapter in SUBMISSIONS_DIR (one folder or "
                                ".zip per student, named for the student) with nbgrader; or, with --mutants, "
                                "the wrong answers in tests/mutants/, and print the catch rate per chapter.")
    grade.add_argument("submissions", type=Path, nargs="?", metavar="SUBMISSIONS_DIR")
    grade.add_argument("--mutants", action="store_true",
                       help="autograde a submission per mutant in tests/mutants/ and print the catch rate")
    grade.add_argument("--chapter", action="append", metavar="NN",
                       help="grade only this chapter, e.g. 03 (repeat for more; default: all)")
    grade.add_argument("--course-dir", type=Path, metavar="DIR",
                       help="grading workspace: gradebook, autograded copies, feedback, CSV files (default "
                       "./grading; with --mutants a temporary folder)")
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
