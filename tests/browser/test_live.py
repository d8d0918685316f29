"""Run a chapter's code in the page: the built book and a local kernel, in headless Chromium.

The book is served on 127.0.0.1 as in ``test_book.py``; a ``jupyter_server`` is started
the way ``tox -e live`` starts it (``tools/live.py``: 127.0.0.1, a random token,
``allow_origin`` the book's origin). The page gets the server's address and token in its
URL fragment, as from the URL ``tox -e live`` prints. Then, on chapter 3:

- Run on a later cell runs every earlier cell first (execution counts 1, 2, … in page
  order), their text outputs are the book's, and a PNG figure appears under the cell;
- an edited cell prints a name only an earlier cell defines; a cell that raises shows a
  readable traceback; Stop interrupts a cell that sleeps; Restart, then Run, runs the
  earlier cells again;
- a page with no kernel server, with one that does not answer, or with a wrong token
  says so within seconds, with no page error, and Run works once a server is there,
  without a reload; a kernel stopped for idleness is replaced.

Every request and websocket of every page is recorded: one that leaves 127.0.0.1 fails
the test (and is not sent). Run with ``tox -e browser`` (it builds the book first).
"""

import functools
import http.server
import json
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest
from test_book import CHROMIUM, CHROMIUM_ARGS, HTML, _BookHandler, url_prefix

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import live  # noqa: E402  (tools/live.py: how `tox -e live` starts the kernel server)

CHAPTER = "simplified-self-attention"  # chapter 3: runs in seconds, one figure
CONFIG = re.compile(r'<script type="application/json" id="attnbook-live-config">(.*?)</script>',
                    re.S)
RUN_TIMEOUT = 120_000  # ms: the first cell imports torch in a fresh kernel on a busy machine
NOTICE_TIMEOUT = 4_000  # ms: "within a second or two" (the probe gives up after 2.5 s)


def page_config(name):
    match = CONFIG.search((HTML / f"{name}.html").read_text(encoding="utf-8"))
    return json.loads(match.group(1)) if match else None


def chapters():
    return sorted(p.stem for p in HTML.glob("*.html") if page_config(p.stem))


# -- servers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def book():
    """The built book below its prefix; records the paths the browser asked for."""
    if not (HTML / f"{CHAPTER}.html").is_file():
        pytest.fail(f"no built book in {HTML}: run `tox -e docs` first")
    paths = []

    class Handler(_BookHandler):
        prefix = url_prefix()

        def send_head(self):
            paths.append(self.path)
            return super().send_head()

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(HTML)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_port}"
    yield {"origin": origin, "url": origin + url_prefix(), "paths": paths}
    server.shutdown()


