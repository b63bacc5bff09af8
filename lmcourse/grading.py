"""Grading with nbgrader: generate the student notebooks, autograde submissions, write grades.

Everything runs through nbgrader's own Python API in a course directory of nbgrader's layout
(`source/`, `submitted/`, `autograded/`, `feedback/`, a gradebook database), so no Jupyter
server is needed. Submissions are graded with the instructor's installed reference package:
a student's mistake in an earlier chapter does not cost points in a later one.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config

from lmcourse.chapters import Chapter, chapters, nbgrader_meta

COURSE_ID = "lmcourse"
CELL_TIMEOUT = 120  # seconds per cell, the same budget the book gives a solution cell
IGNORED = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")


def configure(c: Config, root: Path, db_url: str | None = None, timeout: int = CELL_TIMEOUT,
              source: str = "source", release: str = "release") -> Config:
    """Set the course's nbgrader options on `c` (used by `nbgrader_config.py` too)."""
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = source
    c.CourseDirectory.release_directory = release
    c.CourseDirectory.db_url = db_url or f"sqlite:///{Path(root) / 'gradebook.db'}"
    c.Execute.timeout = timeout
    return c


@contextlib.contextmanager
def nbgrader_api(root: Path, db_url: str | None = None, timeout: int = CELL_TIMEOUT):
    """An in-process `NbGraderAPI` for the course directory `root`."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    # A new gradebook runs the `alembic` executable, which lives beside this Python.
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + path
    c = configure(Config(), root, db_url, timeout)
    api = NbGraderAPI(CourseDirectory(config=c), config=c)
    api.log.setLevel(logging.WARNING)
    yield api


def _check(result: dict, what: str) -> None:
    if not result["success"]:
        raise RuntimeError(f"nbgrader could not {what}:\n{result.get('error') or result.get('log')}")


def generate_exercises(sources: list[Chapter], dest: Path) -> None:
    """Write the student version of each chapter to `dest/<slug>/` (nbgrader generate_assignment)."""
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp)
        for chapter in sources:
            shutil.copytree(chapter.notebook.parent, course / "source" / chapter.slug, ignore=IGNORED)
        with nbgrader_api(course) as api:
            for chapter in sources:
                _check(api.generate_assignment(chapter.slug), f"generate {chapter.slug}")
        for chapter in sources:
            target = dest / chapter.slug
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(course / "release" / chapter.slug, target)


@dataclass(frozen=True)
class Grade:
    """One test cell's result for one student: a row of the grades CSV."""

    student: str
    chapter: str
    exercise: str
    score: float
    max_score: float


def collect(submissions: Path, course: Path, slugs: list[str]) -> list[tuple[str, str]]:
    """Copy each student's chapter notebooks into `course/submitted/<student>/<slug>/`.

    `submissions` holds one folder (or .zip) per student; a chapter's notebook `NN-slug.ipynb`
    may sit anywhere inside it. Returns the (student, slug) pairs found.
    """
    found = []
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith("."):
            continue
        student = entry.stem if entry.suffix == ".zip" else entry.name
        with contextlib.ExitStack() as stack:
            folder = entry
            if entry.suffix == ".zip":
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                with zipfile.ZipFile(entry) as archive:
                    archive.extractall(folder)
            elif not entry.is_dir():
                continue
            for slug in slugs:
                notebooks = [p for p in folder.rglob(f"{slug}.ipynb") if ".ipynb_checkpoints" not in p.parts]
                if not notebooks:
                    continue
                if len(notebooks) > 1:
                    raise ValueError(f"{student} handed in {len(notebooks)} copies of {slug}.ipynb: keep one")
                target = course / "submitted" / student / slug
                if target.exists():
                    shutil.rmtree(target)
                target.mkdir(parents=True)
                shutil.copy2(notebooks[0], target / notebooks[0].name)
                found.append((student, slug))
    return found


def grade(submissions: Path, course: Path, solutions: Path, db_url: str | None = None,
          timeout: int = CELL_TIMEOUT) -> list[Grade]:
    """Autograde every chapter each student handed in; write feedback and `grades.csv`.

    `course` is the grading workspace (nbgrader's layout); grading again replaces earlier
    results for the same students and chapters.
    """
    all_chapters = {c.slug: c for c in chapters(solutions)}
    if not all_chapters:
        raise SystemExit(f"no solution notebooks in {solutions}: grading needs the instructor's repository")
    course.mkdir(parents=True, exist_ok=True)
    for chapter in all_chapters.values():
        target = course / "source" / chapter.slug
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(chapter.notebook.parent, target, ignore=IGNORED)
    handed_in = collect(submissions, course, list(all_chapters))
    with nbgrader_api(course, db_url, timeout) as api:
        for slug in sorted({slug for _, slug in handed_in}):
            _check(api.generate_assignment(slug), f"register {slug}")
        for student, slug in handed_in:
            _check(api.autograde(slug, student), f"autograde {student}/{slug}")
            _check(api.generate_feedback(slug, student), f"write feedback for {student}/{slug}")
        grades = read_grades(api, handed_in, all_chapters)
    write_csv(grades, course / "grades.csv")
    return grades


def read_grades(api, handed_in: list[tuple[str, str]], by_slug: dict[str, Chapter]) -> list[Grade]:
    """Per-test-cell scores from the gradebook, in notebook order, for (student, slug) pairs."""
    rows = []
    with api.gradebook as gradebook:
        for student, slug in handed_in:
            order = [nbgrader_meta(c).get("grade_id") for c in by_slug[slug].read().cells]
            notebook = gradebook.find_submission_notebook(slug, slug, student)
            for g in sorted(notebook.grades, key=lambda g: order.index(g.name)):
                rows.append(Grade(student, slug, g.name, float(g.score), float(g.max_score)))
    return rows


def write_csv(grades: list[Grade], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "chapter", "exercise", "score", "max_score"])
        for g in grades:
            writer.writerow([g.student, g.chapter, g.exercise, f"{g.score:g}", f"{g.max_score:g}"])
