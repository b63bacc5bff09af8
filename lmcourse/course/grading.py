"""Grading with nbgrader: generate the student notebooks, autograde submissions, write grades.

Everything runs through nbgrader's own Python API in a course directory of nbgrader's layout
(`source/`, `release/`, `submitted/`, `autograded/`, `feedback/`, a gradebook database), so no
Jupyter server is needed. Submissions are graded with the instructor's installed reference
package: a student's mistake in an earlier chapter does not cost points in a later one.

What nbgrader does to a submission, and what this module adds:
- each cell runs under a time limit (`Execute.timeout`); a cell stopped by it scores 0 and is
  reported, and the run goes on (`Execute.iopub_timeout` gives the interrupted cell time to stop);
- read-only cells, test cells above all, are put back as released (hidden tests included)
  before the run, so editing one earns nothing; a deleted test cell is put back too
  (`OverwriteCells.add_missing_cells`). Both are reported: the submission is compared with the
  released notebook by nbgrader's own cell checksums first;
- a notebook nbgrader cannot grade at all (a crashed kernel, a copied nbgrader cell, a file
  that is not a notebook) scores 0 for that chapter and is reported, instead of stopping the run.

The gradebook keeps every result of the workspace; `grades.csv` and `totals.csv` are written
from it, so grading a few students again updates their rows and keeps everyone else's.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from traitlets.config import Config

from lmcourse.course.chapters import Chapter, chapters, find_chapter, nbgrader_meta

COURSE_ID = "lmcourse"
CELL_TIMEOUT = 120  # seconds per cell, the same budget the book gives a solution cell
# Seconds a cell interrupted at the time limit may take to stop: a long torch operation only
# notices the interrupt when it returns. nbgrader's default (4 s) fails the whole notebook then.
INTERRUPT_GRACE = 60
IGNORED = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")
# Copies of a chapter notebook that are not the student's work: editor backups, built books.
NOT_SUBMITTED = {".ipynb_checkpoints", "_build"}
# Why nbgrader could not grade a notebook, for the exceptions a student's notebook can cause.
FAILURES = {
    "DeadKernelError": "the kernel died: the notebook crashed Python or ran out of memory",
    "CellTimeoutError": f"a cell went on running {INTERRUPT_GRACE} s after the time limit interrupted it",
    "NotJSONError": "the file is not a notebook (not JSON)",
}


def configure(c: Config, root: Path, db_url: str | None = None, timeout: int = CELL_TIMEOUT,
              source: str = "source", release: str = "release") -> Config:
    """Set the course's nbgrader options on `c` (used by `nbgrader_config.py` too)."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import ClearHiddenTests, GetGrades

    root = Path(root).resolve()  # nbgrader opens the gradebook from elsewhere: a relative path fails
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = COURSE_ID
    c.CourseDirectory.source_directory = source
    c.CourseDirectory.release_directory = release
    c.CourseDirectory.db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
    c.Execute.timeout = timeout
    c.Execute.iopub_timeout = INTERRUPT_GRACE
    # A test cell the student deleted is put back and run, instead of scoring 0 unseen.
    c.OverwriteCells.add_missing_cells = True
    # Feedback shows test cells without their hidden part (a failing one's traceback still shows
    # the assert that failed and the lines around it: see the instructor guide).
    c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
    return c


@contextlib.contextmanager
def nbgrader_api(root: Path, db_url: str | None = None, timeout: int = CELL_TIMEOUT):
    """An in-process `NbGraderAPI` for the course directory `root`."""
    from nbformat.warnings import MissingIDFieldWarning
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from sqlalchemy.exc import SAWarning

    # A new gradebook runs the `alembic` executable, which lives beside this Python.
    bin_dir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "")
    if bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + path
    c = configure(Config(), root, db_url, timeout)
    api = NbGraderAPI(CourseDirectory(config=c), config=c)
    api.log.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # Harmless: nbgrader 0.9 with SQLAlchemy 2.1 in-process (autoflush notices), and a test
        # cell nbgrader puts back without a cell id.
        warnings.simplefilter("ignore", SAWarning)
        warnings.simplefilter("ignore", MissingIDFieldWarning)
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


