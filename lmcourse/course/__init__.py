"""The course's machinery: where chapters live, notebooks -> package, status, release, grading.

`chapters` reads chapter notebooks; `export` writes the chapter modules and `exercises/` from
`solutions/`; `notebook` is the IPython extension that fills a student's package as they work;
`status` reports each exercise; `release` writes the student repository; `grading` and `mutants`
autograde submissions and the wrong answers that measure the hidden tests.
"""
