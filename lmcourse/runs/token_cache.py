"""Text for pretraining, tokenized once and cached as memory-mapped uint16 token files.

`prepare(data_config, vocab_size)` turns a text source into two flat arrays of token ids,
`train.bin` and `validation.bin`, and returns them as read-only `numpy.memmap`s: chapter 05's
`get_batch` cuts random windows out of them without reading the whole file into memory.

Sources (`[data] source` in a training config):
- "python": the Python installation's docs and standard library (lmcourse.storage.corpus), offline;
- "text:PATH": a UTF-8 text file, or a folder of .txt/.md/.py files; each file is a document,
  and inside a file the text <|endoftext|> separates documents;
- "jsonl:PATH": one JSON object per line, its "text" field a document;
- "hf:NAME" or "hf:NAME:SPLIT": a Hugging Face dataset's "text" column (needs the `datasets`
  package; it downloads once into Hugging Face's own cache, then works offline).

Notable choices:
- train/validation split by document, decided by a hash of the document's name: no document is
  in both, and adding documents does not move the others;
- documents are joined with the <|endoftext|> token, so the model sees where one ends;
- the tokenizer is chapter 01's BPETokenizer, trained on the training documents (or SmolLM2's
  vocabulary, or a saved one);
- caches live in the user's cache folder (`$LMCOURSE_CACHE`, else `$XDG_CACHE_HOME/lmcourse`,
  else `~/.cache/lmcourse`), never in the repository; a token cache is keyed by the corpus
  manifest's sha256, the split and the tokenizer file's sha256, and written atomically. Its
  `manifest.json` lists every document (name, size, sha256, split), so runs can be compared.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmcourse.runs.config import MAX_UINT16_VOCAB, ConfigError, DataConfig

ENDOFTEXT = "<|endoftext|>"
TEXT_SUFFIXES = {".txt", ".md", ".py", ".rst"}
CACHE_FORMAT = 2  # part of a token cache's folder name: bump it when the layout changes


def cache_root() -> Path:
    """Where lmcourse caches tokenizers and token files."""
    if os.environ.get("LMCOURSE_CACHE"):
        return Path(os.environ["LMCOURSE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lmcourse"


@dataclass(frozen=True)
class Document:
    name: str  # where it came from; the train/validation split hashes it
    text: str


def _text_files(path: Path) -> Iterator[Document]:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES)
    for file in files:
        text = file.read_text(encoding="utf-8")
        name = file.name if path.is_file() else file.relative_to(path).as_posix()
        for index, piece in enumerate(text.split(ENDOFTEXT)):
            if piece.strip():
                yield Document(f"{name}#{index}", piece)


def _jsonl(path: Path) -> Iterator[Document]:
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                text = json.loads(line)["text"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ConfigError(f"{path}, line {number}: expected a JSON object with a \"text\" field") from None
            if text:
                yield Document(f"{path.name}:{number}", text)


def _hugging_face(spec: str) -> Iterator[Document]:
    try:
        import datasets
    except ImportError:
        raise ConfigError(f"data.source = \"hf:{spec}\" needs the `datasets` package (pip install datasets); "
                         "offline, use \"python\", \"text:PATH\" or \"jsonl:PATH\"") from None
    name, _, split = spec.partition(":")
    rows = datasets.load_dataset(name, split=split or "train")
    if "text" not in rows.column_names:
        raise ConfigError(f"the dataset {name} has no \"text\" column (its columns: {rows.column_names})")
    for index, text in enumerate(rows["text"]):
        if text:
            yield Document(f"{name}:{split or 'train'}:{index}", text)


def documents(source: str, max_bytes: int = 0) -> Iterator[Document]:
    """The documents of a `[data] source`, in a fixed order, at most max_bytes of text (0: all)."""
    kind, _, rest = source.partition(":")
    if kind == "python" and not rest:
        from lmcourse.storage import corpus

        found = (Document(d.name, d.text) for d in corpus.documents(max_bytes or None))
        yield from found
        return
    if kind in ("text", "jsonl"):
        path = Path(rest).expanduser()
        if not path.exists():
            raise ConfigError(f"data.source = {source!r}: {path} does not exist")
        found = _text_files(path) if kind == "text" else _jsonl(path)
    elif kind == "hf" and rest:
        found = _hugging_face(rest)
    else:
        raise ConfigError(f"data.source = {source!r}: use \"python\", \"text:PATH\", \"jsonl:PATH\" or \"hf:NAME\"")
    remaining = max_bytes or None
    for document in found:
        if remaining is not None:
            data = document.text.encode("utf-8")[:remaining]
            remaining -= len(data)
            document = Document(document.name, data.decode("utf-8", errors="ignore"))
        if document.text:
            yield document
        if remaining is not None and remaining <= 0:
            return


def is_validation(name: str, fraction: float) -> bool:
    """Whether a document belongs to the validation split: a hash of its name, not its position."""
    value = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") / 2**64
    return value < fraction


def split(docs: list[Document], fraction: float) -> tuple[list[Document], list[Document]]:
    """(train, validation) documents; each split gets at least one document."""
    if len(docs) < 2:
        raise ConfigError(f"the corpus has {len(docs)} document(s); a train/validation split by document needs two "
                         "or more (separate documents with <|endoftext|>)")
    validation = [d for d in docs if is_validation(d.name, fraction)]
    if not validation or len(validation) == len(docs):
        # Too few documents for the fraction to pick any (or all): move the lowest-hash one.
        first = min(docs, key=lambda d: hashlib.sha256(d.name.encode("utf-8")).digest())
        validation = [first] if not validation else [d for d in validation if d is not first]
    chosen = {d.name for d in validation}
    return [d for d in docs if d.name not in chosen], validation


def manifest(docs: list[Document]) -> list[dict]:
    """Each document's name, size in UTF-8 bytes and sha256, in corpus order."""
    entries = []
    for document in docs:
        data = document.text.encode("utf-8")
        entries.append({"name": document.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    return entries


def manifest_digest(entries: list[dict]) -> str:
    """One sha256 over a manifest (as lmcourse.storage.corpus.manifest computes it): equal digests, the same corpus."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(f"{entry['name']}\0{entry['sha256']}\n".encode())
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _atomic_folder(final: Path, fill) -> None:
    """Create `final` by filling a temporary folder and renaming it (another process may race us)."""
    temporary = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    fill(temporary)
    try:
        temporary.rename(final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(temporary)  # someone else finished first: theirs is the same


def load_tokenizer(data: DataConfig, vocab_size: int, train_docs: list[Document], digest: str, log=print):
    """The tokenizer `[data] tokenizer` asks for, and the path of its saved file."""
    from lmcourse.tokenizer import BPETokenizer

    if data.tokenizer == "smollm2":
        tokenizer = BPETokenizer.from_gguf()
        if len(tokenizer) > vocab_size:
            raise ConfigError(f"SmolLM2's tokenizer has {len(tokenizer)} tokens but model.vocab_size = {vocab_size}; "
                             "set model.vocab_size to at least that")
        path = cache_root() / "tokenizers" / "smollm2.json"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tokenizer.save(path.with_suffix(f".tmp-{os.getpid()}"))
            path.with_suffix(f".tmp-{os.getpid()}").replace(path)
        return tokenizer, path
    if data.tokenizer != "train":
        path = Path(data.tokenizer).expanduser()
        if not path.is_file():
            raise ConfigError(f"data.tokenizer = {data.tokenizer!r}: no such file; use \"train\", \"smollm2\" or a "
                             "file written by BPETokenizer.save")
        tokenizer = BPETokenizer.load(path)
        if len(tokenizer) > vocab_size:
            raise ConfigError(f"{path} has {len(tokenizer)} tokens but model.vocab_size = {vocab_size}")
        return tokenizer, path
    key = f"{digest[:16]}-v{vocab_size}-b{data.tokenizer_bytes}-f{data.validation_fraction}"
    path = cache_root() / "tokenizers" / f"{key}.json"
    if path.is_file():
        return BPETokenizer.load(path), path
    log(f"training a {vocab_size:,}-token BPE tokenizer on {data.tokenizer_bytes / 1e6:.1f} MB of the training text ...")
    started = time.perf_counter()

    def sample() -> Iterator[str]:
        remaining = data.tokenizer_bytes
        for document in train_docs:
            if remaining <= 0:
                return
            piece = document.text.encode("utf-8")[:remaining]
            remaining -= len(piece)
            yield piece.decode("utf-8", errors="ignore")

    tokenizer = BPETokenizer.train(sample(), vocab_size, special_tokens=[ENDOFTEXT])
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".tmp-{os.getpid()}")
    tokenizer.save(temporary)
    temporary.replace(path)
    log(f"  done in {time.perf_counter() - started:.0f} s: {path}")
    return tokenizer, path


def _write_tokens(path: Path, docs: list[Document], tokenizer, separator: int) -> int:
    """Tokenize documents into a flat uint16 file, each followed by the separator; return the count."""
    count = 0
    with open(path, "wb") as f:
        for document in docs:
            ids = tokenizer.encode(document.text)
            ids.append(separator)
            f.write(np.asarray(ids, dtype=np.uint16).tobytes())
            count += len(ids)
    return count


@dataclass
class TokenData:
    """A tokenized corpus: the two token arrays, the tokenizer, and what identifies them."""

    train: np.ndarray  # (N,) uint16 memmap
    validation: np.ndarray  # (M,) uint16 memmap
    tokenizer: object  # lmcourse.tokenizer.BPETokenizer
    tokenizer_path: Path
    folder: Path
    identity: dict  # source, corpus sha256, tokenizer sha256, token counts: stored in checkpoints


def prepare(data: DataConfig, vocab_size: int, log=print) -> TokenData:
    """Tokenize `[data] source` (or reuse the cache) and open its token files."""
    if vocab_size > MAX_UINT16_VOCAB:
        raise ConfigError(f"a vocabulary of {vocab_size} tokens does not fit uint16 token files")
    started = time.perf_counter()
    docs = list(documents(data.source, data.max_bytes))
    entries = manifest(docs)
    digest = manifest_digest(entries)
    train_docs, validation_docs = split(docs, data.validation_fraction)
    tokenizer, tokenizer_path = load_tokenizer(data, vocab_size, train_docs, digest, log)
    if ENDOFTEXT not in tokenizer.special_tokens:
        raise ConfigError(f"{tokenizer_path}: the tokenizer has no {ENDOFTEXT} token to separate documents")
    if len(tokenizer) > MAX_UINT16_VOCAB:
        raise ConfigError(f"{tokenizer_path}: {len(tokenizer)} tokens do not fit uint16 token files")
    tokenizer_sha = _file_sha256(tokenizer_path)
    folder = cache_root() / "tokens" / f"v{CACHE_FORMAT}-{digest[:16]}-{tokenizer_sha[:16]}-f{data.validation_fraction}"
    if not (folder / "meta.json").is_file():
        log(f"tokenizing {len(docs):,} documents ({sum(len(d.text) for d in docs) / 1e6:.1f} M characters) ...")

        def fill(temporary: Path) -> None:
            separator = tokenizer.special_tokens[ENDOFTEXT]
            counts = {"train": _write_tokens(temporary / "train.bin", train_docs, tokenizer, separator),
                      "validation": _write_tokens(temporary / "validation.bin", validation_docs, tokenizer, separator)}
            meta = {"format": CACHE_FORMAT, "source": data.source, "max_bytes": data.max_bytes,
                    "corpus_sha256": digest, "tokenizer_sha256": tokenizer_sha, "vocab_size": len(tokenizer),
                    "validation_fraction": data.validation_fraction, "tokens": counts,
                    "documents": {"train": len(train_docs), "validation": len(validation_docs)}}
            (temporary / "meta.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
            held_out = {d.name for d in validation_docs}
            for entry in entries:
                entry["split"] = "validation" if entry["name"] in held_out else "train"
            (temporary / "manifest.json").write_text(json.dumps(entries, indent=0) + "\n", encoding="utf-8")

        _atomic_folder(folder, fill)
        log(f"  done in {time.perf_counter() - started:.0f} s: {folder}")
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    identity = {key: meta[key] for key in ("source", "max_bytes", "corpus_sha256", "tokenizer_sha256",
                                           "vocab_size", "validation_fraction", "tokens")}
    return TokenData(train=np.memmap(folder / "train.bin", dtype=np.uint16, mode="r"),
                     validation=np.memmap(folder / "validation.bin", dtype=np.uint16, mode="r"),
                     tokenizer=tokenizer, tokenizer_path=tokenizer_path, folder=folder, identity=identity)
