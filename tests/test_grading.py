"""The real nbgrader pipeline, end to end: generate, autograde, feedback, grades."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from conftest import answers, fill
from lmcourse.chapters import ROOT
from lmcourse.grading import grade

RELEASED = ROOT / "exercises/00-start/00-start.ipynb"


def mutant(description: str) -> str:
    spec = importlib.util.spec_from_file_location("mutants_00", Path(__file__).parent / "mutants/00-start.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return "#| export" + module.MUTANTS["mse_gradient"][description]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    submissions = tmp / "submissions"
    correct = answers("00-start")
    notebook = "00-start.ipynb"
    fill(RELEASED, correct, submissions / "alice" / notebook)
    fill(RELEASED, {}, submissions / "bob" / "work" / notebook)  # the untouched stub
    fill(RELEASED, {**correct, "mse_gradient": mutant("sum instead of mean (no 1/N)")},
         submissions / "carol" / notebook)  # passes the visible tests only
    fill(RELEASED, {grade_id: "while True:\n    pass" for grade_id in correct}, submissions / "dave" / notebook)
    fill(RELEASED, correct, submissions / "erin" / notebook)  # graded after dave's infinite loops
    course = tmp / "course"
    grades = grade(submissions, course, ROOT / "solutions", timeout=5)
    return course, grades


def totals(grades) -> dict[str, tuple[float, float]]:
    out: dict[str, list[float]] = {}
    for g in grades:
        total = out.setdefault(g.student, [0.0, 0.0])
        total[0] += g.score
        total[1] += g.max_score
    return {student: tuple(t) for student, t in out.items()}


def test_scores(graded):
    _, grades = graded
    assert totals(grades) == {"alice": (5, 5), "bob": (0, 5), "carol": (2, 5), "dave": (0, 5), "erin": (5, 5)}


def test_grades_csv_has_one_row_per_student_and_exercise(graded):
    course, _ = graded
    with open(course / "grades.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10
    carol = {r["exercise"]: (r["score"], r["max_score"]) for r in rows if r["student"] == "carol"}
    assert carol == {"test_pairwise_sq_distances": ("2", "2"), "test_mse_gradient": ("0", "3")}


def test_feedback_for_every_student(graded):
    course, _ = graded
    for student in ("alice", "bob", "carol", "dave", "erin"):
        html = (course / "feedback" / student / "00-start" / "00-start.html").read_text()
        assert "00-start" in html and "Score" in html
    assert "CellTimeoutError" in (course / "autograded/dave/00-start/00-start.ipynb").read_text() or \
        "timed out" in (course / "autograded/dave/00-start/00-start.ipynb").read_text().lower()


def test_grading_again_replaces_results_without_duplicates(graded, tmp_path):
    course, first = graded
    again = grade(course.parent / "submissions", course, ROOT / "solutions", timeout=5)
    assert sorted(again, key=str) == sorted(first, key=str)
    with open(course / "grades.csv") as f:
        assert len(list(csv.DictReader(f))) == 10
