"""Open every page of the built book in headless Chromium, served on 127.0.0.1.

Run with ``tox -e browser`` (which builds the book first), or
``pytest -m browser`` with the book in ``_build/html`` (or ``$ATTNBOOK_HTML``).
The book is served below the URL prefix its 404 page was built for (``/attnbook/``
in ``tox -e browser``, as on GitHub Pages), and a missing page answers 404 with
``404.html``, as GitHub Pages does.

A page fails on a console error, a failed or 4xx/5xx request, a request that
leaves 127.0.0.1 (the book must load no third-party resource), math left as raw
TeX, an image that did not load, or a serious or critical accessibility violation
found by axe-core. Every link must resolve inside the book (file and anchor) or
go to a site of :data:`ALLOWED_SITES` (or the repository the build was given).
"""

import functools
import html.parser
import http.server
import os
import re
import sys
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

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

sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import hosting  # noqa: E402  (the repository URL conf.py used)

# Outside sites the book may link to: the documentation of the libraries it uses
# (intersphinx), and where the papers of the bibliography live. Anything else is an
# invented or accidental link. Keep this list in step with the README.
ALLOWED_SITES = {
    "docs.python.org", "numpy.org", "docs.pytorch.org", "pytorch.org", "matplotlib.org",
    "doi.org", "arxiv.org", "aclanthology.org", "proceedings.neurips.cc",
    "papers.nips.cc", "jmlr.org", "www.jmlr.org", "openreview.net", "proceedings.mlr.press",
}
# Where the search must put the chapter of a key term first.
KEY_TERMS = {
    "softmax": "simplified-self-attention",
    "causal": "causal-attention",
    "multi-head": "multi-head-attention",
    "KV cache": "attention-at-scale",
    "positional": "where-is-position",
}


def url_prefix():
    """The prefix the 404 page's links were built with (``/`` if there is none)."""
    page = HTML / "404.html"
    if not page.is_file():
        return "/"
    match = re.search(r'href="(/[^"]*?)_static/', page.read_text(encoding="utf-8"))
    return match.group(1) if match else "/"


class _BookHandler(http.server.SimpleHTTPRequestHandler):
    """Serves HTML below ``prefix``; anything else is a 404 with the book's 404.html."""

    prefix = "/"

    def log_message(self, *args):
        pass

    def send_head(self):
        path = urlparse(self.path).path
        if path.startswith(self.prefix):
            self.path = "/" + self.path[len(self.prefix):]
            target = Path(self.translate_path(self.path))
            if target.is_file() or (target / "index.html").is_file():
                return super().send_head()
        body = (HTML / "404.html").read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return None


@pytest.fixture(scope="module")
def base_url():
    if not (HTML / "index.html").is_file():
        pytest.fail(f"no built book in {HTML}: run `tox -e docs` first")
    handler = type("Handler", (_BookHandler,), {"prefix": url_prefix()})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}{url_prefix()}"
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
        # a 404 answer is logged as a console error without its URL: the response
        # handler reports each one with its URL, except the page expected to be missing
        if msg.type == "error" and "status of 404" not in msg.text:
            self.problems.append(f"console error: {msg.text}")

    def _failed(self, request):
        if urlparse(request.url).hostname == "127.0.0.1":
            self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response):
        if response.status >= 400 and response.url != self.expected_404:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    expected_404 = None

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


def axe_violations(page):
    """Serious and critical axe-core violations of the loaded page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"axe {v['impact']}: {v['id']} ({v['help']}) at "
            + ", ".join(str(node["target"]) for node in v["nodes"][:3])
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_cleanly(browser, base_url, path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watcher = PageProblems(page, urlparse(base_url).netloc)
    page.goto(base_url + path, wait_until="networkidle")
    page.evaluate(WAIT_FOR_MATH)
    problems = list(watcher.problems)
    problems += [f"raw TeX: {t!r}" for t in page.evaluate(RAW_MATH)]
    problems += [f"image did not load: {src}" for src in page.evaluate(BROKEN_IMAGES)]
    problems += axe_violations(page)
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


@pytest.mark.parametrize("term", KEY_TERMS)
def test_search_puts_the_chapter_of_a_key_term_first(browser, base_url, term):
    chapter = KEY_TERMS[term]
    assert (HTML / f"{chapter}.html").is_file(), f"no chapter {chapter} in the book"
    page = browser.new_page()
    page.goto(base_url + f"search.html?q={term}", wait_until="networkidle")
    results = page.locator("#search-results li a")
    results.first.wait_for(timeout=15_000)
    hrefs = [results.nth(i).get_attribute("href") for i in range(results.count())]
    assert hrefs[0].split("#")[0].endswith(f"{chapter}.html"), (term, hrefs[:5])
    page.close()


@pytest.mark.parametrize("term", KEY_TERMS)
def test_a_search_loads_with_no_page_or_console_error(browser, base_url, term):
    """Every hit gets its summary, also an index entry's (an empty anchor target)."""
    page = browser.new_page()
    watcher = PageProblems(page, urlparse(base_url).netloc)
    page.goto(base_url + f"search.html?q={term}", wait_until="networkidle")
    results = page.locator("#search-results li")
    results.first.wait_for(timeout=15_000)
    page.wait_for_function("""() => document.querySelector('#search-results')
        .textContent.match(/Search finished/)""", timeout=15_000)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)  # the last summaries' fetches
    without_summary = page.evaluate("""() => Array.from(
        document.querySelectorAll('#search-results li'),
        li => [li.querySelector('a').getAttribute('href'),
               (li.querySelector('p.context, span') || {textContent: ''}).textContent.trim()])
        .filter(([href, summary]) => !summary).map(([href]) => href)""")
    problems = list(watcher.problems)
    page.close()
    assert not problems, "\n".join(problems)
    assert not without_summary, f"hits without a summary: {without_summary}"


