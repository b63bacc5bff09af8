"""The built book, read in headless Chromium the way a reader reads it.

The tests use the HTML that `make book` wrote to _build/html (they build nothing themselves),
serve it over loopback with `python -m http.server`, and check what a reader would notice:
the pages open, the maths renders, every asset comes from the book itself (the book must
work offline, so a request to any other host is a bug), the navigation reaches the chapters
with their executed outputs, and the search finds them.

Chromium is Debian's (`apt-get install chromium`), driven by pip's playwright; never run
`playwright install`, which downloads a browser.
"""

import os
import re
import select
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
CHROMIUM = Path("/usr/lib/chromium/chromium")

BOOK_TITLE = "lmcourse: build a language model"
INTRO = "book/intro.html"
CHAPTER_00 = "solutions/00-start/00-start.html"

# sphinx-thebe 0.3.1 writes its inline `const THEBE_JS_URL = ...` script twice on every page
# (thebe itself stays off); the second copy throws. Cosmetic: nothing uses the constant.
KNOWN_PAGE_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",)

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: apt-get install chromium", allow_module_level=True)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # The network is closed: stop Chromium's own background traffic (updates, sync, field
    # trials) so that every request a test sees comes from the page.
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            *browser_type_launch_args.get("args", []),
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="module")
def book_url():
    """Serve _build/html on a free 127.0.0.1 port for the tests of this module."""
    if not (HTML / "index.html").is_file():
        pytest.skip(f"{HTML / 'index.html'} is missing: build the book first (make book)")
    # Port 0 lets the OS choose a free port; http.server prints the one it got.
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "-d", str(HTML)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        ready, _, _ = select.select([server.stdout], [], [], 15)
        banner = server.stdout.readline() if ready else ""
        match = re.search(r"port (\d+)", banner)
        if not match:
            raise RuntimeError(f"http.server did not start: {banner!r}")
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()


class PageProblems:
    """Everything on a page that a reader offline would see as broken."""

    def __init__(self, page, book_url):
        self.origin = urlsplit(book_url).netloc
        self.requested = []
        self.problems = []
        page.on("request", self._on_request)
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)
        page.on("pageerror", self._on_page_error)

    def _on_request(self, request):
        self.requested.append(request.url)
        if urlsplit(request.url).scheme in ("http", "https") and (
            urlsplit(request.url).netloc != self.origin
        ):
            self.problems.append(f"request to another host: {request.url}")

    def _on_request_failed(self, request):
        self.problems.append(f"request failed ({request.failure}): {request.url}")

    def _on_response(self, response):
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def _on_page_error(self, error):
        if not any(known in str(error) for known in KNOWN_PAGE_ERRORS):
            self.problems.append(f"page error: {error}")

    def assert_none(self):
        assert not self.problems, "\n".join(self.problems)


def settle(page) -> None:
    """Wait until a loaded page has typeset its maths and loaded its fonts: every request it makes.

    (Playwright's "networkidle" sometimes never comes on these pages, with no request in flight.)
    """
    page.evaluate("""async () => {
        if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
        await document.fonts.ready;
    }""")


@pytest.fixture
def problems(page, book_url):
    page.set_default_timeout(15_000)
    return PageProblems(page, book_url)


def test_index_opens_the_intro_with_the_book_title(page, book_url, problems):
    page.goto(f"{book_url}/")  # index.html redirects to the root page
    expect(page).to_have_url(re.compile(re.escape(INTRO) + "$"))
    expect(page).to_have_title(f"About this course — {BOOK_TITLE}")
    expect(page.locator("article.bd-article h1")).to_contain_text("About this course")
    problems.assert_none()


@pytest.mark.parametrize("path", [INTRO, CHAPTER_00])
def test_maths_is_rendered_by_the_bundled_mathjax(page, book_url, problems, path):
    page.goto(f"{book_url}/{path}")
    expect(page.locator("article.bd-article mjx-container").first).to_be_visible()
    expect(page.locator("mjx-merror")).to_have_count(0)  # no TeX that MathJax rejected
    settle(page)
    mathjax = [url for url in problems.requested if "/mathjax/" in url]
    assert any(url.split("?")[0].endswith("/mathjax/tex-chtml.js") for url in mathjax)
    assert any(url.endswith(".woff") for url in mathjax), "MathJax fonts not loaded"
    problems.assert_none()


def test_every_page_loads_offline_without_errors(page, book_url, problems):
    page.goto(f"{book_url}/{INTRO}")
    # Every page in the table of contents, as the sidebar links to it, plus Sphinx's own.
    in_toc = page.locator("nav.bd-docs-nav a.reference.internal").evaluate_all(
        "(links) => links.map((link) => link.href.split('#')[0])"
    )
    pages = sorted(set(in_toc) | {f"{book_url}/search.html", f"{book_url}/genindex.html"})
    assert any(url.endswith(CHAPTER_00) for url in pages), pages
    for url in pages:
        page.goto(url)
        settle(page)
    problems.assert_none()


def test_sidebar_leads_from_the_intro_to_chapter_00_and_its_outputs(page, book_url, problems):
    page.goto(f"{book_url}/{INTRO}")
    page.locator(f"nav.bd-docs-nav a[href$='{os.path.basename(CHAPTER_00)}']").click()
    expect(page).to_have_url(re.compile(re.escape(CHAPTER_00) + "$"))
    expect(page.locator("article.bd-article h1").first).to_contain_text("00")
    # The book executed the notebook: its cells have outputs, shown under the code.
    outputs = page.locator("article.bd-article .cell_output")
    expect(outputs.first).to_be_visible()
    assert outputs.first.inner_text().strip()
    problems.assert_none()


def test_search_finds_chapter_00(page, book_url, problems):
    page.goto(f"{book_url}/{CHAPTER_00}")
    title = page.locator("article.bd-article h1").first.inner_text()
    word = max(re.findall(r"[A-Za-z]{3,}", title), key=len)
    page.goto(f"{book_url}/search.html?q={word}")
    hits = page.locator(f"#search-results ul.search li a[href*='{os.path.basename(CHAPTER_00)}']")
    expect(hits.first).to_be_visible()
    problems.assert_none()
