"""nbgrader's configuration for running `nbgrader ...` by hand in this repository.

`solutions/` is nbgrader's source folder and `exercises/` its release folder; the course's own
commands (`lmcourse export`, `lmcourse grade`) use the same settings from `lmcourse.course.grading`.
"""

from pathlib import Path

from lmcourse.course.grading import configure

c = get_config()  # noqa: F821 (nbgrader defines it)
configure(c, Path(__file__).resolve().parent, source="solutions", release="exercises")
