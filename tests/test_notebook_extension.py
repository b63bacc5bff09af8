"""Running an `#| export` cell in a student's notebook fills the stub in their package."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from conftest import answers, fill, run_in_release
from lmcourse.course.notebook import replace_definitions

MODULE = textwrap.dedent('''\
    # Generated from exercises/09-x/09-x.ipynb: run that notebook's `#| export` cells to write your code here.

    """A module."""
    import torch


    @staticmethod
    def first(x):
        raise NotImplementedError("first is an exercise of chapter 09")


    LIMIT = 3


    def second(x):
        return first(x) + LIMIT
    ''')


def test_definitions_are_replaced_by_name_and_the_rest_is_kept():
    cell = "import math\n\ndef first(x):\n    return math.sqrt(x)\n\n\ndef helper():\n    return 1\n"
    result = replace_definitions(MODULE, cell)
    assert "raise NotImplementedError" not in result and "@staticmethod" not in result
    assert "return math.sqrt(x)" in result and "return first(x) + LIMIT" in result
    assert result.index("import math") < result.index("def first")  # imports stay on top
    assert result.rstrip().endswith("return 1")  # new definitions are appended
    compile(result, "module", "exec")


def test_replacing_twice_is_idempotent():
    cell = "LIMIT = 4\n"
    once = replace_definitions(MODULE, cell)
    assert once.count("LIMIT = 4") == 1 and "LIMIT = 3" not in once
    assert replace_definitions(once, cell) == once


@pytest.fixture
def release_copy(student_release, tmp_path):
    dest = tmp_path / "student"
    shutil.copytree(student_release, dest)
    return dest


def test_running_the_notebook_writes_the_students_code_into_their_package(release_copy, tmp_path):
    notebook = fill(release_copy / "exercises/00-start/00-start.ipynb", answers("00-start"),
                    release_copy / "exercises/00-start/00-start.ipynb")
    module = release_copy / "lmcourse/warmup.py"
    assert "NotImplementedError" in module.read_text()

    nb = run_in_release(notebook, release_copy)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert errors == []
    text = module.read_text()
    assert "NotImplementedError" not in text
    assert "return 2.0 / x.shape[0] * (x.T @ residual)" in text
    assert text.startswith("# Generated from exercises/00-start")  # still the student's module
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "lmcourse: mse_gradient saved in lmcourse/warmup.py" in printed
    assert "2 of 2 exercises pass their visible tests" in printed  # `lmcourse status` in the notebook


def test_an_unimplemented_cell_keeps_an_explained_stub(release_copy):
    nb = run_in_release(release_copy / "exercises/00-start/00-start.ipynb", release_copy)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "lmcourse: pairwise_sq_distances still a stub in lmcourse/warmup.py" in printed
    assert "is an exercise of chapter 00" in (release_copy / "lmcourse/warmup.py").read_text()


def test_nothing_is_written_while_nbgrader_grades(release_copy):
    notebook = fill(release_copy / "exercises/00-start/00-start.ipynb", answers("00-start"),
                    release_copy / "exercises/00-start/00-start.ipynb")
    before = (release_copy / "lmcourse/warmup.py").read_text()
    run_in_release(notebook, release_copy, NBGRADER_EXECUTION="autograde")
    assert (release_copy / "lmcourse/warmup.py").read_text() == before