def test_there_is_one_search_box(browser, base_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(base_url + "causal-attention.html", wait_until="networkidle")
    visible = [el for el in page.locator(
        "input[type=search], .search-button-field, button.search-button, "
        "button[aria-label='Search']").all() if el.is_visible()]
    assert len(visible) == 1, [el.evaluate("e => e.outerHTML.slice(0, 120)") for el in visible]
    page.close()


def test_a_stale_link_lands_on_the_404_page_with_navigation_and_search(browser, base_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watcher = PageProblems(page, urlparse(base_url).netloc)
    stale = base_url + "chapters/attention-v0.html"
    watcher.expected_404 = stale
    response = page.goto(stale, wait_until="networkidle")
    assert response.status == 404
    assert "Page not found" in page.title()
    assert not watcher.problems, watcher.problems  # its CSS, JS and images load
    chapter = page.locator("nav.bd-links a", has_text="Causal attention").first
    chapter.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("causal-attention.html"), page.url
    page.goto(stale, wait_until="networkidle")
    page.keyboard.press("Control+k")  # the theme's search shortcut
    search = page.locator("#pst-search-dialog input[type=search]")
    search.fill("softmax")
    search.press("Enter")
    page.wait_for_load_state("networkidle")
    assert "search.html" in page.url and response.status == 404
    page.locator("#search-results li a").first.wait_for(timeout=15_000)
    page.close()


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag in ("img", "script") and attrs.get("src"):
            self.links.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.links.append(attrs["href"])


@functools.cache
def _parse(path):
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_link_resolves_in_the_book_or_goes_to_an_allowed_site():
    repository, _ = hosting.repository()
    problems = []
    for name in PAGES:
        if name == "404.html":  # absolute links below the hosted prefix: see the 404 test
            continue
        page = HTML / name
        for link in _parse(page).links:
            parsed = urlparse(link)
            if parsed.scheme in ("mailto", "data", "javascript"):
                continue
            if parsed.scheme in ("http", "https"):
                allowed = parsed.hostname in ALLOWED_SITES or (
                    repository and link.startswith(repository))
                if not allowed:
                    problems.append(f"{name}: outside link to {link}")
                continue
            target = page if not parsed.path else (page.parent / unquote(parsed.path))
            target = target.resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or HTML not in (target, *target.parents):
                problems.append(f"{name}: broken link {link}")
            elif parsed.fragment and target.suffix == ".html" and \
                    unquote(parsed.fragment) not in _parse(target).ids:
                problems.append(f"{name}: no anchor #{parsed.fragment} in {link}")
    assert not problems, "\n".join(problems[:40])


def test_every_chapter_offers_its_executed_notebook(browser, base_url):
    import json

    sources = {p: HTML / "_sources" / p.replace(".html", ".md") for p in PAGES}
    chapters = [p for p, source in sources.items()
                if source.is_file() and "file_format: mystnb" in source.read_text()]
    assert len(chapters) >= 8
    for name in chapters:
        notebook = HTML / "_sources" / name.replace(".html", ".ipynb")
        assert notebook.is_file(), name
        cells = json.loads(notebook.read_text())["cells"]
        assert any(c.get("outputs") for c in cells if c["cell_type"] == "code"), name
        assert "_sources/" + notebook.name in (HTML / name).read_text(encoding="utf-8"), name
    page = browser.new_page()
    page.goto(base_url + chapters[0], wait_until="networkidle")
    page.locator(".dropdown-download-buttons button").first.click()
    link = page.locator("a.btn", has_text=".ipynb")
    assert link.is_visible()
    assert urljoin(page.url, link.get_attribute("href")).endswith(".ipynb")
    page.close()


def test_api_page_documents_every_public_name():
    import inspect

    import attnbook

    html = (HTML / "api.html").read_text(encoding="utf-8")
    public = [n for n in attnbook.__all__ if not inspect.ismodule(getattr(attnbook, n))]
    missing = [n for n in public if f'id="attnbook.{n}"' not in html]
    assert not missing, f"not on the API page: {missing}"
