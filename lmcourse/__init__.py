"""lmcourse: the language-model stack a student builds, chapter by chapter.

Chapter modules (`warmup`, `tokenizer`, ...) are generated from the chapter notebooks in
`solutions/` by `lmcourse export`; the rest (`chapters`, `export`, `notebook`, `status`,
`release`, `grading`, `cli`) is the hand-written machinery that runs the course.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`lmcourse.load_pretrained(...)`, imported on first use so that `import lmcourse` stays light."""
    if name == "load_pretrained":
        from lmcourse.model import load_pretrained

        return load_pretrained
    raise AttributeError(f"module 'lmcourse' has no attribute {name!r}")
