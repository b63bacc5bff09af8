"""lmcourse: the language-model stack a student builds, chapter by chapter.

The modules at this level (`warmup`, `tokenizer`, `embeddings`, `attention`, `model`, `data`,
`train`, `generate`, ...) are the chapters: generated from the notebooks in `solutions/` by
`lmcourse export`, and written by the students in theirs. The subpackages are the hand-written
machinery around them, and import them, never the other way round:

- `course/`: the course itself: chapters, export, the notebook extension, status, release, grading;
- `runs/`: training runs (`lmcourse train`): config, trainer, token cache, model export;
- `serving/`: the engine, the OpenAI-compatible server, the terminal chat, the chat page;
- `storage/`: files read and written: pretrained GGUF models, the corpus, checkpoints.

A chapter module imports only earlier chapters and `storage/`.
"""

__version__ = "0.1.0"


def load_ipython_extension(ipython) -> None:
    """`%load_ext lmcourse` (every notebook's first cell): exported cells fill the student's package."""
    from lmcourse.course.notebook import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str):
    """`lmcourse.load_pretrained(...)`, imported on first use so that `import lmcourse` stays light."""
    if name == "load_pretrained":
        from lmcourse.model import load_pretrained

        return load_pretrained
    raise AttributeError(f"module 'lmcourse' has no attribute {name!r}")
