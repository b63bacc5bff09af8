"""`lmcourse export`: notebooks write the package and the student notebooks, and `--check` notices."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from lmcourse.course.chapters import ROOT, Chapter, nbgrader_meta
from lmcourse.course.export import explain_stubs, export, generated_by, render_modules


def test_committed_files_match_the_solutions():
    assert export(ROOT, check=True) == []


@pytest.fixture
def course_copy(tmp_path) -> Path:
    """The parts of the repository that export reads and writes, in a scratch folder."""
    for name in ("solutions", "exercises", "lmcourse"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _edit(notebook: Path, grade_id: str, old: str, new: str) -> None:
    nb = nbformat.read(notebook, as_version=4)
    cell = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == grade_id)
    assert old in cell.source
    cell.source = cell.source.replace(old, new)
    nbformat.write(nb, notebook)


def test_editing_a_solution_without_exporting_is_caught_then_fixed(course_copy):
    notebook = course_copy / "solutions/00-start/00-start.ipynb"
    _edit(notebook, "mse_gradient", "2.0 / x.shape[0]", "2.0 / len(x)")  # inside the solution
    _edit(notebook, "mse_gradient", "worked out by hand.", "derived by hand.")  # seen by students

    stale = export(course_copy, check=True)
    assert stale == ["lmcourse/warmup.py", "exercises/00-start/00-start.ipynb"]
    assert "2.0 / x.shape[0]" in (course_copy / "lmcourse/warmup.py").read_text()  # check wrote nothing

    assert export(course_copy) == stale
    assert "2.0 / len(x)" in (course_copy / "lmcourse/warmup.py").read_text()
    assert "derived by hand." in (course_copy / "exercises/00-start/00-start.ipynb").read_text()
    assert export(course_copy, check=True) == []


def test_a_change_inside_a_solution_leaves_the_exercise_as_it_was(course_copy):
    _edit(course_copy / "solutions/00-start/00-start.ipynb", "mse_gradient", "residual", "error")
    assert export(course_copy, check=True) == ["lmcourse/warmup.py"]


def test_a_hand_edited_exercise_notebook_is_stale(course_copy):
    notebook = course_copy / "exercises/00-start/00-start.ipynb"
    notebook.write_text(notebook.read_text().replace("YOUR CODE HERE", "your code here"))
    assert export(course_copy, check=True) == ["exercises/00-start/00-start.ipynb"]


def test_reference_module_has_no_markers_and_says_where_it_comes_from():
    text = (ROOT / "lmcourse/warmup.py").read_text()
    assert generated_by(ROOT / "lmcourse/warmup.py") == "solutions/00-start/00-start.ipynb"
    assert "### BEGIN SOLUTION" not in text and "#| export" not in text
    assert "edit the notebook" in text.splitlines()[0]


def test_student_module_stubs_name_their_chapter():
    modules = render_modules([Chapter(ROOT / "exercises/00-start/00-start.ipynb")], ROOT)
    text = modules["warmup"]
    assert text.startswith("# Generated from exercises/00-start/00-start.ipynb")
    assert ("raise NotImplementedError('mse_gradient is an exercise of chapter 00: implement it in "
            "exercises/00-start/00-start.ipynb')") in text


def test_stub_explained_inside_methods_too():
    source = "class A:\n    def f(self):\n        # YOUR CODE HERE\n        raise NotImplementedError()\n"
    chapter = Chapter(Path("exercises/03-attention/03-attention.ipynb"))
    assert "'f is an exercise of chapter 03: implement it in exercises/03-attention" in explain_stubs(source, chapter)


def _notebook(path: Path, *sources: str) -> Chapter:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return Chapter(path)


def test_export_before_default_exp_is_a_clear_error(tmp_path):
    chapter = _notebook(tmp_path / "solutions/01-x/01-x.ipynb", "#| export\nX = 1")
    with pytest.raises(SystemExit, match="before any `#| default_exp MODULE`"):
        render_modules([chapter], tmp_path)


def test_two_chapters_cannot_share_a_module(tmp_path):
    first = _notebook(tmp_path / "solutions/01-a/01-a.ipynb", "#| default_exp shared", "#| export\nA = 1")
    second = _notebook(tmp_path / "solutions/02-b/02-b.ipynb", "#| default_exp shared", "#| export\nB = 2")
    with pytest.raises(SystemExit, match="exported by both 01-a and 02-b"):
        render_modules([first, second], tmp_path)


def test_a_cell_can_export_to_a_second_module(tmp_path):
    chapter = _notebook(tmp_path / "solutions/05-p/05-p.ipynb", "#| default_exp train",
                        "#| export\nSTEPS = 1", "#| export data\nWINDOW = 8")
    modules = render_modules([chapter], tmp_path)
    assert "STEPS = 1" in modules["train"] and "WINDOW = 8" in modules["data"]


def test_export_never_overwrites_a_hand_written_module(tmp_path):
    _notebook(tmp_path / "solutions/01-x/01-x.ipynb", "#| default_exp cli", "#| export\nX = 1")
    (tmp_path / "lmcourse").mkdir()
    (tmp_path / "lmcourse/cli.py").write_text('"""hand-written"""\n')
    with pytest.raises(SystemExit, match="hand-written"):
        export(tmp_path, check=True)
