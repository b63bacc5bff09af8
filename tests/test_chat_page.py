"""The chat page of `lmcourse serve`, used in headless Chromium the way a person uses it.

The test starts the real server (SmolLM2-135M-Instruct on the course's code), opens `/`, asks
"What is the capital of France?" by typing it and pressing Enter, and checks what the person
would see: the answer grows in the page token by token (the page reads the server-sent events
of `stream: true`, so a page or server that buffers the whole answer fails here), it ends with
Paris, the page asks nothing of any other host (the server must work offline) and logs no
errors. tests/test_server.py tests the API itself; this one tests the page on top of it.

Chromium and its launch flags, the offline checks and the server's start are shared with
tests/test_book.py and tests/test_server.py; the module skips where they skip.
"""

import re

import pytest

from test_book import PageProblems, browser_type_launch_args  # noqa: F401 (a fixture: Debian's chromium)
from test_server import start_server

expect = pytest.importorskip("playwright.sync_api").expect

QUESTION = "What is the capital of France?"
ANSWER_TIMEOUT_MS = 120_000  # generous: the engine may be slow on a small CPU

# Runs in the page: every value the newest assistant bubble's text takes, in order, without
# the ".meta" line (the seconds) that the page appends once the answer is complete.
RECORD_ANSWER = """() => {
  window.answerValues = [];
  const text = (div) => [...div.childNodes].filter((node) => node.nodeType === Node.TEXT_NODE)
                                           .map((node) => node.nodeValue).join("");
  new MutationObserver(() => {
    const bubbles = document.querySelectorAll("#log .msg.assistant");
    if (!bubbles.length) return;
    const value = text(bubbles[bubbles.length - 1]);
    if (value && value !== window.answerValues.at(-1)) window.answerValues.push(value);
  }).observe(document.getElementById("log"), {childList: true, subtree: true, characterData: true});
}"""


class ChatPageProblems(PageProblems):
    """test_book's offline checks (other hosts, failed requests, HTTP errors, page errors),
    plus every console error."""

    def __init__(self, page, url):
        super().__init__(page, url)
        page.on("console", self._on_console)

    def _on_console(self, message):
        if message.type == "error":
            self.problems.append(f"console error: {message.text} ({message.location.get('url', '')})")


@pytest.fixture(scope="module")
def server_url():
    """`lmcourse serve` on a free port for this module, stopped (killed if need be) at the end."""
    process, url = start_server()
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except Exception:
            process.kill()
            process.wait()
        process.stdout.close()


def test_the_answer_streams_into_the_page(page, server_url):
    page.set_default_timeout(15_000)
    problems = ChatPageProblems(page, server_url)
    page.goto(f"{server_url}/")
    expect(page).to_have_title("lmcourse chat")
    # The page sends nothing until it knows the model's name from /v1/models.
    expect(page.locator("#model")).to_have_text(re.compile(r"smollm2", re.IGNORECASE))
    page.locator("#temperature").fill("0")  # greedy, so the answer is the one we expect
    page.evaluate(RECORD_ANSWER)

    page.locator("#input").fill(QUESTION)
    page.locator("#input").press("Enter")
    expect(page.locator("#log .msg.user")).to_have_text(QUESTION)
    expect(page.locator("#input")).to_have_value("")
    # Done: the page appends the time taken to the answer, or shows an error in its place.
    page.locator("#log .msg.assistant .meta, #log .msg.assistant.error").wait_for(
        timeout=ANSWER_TIMEOUT_MS)
    answer = page.locator("#log .msg.assistant")
    expect(answer).not_to_have_class(re.compile(r"\berror\b"))
    expect(page.locator("#send")).to_be_enabled()

    values = page.evaluate("window.answerValues")
    assert values, "the assistant's bubble never showed any text"
    final, partials = values[-1], values[:-1]
    assert "Paris" in final, final
    assert len(partials) >= 2, f"the answer arrived in one piece, not streamed: {values}"
    assert all(final.startswith(partial) for partial in partials), values  # it only grows
    problems.assert_none()
