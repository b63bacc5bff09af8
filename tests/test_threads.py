"""The thread count the package chooses: LMCOURSE_THREADS, else the idle cores, within bounds."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lmcourse.course import threads
from lmcourse.course.threads import choose_threads


def test_the_variable_decides(monkeypatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: pytest.fail("LMCOURSE_THREADS set: nothing to measure"))
    assert choose_threads(2, {"LMCOURSE_THREADS": "1"}) == 1
    assert choose_threads(2, {"LMCOURSE_THREADS": "6"}) == 6  # asked for: more than torch's default is allowed


@pytest.mark.parametrize("text", ["0", "-1", "two", "", "1.5"])
def test_a_bad_variable_is_a_clear_error(text):
    with pytest.raises(ValueError, match="LMCOURSE_THREADS must be a whole number"):
        choose_threads(2, {"LMCOURSE_THREADS": text})


@pytest.mark.parametrize("idle,most,expected", [
    (1.95, 2, 2),  # a quiet 2-core machine
    (1.0, 2, 1),  # one core busy elsewhere
    (0.0, 2, 1),  # every core busy: still one thread
    (7.9, 4, 4),  # never more than torch's default (physical cores)
    (2.4, 8, 2),
])
def test_the_idle_cores_decide(monkeypatch, idle, most, expected):
    monkeypatch.setattr(threads, "idle_cores", lambda: idle)
    assert choose_threads(most, {}) == expected


def test_processes_on_one_machine_share_its_idle_cores(monkeypatch):
    monkeypatch.setattr(threads, "idle_cores", lambda: 4.0)
    assert choose_threads(8, {"LOCAL_WORLD_SIZE": "2"}) == 2
    assert choose_threads(8, {"LOCAL_WORLD_SIZE": "8"}) == 1


def test_idle_cores_is_a_real_measurement():
    assert 0.0 <= threads.idle_cores(0.05) <= threads.usable_cores()


def test_a_notebook_kernel_gets_the_variable_s_count():
    """`%load_ext lmcourse` sets the count, before the chapter computes anything."""
    code = ("from IPython.testing.globalipapp import start_ipython\n"
            "ip = start_ipython()\n"
            "ip.run_line_magic('load_ext', 'lmcourse')\n"
            "import torch; print(torch.get_num_threads())\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "LMCOURSE_THREADS": "3"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[-1] == "3"
