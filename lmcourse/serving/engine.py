"""The serving engine: requests in, streamed text out, the active requests decoded as one batch.

The HTTP server and `lmcourse chat` hand prompts to one `Engine`. A background thread owns the
model and a paged KV cache (chapter 09's `PagedKVCache`). Every round it prefills the requests
that arrived, picks one token for every active request with that request's own sampler
(chapter 09's `token_picker`, so a seed gives the same answer whatever else runs), and then runs
one forward pass over all of them, ids (B, 1): continuous batching, the way vLLM serves. A request
is admitted when the cache can hold its prompt and all the tokens it may ask for; until then it
waits. Each request streams `Event`s: text deltas as soon as they are valid UTF-8 and cannot be
the start of a stop sequence, then a finish reason ("stop" or "length") with token counts. A
cancelled request (a client that went away) leaves at the next round and frees its blocks.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch import nn

from lmcourse.generate import PagedKVCache, check_prompt, token_picker

BLOCK_SIZE = 16  # tokens per block of the paged KV cache


@dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens; the OpenAI request fields of the same names (top_k and
    repetition_penalty as vLLM's server takes them)."""

    max_tokens: int = 256
    temperature: float = 1.0  # 0 means greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 means no limit
    repetition_penalty: float = 1.0  # 1 means none
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Event:
    """One step of a request's stream: some text, or the end (with a reason and token counts)."""

    text: str = ""
    finish_reason: str | None = None  # "stop" or "length" at the end
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class _Request:
    prompt: list[int]
    params: SamplingParams
    emit: Callable[[Event], None]
    blocks: int  # cache blocks reserved for the prompt and max_tokens new tokens
    pick: Callable[[torch.Tensor, list[int]], int] | None = None
    sequence: int = -1  # its id in the paged cache, once prefilled
    logits: torch.Tensor | None = None  # (V,): the distribution of its next token
    generated: list[int] = field(default_factory=list)
    sent: int = 0  # characters of the decoded completion already emitted
    cancelled: threading.Event = field(default_factory=threading.Event)


class Handle:
    """What `Engine.submit` returns: lets the caller cancel its request."""

    def __init__(self, request: _Request):
        self._request = request

    def cancel(self) -> None:
        self._request.cancelled.set()


