"""The real nbgrader pipeline, end to end: students, chapters, grades, feedback, re-grading.

Autograding executes a notebook per submission, the expensive part of the test suite, so one
module-scoped run over the course's first two chapters serves most assertions:

- alice answers everything with the reference answers (a copy of her whole repository);
- bob hands in chapter 00 untouched (stubs);
- carol's chapter-00 gradient passes the visible tests but not the hidden ones, and she left the
  last exercise of the second chapter undone;
- dave's chapter-00 answer loops forever (the time limit stops it);
- erin (a .zip) edited a test cell to pass a wrong answer in chapter 00, and deleted a test
  cell in the second chapter;
- frank's folder holds no notebook.

Test power through nbgrader is checked with one mutant per chapter here; `lmcourse grade
--mutants` grades all of them (tests/test_mutants.py checks all of them in-process, fast).
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import answers, fill
from lmcourse.course.chapters import ROOT, Chapter, chapters, nbgrader_meta
from lmcourse.course.grading import grade
from lmcourse.course.mutants import grade_mutants, load_mutants, table

FIRST, SECOND = chapters(ROOT / "solutions")[:2]  # 00-start and the next chapter
TIMEOUT = 15  # seconds per cell: dave's loop costs this much
MUTANTS_00 = load_mutants(ROOT / "tests/mutants/00-start.py")["mse_gradient"]


def released(chapter: Chapter) -> Path:
    return ROOT / "exercises" / chapter.slug / chapter.notebook.name


def points_of(chapter: Chapter) -> dict[str, float]:
    """grade_id -> points of each test cell, in notebook order."""
    return {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c)["points"])
            for c in chapter.read().cells if nbgrader_meta(c).get("grade")}


def edit(notebook: Path, grade_id: str, source: str | None) -> None:
    """Change (or, with None, delete) a cell of a submission, as a student might."""
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)
    if source is None:
        nb.cells.remove(cell)
    else:
        cell.source = source
    nbformat.write(nb, notebook)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grading")
    submissions = tmp / "submissions"
    first, second = answers(FIRST.slug), answers(SECOND.slug)
    for chapter, correct in ((FIRST, first), (SECOND, second)):
        fill(released(chapter), correct, submissions / "alice/exercises" / chapter.slug / chapter.notebook.name)
    fill(released(FIRST), {}, submissions / "bob" / FIRST.notebook.name)
    fill(released(FIRST), {**first, "mse_gradient": "#| export" + MUTANTS_00["sum instead of mean (no 1/N)"]},
         submissions / "carol" / FIRST.notebook.name)
    last = list(second)[-1]
    fill(released(SECOND), {k: v for k, v in second.items() if k != last},
         submissions / "carol" / SECOND.notebook.name)
    fill(released(FIRST), {"pairwise_sq_distances": "while True:\n    pass"},
         submissions / "dave" / FIRST.notebook.name)

    erin = tmp / "erin"
    tampered = fill(released(FIRST), {**first, "mse_gradient": "#| export" + MUTANTS_00["factor 2 forgotten"]},
                    erin / "exercises" / FIRST.slug / FIRST.notebook.name)
    edit(tampered, "test_mse_gradient", "pass  # the test was too strict")
    deleted = fill(released(SECOND), second, erin / "exercises" / SECOND.slug / SECOND.notebook.name)
    edit(deleted, next(iter(points_of(SECOND))), None)
    with zipfile.ZipFile(submissions / "erin.zip", "w") as archive:
        for path in erin.rglob("*.ipynb"):
            archive.write(path, Path("lmcourse-erin") / path.relative_to(erin))
    (submissions / "frank").mkdir()
    (submissions / "frank/notes.txt").write_text("I will hand it in tomorrow")

    course = tmp / "course"
    progress: list[str] = []
    result = grade(submissions, course, ROOT / "solutions", timeout=TIMEOUT, only=[FIRST.slug, SECOND.slug],
                   progress=progress.append)
    return course, result, progress


def expected_rows() -> list[dict[str, str]]:
    """grades.csv as it must be: students in order, chapters and test cells in course order."""
    first, second = points_of(FIRST), points_of(SECOND)
    last_test = list(second)[-1]
    scores = {
        ("alice", FIRST.slug): first,
        ("alice", SECOND.slug): second,
        ("bob", FIRST.slug): {t: 0 for t in first},
        ("carol", FIRST.slug): {"test_pairwise_sq_distances": 2, "test_mse_gradient": 0},
        ("carol", SECOND.slug): {**second, last_test: 0},
        ("dave", FIRST.slug): {t: 0 for t in first},
        ("erin", FIRST.slug): {"test_pairwise_sq_distances": 2, "test_mse_gradient": 0},
        ("erin", SECOND.slug): second,
    }
    return [{"student": student, "chapter": chapter, "exercise": test, "score": f"{score:g}",
             "max_score": f"{(first | second)[test]:g}"}
            for (student, chapter), cells in scores.items() for test, score in cells.items()]


def test_grades_csv_is_as_expected(graded):
    course, result, _ = graded
    assert read_csv(course / "grades.csv") == expected_rows()
    assert sorted(result.graded) == sorted(
        [("alice", FIRST.slug), ("alice", SECOND.slug), ("bob", FIRST.slug), ("carol", FIRST.slug),
         ("carol", SECOND.slug), ("dave", FIRST.slug), ("erin", FIRST.slug), ("erin", SECOND.slug)])
    assert result.failed == []


def test_totals_csv_has_one_row_per_student_and_chapter(graded):
    course, _, _ = graded
    totals = {(r["student"], r["chapter"]): (r["score"], r["max_score"]) for r in read_csv(course / "totals.csv")}
    assert totals[("alice", FIRST.slug)] == ("5", "5")
    assert totals[("carol", FIRST.slug)] == ("2", "5")
    assert len(totals) == 8


def test_feedback_for_every_graded_notebook(graded):
    course, result, _ = graded
    for student, slug in result.graded:
        html = (course / "feedback" / student / slug / f"{slug}.html").read_text()
        assert "Score" in html and slug in html


def test_feedback_hides_hidden_tests_except_in_a_failing_traceback(graded):
    course, _, _ = graded
    alice = (course / "feedback/alice" / FIRST.slug / FIRST.notebook.with_suffix(".html").name).read_text()
    assert "BEGIN HIDDEN TESTS" not in alice and "cdist" not in alice  # passed: nothing hidden shows
    carol = (course / "feedback/carol" / FIRST.slug / FIRST.notebook.with_suffix(".html").name).read_text()
    assert "BEGIN HIDDEN TESTS" not in carol
    assert "autograd says" in carol  # the failing hidden assert, in the traceback (instructor guide)


def test_time_limit_tampering_and_empty_submissions_are_reported(graded):
    course, result, progress = graded
    problems = {(i.student, i.chapter, i.problem) for i in result.issues}
    first_test = next(iter(points_of(SECOND)))
    assert problems == {
        ("dave", FIRST.slug, f"pairwise_sq_distances was stopped by the {TIMEOUT} s time limit"),
        ("erin", FIRST.slug, "test cell test_mse_gradient was edited: nbgrader ran the released version"),
        ("erin", SECOND.slug, f"test cell {first_test} was deleted (or unmarked): nbgrader put it back and ran it"),
        ("frank", "", "no chapter notebook (NN-slug.ipynb) in the submission"),
    }
    assert {tuple(r.values()) for r in read_csv(course / "issues.csv")} == problems
    assert len(progress) == 8 and any(line.startswith("dave") and "0 / 5" in line for line in progress)


def test_grading_again_replaces_results_without_duplicates(graded, tmp_path):
    """A late resubmission through the command line: alice's gradient now forgets the factor 2."""
    course, _, _ = graded
    before = read_csv(course / "grades.csv")
    late = tmp_path / "late"
    fill(released(FIRST), {**answers(FIRST.slug), "mse_gradient": "#| export" + MUTANTS_00["factor 2 forgotten"]},
         late / "alice" / FIRST.notebook.name)
    run = subprocess.run([sys.executable, "-m", "lmcourse.cli", "grade", str(late), "--course-dir", str(course),
                          "--timeout", str(TIMEOUT)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert any(line.split()[:5] == ["alice", FIRST.slug, "2", "/", "5"] for line in run.stdout.splitlines()), \
        run.stdout
    after = read_csv(course / "grades.csv")
    changed = [(b, a) for b, a in zip(before, after) if b != a]
    assert len(after) == len(before)
    assert changed == [({**b, "score": "3"}, {**b, "score": "0"}) for b in before
                       if (b["student"], b["chapter"], b["exercise"]) == ("alice", FIRST.slug, "test_mse_gradient")]
    assert {r["student"] for r in read_csv(course / "issues.csv")} == {"dave", "erin", "frank"}


def test_a_notebook_nbgrader_cannot_grade_scores_zero_and_is_reported(tmp_path):
    """Two copies of a graded cell (a copy-paste in JupyterLab): nbgrader refuses the notebook."""
    submission = fill(released(FIRST), answers(FIRST.slug), tmp_path / "submissions/gina" / FIRST.notebook.name)
    nb = nbformat.read(submission, as_version=4)
    copy = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == "pairwise_sq_distances")
    nb.cells.insert(nb.cells.index(copy), nbformat.from_dict({**copy, "id": "copied"}))
    nbformat.write(nb, submission)
    result = grade(tmp_path / "submissions", tmp_path / "course", ROOT / "solutions", only=[FIRST.slug])
    assert result.failed == [("gina", FIRST.slug)]
    assert [g.score for g in result.grades] == [0, 0]
    [issue] = result.issues
    assert "could not be graded, scored 0: cell pairwise_sq_distances appears more than once" in issue.problem


def test_one_mutant_per_chapter_loses_points_under_nbgrader(tmp_path):
    outcomes, unmutated = grade_mutants(ROOT, tmp_path, representative=True)
    report = table(outcomes, unmutated)
    with_mutants = [c.slug for c in chapters(ROOT / "solutions")
                    if (ROOT / "tests/mutants" / f"{c.slug}.py").exists()]
    assert [o.mutant.chapter.slug for o in outcomes] == with_mutants
    assert [o for o in outcomes if not o.caught] == [], report
    for slug in with_mutants:
        assert re.search(rf"^{slug} +\d+ +1 +1 +1 +100 %$", report, re.MULTILINE), report


def test_grade_says_what_is_wrong_with_its_arguments(tmp_path):
    def lmcourse(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "lmcourse.cli", *args], capture_output=True, text=True,
                              timeout=300)

    run = lmcourse("grade", str(tmp_path), "--mutants")
    assert run.returncode == 2 and "leave out SUBMISSIONS_DIR and --db" in run.stderr
    run = lmcourse("grade", str(tmp_path), "--chapter", "99", "--course-dir", str(tmp_path / "course"))
    assert run.returncode != 0 and "no chapter '99'" in run.stderr


def test_make_grade_works_with_the_default_relative_workspace(tmp_path):
    """`make grade` runs `lmcourse grade submissions` into ./grading: relative paths, as typed."""
    fill(released(FIRST), answers(FIRST.slug), tmp_path / "submissions/alice" / FIRST.notebook.name)
    run = subprocess.run([sys.executable, "-m", "lmcourse.cli", "grade", "submissions", "--chapter", FIRST.number],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    totals = read_csv(tmp_path / "grading" / "totals.csv")
    assert [(r["student"], r["chapter"]) for r in totals] == [("alice", FIRST.slug)]
    assert float(totals[0]["score"]) == float(totals[0]["max_score"]) > 0
