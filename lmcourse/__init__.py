"""lmcourse: the language-model stack a student builds, chapter by chapter.

Chapter modules (`warmup`, `tokenizer`, ...) are generated from the chapter notebooks in
`solutions/` by `lmcourse export`; the rest (`chapters`, `export`, `notebook`, `status`,
`release`, `grading`, `cli`) is the hand-written machinery that runs the course.
"""

__version__ = "0.1.0"