class Engine:
    """Runs requests against one model in a background thread, all active requests in one batch."""

    def __init__(self, model_id: str, model: nn.Module, tokenizer, eos_ids: tuple[int, ...],
                 chat_template: Callable[[list[dict]], str], cache_tokens: int | None = None):
        """cache_tokens: the paged KV cache's size in tokens, shared by all requests (default: twice
        the model's context); it must hold at least one full context."""
        self.model_id, self.model, self.tokenizer = model_id, model, tokenizer
        self.context_length = model.config.max_seq_len
        self.eos_ids = set(eos_ids)
        self._chat_template = chat_template
        cache_tokens = 2 * self.context_length if cache_tokens is None else cache_tokens
        if cache_tokens < self.context_length:
            raise ValueError(f"a cache of {cache_tokens} tokens cannot hold one full context of {self.context_length}")
        self._cache = PagedKVCache(model.config, math.ceil(cache_tokens / BLOCK_SIZE), BLOCK_SIZE)
        self._free_blocks = math.ceil(cache_tokens / BLOCK_SIZE)  # not reserved by an admitted request
        self._incoming: queue.Queue[_Request] = queue.Queue()
        self._live: set[int] = set()  # ids of requests queued or generating (set operations are atomic)
        self._thread = threading.Thread(target=self._run, name="lmcourse-engine", daemon=True)
        self._thread.start()

    @property
    def active_requests(self) -> int:
        """Requests queued or generating (the server reports it at /health)."""
        return len(self._live)

    @property
    def cache_blocks_in_use(self) -> int:
        """Blocks of the paged KV cache that requests hold now (the server reports it at /health)."""
        return self._cache.blocks_in_use

    def chat_prompt(self, messages: list[dict]) -> list[int]:
        """Token ids of a conversation rendered with the model's chat template."""
        return self.tokenizer.encode(self._chat_template(messages), allowed_special="all")

    def text_prompt(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def submit(self, prompt: list[int], params: SamplingParams, emit: Callable[[Event], None]) -> Handle:
        """Queue a request; `emit` is called from the engine thread with each `Event`.

        Raises a ValueError, before queueing anything, when the prompt or the settings are unusable
        (an empty prompt, prompt + max_tokens beyond the context, a negative temperature...).
        """
        check_prompt(self.model.config, prompt, params.max_tokens)
        if len(prompt) + params.max_tokens > self.context_length:
            raise ValueError(f"this model's context is {self.context_length} tokens; the prompt has {len(prompt)} "
                             f"and max_tokens is {params.max_tokens}")
        pick = token_picker(params.temperature, params.top_k, params.top_p, params.repetition_penalty, params.seed)
        request = _Request(prompt, params, emit, math.ceil((len(prompt) + params.max_tokens) / BLOCK_SIZE), pick)
        self._live.add(id(request))
        self._incoming.put(request)
        return Handle(request)

    def complete(self, prompt: list[int], params: SamplingParams) -> Iterator[Event]:
        """The events of one request, for callers that block (the terminal chat, tests)."""
        events: queue.Queue[Event] = queue.Queue()
        handle = self.submit(prompt, params, events.put)
        try:
            while True:
                event = events.get()
                yield event
                if event.finish_reason:
                    return
        finally:
            handle.cancel()

    def _run(self) -> None:
        torch.set_grad_enabled(False)  # this thread only ever runs inference
        waiting: list[_Request] = []  # submitted, not yet admitted
        active: list[_Request] = []  # admitted: blocks reserved, generating
        while True:
            # Wait when idle; otherwise take whatever arrived without waiting.
            try:
                while True:
                    waiting.append(self._incoming.get(block=not (active or waiting)))
            except queue.Empty:
                pass
            for request in [r for r in waiting if r.cancelled.is_set()]:
                waiting.remove(request)
                self._live.discard(id(request))
            while waiting and waiting[0].blocks <= self._free_blocks:  # first come, first served
                request = waiting.pop(0)
                self._free_blocks -= request.blocks
                active.append(request)
                self._prefill(request)
            for request in list(active):
                if request.cancelled.is_set() or self._advance(request):
                    self._release(request, active)
            if active:
                self._decode(active)

    def _prefill(self, request: _Request) -> None:
        """Run the prompt through the model into the request's own cache blocks."""
        request.sequence = self._cache.add_sequence()
        try:
            ids = torch.tensor([request.prompt])  # (1, P)
            request.logits = self.model(ids, cache=self._cache.step([request.sequence], len(request.prompt)))[0, -1]
        except Exception as error:  # a model failure ends this request, not the engine
            self._fail(request, error)

    def _decode(self, active: list[_Request]) -> None:
        """One forward pass for the newest token of every active request: ids (B, 1)."""
        ids = torch.tensor([[request.generated[-1]] for request in active])
        try:
            logits = self.model(ids, cache=self._cache.step([r.sequence for r in active], 1))[:, -1]  # (B, V)
        except Exception as error:
            for request in active:
                self._fail(request, error)
            return
        for request, row in zip(active, logits):
            request.logits = row

    def _release(self, request: _Request, active: list[_Request]) -> None:
        """Take an admitted request out of the batch and give its cache blocks back."""
        active.remove(request)
        self._cache.free(request.sequence)
        self._free_blocks += request.blocks
        self._live.discard(id(request))

    def _fail(self, request: _Request, error: Exception) -> None:
        request.logits = None
        request.emit(Event(text=f"[generation failed: {error}]", finish_reason="stop",
                           prompt_tokens=len(request.prompt), completion_tokens=len(request.generated)))

    def _advance(self, request: _Request) -> bool:
        """Pick the request's next token and emit what it adds; True when the request ended."""
        if request.logits is None:  # its forward pass failed, and it was told
            return True
        try:
            token = request.pick(request.logits, request.prompt + request.generated)
        except Exception as error:  # a sampler failure ends this request, not the engine
            self._fail(request, error)
            return True
        if token in self.eos_ids:
            return self._finish(request, "stop", flush=True)
        request.generated.append(token)
        text = self.tokenizer.decode(request.generated)
        for stop in request.params.stop:
            at = text.find(stop, max(0, request.sent - len(stop)))
            if at >= 0:
                return self._finish(request, "stop", upto=at)
        if len(request.generated) >= request.params.max_tokens:
            return self._finish(request, "length", flush=True)
        ready = _safe_length(text, request.params.stop)
        if ready > request.sent:
            request.emit(Event(text=text[request.sent:ready]))
            request.sent = ready
        return False

    def _finish(self, request: _Request, reason: str, flush: bool = False, upto: int | None = None) -> bool:
        text = self.tokenizer.decode(request.generated)
        end = upto if upto is not None else len(text)
        request.emit(Event(text=text[request.sent:end] if (flush or upto is not None) else "",
                           finish_reason=reason, prompt_tokens=len(request.prompt),
                           completion_tokens=len(request.generated)))
        return True


def _safe_length(text: str, stops: tuple[str, ...]) -> int:
    """How much of `text` can be sent: not a trailing partial character, nor a possible stop start."""
    end = len(text)
    while end and text[end - 1] == "\ufffd":  # an incomplete UTF-8 sequence so far
        end -= 1
    for stop in stops:
        for size in range(min(len(stop) - 1, end), 0, -1):
            if text[:end].endswith(stop[:size]):
                end -= size
                break
    return end


def plain_chat(messages: list[dict]) -> str:
    """A conversation as text, for a model trained without a chat template: "role: content" lines."""
    return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"


def open_model(spec: str) -> tuple[nn.Module, object, tuple[int, ...], Callable[[list[dict]], str]]:
    """(model, tokenizer, end-of-text ids, chat template) for what `--model` names: a pretrained model the
    course knows, a GGUF file, or a run of `lmcourse train` (its folder, or one of its checkpoints)."""
    from lmcourse.model import model_from_gguf
    from lmcourse.storage.pretrained import PRETRAINED, chat_template, pretrained_path, read_metadata, render_chat
    from lmcourse.tokenizer import BPETokenizer

    path = Path(spec)
    if spec in PRETRAINED or path.is_file():
        path = pretrained_path(spec) if spec in PRETRAINED else path
        model, tokenizer = model_from_gguf(path), BPETokenizer.from_gguf(path)
        eos = read_metadata(path, ("tokenizer.ggml.eos_token_id",)).get("tokenizer.ggml.eos_token_id")
        try:
            render = partial(render_chat, chat_template(path))
        except ValueError:  # a base model: no chat template
            render = plain_chat
    elif path.is_dir():
        from lmcourse.runs.token_cache import ENDOFTEXT
        from lmcourse.runs.trainer import load_trained

        model, tokenizer = load_trained(path)
        eos, render = tokenizer.special_tokens.get(ENDOFTEXT), plain_chat
    else:
        raise ValueError(f"--model {spec!r} is neither a pretrained model the course knows "
                         f"({', '.join(sorted(PRETRAINED))}), nor a GGUF file, nor a training run's folder or checkpoint")
    return model, tokenizer, () if eos is None else (eos,), render


def load_engine(spec: str = "smollm2-135m-instruct", int8: bool = False, cache_tokens: int | None = None) -> Engine:
    """An engine for what `--model` names (see open_model), running on the course's own code; int8:
    with chapter 09's int8 weights (about 2.5x faster decoding on a CPU, slightly different answers)."""
    model, tokenizer, eos_ids, template = open_model(spec)
    if int8:
        from lmcourse.generate import quantize_int8

        model = quantize_int8(model)
    return Engine(spec, model.eval(), tokenizer, eos_ids, template, cache_tokens)
