"""Your package's tests: one per exercise of every chapter, run against `lmcourse/`.

Each test runs the visible tests of its chapter notebook against your package, as
`lmcourse status` does, each chapter in a child process with a time limit. An exercise you have
not implemented yet is an expected failure (`x`) that names its chapter; once you have, it
passes or fails like any test. The hidden tests your instructor grades with check more cases.
"""

from __future__ import annotations

import functools

import pytest

from lmcourse.course.chapters import ROOT, Chapter, chapters, exercises
from lmcourse.course.status import ExerciseState, chapter_states

CASES = [(chapter, exercise.grade_id) for chapter in chapters(ROOT / "exercises")
         for exercise in exercises(chapter.read())]


@functools.cache
def states(chapter: Chapter) -> dict[str, ExerciseState]:
    return {state.exercise: state for state in chapter_states(chapter)}


@pytest.mark.parametrize("chapter,exercise", CASES, ids=[f"{c.slug}/{e}" for c, e in CASES])
def test_exercise(chapter: Chapter, exercise: str):
    found = states(chapter)
    state = found.get(exercise) or found["(all)"]  # "(all)": the whole chapter hung or crashed
    if state.state == "stub":
        pytest.xfail(f"{exercise} is not implemented yet: chapter {chapter.number}, "
                     f"exercises/{chapter.slug}/{chapter.notebook.name}")
    if state.state != "passing":
        pytest.fail(f"{exercise} (chapter {chapter.number}): {state.detail}", pytrace=False)
