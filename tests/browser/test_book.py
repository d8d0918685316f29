"""Open every page of the built book in headless Chromium, served on 127.0.0.1.

Run with ``tox -e browser`` (which builds the book first), or
``pytest -m browser`` with the book in ``_build/html`` (or ``$ATTNBOOK_HTML``).
A page fails on a console error, a failed or 4xx/5xx request, a request that
leaves 127.0.0.1 (the book must load no third-party resource), math left as raw
TeX, or an image that did not load.
"""

import functools
import http.server
import os
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("ATTNBOOK_HTML", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = HTML.parent / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--disable-quic"]
PAGES = sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
               if not p.relative_to(HTML).as_posix().startswith("_static/"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def base_url():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book in {HTML}: run `tox -e docs` first")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageProblems:
    """Collects what went wrong while a page loaded."""

    def __init__(self, page, host):
        self.problems = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.route("**/*", functools.partial(self._route, host=host))

    def _console(self, msg):
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text}")

    def _failed(self, request):
        if urlparse(request.url).hostname == "127.0.0.1":
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response):
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def _route(self, route, request, host):
        parsed = urlparse(request.url)
        if parsed.scheme in ("data", "blob") or parsed.netloc == host:
            route.continue_()
        else:
            self.problems.append(f"third-party request: {request.url}")
            route.abort()


WAIT_FOR_MATH = """async () => {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
        await MathJax.startup.promise;
    }
}"""

RAW_MATH = """() => Array.from(document.querySelectorAll('.math'))
    .filter(el => !el.querySelector('mjx-container'))
    .map(el => el.textContent.slice(0, 80))"""

BROKEN_IMAGES = """() => Array.from(document.images)
    .filter(img => !img.complete || img.naturalWidth === 0)
    .map(img => img.getAttribute('src'))"""


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_cleanly(browser, base_url, path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watcher = PageProblems(page, urlparse(base_url).netloc)
    page.goto(base_url + path, wait_until="networkidle")
    page.evaluate(WAIT_FOR_MATH)
    problems = list(watcher.problems)
    problems += [f"raw TeX: {t!r}" for t in page.evaluate(RAW_MATH)]
    problems += [f"image did not load: {src}" for src in page.evaluate(BROKEN_IMAGES)]
    if "/" not in path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / path.replace(".html", ".png")), full_page=True)
    page.close()
    assert not problems, f"{path}:\n" + "\n".join(problems)


def test_chapters_render_math_and_figures(browser, base_url):
    page = browser.new_page()
    page.goto(base_url + "simplified-self-attention.html", wait_until="networkidle")
    page.evaluate(WAIT_FOR_MATH)
    assert page.locator("mjx-container").count() >= 10
    figure = page.locator("figure#fig-simplified-heatmap img")
    assert figure.count() == 1
    assert "heatmap" in figure.get_attribute("alt")
    assert figure.evaluate("img => img.naturalWidth") > 200
    page.close()


def test_search_finds_softmax(browser, base_url):
    page = browser.new_page()
    page.goto(base_url + "search.html?q=softmax", wait_until="networkidle")
    results = page.locator("#search-results li a")
    results.first.wait_for(timeout=15_000)
    hrefs = [results.nth(i).get_attribute("href") for i in range(results.count())]
    assert any("simplified-self-attention" in h for h in hrefs), hrefs
    page.close()


def test_api_page_documents_every_public_name():
    import inspect

    import attnbook

    html = (HTML / "api.html").read_text(encoding="utf-8")
    public = [n for n in attnbook.__all__ if not inspect.ismodule(getattr(attnbook, n))]
    missing = [n for n in public if f'id="attnbook.{n}"' not in html]
    assert not missing, f"not on the API page: {missing}"
