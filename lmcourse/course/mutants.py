"""Test power through the real autograder: every plausible wrong answer must lose points.

`tests/mutants/NN-slug.py` (in the instructor's repository) holds plausible wrong answers to
the chapter's exercises, `MUTANTS = {grade_id: {description: code}}`. Each mutant becomes a
submission: the released notebook with every exercise answered by the reference, except the
mutated one, up to its last test cell. nbgrader autogrades them all in one run (`lmcourse grade
--mutants`), and a mutant is *caught* when its submission loses points.

The run checks itself: the test cells before the mutated exercise cannot see the mutant, so
they must score full marks. Points lost there mean that grading broke (a missing package, a
notebook that does not run under nbgrader), not that the tests are strong: such a mutant is
reported as not judged rather than caught.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from lmcourse.course.chapters import Chapter, chapters, exercises, find_chapter, nbgrader_meta
from lmcourse.course.export import strip_solution_markers
from lmcourse.course.grading import CELL_TIMEOUT, grade, graded_part


def load_mutants(path: Path) -> dict[str, dict[str, str]]:
    """The `MUTANTS` table of a `tests/mutants/NN-slug.py` file."""
    spec = importlib.util.spec_from_file_location(f"mutants_{path.stem.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MUTANTS


def reference_answers(chapter: Chapter) -> dict[str, str]:
    """The reference answer of each exercise of a solution chapter: grade_id -> cell source."""
    return {nbgrader_meta(c)["grade_id"]: strip_solution_markers(c.source)
            for c in chapter.read().cells if nbgrader_meta(c).get("solution")}


def fill(notebook: Path, replacements: dict[str, str], dest: Path, graded_only: bool = False) -> Path:
    """Copy `notebook` to `dest` with the given answer cells (by grade_id) replaced: a submission.

    `graded_only` leaves out the cells after the last test cell: they cannot change a score,
    and the "what you built" cells there are often the slowest of the chapter.
    """
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in replacements:
            cell.source = replacements[grade_id]
    if graded_only:
        nb.cells = graded_part(nb.cells)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


@dataclass(frozen=True)
class Mutant:
    chapter: Chapter
    exercise: str  # the grade_id of the answer cell it replaces
    number: int  # 1, 2, ... among the exercise's mutants
    description: str
    code: str

    @property
    def student(self) -> str:
        """The id its submission is graded under, e.g. `01-encode_chunk-2`."""
        return f"{self.chapter.number}-{self.exercise}-{self.number}"


def mutants_of(chapter: Chapter, folder: Path) -> list[Mutant]:
    """Every mutant of a solution chapter in `folder/NN-slug.py`, in the notebook's exercise order."""
    path = folder / f"{chapter.slug}.py"
    table = load_mutants(path)
    order = [e.grade_id for e in exercises(chapter.read())]
    unknown = sorted(set(table) - set(order))
    if unknown:
        raise SystemExit(f"{path} mutates {', '.join(unknown)}, which {chapter.slug} has no exercise called "
                         f"(its exercises: {', '.join(order)})")
    return [Mutant(chapter, exercise, number, description, code)
            for exercise in order for number, (description, code) in enumerate(table.get(exercise, {}).items(), 1)]


@dataclass(frozen=True)
class Outcome:
    """How one mutant fared under nbgrader."""

    mutant: Mutant
    score: float
    max_score: float
    before: tuple[str, ...]  # test cells before the mutated exercise that lost points (should be none)
    failure: str  # why nbgrader could not grade the submission at all; "" when it could

    @property
    def caught(self) -> bool:
        """It lost points, and grading is shown to work (it was graded, earlier cells kept theirs)."""
        return not self.failure and not self.before and self.score < self.max_score


def grade_mutants(root: Path, course: Path, only: list[str] | None = None, representative: bool = False,
                  timeout: int = CELL_TIMEOUT, progress: Callable[[str], None] = lambda line: None
                  ) -> tuple[list[Outcome], list[str]]:
    """Autograde a submission per mutant in `root/tests/mutants/` of each chapter (of `only`, default all).

    `course` is the grading workspace. `representative` grades one mutant per chapter instead of
    all: the first one of its last exercise, whose submission also shows every earlier
    exercise's reference answer scoring full marks. Returns the outcomes and the chapters that
    have no mutants file.
    """
    solutions, folder = root / "solutions", root / "tests" / "mutants"
    selected = [find_chapter(solutions, name) for name in only] if only else chapters(solutions)
    unmutated, everything = [], []
    for chapter in selected:
        if not (folder / f"{chapter.slug}.py").exists():
            unmutated.append(chapter.slug)
            continue
        found = mutants_of(chapter, folder)
        if representative and found:
            found = [next(m for m in found if m.exercise == found[-1].exercise)]
        answers = reference_answers(chapter)
        for mutant in found:
            code = "#| export\n" + mutant.code.lstrip("\n")
            fill(root / "exercises" / chapter.slug / chapter.notebook.name, {**answers, mutant.exercise: code},
                 course / "submissions" / mutant.student / chapter.notebook.name, graded_only=True)
        everything += found
    if not everything:
        return [], unmutated
    result = grade(course / "submissions", course / "workspace", solutions, timeout=timeout,
                   only=sorted({m.chapter.slug for m in everything}), progress=progress)
    failures = {(i.student, i.chapter): i.problem for i in result.issues
                 if (i.student, i.chapter) in result.failed}
    outcomes = []
    for mutant in everything:
        graded = {g.exercise: g for g in result.grades
                  if (g.student, g.chapter) == (mutant.student, mutant.chapter.slug)}
        cells = mutant.chapter.read().cells
        answer_at = next(i for i, c in enumerate(cells) if nbgrader_meta(c).get("grade_id") == mutant.exercise)
        earlier = [nbgrader_meta(c)["grade_id"] for c in cells[:answer_at] if nbgrader_meta(c).get("grade")]
        outcomes.append(Outcome(
            mutant, sum(g.score for g in graded.values()), sum(g.max_score for g in graded.values()),
            tuple(test for test in earlier if graded[test].score < graded[test].max_score),
            failures.get((mutant.student, mutant.chapter.slug), "")))
    return outcomes, unmutated


def table(outcomes: list[Outcome], unmutated: list[str]) -> str:
    """The catch rate per chapter, then every mutant that survived or could not be judged."""
    lines = [f"{'chapter':<20} {'exercises':>9} {'mutated':>7} {'mutants':>7} {'caught':>6} {'catch rate':>10}"]
    by_chapter: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_chapter.setdefault(outcome.mutant.chapter.slug, []).append(outcome)
    for slug, found in by_chapter.items():
        chapter = found[0].mutant.chapter
        count = len(exercises(chapter.read()))
        mutated = len({o.mutant.exercise for o in found})
        caught = sum(o.caught for o in found)
        lines.append(f"{slug:<20} {count:>9} {mutated:>7} {len(found):>7} {caught:>6} "
                     f"{100 * caught / len(found):>8.0f} %")
    lines += [f"{slug:<20} no mutants: write tests/mutants/{slug}.py" for slug in unmutated]
    for o in outcomes:
        name = f"{o.mutant.chapter.slug} {o.mutant.exercise}: {o.mutant.description!r}"
        if o.failure:
            lines.append(f"  NOT JUDGED {name}: {o.failure}")
        elif o.before:
            lines.append(f"  NOT JUDGED {name}: earlier test cells lost points ({', '.join(o.before)}), "
                         "so grading itself is broken")
        elif not o.caught:
            lines.append(f"  SURVIVED {name}: scored {o.score:g} / {o.max_score:g}; strengthen the hidden tests")
    return "\n".join(lines)
