"""Pretraining data: text sources -> a train/validation split by document -> cached uint16 token files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from lmcourse.data import get_batch, unigram_cross_entropy
from lmcourse.runs import token_cache
from lmcourse.runs.config import ConfigError, DataConfig

STORIES = [f"Story {i}: once upon a time a little {animal} found a {thing} and was happy."
           for i, (animal, thing) in enumerate([("cat", "ball"), ("dog", "stick"), ("bird", "seed"),
                                                 ("fox", "box"), ("owl", "book"), ("frog", "leaf")] * 5)]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LMCOURSE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def decoded_documents(data) -> list[str]:
    tokenizer = data.tokenizer
    text = tokenizer.decode(np.concatenate([data.train, data.validation]).tolist())
    return [piece for piece in text.split(token_cache.ENDOFTEXT) if piece]


def test_jsonl_source_round_trips_through_the_token_files(tmp_path):
    path = tmp_path / "stories.jsonl"
    path.write_text("".join(json.dumps({"text": story}) + "\n" for story in STORIES))
    data = token_cache.prepare(DataConfig(source=f"jsonl:{path}", validation_fraction=0.2, context_length=8), 300,
                               log=lambda _: None)
    assert data.train.dtype == np.uint16 and isinstance(data.train, np.memmap)
    assert sorted(decoded_documents(data)) == sorted(STORIES), "every document, once, in one of the splits"
    assert 0 < data.identity["tokens"]["validation"] < data.identity["tokens"]["train"]
    assert len(data.tokenizer) == 300 and data.folder.is_relative_to(token_cache.cache_root())


def test_split_is_by_document_and_stable(tmp_path):
    docs = [token_cache.Document(f"doc{i}", f"text {i}") for i in range(200)]
    train, validation = token_cache.split(docs, 0.1)
    assert {d.name for d in train}.isdisjoint(d.name for d in validation)
    assert 8 <= len(validation) <= 35
    more_train, more_validation = token_cache.split(docs + [token_cache.Document("new", "new text")], 0.1)
    assert {d.name for d in validation} <= {d.name for d in more_validation}, "adding a document moves no other"
    few_train, few_validation = token_cache.split(docs[:2], 0.01)
    assert len(few_train) == 1 and len(few_validation) == 1, "each split gets a document"


def test_text_folder_source_and_the_cache_is_reused(tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    for i in range(0, len(STORIES), 10):
        (folder / f"part{i}.txt").write_text(token_cache.ENDOFTEXT.join(STORIES[i : i + 10]))
    messages = []
    config = DataConfig(source=f"text:{folder}", validation_fraction=0.2, context_length=8)
    first = token_cache.prepare(config, 280, log=messages.append)
    assert any("tokenizing" in m for m in messages) and any("BPE tokenizer" in m for m in messages)
    messages.clear()
    second = token_cache.prepare(config, 280, log=messages.append)
    assert messages == [], "the second time, the cached tokenizer and token files are used"
    assert first.folder == second.folder and np.array_equal(first.train, second.train)
    assert sorted(decoded_documents(second)) == sorted(STORIES)


def test_the_python_corpus_digest_is_chapter_01s_manifest_digest(tmp_path):
    from lmcourse.storage import corpus

    entries = token_cache.manifest(list(token_cache.documents("python", max_bytes=300_000)))
    assert token_cache.manifest_digest(entries) == corpus.manifest(300_000)["sha256"]


def test_the_cache_records_a_manifest_of_every_document(tmp_path):
    path = tmp_path / "stories.jsonl"
    path.write_text("".join(json.dumps({"text": story}) + "\n" for story in STORIES))
    data = token_cache.prepare(DataConfig(source=f"jsonl:{path}", validation_fraction=0.2), 300, log=lambda _: None)
    entries = json.loads((data.folder / "manifest.json").read_text())
    assert [e["name"] for e in entries] == [f"stories.jsonl:{i}" for i in range(1, len(STORIES) + 1)]
    assert {e["split"] for e in entries} == {"train", "validation"}
    assert sum(e["bytes"] for e in entries) == sum(len(s.encode()) for s in STORIES)


def test_max_bytes_limits_the_text(tmp_path):
    path = tmp_path / "stories.jsonl"
    path.write_text("".join(json.dumps({"text": story}) + "\n" for story in STORIES))
    docs = list(token_cache.documents(f"jsonl:{path}", max_bytes=200))
    assert sum(len(d.text.encode()) for d in docs) == 200


@pytest.mark.parametrize("source,message", [
    ("nowhere:x", "use \"python\""),
    ("text:/no/such/folder", "does not exist"),
    ("jsonl:/no/such/file.jsonl", "does not exist"),
])
def test_bad_sources_say_what_to_use(source, message):
    with pytest.raises(ConfigError, match=message):
        list(token_cache.documents(source))


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine"}\n{"content": "no text field"}\n')
    with pytest.raises(ConfigError, match="bad.jsonl, line 2: expected a JSON object with a \"text\" field"):
        list(token_cache.documents(f"jsonl:{path}"))


def test_a_vocabulary_larger_than_uint16_is_refused():
    with pytest.raises(ConfigError, match="does not fit uint16"):
        token_cache.prepare(DataConfig(), 70_000, log=lambda _: None)


def test_hugging_face_datasets_source_on_a_local_dataset(tmp_path, monkeypatch):
    """Only where `datasets` is installed; a local folder stands in for a dataset on the Hub."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    pytest.importorskip("datasets")
    folder = tmp_path / "local_dataset"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps({"text": story}) + "\n" for story in STORIES))
    docs = list(token_cache.documents(f"hf:{folder}"))
    assert [d.text for d in docs] == STORIES


def test_get_batch_reads_a_memory_map(tmp_path):
    path = tmp_path / "tokens.bin"
    np.arange(40_000, 41_000, dtype=np.uint16).tofile(path)
    tokens = np.memmap(path, dtype=np.uint16, mode="r")
    inputs, targets = get_batch(tokens, 8, 16, torch.Generator().manual_seed(0))
    assert inputs.shape == (8, 16) and torch.equal(targets, inputs + 1) and int(inputs.min()) >= 40_000


def test_unigram_baseline_is_the_entropy_of_token_frequencies():
    train = np.array([0, 0, 0, 1], dtype=np.uint16)
    validation = np.array([0, 1], dtype=np.uint16)
    # add-one smoothing over a vocabulary of 3: p = (4, 2, 1) / 7
    expected = -(np.log(4 / 7) + np.log(2 / 7)) / 2
    assert unigram_cross_entropy(train, validation, 3) == pytest.approx(expected)
