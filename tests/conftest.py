"""Fixtures shared by the tests: the repository, a student release, and notebook helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lmcourse.chapters import ROOT, nbgrader_meta
from lmcourse.export import strip_solution_markers
from lmcourse.release import release


@pytest.fixture(scope="session")
def student_release(tmp_path_factory) -> Path:
    """A fresh `lmcourse release` of this repository (read-only use: copy it to change it)."""
    dest = tmp_path_factory.mktemp("release") / "student"
    assert release(ROOT, dest) == []
    return dest


def answers(slug: str) -> dict[str, str]:
    """The reference answer of each exercise of a chapter: grade_id -> cell source."""
    nb = nbformat.read(ROOT / "solutions" / slug / f"{slug}.ipynb", as_version=4)
    return {nbgrader_meta(c)["grade_id"]: strip_solution_markers(c.source)
            for c in nb.cells if nbgrader_meta(c).get("solution")}


def fill(notebook: Path, replacements: dict[str, str], dest: Path) -> Path:
    """Copy `notebook` to `dest` with the given answer cells (by grade_id) replaced: a submission."""
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in replacements:
            cell.source = replacements[grade_id]
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def run_in_release(notebook: Path, release_dir: Path, **env) -> nbformat.NotebookNode:
    """Execute a notebook in a kernel that imports the release's package, as a student's would."""
    nb = nbformat.read(notebook, as_version=4)
    inherited = {k: v for k, v in os.environ.items() if k != "NBGRADER_EXECUTION"}
    kernel_env = {**inherited, "PYTHONPATH": str(release_dir), **env}
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(notebook.parent)}})
    client.execute(env=kernel_env)
    return nb


def python_in(release_dir: Path) -> dict:
    """Environment for a child Python that imports the release's package."""
    return {**os.environ, "PYTHONPATH": str(release_dir), "PATH": str(Path(sys.executable).parent)
            + os.pathsep + os.environ.get("PATH", "")}