class KernelServer:
    def __init__(self, origin, folder, port=0, cull_minutes=live.CULL_MINUTES, token=None):
        self.token = token or secrets.token_urlsafe(32)
        self.port = live.free_port(port)
        self.url = f"http://127.0.0.1:{self.port}/"
        folder.mkdir(parents=True, exist_ok=True)
        self.log = (folder / "server.log").open("w")
        self.process = live.start_kernel_server(origin, self.token, self.port, folder,
                                                cull_minutes, log=self.log)
        if not live.wait_for_kernel_server(self.url, self.token, self.process):
            self.stop()
            pytest.fail(f"jupyter_server did not start: see {folder / 'server.log'}")

    def kernels(self):
        request = urllib.request.Request(self.url + "api/kernels",
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def fragment(self, token=None):
        return f"#kernel={self.url}&token={token or self.token}"

    def stop(self):
        live.stop_process(self.process)
        self.log.close()


@pytest.fixture(scope="module")
def kernel_server(book, tmp_path_factory):
    server = KernelServer(book["origin"], tmp_path_factory.mktemp("kernel-server"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# -- what a page does -----------------------------------------------------------------------


class Traffic:
    """Every request and websocket of a page, page errors and console errors.

    A request to anywhere but 127.0.0.1 is recorded and aborted. ``network_errors`` are
    the console errors Chromium itself logs for a failed or refused request (a server
    that is down, a 403): expected where a test points the page at such a server.
    """

    def __init__(self, page):
        self.urls, self.outside, self.page_errors, self.console_errors = [], [], [], []
        self.network_errors = []
        page.route("**/*", self._route)
        page.on("websocket", lambda ws: self._record(ws.url))
        page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))
        page.on("console", self._console)

    def _record(self, url):
        self.urls.append(url)
        parsed = urlparse(url)
        if parsed.scheme not in ("data", "blob") and parsed.hostname != "127.0.0.1":
            self.outside.append(url)
            return False
        return True

    def _route(self, route, request):
        if self._record(request.url):
            route.continue_()
        else:
            route.abort()

    def _console(self, msg):
        if msg.type != "error":
            return
        if msg.text.startswith("Failed to load resource"):
            self.network_errors.append(f"{msg.text} ({msg.location.get('url')})")
        else:
            self.console_errors.append(msg.text)

    def check(self, network_errors=False):
        assert not self.outside, f"requests that left 127.0.0.1: {self.outside}"
        assert not self.page_errors, f"page errors: {self.page_errors}"
        assert not self.console_errors, f"console errors: {self.console_errors}"
        if not network_errors:
            # the browser's favicon.ico request is the one 404 a page may have
            assert all("favicon.ico" in e for e in self.network_errors), self.network_errors


def open_chapter(browser, book, fragment="", name=CHAPTER):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    traffic = Traffic(page)
    page.goto(book["url"] + f"{name}.html{fragment}", wait_until="networkidle")
    return page, traffic


def cells(page):
    return page.locator("div.attnbook-cell")


def counts(page, upto):
    return [cells(page).nth(i).get_attribute("data-execution-count") for i in range(upto)]


def run(page, index, timeout=RUN_TIMEOUT):
    """Click Run on cell ``index``; wait until it ran (its execution count changed)."""
    before = cells(page).nth(index).get_attribute("data-execution-count")
    cells(page).nth(index).locator("button[data-action=run]").click()
    page.wait_for_function(
        """([i, before]) => {
            const cell = document.querySelectorAll('div.attnbook-cell')[i];
            return cell.dataset.liveState !== 'running' &&
                   (cell.dataset.executionCount || null) !== before;
        }""", arg=[index, before], timeout=timeout)
    return cells(page).nth(index)


def edit(page, index, code):
    """Replace the code of cell ``index`` (an editor once it ran) by typing ``code``."""
    editor = cells(page).nth(index).locator(".CodeMirror")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type(code)


def output_text(cell):
    return cell.locator(".attnbook-live-output").inner_text()


def notice(page, timeout=NOTICE_TIMEOUT):
    box = page.locator(".attnbook-live-notice")
    box.wait_for(state="visible", timeout=timeout)
    return box.inner_text()


def figure_index(page):
    return next(i for i in range(cells(page).count())
                if cells(page).nth(i).locator("figure img").count())


# -- `tox -e live`: one URL; Ctrl-C stops the book and the kernel server ------------------------


def test_the_launcher_prints_one_url_and_ctrl_c_stops_both():
    command = [sys.executable, str(ROOT / "tools" / "live.py"), "--no-build",
               "--html", str(HTML), "--port", str(live.free_port())]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not any("#kernel=" in line for line in lines) and time.monotonic() < deadline:
            assert process.poll() is None, "".join(lines)
            time.sleep(0.2)
        url = next(line.strip() for line in lines if "#kernel=" in line)
        book, fragment = url.split("#")
        params = dict(part.split("=", 1) for part in fragment.split("&"))
        with urllib.request.urlopen(book, timeout=5) as response:
            assert response.status == 200
        request = urllib.request.Request(params["kernel"] + "api/status",
                                         headers={"Authorization": f"token {params['token']}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        kernel_port = urlparse(params["kernel"]).port
        process.send_signal(signal.SIGINT)  # Ctrl-C
        assert process.wait(30) == 0
        reader.join(5)
        output = "".join(lines)
        assert len([line for line in lines if "http" in line]) == 1, output  # one URL
        for port in (urlparse(book).port, kernel_port):
            with socket.socket() as probe, pytest.raises(OSError):
                probe.settimeout(2)
                probe.connect(("127.0.0.1", port))  # both stopped
    finally:
        if process.poll() is None:
            process.kill()


# -- the build: what the page runs is what the notebook download runs --------------------------


def test_every_chapter_runs_exactly_the_cells_of_its_notebook_download():
    names = chapters()
    assert len(names) >= 8, names
    for name in names:
        config = page_config(name)
        notebook = json.loads((HTML / "_sources" / f"{name}.ipynb").read_text())
        sources = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
        assert [cell["source"] for cell in config["cells"]] == sources, name
        html = (HTML / f"{name}.html").read_text(encoding="utf-8")
        assert len(re.findall(r'class="cell[ "]', html)) == len(sources), name  # one each
        assert len(re.findall(r'class="cell[^"]*\battnbook-cell\b', html)) == len(sources), name
        # the book's bookkeeping (glue, asserts) stays out: remove-cell cells are not run
        assert not [s for s in sources if "glue(" in s], name
        thebe = HTML / config["thebe"].split("?")[0]
        assert thebe.is_file() and thebe.parent == HTML / "_static" / "thebe", name


def test_binder_is_offered_for_a_github_repository_only():
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    live_code = pytest.importorskip("live_code")
    assert live_code.binder_options("https://github.com/someone/attnbook", "main") == {
        "repo": "someone/attnbook", "ref": "main", "binderUrl": "https://mybinder.org",
        "repoProvider": "github"}
    assert live_code.binder_options("https://gitlab.com/someone/attnbook", "main") is None
    assert live_code.binder_options(None, None) is None
    assert "</script>" not in live_code.json_script("x", {"source": "print('</script>')"})[10:-10]


# -- a kernel: run, edit, rerun --------------------------------------------------------------------


@pytest.fixture(scope="module")
def chapter(browser, book, kernel_server):
    page, traffic = open_chapter(browser, book, kernel_server.fragment())
    yield page, traffic
    page.context.close()


def test_the_token_moves_from_the_address_bar_to_session_storage(chapter, book, kernel_server):
    page, traffic = chapter
    assert "token" not in page.url and "#" not in page.url, page.url
    stored = json.loads(page.evaluate("sessionStorage.getItem('attnbook-live-kernel')"))
    assert stored == {"url": kernel_server.url, "token": kernel_server.token}
    assert not [p for p in book["paths"] if kernel_server.token in p]  # never sent to the book
    assert not [u for u in traffic.urls if urlparse(u).port == kernel_server.port]  # no Run yet
    traffic.check()


STYLES = """() => Array.from(document.querySelectorAll(
        'p code, div.highlight pre, article h1, article p'), el => {
    const style = getComputedStyle(el);
    return [style.fontFamily, style.fontSize, style.lineHeight, style.color].join(' ');
})"""


def test_run_on_a_later_cell_runs_the_earlier_cells_first(chapter):
    page, traffic = chapter
    index = figure_index(page)
    assert index >= 5
    styles = page.evaluate(STYLES)
    cell = run(page, index)
    assert page.evaluate(STYLES) == styles  # thebe's style restyles nothing of the book
    # every earlier cell ran first, in page order, in the new kernel
    assert counts(page, index + 1) == [str(n) for n in range(1, index + 2)]
    assert counts(page, cells(page).count())[index + 1:] == [None] * (
        cells(page).count() - index - 1)
    assert cell.get_attribute("data-live-state") == "done"
    # its figure, as PNG, replaces the book's
    image = cell.locator(".attnbook-live-output img")
    image.wait_for()
    assert image.get_attribute("src").startswith("data:image/png")
    assert image.evaluate("img => img.naturalWidth") > 200
    assert cell.locator(".cell_output").is_hidden()
    # the earlier cells print what the book printed
    compared = 0
    for i in range(index):
        book_output = cells(page).nth(i).locator(".cell_output")
        if book_output.count() and not book_output.locator("img").count():
            expected = book_output.evaluate(
                "el => Array.from(el.querySelectorAll('pre'), pre => pre.textContent).join(' ')")
            assert output_text(cells(page).nth(i)).split() == expected.split(), i
            compared += 1
    assert compared >= 5
    traffic.check()


def test_an_edited_cell_prints_a_name_only_an_earlier_cell_defines(chapter):
    page, traffic = chapter
    index = figure_index(page)
    earlier = counts(page, index)
    edit(page, index, "print(JOURNEY_TOKENS, tuple(inputs.shape))\n"
                      "plot_attention_heatmap(attn_weights, JOURNEY_TOKENS)")
    cell = run(page, index)
    assert counts(page, index) == earlier  # the earlier cells had run: not again
    assert cell.get_attribute("data-execution-count") == str(index + 2)
    text = output_text(cell)
    assert "('Your', 'journey', 'starts', 'with', 'one', 'step') (6, 3)" in text
    assert cell.locator(".attnbook-live-output img[src^='data:image/png']").count() == 1
    # JSON, which thebe would show with code the book does not serve, shows as text
    edit(page, index, "from IPython.display import JSON, HTML, display\n"
                      "display(JSON({'heads': 8}), HTML('<b>six</b> tokens'))")
    cell = run(page, index)
    cell.locator(".attnbook-live-output b", has_text="six").wait_for(timeout=5_000)
    assert "IPython.core.display.JSON object" in output_text(cell)
    assert not [u for u in traffic.urls if re.search(r"_static/thebe/.*\.index\.js", u)]
    traffic.check()


def test_a_cell_that_raises_shows_a_readable_traceback(chapter):
    page, traffic = chapter
    index = figure_index(page)
    edit(page, index, "attnbook.simplified_self_attention(torch.ones(3))")
    cell = run(page, index)
    assert cell.get_attribute("data-live-state") == "error"
    text = output_text(cell)
    assert "Traceback" in text and "ValueError" in text and "(6, 3)" not in text
    assert "\x1b[" not in text and "[0;31m" not in text  # colours rendered, not printed
    traffic.check()


def test_stop_interrupts_a_cell_that_sleeps(chapter):
    page, traffic = chapter
    index = figure_index(page)
    edit(page, index, "import time\ntime.sleep(300)")
    cells(page).nth(index).locator("button[data-action=run]").click()
    page.wait_for_function(
        f"document.querySelectorAll('div.attnbook-cell')[{index}].dataset.liveState === 'running'")
    page.wait_for_timeout(1_000)
    started = time.monotonic()
    page.locator(".attnbook-live-bar button[data-action=stop]").click()
    page.wait_for_function(
        f"document.querySelectorAll('div.attnbook-cell')[{index}].dataset.liveState === 'error'",
        timeout=20_000)
    assert time.monotonic() - started < 20
    assert "KeyboardInterrupt" in output_text(cells(page).nth(index))
    traffic.check()


def test_restart_then_run_runs_the_earlier_cells_again(chapter):
    page, traffic = chapter
    page.locator(".attnbook-live-bar button[data-action=restart]").click()
    assert "Kernel restarted" in notice(page, timeout=60_000)
    assert counts(page, cells(page).count()) == [None] * cells(page).count()
    run(page, 3)
    assert counts(page, 4) == ["1", "2", "3", "4"]
    assert counts(page, cells(page).count())[4:] == [None] * (cells(page).count() - 4)
    traffic.check()


def test_run_all_runs_every_cell_from_the_top(chapter):
    page, traffic = chapter
    index = figure_index(page)
    edit(page, index, "plot_attention_heatmap(attn_weights, JOURNEY_TOKENS)")
    total = cells(page).count()
    page.locator(".attnbook-live-bar button[data-action=run-all]").click()
    page.wait_for_function(
        f"""() => document.querySelectorAll('div.attnbook-cell')[{total - 1}]
            .dataset.executionCount === '{4 + total}'""", timeout=RUN_TIMEOUT)
    assert counts(page, total) == [str(n) for n in range(5, 5 + total)]
    assert page.locator("div.attnbook-cell[data-live-state=error]").count() == 0
    traffic.check()


# -- no kernel: the page says so, promptly, and the next click works ----------------------------


@pytest.mark.parametrize(("fragment", "says"), [
    ("", "No kernel is connected"),
    ("#kernel=http://127.0.0.1:9/", "no token"),  # the token cut off the URL
    ("#kernel=https://example.org/&token=abc", "only one on this machine"),
], ids=["nothing", "no-token", "not-loopback"])
def test_without_a_kernel_server_the_page_says_what_to_start(browser, book, fragment, says):
    page, traffic = open_chapter(browser, book, fragment)
    assert "#" not in page.url
    started = time.monotonic()
    cells(page).nth(2).locator("button[data-action=run]").click()
    text = notice(page)
    assert time.monotonic() - started < 2
    assert says in text and "python3 -m tox -e live" in text
    assert counts(page, 3) == [None] * 3
    assert not [u for u in traffic.urls if not u.startswith(book["origin"])]
    traffic.check()  # not even the browser's own network errors
    page.context.close()


def test_the_url_pasted_into_an_open_page_connects_it(browser, book, kernel_server):
    page, traffic = open_chapter(browser, book)
    # the same page with the fragment: the browser only changes the fragment
    page.goto(book["url"] + f"{CHAPTER}.html" + kernel_server.fragment())
    page.wait_for_function("() => !window.location.hash")
    run(page, 1)
    assert counts(page, 2) == ["1", "2"]
    traffic.check()
    page.context.close()


def test_a_server_that_is_not_running_yet_then_runs_without_a_reload(browser, book, tmp_path):
    port = live.free_port()
    token = secrets.token_urlsafe(32)
    page, traffic = open_chapter(browser, book, f"#kernel=http://127.0.0.1:{port}/&token={token}")
    started = time.monotonic()
    cells(page).nth(1).locator("button[data-action=run]").click()
    text = notice(page)
    assert time.monotonic() - started < 3
    assert f"No kernel server answers at http://127.0.0.1:{port}/" in text
    assert "python3 -m tox -e live" in text
    traffic.check(network_errors=True)  # Chromium logs the refused connection itself
    server = KernelServer(book["origin"], tmp_path / "late", port=port, token=token)
    try:
        run(page, 1)
        assert counts(page, 2) == ["1", "2"]
        assert page.locator(".attnbook-live-notice").is_hidden()
        traffic.check(network_errors=True)
    finally:
        server.stop()
        page.context.close()


def test_a_wrong_token_gets_a_clear_message(browser, book, kernel_server):
    page, traffic = open_chapter(browser, book, kernel_server.fragment(token="not-the-token"))
    started = time.monotonic()
    cells(page).nth(1).locator("button[data-action=run]").click()
    text = notice(page)
    assert time.monotonic() - started < 3
    assert "refused this page's token" in text and "python3 -m tox -e live" in text
    assert counts(page, 2) == [None, None]
    traffic.check(network_errors=True)  # Chromium logs the 403 itself
    assert all("403" in e for e in traffic.network_errors if "favicon" not in e)
    # opening the URL `tox -e live` printed in another tab gives its token to this one
    other = page.context.new_page()
    other.goto(book["url"] + "index.html" + kernel_server.fragment(), wait_until="networkidle")
    run(page, 1)
    assert counts(page, 2) == ["1", "2"]
    page.context.close()


def test_an_idle_kernel_is_stopped_and_the_next_run_starts_a_new_one(browser, book, tmp_path):
    server = KernelServer(book["origin"], tmp_path / "cull", cull_minutes=2 / 60)
    page, traffic = open_chapter(browser, book, server.fragment())
    try:
        run(page, 1)
        assert counts(page, 2) == ["1", "2"]
        kernel = page.evaluate("() => document.querySelector('.attnbook-live-status').textContent")
        assert "Kernel ready" in kernel
        # culled after 2 s without use, checked every second, although the page is open
        deadline = time.monotonic() + 30
        while server.kernels() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not server.kernels()
        run(page, 2)
        assert counts(page, 3) == ["1", "2", "3"]  # a new kernel: the earlier cells again
        assert "earlier kernel had stopped" in page.locator(".attnbook-live-notice").inner_text()
        assert not traffic.outside and not traffic.page_errors
    finally:
        page.context.close()
        server.stop()


def test_the_hosted_book_offers_binder_and_contacts_it_only_on_that_click(browser, book):
    """As built where the repository is on GitHub (the page's config names it)."""
    context = browser.new_context()
    page = context.new_page()
    traffic = Traffic(page)
    binder = {"repo": "someone/attnbook", "ref": "main", "binderUrl": "https://mybinder.org",
              "repoProvider": "github"}

    def hosted(route):
        body = route.fetch().text().replace('"binder": null', '"binder": ' + json.dumps(binder))
        route.fulfill(body=body, content_type="text/html; charset=utf-8")

    page.route(f"**/{CHAPTER}.html", hosted)
    page.goto(book["url"] + f"{CHAPTER}.html", wait_until="networkidle")
    cells(page).nth(1).locator("button[data-action=run]").click()
    text = notice(page)
    assert "Start a kernel on Binder" in text and "minutes the first time" in text
    page.wait_for_timeout(500)
    assert not traffic.outside  # nothing leaves the machine before the click
    page.locator(".attnbook-live-notice button[data-action=binder]").click()
    page.wait_for_function("() => document.querySelector('.attnbook-live-notice')"
                           ".textContent.includes('No kernel could be started')", timeout=10_000)
    assert traffic.outside  # the click asked Binder (the test aborts it)
    assert all(url.startswith("https://mybinder.org/build/gh/someone/attnbook/main")
               for url in traffic.outside), traffic.outside
    assert not traffic.page_errors
    context.close()


def test_a_request_that_leaves_the_machine_is_caught(browser, book):
    page, traffic = open_chapter(browser, book)
    page.evaluate("() => fetch('https://example.org/x.js').catch(() => null)")
    page.wait_for_timeout(200)
    assert traffic.outside == ["https://example.org/x.js"]
    with pytest.raises(AssertionError, match=r"left 127\.0\.0\.1"):
        traffic.check()
    page.context.close()