@dataclass(frozen=True)
class Issue:
    """Something about a submission the instructor should look at: a row of `issues.csv`."""

    student: str
    chapter: str  # "" when it concerns the student's whole submission
    problem: str


@dataclass
class Grading:
    """What one `grade` run did."""

    grades: list[Grade]  # every result in the workspace's gradebook, earlier runs' included
    graded: list[tuple[str, str]]  # (student, chapter) pairs autograded by this run
    failed: list[tuple[str, str]]  # of those, the ones nbgrader could not grade: scored 0
    issues: list[Issue]  # this run's findings
    seconds: float


def collect(submissions: Path, course: Path, slugs: list[str]) -> tuple[list[tuple[str, str]], list[Issue]]:
    """Copy each student's chapter notebooks into `course/submitted/<student>/<slug>/`.

    `submissions` holds one folder (or .zip) per student; a chapter's notebook `NN-slug.ipynb`
    may sit anywhere inside it. Returns the (student, slug) pairs found and the problems met.
    """
    found, issues = [], []
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith("."):
            continue
        student = entry.stem if entry.suffix == ".zip" else entry.name
        if not entry.is_dir() and entry.suffix != ".zip":
            issues.append(Issue(student, "", f"{entry.name} is neither a folder nor a .zip: not graded"))
            continue
        with contextlib.ExitStack() as stack:
            folder = entry
            if entry.suffix == ".zip":
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                try:
                    with zipfile.ZipFile(entry) as archive:
                        archive.extractall(folder)
                except zipfile.BadZipFile:
                    issues.append(Issue(student, "", f"{entry.name} is not a readable .zip: not graded"))
                    continue
            handed_in = 0
            for slug in slugs:
                notebooks = [p for p in folder.rglob(f"{slug}.ipynb")
                             if not NOT_SUBMITTED & set(p.relative_to(folder).parts)]
                if len(notebooks) > 1:
                    where = ", ".join(sorted(p.relative_to(folder).as_posix() for p in notebooks))
                    issues.append(Issue(student, slug, f"{len(notebooks)} copies ({where}): keep one; not graded"))
                    continue
                if notebooks:
                    target = course / "submitted" / student / slug
                    if target.exists():
                        shutil.rmtree(target)
                    target.mkdir(parents=True)
                    shutil.copy2(notebooks[0], target / notebooks[0].name)
                    found.append((student, slug))
                    handed_in += 1
            if not handed_in and not any(i.student == student for i in issues):
                issues.append(Issue(student, "", "no chapter notebook (NN-slug.ipynb) in the submission"))
    return found, issues


def graded_part(cells: list) -> list:
    """A notebook's cells up to its last test cell: the later ones cannot change a score."""
    return cells[:max(i for i, c in enumerate(cells) if nbgrader_meta(c).get("grade")) + 1]


def cell_changes(submitted: Path, released: Path) -> tuple[list[str], str | None]:
    """How a submission's nbgrader cells differ from the released notebook.

    Returns the read-only cells up to the last test cell that the student edited or deleted
    (found with nbgrader's cell checksums, which cover the source, the points and the cell's
    nbgrader flags), and the reason nbgrader cannot grade the notebook at all, if there is one:
    an nbgrader cell present twice.
    """
    from nbgrader.utils import compute_checksum

    try:
        mine = nbformat.read(submitted, as_version=4)
    except ValueError:  # not a notebook: nbgrader's own failure says so
        return [], None
    ids = Counter(nbgrader_meta(c).get("grade_id") for c in mine.cells if nbgrader_meta(c).get("grade_id"))
    copied = sorted(grade_id for grade_id, n in ids.items() if n > 1)
    if copied:
        return [], (f"cell {', '.join(copied)} appears more than once (a copied cell): nbgrader cannot grade "
                    "the notebook; delete the copies in the student's notebook and grade again")
    cells = {nbgrader_meta(c)["grade_id"]: c for c in mine.cells if nbgrader_meta(c).get("grade_id")}
    changes = []
    for cell in graded_part(nbformat.read(released, as_version=4).cells):
        meta = nbgrader_meta(cell)
        if not meta.get("locked"):
            continue
        kind = "test cell" if meta.get("grade") else "read-only cell"
        theirs = cells.get(meta["grade_id"])
        if theirs is None:
            fate = "nbgrader put it back and ran it" if meta.get("grade") else "it did not run"
            changes.append(f"{kind} {meta['grade_id']} was deleted (or unmarked): {fate}")
        elif compute_checksum(theirs) != meta["checksum"]:
            changes.append(f"{kind} {meta['grade_id']} was edited: nbgrader ran the released version")
    return changes, None


