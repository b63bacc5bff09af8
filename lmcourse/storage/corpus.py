"""The default offline corpus: the Python installation's own documentation and standard library.

Every student's machine has it, it needs no download, its licence allows this use, and it suits
a course that builds a Python-literate assistant (DESIGN 5). Chapter 01 trains a tokenizer on
it; chapter 05 pretrains a model on it.

Notable choices:
- a fixed order: the pydoc topics (the language reference as plain text) first, sorted by topic,
  then every `.py` file of the standard library sorted by its path; `site-packages` and the
  bytecode caches are left out, and so is `pydoc_data/topics.py`, which holds the topics again
  as one Python literal;
- files are read as UTF-8 exactly as stored (no newline translation); the few that are not valid
  UTF-8 (test data in other encodings) are skipped, and so are empty files;
- `max_bytes` cuts the stream after that many UTF-8 bytes, inside the last document if needed;
- `manifest()` records each document's name, size and sha256, and one digest of them all, so two
  runs (or two machines with different Python versions) can tell whether they saw the same text.
"""

from __future__ import annotations

import hashlib
import json
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pydoc_data.topics

# Folders under the standard library that hold no standard-library source.
EXCLUDED_PARTS = {"site-packages", "dist-packages", "__pycache__"}
TOPICS_FILE = "pydoc_data/topics.py"


@dataclass(frozen=True)
class Document:
    """One document of the corpus: `name` says where it came from."""

    name: str  # "pydoc/assert" for a doc topic, "stdlib/json/decoder.py" for a source file
    text: str


def stdlib_root() -> Path:
    """The folder of this Python's standard library (the one `import json` reads)."""
    return Path(sysconfig.get_paths()["stdlib"])


def _source_files(root: Path) -> list[Path]:
    files = (path for path in root.rglob("*.py") if not EXCLUDED_PARTS & set(path.relative_to(root).parts))
    return sorted((p for p in files if p.relative_to(root).as_posix() != TOPICS_FILE),
                  key=lambda p: p.relative_to(root).as_posix())


def _all_documents() -> Iterator[Document]:
    for topic in sorted(pydoc_data.topics.topics):
        yield Document(f"pydoc/{topic}", pydoc_data.topics.topics[topic])
    root = stdlib_root()
    for path in _source_files(root):
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue  # test data in another encoding: not text this corpus can use
        yield Document(f"stdlib/{path.relative_to(root).as_posix()}", text)


def documents(max_bytes: int | None = None) -> Iterator[Document]:
    """The corpus, one document at a time, in a fixed order; at most `max_bytes` UTF-8 bytes in all.

    The document where the limit falls is cut there (at a character boundary); empty documents
    are skipped. `max_bytes=None` yields everything (about 30 MB on CPython 3.11).
    """
    if max_bytes is not None and max_bytes < 0:
        raise ValueError(f"max_bytes={max_bytes} is negative: pass a size in bytes, or None for the whole corpus")
    remaining = max_bytes
    for document in _all_documents():
        if remaining is not None and remaining <= 0:
            return
        text = document.text
        if remaining is not None:
            kept = text.encode("utf-8")[:remaining]
            # "ignore" drops the partial character a cut may leave at the end.
            text = kept.decode("utf-8", errors="ignore")
            remaining -= len(kept)
        if text:
            yield Document(document.name, text)


def texts(max_bytes: int | None = None) -> Iterator[str]:
    """The text of each document of `documents(max_bytes)`: what a tokenizer trains on."""
    return (document.text for document in documents(max_bytes))


def manifest(max_bytes: int | None = None) -> dict:
    """What `documents(max_bytes)` yields here: Python version, each document's name, size and
    sha256, the total size, and one sha256 over all of them (equal digests: the same corpus)."""
    entries = []
    digest = hashlib.sha256()
    for document in documents(max_bytes):
        data = document.text.encode("utf-8")
        sha = hashlib.sha256(data).hexdigest()
        entries.append({"name": document.name, "bytes": len(data), "sha256": sha})
        digest.update(f"{document.name}\0{sha}\n".encode())
    return {
        "python": sys.version.split()[0],
        "stdlib": str(stdlib_root()),
        "max_bytes": max_bytes,
        "total_bytes": sum(entry["bytes"] for entry in entries),
        "sha256": digest.hexdigest(),
        "documents": entries,
    }


def write_manifest(path: str | Path, max_bytes: int | None = None) -> dict:
    """Write `manifest(max_bytes)` to `path` as JSON and return it."""
    record = manifest(max_bytes)
    Path(path).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record
