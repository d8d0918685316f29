"""Time the live code in the page, as the README reports it (not a test: it only measures).

Serves the built book and a kernel server as ``tox -e live`` does, then in headless
Chromium (each page view has a kernel of its own, started on its first Run):

- chapter 3: click Run on its last cell, which first runs every earlier cell, and wait
  for its output; the clock starts at the click, on a page with no kernel yet;
- chapter 4: click Run on its first cell, on a fresh kernel, and wait for its output;
- what a chapter page loads: its own files, then what the first Run adds (thebe).

    .tox/browser/bin/python tools/live_timings.py [--html _build/html] [--repeat 3]
"""

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import live

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
DONE = """i => {
    const cell = document.querySelectorAll('div.attnbook-cell')[i];
    return cell.dataset.executionCount && cell.dataset.liveState !== 'running';
}"""


def open_page(browser, url, html, book_url):
    """Open ``url``; the list of (URL, size in bytes) of the book's files it loads grows."""
    context = browser.new_context()
    page = context.new_page()
    sizes = []

    def record(request):
        if request.url.startswith(book_url):
            path = html / urlparse(request.url).path.lstrip("/")
            if path.is_file():
                sizes.append((request.url, path.stat().st_size))

    page.on("requestfinished", record)
    page.goto(url, wait_until="networkidle")
    return page, sizes


def time_run(browser, url, index, html, book_url):
    """Seconds from the click on Run of cell ``index`` (negative: from the end) to its output."""
    page, sizes = open_page(browser, url, html, book_url)
    loaded = len(sizes)
    cells = page.locator("div.attnbook-cell")
    index = index % cells.count()
    hidden = cells.nth(index).locator("details:not([open]) > summary")
    if hidden.count():  # an exercise's solution: shown first, as a reader would
        hidden.first.click()
    button = cells.nth(index).locator("button[data-action=run]")
    button.scroll_into_view_if_needed()
    started = time.perf_counter()
    button.click()
    page.wait_for_function(DONE, arg=index, timeout=600_000)
    seconds = time.perf_counter() - started
    state = cells.nth(index).get_attribute("data-live-state")
    page.wait_for_load_state("networkidle")
    page.context.close()
    return seconds, state, index, sizes[:loaded], sizes[loaded:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=live.ROOT / "_build" / "html")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    book = live.serve_book(args.html.resolve(), live.free_port())
    book_url = f"http://127.0.0.1:{book.server_port}/"
    token = secrets.token_urlsafe(32)
    port = live.free_port()
    kernel_url = f"http://127.0.0.1:{port}/"
    with tempfile.TemporaryDirectory() as folder:
        process = live.start_kernel_server(book_url.rstrip("/"), token, port, Path(folder),
                                           log=(Path(folder) / "server.log").open("w"))
        try:
            assert live.wait_for_kernel_server(kernel_url, token, process)
            fragment = f"#kernel={kernel_url}&token={token}"
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium,
                                                     args=CHROMIUM_ARGS)
                for name, index, what in [
                        ("simplified-self-attention", -1,
                         "chapter 3, Run on the last cell (runs all earlier cells first)"),
                        ("trainable-self-attention", 0,
                         "chapter 4, Run on the first cell, fresh kernel")]:
                    runs = [time_run(browser, f"{book_url}{name}.html{fragment}", index,
                                     args.html.resolve(), book_url)
                            for _ in range(args.repeat)]
                    seconds = [run[0] for run in runs]
                    print(f"{what} (cell {runs[0][2] + 1}, {[r[1] for r in runs]}): "
                          f"median {statistics.median(seconds):.1f} s, "
                          f"range {min(seconds):.1f}-{max(seconds):.1f} s")
                    before, after = runs[0][3], runs[0][4]
                    own = sum(size for url, size in before if "attnbook-live" in url)
                    page = (args.html / f"{name}.html").read_text(encoding="utf-8")
                    island = page[page.find('id="attnbook-live-config"'):]
                    own += len(island[:island.find("</script>")].encode())
                    thebe = sum(size for url, size in after if "/_static/thebe/" in url)
                    print(f"  before Run the page loads {sum(s for _, s in before) / 1e6:.2f} MB "
                          f"({len(before)} files), of which the live code's script, style and "
                          f"cell sources {own / 1e3:.1f} kB; the first Run loads thebe, "
                          f"{thebe / 1e6:.2f} MB (" + ", ".join(
                              f"{url.rsplit('/', 1)[-1].split('?')[0]} {size / 1e3:.0f} kB"
                              for url, size in after if "/_static/thebe/" in url) + ")")
                browser.close()
        finally:
            live.stop_process(process)
            book.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
