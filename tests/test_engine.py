"""The serving engine on a model trained here: batching, admission, cancellation, bad input.

A smoke run of `lmcourse train` gives a small model in seconds; the engine serves it exactly as
`lmcourse serve --model RUN_FOLDER` does. tests/test_server.py serves SmolLM2 through HTTP.
"""

from __future__ import annotations

import dataclasses
import shutil
import threading

import pytest

from lmcourse.course.chapters import ROOT
from lmcourse.generate import stream_tokens
from lmcourse.runs import config
from lmcourse.runs.trainer import checkpoints_in, train
from lmcourse.serving.engine import Engine, SamplingParams, load_engine, open_model
from lmcourse.storage.checkpoint import CheckpointError

GREEDY = SamplingParams(max_tokens=12, temperature=0)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run folder of a 24-step smoke training (its own token cache)."""
    folder = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMCOURSE_CACHE", str(tmp_path_factory.mktemp("lmcourse-cache")))
        train(config.load(ROOT / "configs" / "smoke.toml", [f"output.dir={folder}"]), log=lambda _: None,
              progress=False)
    return folder


@pytest.fixture(scope="module")
def engine(run) -> Engine:
    return load_engine(str(run))


def text_of(engine: Engine, prompt: list[int], params: SamplingParams) -> tuple[str, str]:
    events = list(engine.complete(prompt, params))
    return "".join(e.text for e in events), events[-1].finish_reason


def test_a_trained_run_is_served_with_its_own_tokenizer(run, engine):
    model, tokenizer, eos_ids, _ = open_model(str(checkpoints_in(run / "checkpoints")[-1]))
    prompt = tokenizer.encode("def ")
    expected = list(stream_tokens(model, prompt, max_new_tokens=12, temperature=0, stop_ids=eos_ids))
    text, reason = text_of(engine, prompt, GREEDY)
    assert text == tokenizer.decode([t for t in expected if t not in eos_ids])  # end-of-text is not sent
    assert reason == ("stop" if expected[-1] in eos_ids else "length")


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(engine):
    prompts = [engine.text_prompt(text) for text in ("def ", "import os\n", "class A:\n    ", "x = [")]
    settings = [GREEDY, SamplingParams(max_tokens=12, temperature=1.0, seed=7),
                SamplingParams(max_tokens=5, temperature=0.8, top_k=20, seed=3), GREEDY]
    alone = [text_of(engine, p, s) for p, s in zip(prompts, settings)]
    together: list = [None] * len(prompts)

    def ask(i):
        together[i] = text_of(engine, prompts[i], settings[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert together == alone
    assert engine.active_requests == 0


def test_requests_wait_for_room_in_the_cache(run):
    """A cache of one context holds one full-length request at a time: the others wait, then run."""
    model, tokenizer, eos_ids, template = open_model(str(run))
    small = Engine("smoke", model, tokenizer, eos_ids, template, cache_tokens=model.config.max_seq_len)
    prompt = tokenizer.encode("def ")
    params = SamplingParams(max_tokens=model.config.max_seq_len - len(prompt), temperature=0)
    results: list = [None] * 3

    def ask(i):
        results[i] = text_of(small, prompt, params)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results[0] is not None and results == [results[0]] * 3
    with pytest.raises(ValueError, match="cannot hold one full context"):
        Engine("smoke", model, tokenizer, eos_ids, template, cache_tokens=model.config.max_seq_len - 1)


def test_a_cancelled_request_frees_its_place(engine):
    events = engine.complete(engine.text_prompt("def "), SamplingParams(max_tokens=20, temperature=0))
    next(events)
    events.close()  # the caller stops listening: complete() cancels the request
    for _ in range(100):
        if engine.active_requests == 0:
            break
        threading.Event().wait(0.05)
    assert engine.active_requests == 0
    assert text_of(engine, engine.text_prompt("def "), GREEDY)[0]  # and the engine still serves


def test_a_cancelled_request_leaves_at_once_and_gives_its_cache_back(engine):
    """Cancelled after its first event, a long request emits at most one more and frees its blocks."""
    prompt = engine.text_prompt("def ")
    params = SamplingParams(max_tokens=engine.context_length - len(prompt), temperature=0)
    assert text_of(engine, prompt, params)[1] == "length", "the uncancelled request runs to its full length"
    cancelled, first, late = threading.Event(), threading.Event(), []

    def emit(event):
        if cancelled.is_set():
            late.append(event)
        first.set()

    handle = engine.submit(prompt, params, emit)
    assert first.wait(30)
    cancelled.set()
    handle.cancel()
    for _ in range(600):
        if engine.active_requests == 0:
            break
        threading.Event().wait(0.05)
    assert engine.active_requests == 0
    assert len(late) <= 1, f"{len(late)} events after the cancellation: the request went on generating"
    assert engine.cache_blocks_in_use == 0, "a cancelled request still holds cache blocks"


def test_a_stop_string_of_several_tokens_never_leaks_into_the_stream(engine):
    """Text that may be the start of a stop string is held back until it is known not to be one."""
    prompt = engine.text_prompt("def ")
    params = SamplingParams(max_tokens=24, temperature=1.0, seed=1)
    events = list(engine.complete(prompt, params))
    full = "".join(e.text for e in events)
    ends = [len("".join(e.text for e in events[:i + 1])) for i in range(len(events))]
    # A stop string that starts where one event starts and ends inside a later one: without holding
    # text back, the first event's part of it would already have been sent when it is found.
    stop = next(full[begin:end] for begin, middle, end in zip(ends, ends[1:], ends[2:])
                if full[begin:end].strip() and full.find(full[begin:end]) == begin and begin < middle < end)
    begin = full.find(stop)
    streamed = list(engine.complete(prompt, dataclasses.replace(params, stop=(stop,))))
    assert "".join(e.text for e in streamed) == full[:begin], "a stop string's first tokens leaked into the stream"
    assert streamed[-1].finish_reason == "stop"


@pytest.mark.parametrize("prompt,params,message", [
    ([], GREEDY, "the prompt is empty"),
    ([1, 2], SamplingParams(max_tokens=1000), "context"),
    ([10 ** 6], GREEDY, "outside the vocabulary"),
    ([1, 2], SamplingParams(max_tokens=4, temperature=-1.0), "temperature"),
    ([1, 2], SamplingParams(max_tokens=4, top_p=0.0), "top_p"),
])
def test_bad_requests_are_refused_before_they_are_queued(engine, prompt, params, message):
    with pytest.raises(ValueError, match=message):
        engine.submit(prompt, params, lambda event: None)
    assert engine.active_requests == 0


def test_bad_model_paths_are_refused_clearly(tmp_path, run):
    with pytest.raises(ValueError, match="neither a pretrained model"):
        open_model(str(tmp_path / "missing"))
    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    latest = checkpoints_in(broken / "checkpoints")[-1]
    tensors = next(latest.glob("*.safetensors"))
    tensors.write_bytes(tensors.read_bytes()[:100])
    with pytest.raises(CheckpointError):
        open_model(str(broken))
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        shutil.rmtree(broken / "checkpoints")
        (broken / "checkpoints").mkdir()
        open_model(str(broken))



def test_int8_weights_serve_what_the_int8_model_generates(run):
    from lmcourse.generate import quantize_int8

    model, tokenizer, eos_ids, _ = open_model(str(run))
    prompt = tokenizer.encode("def ")
    expected = list(stream_tokens(quantize_int8(model), prompt, max_new_tokens=12, temperature=0, stop_ids=eos_ids))
    text, _ = text_of(load_engine(str(run), int8=True), prompt, GREEDY)
    assert text == tokenizer.decode([t for t in expected if t not in eos_ids])