def timed_out(autograded: Path) -> list[str]:
    """The cells of an autograded notebook that the time limit stopped."""
    nb = nbformat.read(autograded, as_version=4)
    return [nbgrader_meta(cell).get("grade_id") or f"cell {index}" for index, cell in enumerate(nb.cells)
            if any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", []))]


def failure_reason(log: str) -> str:
    """One line on why nbgrader failed, from its log: the student's exception, explained."""
    errors = re.findall(r"^\s*(?:\w+\.)*(\w+(?:Error|Exception)): (.*)$", log, re.MULTILINE)
    errors = [(name, message) for name, message in errors if name != "NbGraderException"]
    if not errors:
        return "nbgrader failed; run `nbgrader autograde` by hand in the workspace to see why"
    name, message = errors[-1]
    return FAILURES.get(name, f"{name}: {message.strip()}")


def _register(api, chapter: Chapter, course: Path) -> None:
    """Put `chapter` into the workspace and the gradebook (nbgrader generate_assignment).

    Registering takes seconds per chapter, so a notebook already registered unchanged, in this
    gradebook, is not registered again. Other files of the chapter are always refreshed:
    nbgrader copies them from `source/` into each autograded folder.
    """
    from nbgrader.api import MissingEntry

    source = course / "source" / chapter.slug
    previous = source / chapter.notebook.name
    unchanged = previous.is_file() and previous.read_bytes() == chapter.notebook.read_bytes() and \
        (course / "release" / chapter.slug / chapter.notebook.name).is_file()
    if source.exists():
        shutil.rmtree(source)
    shutil.copytree(chapter.notebook.parent, source, ignore=IGNORED)
    if unchanged:
        with api.gradebook as gradebook:
            try:
                gradebook.find_assignment(chapter.slug)
                return
            except MissingEntry:  # a different gradebook (--db) than last time
                pass
    _check(api.generate_assignment(chapter.slug), f"register {chapter.slug} (if you added, removed or renamed "
           "a graded cell since the last grading, start from a new workspace)")


def _zero(api, slug: str, student: str) -> None:
    """Record 0 for every test cell of a submission nbgrader could not grade."""
    with api.gradebook as gradebook:
        gradebook.update_or_create_student(student)
        submission = gradebook.update_or_create_submission(slug, student)
        for notebook in submission.notebooks:
            for g in notebook.grades:
                g.auto_score = 0.0
                g.manual_score = None
        gradebook.db.commit()


def _score(api, slug: str, student: str) -> tuple[float, float]:
    with api.gradebook as gradebook:
        notebook = gradebook.find_submission_notebook(slug, slug, student)
        return float(notebook.score or 0), float(notebook.max_score)


def grade(submissions: Path, course: Path, solutions: Path, db_url: str | None = None,
          timeout: int = CELL_TIMEOUT, only: list[str] | None = None,
          progress: Callable[[str], None] = lambda line: None) -> Grading:
    """Autograde every chapter each student handed in; write feedback and the CSV files.

    `course` is the grading workspace (nbgrader's layout); grading again replaces earlier
    results for the same students and chapters. `only` names the chapters to grade ("03" or
    "03-attention"; default: all). `progress` receives a line per notebook graded.
    """
    start = time.monotonic()
    submissions, course = submissions.resolve(), course.resolve()
    every = chapters(solutions)
    if not every:
        raise SystemExit(f"no solution notebooks in {solutions}: grading needs the instructor's repository")
    selected = [find_chapter(solutions, name) for name in only] if only else every
    by_slug = {c.slug: c for c in selected}
    course.mkdir(parents=True, exist_ok=True)
    handed_in, issues = collect(submissions, course, list(by_slug))
    failed = []
    with nbgrader_api(course, db_url, timeout) as api:
        for slug in sorted({slug for _, slug in handed_in}):
            _register(api, by_slug[slug], course)
        for student, slug in handed_in:
            began = time.monotonic()
            notebook = f"{slug}/{slug}.ipynb"
            changes, fatal = cell_changes(course / "submitted" / student / notebook, course / "release" / notebook)
            issues += [Issue(student, slug, change) for change in changes]
            result = {"success": False, "log": ""} if fatal else api.autograde(slug, student)
            if result["success"]:
                _check(api.generate_feedback(slug, student), f"write feedback for {student}/{slug}")
                issues += [Issue(student, slug, f"{cell} was stopped by the {timeout} s time limit")
                           for cell in timed_out(course / "autograded" / student / notebook)]
                outcome = "{:g} / {:g}".format(*_score(api, slug, student))
            else:
                failed.append((student, slug))
                _zero(api, slug, student)
                for stale in ("autograded", "feedback"):
                    shutil.rmtree(course / stale / student / slug, ignore_errors=True)
                reason = fatal or failure_reason(result["log"])
                issues.append(Issue(student, slug, f"could not be graded, scored 0: {reason}"))
                outcome = "could not be graded"
            progress(f"{student:<24} {slug:<16} {outcome:<20} {time.monotonic() - began:5.1f} s")
        grades = read_grades(api, every)
    students = {s for s, _ in handed_in} | {i.student for i in issues}
    update_issues(course / "issues.csv", issues, students, set(handed_in))
    write_csv(grades, course)
    issues.sort(key=lambda i: (i.student, i.chapter))
    return Grading(grades, handed_in, failed, issues, time.monotonic() - start)


def read_grades(api, every: list[Chapter]) -> list[Grade]:
    """Per-test-cell scores of every submission in the gradebook, in course and notebook order."""
    from nbgrader.api import MissingEntry

    rows = []
    with api.gradebook as gradebook:
        for chapter in every:
            try:
                assignment = gradebook.find_assignment(chapter.slug)
            except MissingEntry:  # nobody has handed this chapter in yet
                continue
            order = [nbgrader_meta(c).get("grade_id") for c in chapter.read().cells]
            for submission in assignment.submissions:
                notebook = gradebook.find_submission_notebook(chapter.slug, chapter.slug, submission.student_id)
                for g in sorted(notebook.grades, key=lambda g: order.index(g.name)):
                    rows.append(Grade(submission.student_id, chapter.slug, g.name, float(g.score or 0),
                                      float(g.max_score)))
    return sorted(rows, key=lambda g: g.student)  # stable: chapters and cells stay in order


def totals(grades: list[Grade]) -> dict[tuple[str, str], tuple[float, float]]:
    """(student, chapter) -> (score, max_score)."""
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for g in grades:
        score, max_score = out.get((g.student, g.chapter), (0.0, 0.0))
        out[(g.student, g.chapter)] = (score + g.score, max_score + g.max_score)
    return out


def update_issues(path: Path, new: list[Issue], students: set[str], regraded: set[tuple[str, str]]) -> None:
    """Write `issues.csv`: earlier runs' issues, less those this run replaces, and the new ones."""
    kept = []
    if path.exists():
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                issue = Issue(row["student"], row["chapter"], row["problem"])
                if (issue.student, issue.chapter) not in regraded and \
                        not (issue.chapter == "" and issue.student in students):
                    kept.append(issue)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "chapter", "problem"])
        for i in sorted(set(kept) | set(new), key=lambda i: (i.student, i.chapter, i.problem)):
            writer.writerow([i.student, i.chapter, i.problem])


def write_csv(grades: list[Grade], course: Path) -> None:
    """`grades.csv`, one row per student and test cell, and `totals.csv`, one per student and chapter."""
    with open(course / "grades.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "chapter", "exercise", "score", "max_score"])
        for g in grades:
            writer.writerow([g.student, g.chapter, g.exercise, f"{g.score:g}", f"{g.max_score:g}"])
    with open(course / "totals.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "chapter", "score", "max_score"])
        for (student, chapter), (score, max_score) in totals(grades).items():
            writer.writerow([student, chapter, f"{score:g}", f"{max_score:g}"])
