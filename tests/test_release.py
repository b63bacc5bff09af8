"""`lmcourse release DIR`: a standalone student repository with no solution code in it."""

from __future__ import annotations

import shutil

import nbformat
import pytest
import yaml

from lmcourse.chapters import ROOT
from lmcourse.release import check_release, release


def test_release_layout(student_release):
    for path in ("exercises/00-start/00-start.ipynb", "lmcourse/warmup.py", "lmcourse/cli.py",
                 "book/intro.md", "README.md", "Makefile", "pyproject.toml", "requirements.txt", "_config.yml"):
        assert (student_release / path).is_file(), path
    for absent in ("solutions", "tests", "nbgrader_config.py", "book/instructors.md", "book/authoring.md"):
        assert not (student_release / absent).exists(), absent


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


def test_check_finds_planted_leaks(student_release, tmp_path):
    dest = tmp_path / "student"
    shutil.copytree(student_release, dest)
    (dest / "notes.md").write_text("    return 2.0 / x.shape[0] * (x.T @ residual)\n")
    module = dest / "lmcourse/warmup.py"
    module.write_text(module.read_text() + "\n### BEGIN HIDDEN TESTS\n")
    leaks = check_release(ROOT, dest)
    assert "notes.md: reference line 'return 2.0 / x.shape[0] * (x.T @ residual)'" in leaks
    assert "lmcourse/warmup.py: '### BEGIN HIDDEN TESTS'" in leaks


def test_release_refuses_a_folder_in_use(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="not empty"):
        release(ROOT, tmp_path)
    assert (tmp_path / "precious.txt").read_text() == "keep me"
