"""How many threads torch computes with: the idle cores, one when the machine is busy.

The course's models run thousands of small operations per step. With two threads on two cores
and another program busy on one of them, every parallel region waits for the thread that is not
running: measured on a 2-core machine with two competing processes, a batch-8 decoding step took
1,424 ms with 2 threads and 164 ms with 1. A student's laptop with a browser and a video call is
such a machine, and so is CI on a shared host. So each process that computes (a notebook's
kernel, `lmcourse train`, `serve`, `chat`, the grader's kernels) samples how busy the CPUs are
for a moment when it starts, and uses as many threads as there are idle cores, at least one and
at most torch's own default.

`LMCOURSE_THREADS=N` fixes the count instead (1 on a machine that is always busy, more on a big
one); benchmarks pass their own `--threads`. The choice is made once per process: a machine
that becomes busy later keeps the count it started with.
"""

from __future__ import annotations

import functools
import math
import os

import psutil

VARIABLE = "LMCOURSE_THREADS"
SAMPLE_SECONDS = 0.2  # how long the CPUs are watched before choosing


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def idle_cores(seconds: float = SAMPLE_SECONDS) -> float:
    """How many cores' worth of CPU time went unused over the next `seconds` (this process idles)."""
    busy = psutil.cpu_percent(interval=seconds) / 100 * (os.cpu_count() or 1)
    return max(0.0, usable_cores() - busy)


def choose_threads(most: int, environ: os._Environ | dict = os.environ) -> int:
    """`LMCOURSE_THREADS` if set, else this process's share of the idle cores, within [1, most].

    The processes `torchrun` starts on one machine (`LOCAL_WORLD_SIZE`) share its idle cores.
    """
    if VARIABLE in environ:
        text = environ[VARIABLE]
        if not text.strip().isdigit() or int(text) < 1:
            raise ValueError(f"{VARIABLE} must be a whole number of threads, at least 1; got {text!r}")
        return int(text)
    share = idle_cores() / max(1, int(environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(most, math.floor(share + 0.5)))


@functools.cache
def use_threads() -> int:
    """Set torch's thread count for this process, once, and return it."""
    import torch  # here: choosing must not slow `import lmcourse`, nor load torch for the CLI's --help

    threads = choose_threads(torch.get_num_threads())
    torch.set_num_threads(threads)
    return threads
