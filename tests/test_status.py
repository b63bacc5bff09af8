"""`lmcourse status`: stub, implemented, passing, and a hanging exercise reported, not hung on."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import answers, python_in
from lmcourse.course.chapters import ROOT
from lmcourse.course.notebook import replace_definitions
from lmcourse.course.status import report


def status(release_dir, *args) -> str:
    run = subprocess.run([sys.executable, "-m", "lmcourse.cli", "status", *args], cwd=release_dir,
                         env=python_in(release_dir), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _write(release_dir, cell: str) -> None:
    module = release_dir / "lmcourse/warmup.py"
    module.write_text(replace_definitions(module.read_text(), cell))


def test_reference_package_passes_everything():
    assert "2 of 2 exercises pass their visible tests" in report(["00"])


def test_stub_then_implemented_then_passing(student_release, tmp_path):
    release_dir = tmp_path / "student"
    shutil.copytree(student_release, release_dir)
    out = status(release_dir, "00")
    assert "[stub] pairwise_sq_distances" in out and "0 of 2 exercises" in out

    _write(release_dir, "def mse_gradient(x, w, y):\n    return x.T @ (x @ w - y)\n")  # factor 2 missing
    out = status(release_dir, "00")
    assert "[todo] mse_gradient" in out and "test_mse_gradient fails: AssertionError" in out

    _write(release_dir, answers("00-start")["mse_gradient"].split("\n", 1)[1])
    out = status(release_dir, "start")
    assert "[pass] mse_gradient" in out and "1 of 2 exercises" in out


def test_an_infinite_loop_is_reported_within_the_time_limit(student_release, tmp_path):
    release_dir = tmp_path / "student"
    shutil.copytree(student_release, release_dir)
    _write(release_dir, "def pairwise_sq_distances(x, y):\n    while True:\n        pass\n")
    out = status(release_dir, "00", "--time-limit", "10")
    assert "ran over 10 s: an infinite loop?" in out


def test_unknown_chapter_is_a_clear_error():
    run = subprocess.run([sys.executable, "-m", "lmcourse.cli", "status", "99"], capture_output=True, text=True)
    assert run.returncode != 0 and "no chapter '99'" in run.stderr and "00-start" in run.stderr
    assert (ROOT / "exercises").is_dir()
