"""`lmcourse status`: where each exercise of the course stands in this package.

An exercise is a *stub* while its package function still raises the stub's
NotImplementedError, *implemented* once it does not, and *passing* when the visible tests of
its chapter notebook pass against the package. Each chapter is checked in a child process with
a time limit, so an infinite loop in one exercise is reported instead of hanging the command.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from lmcourse.course.chapters import (ROOT, Chapter, chapters, default_module, exercises, export_target,
                                      find_chapter, visible_part)
from lmcourse.course.export import STUB_HINT
from lmcourse.course.threads import use_threads

TIME_LIMIT = 120  # seconds for one chapter's visible tests


@dataclass(frozen=True)
class ExerciseState:
    exercise: str
    state: str  # "stub", "implemented", "passing" or "error"
    detail: str = ""


def _is_stub(obj) -> bool:
    try:
        return STUB_HINT in inspect.getsource(obj)
    except (TypeError, OSError):
        return False


def check_chapter(chapter: Chapter) -> list[ExerciseState]:
    """The state of each exercise of `chapter`, running its visible tests in this process."""
    nb = chapter.read()
    default = default_module(nb)
    states = []
    for exercise in exercises(nb):
        module_name = export_target(exercise.source, default) or default
        try:
            module = importlib.import_module(f"lmcourse.{module_name}")
        except Exception as error:  # a broken module is the student's to see, not a crash
            states.append(ExerciseState(exercise.grade_id, "error", f"lmcourse.{module_name}: {error!r}"))
            continue
        missing = [n for n in exercise.names if not hasattr(module, n)]
        if missing:
            states.append(ExerciseState(exercise.grade_id, "error", f"missing from lmcourse.{module_name}: "
                                        + ", ".join(missing)))
            continue
        if any(_is_stub(getattr(module, n)) for n in exercise.names):
            states.append(ExerciseState(exercise.grade_id, "stub"))
            continue
        failure = ""
        for test_id, source in exercise.tests:
            namespace = dict(vars(module))
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    exec(compile(visible_part(source), f"<{test_id}>", "exec"), namespace)
            except Exception as error:
                failure = f"{test_id} fails: {type(error).__name__}: {error}".strip().rstrip(":")
                break
        states.append(ExerciseState(exercise.grade_id, "implemented" if failure else "passing", failure))
    return states


def chapter_states(chapter: Chapter, time_limit: float = TIME_LIMIT) -> list[ExerciseState]:
    """`check_chapter` in a child process, so that a hanging or crashing exercise is reported."""
    try:
        run = subprocess.run([sys.executable, "-m", "lmcourse.course.status", str(chapter.notebook)],
                             capture_output=True, text=True, timeout=time_limit)
    except subprocess.TimeoutExpired:
        return [ExerciseState("(all)", "error", f"visible tests ran over {time_limit:g} s: an infinite loop?")]
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        return [ExerciseState("(all)", "error", f"checking crashed: {last}")]
    return [ExerciseState(**row) for row in json.loads(run.stdout)]


MARKS = {"passing": "pass", "implemented": "todo", "stub": "stub", "error": "FAIL"}


def report(only: list[str] | None = None, folder: Path = ROOT / "exercises",
           time_limit: float = TIME_LIMIT) -> str:
    """The text `lmcourse status` prints: one line per exercise, chapter by chapter.

    `only` names chapters ("00", "00-start" or "start"); by default every chapter is shown.
    """
    found = [find_chapter(folder, name) for name in only] if only else chapters(folder)
    if not found:
        return f"no chapter notebooks in {folder}"
    lines, passing, total = [], 0, 0
    for chapter in found:
        lines.append(f"{chapter.slug}  (lmcourse.{default_module(chapter.read())})")
        for s in chapter_states(chapter, time_limit):
            total += 1
            passing += s.state == "passing"
            words = {"passing": "passes its visible tests", "implemented": "implemented, but",
                     "stub": "stub: not implemented yet", "error": "error:"}[s.state]
            lines.append(f"  [{MARKS[s.state]}] {s.exercise:<28} {words} {s.detail}".rstrip())
    lines.append(f"{passing} of {total} exercises pass their visible tests")
    return "\n".join(lines)


if __name__ == "__main__":
    use_threads()
    print(json.dumps([asdict(s) for s in check_chapter(Chapter(Path(sys.argv[1])))]))
