"""Fixtures shared by the tests: the repository, a student release, and notebook helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lmcourse.course.chapters import ROOT, find_chapter
from lmcourse.course.mutants import fill, reference_answers  # noqa: F401 (fill: the tests import it from here)
from lmcourse.course.release import release
from lmcourse.course.threads import use_threads

use_threads()  # the models these tests run, in this process, use the idle cores as a notebook's would


@pytest.fixture(scope="session")
def student_release(tmp_path_factory) -> Path:
    """A fresh `lmcourse release` of this repository (read-only use: copy it to change it)."""
    dest = tmp_path_factory.mktemp("release") / "student"
    assert release(ROOT, dest) == []
    return dest


def answers(slug: str) -> dict[str, str]:
    """The reference answer of each exercise of a chapter: grade_id -> cell source."""
    return reference_answers(find_chapter(ROOT / "solutions", slug))


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
