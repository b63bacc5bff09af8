"""lmcourse.storage.corpus: the default offline corpus is the same text, in the same order, every run."""

from __future__ import annotations

import hashlib
import json

import pytest

from lmcourse.storage import corpus


def test_documents_come_in_a_fixed_order_docs_first():
    names = [document.name for document in corpus.documents(max_bytes=3_000_000)]
    topics = [name for name in names if name.startswith("pydoc/")]
    sources = [name for name in names if name.startswith("stdlib/")]
    assert names == topics + sources, "the pydoc topics come first, then the source files"
    assert topics == sorted(topics) and sources == sorted(sources)
    assert len(set(names)) == len(names)
    assert names == [document.name for document in corpus.documents(max_bytes=3_000_000)]


@pytest.mark.parametrize("max_bytes", [0, 1, 1000, 123_457, 2_000_000])
def test_max_bytes_cuts_the_stream_there(max_bytes):
    texts = list(corpus.texts(max_bytes=max_bytes))
    total = sum(len(text.encode("utf-8")) for text in texts)
    # A cut inside a multi-byte character drops that character's first bytes (at most 3).
    assert max_bytes - 3 <= total <= max_bytes
    assert all(texts), "no empty documents"


def test_a_shorter_corpus_is_a_prefix_of_a_longer_one():
    short = "".join(corpus.texts(max_bytes=500_000))
    long = "".join(corpus.texts(max_bytes=800_000))
    assert long.startswith(short)


def test_negative_max_bytes_says_what_to_pass():
    with pytest.raises(ValueError, match="max_bytes=-1 is negative"):
        list(corpus.documents(max_bytes=-1))


def test_only_standard_library_source_and_docs():
    names = [document.name for document in corpus.documents()]
    assert not [name for name in names if "site-packages" in name or "__pycache__" in name]
    assert "stdlib/pydoc_data/topics.py" not in names, "the topics are in the corpus once, as text"
    assert "stdlib/json/decoder.py" in names and "pydoc/assert" in names


def test_the_default_corpus_is_big_enough_for_the_benchmark():
    total = sum(len(text.encode("utf-8")) for text in corpus.texts())
    assert total > 10 * 2**20, "the tokenizer benchmark trains on 10 MiB of it"


def test_manifest_records_every_document(tmp_path):
    record = corpus.write_manifest(tmp_path / "manifest.json", max_bytes=300_000)
    assert json.loads((tmp_path / "manifest.json").read_text()) == record
    documents = list(corpus.documents(max_bytes=300_000))
    assert [entry["name"] for entry in record["documents"]] == [d.name for d in documents]
    for entry, document in zip(record["documents"], documents):
        data = document.text.encode("utf-8")
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["total_bytes"] == 300_000
    assert record["sha256"] == corpus.manifest(max_bytes=300_000)["sha256"], "same corpus, same digest"
    assert record["sha256"] != corpus.manifest(max_bytes=300_001)["sha256"]
