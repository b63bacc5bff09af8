"""The `lmcourse` command line as a user meets it."""

from __future__ import annotations

import subprocess
import sys


def lmcourse(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lmcourse.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def test_help_lists_every_command():
    run = lmcourse("--help")
    assert run.returncode == 0
    for command in ("status", "train", "chat", "serve", "export", "release", "grade"):
        assert f"lmcourse {command}" in run.stdout


def test_export_check_passes():
    run = lmcourse("export", "--check")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "match solutions/" in run.stdout


def test_grade_without_submissions_says_what_is_wrong(tmp_path):
    run = lmcourse("grade", str(tmp_path / "nowhere"))
    assert run.returncode == 2 and "is not a folder of submissions" in run.stderr


def test_no_command_prints_usage():
    run = lmcourse()
    assert run.returncode == 2 and "usage: lmcourse" in run.stderr


def test_serve_and_chat_refuse_what_they_cannot_run(tmp_path):
    run = lmcourse("serve", "--model", str(tmp_path / "nowhere"))
    assert run.returncode == 2 and "is neither a pretrained model" in run.stderr
    run = lmcourse("chat", "--temperature", "-1")
    assert run.returncode == 2 and "temperature must be a number >= 0" in run.stderr
