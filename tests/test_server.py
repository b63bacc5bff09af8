"""`lmcourse serve` for real: SmolLM2 on the course's code, the official `openai` client, errors, load."""

from __future__ import annotations

import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

MODEL = "smollm2-135m-instruct"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "lmcourse.cli", "serve", "--port", str(port), *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "2"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited:\n" + process.stdout.read())
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("the server did not come up within 180 s")


@pytest.fixture(scope="module")
def server():
    process, url = start_server()
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server + "/v1", api_key="not-needed", max_retries=0, timeout=120)


def test_health_and_models(server, client):
    assert httpx.get(server + "/health").json()["status"] == "ok"
    assert [m.id for m in client.models.list().data] == [MODEL]


def test_chat_completion_answers(client):
    reply = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=24)
    assert "Paris" in reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens > 10 and 0 < reply.usage.completion_tokens <= 24


def test_chat_completion_streams_the_same_answer(client):
    whole = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=24)
    chunks = list(client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=24,
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3  # really streamed
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_completion_and_length_limit(client):
    reply = client.completions.create(model=MODEL, prompt="The capital of France is", temperature=0, max_tokens=4)
    assert reply.choices[0].finish_reason == "length" and reply.usage.completion_tokens == 4
    assert "Paris" in reply.choices[0].text


def test_stop_sequence_is_not_sent(client):
    reply = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=24,
                                           stop=["Paris"])
    assert reply.choices[0].finish_reason == "stop"
    assert "Paris" not in reply.choices[0].message.content


def test_a_stop_sequence_of_several_tokens_is_held_back_while_streaming(client):
    whole = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=24)
    answer = whole.choices[0].message.content
    assert "of France" in answer, answer
    chunks = client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=0, max_tokens=24,
                                            stop=["of France"], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer[:answer.index("of France")], "the stop sequence's first tokens were streamed"


@pytest.mark.parametrize("path,body", [
    ("/v1/chat/completions", {"messages": QUESTION}),
    ("/v1/completions", {"prompt": "The capital of France is"}),
])
def test_a_raw_event_stream_is_well_formed_and_ends_with_done(server, path, body):
    """What a client without the `openai` package reads: `data:` lines of JSON, then `data: [DONE]`."""
    request = {"model": MODEL, "max_tokens": 6, "temperature": 0, "stream": True, **body}
    with httpx.stream("POST", server + path, json=request, timeout=60) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines), lines
    assert lines[-1] == "data: [DONE]", f"the stream must end with data: [DONE], got {lines[-1]!r}"
    payloads = [json.loads(line[len("data: "):]) for line in lines[:-1]]
    assert payloads[-1]["choices"][0]["finish_reason"] == "length"
    assert all(p["choices"][0]["finish_reason"] is None for p in payloads[:-1])


@pytest.mark.parametrize("fields,param", [
    ({"temperature": -0.5}, "temperature"),
    ({"top_p": 0}, "top_p"),
    ({"top_p": 1.5}, "top_p"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": 100_000}, "max_tokens"),
    ({"n": 2}, "n"),
])
def test_bad_parameters_are_400s(client, fields, param):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=QUESTION, **fields)
    assert caught.value.body["param"] == param and caught.value.body["message"]


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-17", messages=QUESTION)


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"model": "smollm2-135m-instruct"}',
                                  b'{"model": "smollm2-135m-instruct", "messages": [{"role": "robot", "content": "x"}]}'])
def test_malformed_requests_are_400s_in_openai_shape(server, body):
    response = httpx.post(server + "/v1/chat/completions", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_a_tiny_temperature_is_greedy(client):
    """logits / 1e-300 overflow float32 and once killed the engine; below 1e-5 is greedy, as in vLLM."""
    answers = [client.chat.completions.create(model=MODEL, messages=QUESTION, temperature=t, max_tokens=12)
               .choices[0].message.content for t in (0.0, 1e-300)]
    assert answers[0] == answers[1] and "Paris" in answers[0]


def test_eight_concurrent_streams_get_their_own_answers(client):
    questions = ["What is the capital of France?", "What is 2 + 2?", "Name a primary colour.",
                 "What is the capital of Italy?", "Say hello.", "What colour is the sky?",
                 "What is the capital of Spain?", "Name a fruit."]

    def ask(question: str, stream: bool) -> str:
        messages = [{"role": "user", "content": question}]
        if not stream:
            return client.chat.completions.create(model=MODEL, messages=messages, temperature=0,
                                                  max_tokens=20).choices[0].message.content
        chunks = client.chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=20,
                                                stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks)

    alone = [ask(q, stream=False) for q in questions]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: ask(q, stream=True), questions))
    assert together == alone
    assert "Paris" in together[0]  # and each answer is its own: together == alone above


def test_a_client_that_leaves_mid_stream_frees_its_work(server):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Count from 1 to 500."}],
            "max_tokens": 2000, "temperature": 0, "stream": True}
    with httpx.stream("POST", server + "/v1/chat/completions", json=body, timeout=60) as response:
        for count, _ in enumerate(response.iter_lines()):
            if count > 6:
                break
    deadline = time.monotonic() + 10
    while httpx.get(server + "/health").json()["active_requests"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert httpx.get(server + "/health").json()["active_requests"] == 0
    assert httpx.get(server + "/health").json()["cache_blocks_in_use"] == 0


def test_chat_page_is_served_without_outside_assets(server):
    page = httpx.get(server + "/").text
    assert "<title>lmcourse chat</title>" in page
    assert "http://" not in page and "https://" not in page


def test_openapi_fuzzing_finds_no_server_errors(tmp_path):
    """schemathesis generates requests from the OpenAPI schema; none may get a 5xx."""
    process, url = start_server("--max-tokens-limit", "2")
    try:
        run = subprocess.run([str(Path(sys.executable).parent / "schemathesis"), "run", url + "/openapi.json",
                              "--checks", "not_a_server_error", "--max-examples", "12", "--seed", "1",
                              "--request-timeout", "60", "--report", "junit", "--report-dir", str(tmp_path)],
                             capture_output=True, text=True, timeout=600)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
