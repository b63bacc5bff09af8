"""`lmcourse release DIR`: a standalone student repository with no solution code in it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import nbformat
import pytest
import yaml

from conftest import answers, python_in
from lmcourse.course.chapters import ROOT, chapters, exercises
from lmcourse.course.notebook import replace_definitions
from lmcourse.course.release import check_release, release


def test_release_layout(student_release):
    for path in ("exercises/00-start/00-start.ipynb", "lmcourse/warmup.py", "lmcourse/cli.py",
                 "book/intro.md", "README.md", "Makefile", "pyproject.toml", "requirements.txt", "_config.yml",
                 "tests/test_exercises.py"):
        assert (student_release / path).is_file(), path
    for absent in ("solutions", "tests/mutants", "tests/conftest.py", "nbgrader_config.py",
                   "book/instructors.md", "book/authoring.md"):
        assert not (student_release / absent).exists(), absent
    assert sorted(p.name for p in (student_release / "tests").iterdir()) == ["test_exercises.py"]


def test_student_book_points_at_the_exercises(student_release):
    toc = (student_release / "_toc.yml").read_text()
    assert "exercises/00-start/00-start" in toc and "solutions/" not in toc
    assert "book/instructors" not in toc
    yaml.safe_load(toc)


def test_exercise_notebook_has_stubs_and_no_hidden_tests(student_release):
    text = "\n".join(c.source for c in nbformat.read(
        student_release / "exercises/00-start/00-start.ipynb", as_version=4).cells)
    assert text.count("raise NotImplementedError()") == 2
    assert "cdist" not in text  # a hidden test's reference


def test_every_exercise_is_a_stub_naming_its_chapter(student_release):
    package = student_release / "lmcourse"
    for chapter in chapters(student_release / "exercises"):
        modules = {path for path in package.glob("*.py")
                   if path.read_text().startswith(f"# Generated from exercises/{chapter.slug}/")}
        text = "".join(path.read_text() for path in modules)
        stubs = re.findall(rf"is an exercise of chapter {chapter.number}: implement it in exercises/{chapter.slug}/",
                           text)
        assert len(stubs) >= len(exercises(chapter.read())), chapter.slug
        assert "NotImplementedError()" not in text, chapter.slug  # every stub names its chapter


def test_check_finds_planted_leaks(student_release, tmp_path):
    dest = tmp_path / "student"
    shutil.copytree(student_release, dest)
    (dest / "notes.md").write_text("    return 2.0 / x.shape[0] * (x.T @ residual)\n")
    module = dest / "lmcourse/warmup.py"
    module.write_text(module.read_text() + "\n### BEGIN HIDDEN TESTS\n")
    (dest / "book/cheat.md").write_text("```\nassert torch.allclose(out, torch.cdist(x, y) ** 2, atol=1e-5), "
                                        "\"values differ from squared distances\"\n```\n")
    # Two short lines of an answer in a row, indented differently, in a notebook's output.
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
        "stream", text="  residual = x @ w - y  # (N,)\n  return 2.0 / x.shape[0] * (x.T @ residual)\n")])])
    nbformat.write(nb, dest / "exercises/printed.ipynb")
    leaks = check_release(ROOT, dest)
    assert leaks == [
        "book/cheat.md: hidden tests of 00-start/test_pairwise_sq_distances: 'assert torch.allclose(out, "
        "torch.cdist(x, y) ** 2, atol=1e-5), \"values differ from squared distances\"'",
        "exercises/printed.ipynb: reference answer of 00-start/mse_gradient: 'residual = x @ w - y  # (N,)' "
        "(and 1 more of its lines)",
        "lmcourse/warmup.py: '### BEGIN HIDDEN TESTS'",
        "notes.md: reference answer of 00-start/mse_gradient: 'return 2.0 / x.shape[0] * (x.T @ residual)'",
    ]


def test_a_short_line_on_its_own_is_no_leak(student_release, tmp_path):
    """`residual = x @ w - y  # (N,)` is a line of an answer, but short: such lines recur honestly."""
    dest = tmp_path / "student"
    shutil.copytree(student_release, dest)
    (dest / "notes.md").write_text("residual = x @ w - y  # (N,)\n")
    assert check_release(ROOT, dest) == []


def test_code_a_chapter_shows_publicly_is_no_leak(student_release):
    """Given code may repeat lines of an answer (01-bpe's incremental trainer does): not a leak."""
    assert check_release(ROOT, student_release) == []


def test_release_refuses_a_folder_in_use(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="not empty"):
        release(ROOT, tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_reveal_through_ships_reference_code_of_finished_chapters(tmp_path):
    run = subprocess.run([sys.executable, "-m", "lmcourse.cli", "release", str(tmp_path / "student"),
                          "--reveal-through", "00"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "reference code of chapters up to 00 included" in run.stdout
    warmup = (tmp_path / "student/lmcourse/warmup.py").read_text()
    assert warmup.startswith("# Generated from solutions/00-start/00-start.ipynb: the reference answers of "
                             "chapter 00, released after its deadline.\n")
    assert "NotImplementedError" not in warmup
    assert warmup.split("\n", 1)[1] == (ROOT / "lmcourse/warmup.py").read_text().split("\n", 1)[1]
    later = chapters(ROOT / "exercises")[1]
    assert f"is an exercise of chapter {later.number}" in \
        "".join(p.read_text() for p in (tmp_path / "student/lmcourse").glob("*.py"))
    # The check knows what was revealed: without that, the reference code is a leak.
    assert any(leak.startswith("lmcourse/warmup.py: reference answer of 00-start/") for leak in
               check_release(ROOT, tmp_path / "student"))


def test_reveal_through_an_unknown_chapter_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="no chapter '99'"):
        release(ROOT, tmp_path / "student", reveal_through="99")


def test_the_release_test_suite_shows_stubs_as_expected_failures(student_release, tmp_path):
    """`make test` in the release: pytest on its tests/, here with this venv's Python."""
    dest = tmp_path / "student"
    shutil.copytree(student_release, dest)
    warmup = dest / "lmcourse/warmup.py"
    right = answers("00-start")["pairwise_sq_distances"].split("\n", 1)[1]
    wrong = "def mse_gradient(x, w, y):\n    return x.T @ (x @ w - y)\n"  # the factor 2 forgotten
    warmup.write_text(replace_definitions(replace_definitions(warmup.read_text(), right), wrong))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rfEx", "tests"], cwd=dest, env=python_in(dest),
                         capture_output=True, text=True, timeout=600)
    total = sum(len(exercises(c.read())) for c in chapters(dest / "exercises"))
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"1 failed, 1 passed, {total - 2} xfailed" in run.stdout, run.stdout
    assert "FAILED tests/test_exercises.py::test_exercise[00-start/mse_gradient]" in run.stdout
    assert "mse_gradient (chapter 00): test_mse_gradient fails: AssertionError" in run.stdout
    later = chapters(dest / "exercises")[1]
    first = exercises(later.read())[0].grade_id
    assert (f"XFAIL tests/test_exercises.py::test_exercise[{later.slug}/{first}] - {first} is not implemented yet: "
            f"chapter {later.number}, exercises/{later.slug}/{later.notebook.name}") in run.stdout
