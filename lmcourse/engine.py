"""The serving engine: requests in, streamed text out, several requests at a time.

The HTTP server and `lmcourse chat` hand prompts to one `Engine`. A background thread owns the
model and advances every active request by one token per round, so concurrent clients share
the CPU fairly and never see each other's tokens. Each request streams `Event`s: text deltas
as soon as they are valid UTF-8 and cannot be the start of a stop sequence, then a finish
reason ("stop" or "length") with token counts. A cancelled request (a client that went away)
is dropped at the next round.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens; the OpenAI request fields of the same names."""

    max_tokens: int = 256
    temperature: float = 1.0  # 0 means greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 means no limit
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass(frozen=True)
class Event:
    """One step of a request's stream: some text, or the end (with a reason and token counts)."""

    text: str = ""
    finish_reason: str | None = None  # "stop" or "length" at the end
    prompt_tokens: int = 0
    completion_tokens: int = 0


# A token source: given prompt ids and sampling parameters, yields token ids one by one.
TokenStream = Callable[[list[int], SamplingParams], Iterator[int]]


@dataclass
class _Request:
    prompt: list[int]
    params: SamplingParams
    emit: Callable[[Event], None]
    tokens: Iterator[int] | None = None
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
    """Runs requests against one model in a background thread, one token per request per round."""

    def __init__(self, model_id: str, tokenizer, token_stream: TokenStream, context_length: int,
                 eos_ids: tuple[int, ...], chat_template: Callable[[list[dict]], str]):
        self.model_id = model_id
        self.tokenizer = tokenizer
        self.context_length = context_length
        self.eos_ids = set(eos_ids)
        self._token_stream = token_stream
        self._chat_template = chat_template
        self._incoming: queue.Queue[_Request] = queue.Queue()
        self._live: set[int] = set()  # ids of requests queued or generating (set operations are atomic)
        self._thread = threading.Thread(target=self._run, name="lmcourse-engine", daemon=True)
        self._thread.start()

    @property
    def active_requests(self) -> int:
        """Requests queued or generating (the server reports it at /health)."""
        return len(self._live)

    def chat_prompt(self, messages: list[dict]) -> list[int]:
        """Token ids of a conversation rendered with the model's chat template."""
        return self.tokenizer.encode(self._chat_template(messages), allowed_special="all")

    def text_prompt(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def submit(self, prompt: list[int], params: SamplingParams, emit: Callable[[Event], None]) -> Handle:
        """Queue a request; `emit` is called from the engine thread with each `Event`."""
        request = _Request(prompt, params, emit)
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
        active: list[_Request] = []
        while True:
            # Wait when idle; otherwise take whatever arrived without waiting.
            try:
                while True:
                    active.append(self._incoming.get(block=not active))
            except queue.Empty:
                pass
            for request in list(active):
                if request.cancelled.is_set() or self._advance(request):
                    active.remove(request)
                    self._live.discard(id(request))

    def _advance(self, request: _Request) -> bool:
        """Generate one token of `request` and emit what it adds; True when the request ended."""
        try:
            if request.tokens is None:
                request.tokens = self._token_stream(request.prompt, request.params)
            token = next(request.tokens, None)
        except Exception as error:  # a model failure ends this request, not the engine
            request.emit(Event(text=f"[generation failed: {error}]", finish_reason="stop",
                               prompt_tokens=len(request.prompt), completion_tokens=len(request.generated)))
            return True
        if token is None or token in self.eos_ids:
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


def sample_next(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None) -> int:
    """Pick the next token id from logits (vocab,) by temperature, top-k and top-p."""
    if params.temperature == 0:
        return int(logits.argmax())
    logits = logits / params.temperature
    if params.top_k:
        kth = torch.topk(logits, min(params.top_k, logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(0) - sorted_probs < params.top_p  # always keeps the top token
        probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=generator))


def load_engine(model: str = "smollm2-135m-instruct") -> Engine:
    """An engine for a pretrained model the course knows, running on the course's own code."""
    from lmcourse.model import load_pretrained
    from lmcourse.pretrained import chat_template, pretrained_path, read_metadata, render_chat

    network, tokenizer = load_pretrained(model)
    path = pretrained_path(model)
    metadata = read_metadata(path, ("tokenizer.ggml.eos_token_id",))
    template = chat_template(path)
    torch.set_grad_enabled(False)  # the engine thread only ever runs inference

    def token_stream(prompt: list[int], params: SamplingParams) -> Iterator[int]:
        generator = torch.Generator().manual_seed(params.seed) if params.seed is not None else None
        sequence = list(prompt)
        while True:
            logits = network(torch.tensor([sequence]))[0, -1]
            token = sample_next(logits, params, generator)
            sequence.append(token)
            yield token

    return Engine(model, tokenizer, token_stream, network.config.max_seq_len,
                  (metadata["tokenizer.ggml.eos_token_id"],), lambda messages: render_chat(template, messages))
