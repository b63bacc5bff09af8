"""`lmcourse serve`: an OpenAI-compatible HTTP API and a web chat page for one model.

Endpoints: `POST /v1/chat/completions` and `POST /v1/completions` (both with `stream: true` as
server-sent events), `GET /v1/models`, `GET /health`, the chat page at `/`, and FastAPI's
OpenAPI schema at `/openapi.json`. Errors use OpenAI's shape,
`{"error": {"message", "type", "param", "code"}}`, with a 4xx status: bad input never crashes
the server. Generation runs in the `Engine`'s thread; a client that disconnects mid-stream
cancels its request.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from importlib import resources
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from lmcourse.serving.engine import Engine, Event, SamplingParams

MAX_STOP_SEQUENCES = 4
GREEDY_BELOW = 1e-5  # temperatures under this are greedy, as in vLLM: logits / 1e-38 overflows float32


class Message(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Sampling(BaseModel):
    """The request fields shared by both completion endpoints (unknown fields are ignored)."""

    model_config = ConfigDict(extra="ignore")
    model: str
    max_tokens: int | None = Field(None, ge=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(0, ge=0, description="keep only the k most probable tokens; 0: no limit (as vLLM)")
    repetition_penalty: float = Field(1.0, gt=0.0, le=10.0, description="CTRL's penalty; 1: none (as vLLM)")
    n: int = Field(1, ge=1, le=1, description="only one choice per request is supported")
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None

    def params(self, default_max_tokens: int) -> SamplingParams:
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        if len(stops) > MAX_STOP_SEQUENCES or any(not s for s in stops):
            raise ApiError(400, f"stop: up to {MAX_STOP_SEQUENCES} non-empty strings", "stop")
        temperature = 0.0 if self.temperature < GREEDY_BELOW else self.temperature
        return SamplingParams(max_tokens=self.max_tokens or default_max_tokens, temperature=temperature,
                              top_p=self.top_p, top_k=self.top_k, repetition_penalty=self.repetition_penalty,
                              stop=tuple(stops), seed=self.seed)


class ChatRequest(_Sampling):
    messages: list[Message] = Field(min_length=1)


class CompletionRequest(_Sampling):
    prompt: str


class ApiError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def _error(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}},
                        status_code=status)


def create_app(engine: Engine, default_max_tokens: int = 256, max_tokens_limit: int = 4096) -> FastAPI:
    """The FastAPI application serving `engine`; no request may ask for more than `max_tokens_limit`."""
    app = FastAPI(title="lmcourse", version="1", description="An OpenAI-compatible server for a model "
                  "you built. Errors use OpenAI's error shape.")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError):
        return _error(error.status, error.message, error.param, error.code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        if first.get("type") == "json_invalid":
            return _error(400, "the request body is not valid JSON", None, "invalid_json")
        return _error(400, f"{where or 'body'}: {first.get('msg')}", where or None, "invalid_value")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        return _error(error.status_code, str(error.detail))

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": engine.model_id, "active_requests": engine.active_requests,
                "cache_blocks_in_use": engine.cache_blocks_in_use}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": engine.model_id, "object": "model", "created": 0,
                                            "owned_by": "lmcourse"}]}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page():
        return resources.files("lmcourse.serving").joinpath("web/chat.html").read_text(encoding="utf-8")

    def checked(body: _Sampling, prompt: list[int]) -> SamplingParams:
        if body.model != engine.model_id:
            raise ApiError(404, f"the model {body.model!r} does not exist; this server serves "
                           f"{engine.model_id!r}", "model", "model_not_found")
        params = body.params(min(default_max_tokens, max_tokens_limit))
        if params.max_tokens > max_tokens_limit:
            raise ApiError(400, f"max_tokens: at most {max_tokens_limit} on this server", "max_tokens")
        if len(prompt) + params.max_tokens > engine.context_length:
            raise ApiError(400, f"this model's context is {engine.context_length} tokens; the prompt has "
                           f"{len(prompt)} and max_tokens asks for {params.max_tokens} more",
                           "max_tokens", "context_length_exceeded")
        return params

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest, request: Request):
        prompt = engine.chat_prompt([m.model_dump() for m in body.messages])
        params = checked(body, prompt)
        return await respond(request, body, prompt, params, chat=True)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        prompt = engine.text_prompt(body.prompt)
        if not prompt:
            raise ApiError(400, "prompt: must not be empty", "prompt")
        params = checked(body, prompt)
        return await respond(request, body, prompt, params, chat=False)

    async def respond(request: Request, body: _Sampling, prompt: list[int], params: SamplingParams, chat: bool):
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()
        try:
            handle = engine.submit(prompt, params, lambda e: loop.call_soon_threadsafe(events.put_nowait, e))
        except ValueError as error:  # what the engine refuses: the request's fault
            raise ApiError(400, str(error)) from None
        ident = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        created = int(time.time())
        kind = "chat.completion" if chat else "text_completion"

        def usage(event: Event) -> dict:
            return {"prompt_tokens": event.prompt_tokens, "completion_tokens": event.completion_tokens,
                    "total_tokens": event.prompt_tokens + event.completion_tokens}

        if not body.stream:
            parts = []
            try:
                while not (event := await events.get()).finish_reason:
                    parts.append(event.text)
            finally:
                handle.cancel()
            text = "".join(parts) + event.text
            choice = ({"index": 0, "message": {"role": "assistant", "content": text}} if chat
                      else {"index": 0, "text": text, "logprobs": None})
            return {"id": ident, "object": kind, "created": created, "model": engine.model_id,
                    "choices": [{**choice, "finish_reason": event.finish_reason}], "usage": usage(event)}

        def chunk(text: str, finish: str | None, first: bool = False) -> str:
            if chat:
                delta = {"role": "assistant", "content": text} if first else ({"content": text} if text else {})
                choice = {"index": 0, "delta": delta, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish}
            data = {"id": ident, "object": kind + ".chunk" if chat else kind, "created": created,
                    "model": engine.model_id, "choices": [choice]}
            return f"data: {json.dumps(data)}\n\n"

        async def stream():
            try:
                if chat:
                    yield chunk("", None, first=True)
                while True:
                    event = await events.get()
                    if event.text:
                        yield chunk(event.text, None)
                    if event.finish_reason:
                        yield chunk("", event.finish_reason)
                        if body.stream_options and body.stream_options.include_usage:
                            data = {"id": ident, "object": kind + ".chunk" if chat else kind, "created": created,
                                    "model": engine.model_id, "choices": [], "usage": usage(event)}
                            yield f"data: {json.dumps(data)}\n\n"
                        yield "data: [DONE]\n\n"
                        return
            finally:
                handle.cancel()  # also when the client went away mid-stream

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    def openapi() -> dict:
        """FastAPI's schema, saying which model this server serves (so clients and fuzzers know)."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            for name in ("ChatRequest", "CompletionRequest"):
                schema["components"]["schemas"][name]["properties"]["model"]["enum"] = [engine.model_id]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app
