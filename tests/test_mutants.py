"""Test power: every plausible wrong answer in tests/mutants/ must fail its exercise's tests.

A mutant replaces one exercise of the reference chapter, in one namespace as in the notebook (the
exported cells above the exercise's last test cell), and the exercise's test cells (visible and
hidden) must then raise. The reference itself must pass them. `test_grading.py` shows the same
through nbgrader's autograder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lmcourse.course.chapters import ROOT, chapters, default_module, exercises, export_target, nbgrader_meta
from lmcourse.course.export import cell_code
from lmcourse.course.mutants import load_mutants as load_table

MUTANTS = Path(__file__).parent / "mutants"


def load_mutants(slug: str) -> dict[str, dict[str, str]]:
    return load_table(MUTANTS / f"{slug}.py")


def code_above(chapter, cell_index: int) -> str:
    """The exported cells of a reference chapter above cell `cell_index`: what the notebook has
    defined when it gets there, so that a test using a name defined further down fails here, as
    it does under nbgrader."""
    nb = chapter.read()
    default = default_module(nb)
    return "\n\n".join(cell_code(c.source, chapter) for c in nb.cells[:cell_index]
                        if c.cell_type == "code" and export_target(c.source, default))


def prepare(slug: str, exercise_id: str, replacement: str | None):
    """(the reference chapter's namespace with the answer optionally replaced, the exercise).

    A mutant that does not compile or lacks one of the exercise's names fails here, not as "caught".
    """
    chapter = next(c for c in chapters(ROOT / "solutions") if c.slug == slug)
    nb = chapter.read()
    exercise = next(e for e in exercises(nb) if e.grade_id == exercise_id)
    assert exercise.tests, f"{slug}: exercise {exercise_id} has no test cell"
    test_ids = {test_id for test_id, _ in exercise.tests}
    last_test = max(i for i, c in enumerate(nb.cells) if nbgrader_meta(c).get("grade_id") in test_ids)
    namespace: dict = {}
    exec(compile(code_above(chapter, last_test), f"<{slug}>", "exec"), namespace)
    if replacement is not None:
        mutant: dict = {}
        exec(compile(replacement, f"<mutant of {exercise_id}>", "exec"), namespace, mutant)
        assert set(exercise.names) <= set(mutant), f"the mutant must define {exercise.names}"
        namespace.update(mutant)
    return namespace, exercise


def run_tests(namespace: dict, exercise) -> None:
    """Run an exercise's test cells, hidden part included, in the namespace."""
    for test_id, source in exercise.tests:
        exec(compile(source, f"<{test_id}>", "exec"), namespace)


CASES = [(c.slug, exercise, description)
         for c in chapters(ROOT / "solutions") if (MUTANTS / f"{c.slug}.py").exists()
         for exercise, mutants in load_mutants(c.slug).items() for description in mutants]


@pytest.mark.parametrize("slug", [c.slug for c in chapters(ROOT / "solutions")])
def test_every_exercise_has_a_mutant(slug):
    assert (MUTANTS / f"{slug}.py").exists(), f"write tests/mutants/{slug}.py"
    mutants = load_mutants(slug)
    chapter = next(c for c in chapters(ROOT / "solutions") if c.slug == slug)
    missing = [e.grade_id for e in exercises(chapter.read()) if not mutants.get(e.grade_id)]
    assert missing == [], f"exercises without a mutant in tests/mutants/{slug}.py"


@pytest.mark.parametrize("slug,exercise", sorted({(s, e) for s, e, _ in CASES}))
def test_reference_passes_its_tests(slug, exercise):
    run_tests(*prepare(slug, exercise, None))


@pytest.mark.parametrize("slug,exercise,description", CASES)
def test_mutant_is_caught(slug, exercise, description):
    namespace, tested = prepare(slug, exercise, load_mutants(slug)[exercise][description])
    with pytest.raises(Exception):
        run_tests(namespace, tested)
