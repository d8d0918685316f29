"""Serve the book with a Jupyter kernel, so that its code runs in the page (``tox -e live``).

Builds the book into ``_build/html`` (Sphinx rebuilds only what changed; the chapters'
execution is cached), serves it on ``http://127.0.0.1:8000``, starts a
``jupyter_server`` whose kernels are ``ipykernel`` in this environment (the real
``attnbook`` and PyTorch), and prints one URL to open. Ctrl-C stops both.

The kernel runs whatever the page sends, as you, so the server:

- listens on 127.0.0.1 only, with a fresh random token at every start (kept out of the
  command line and the environment: it is in a private configuration file);
- accepts requests from exactly the book's origin (``allow_origin``);
- runs no terminals, and its kernels start in an empty temporary folder;
- stops a kernel after 15 minutes without use (``--cull-minutes``), even with the page open.

The token reaches the page in the URL fragment (``#kernel=…&token=…``), which the
browser never sends to the book's server; the page keeps it in ``sessionStorage`` and
removes it from the address bar (``docs/_static/attnbook-live.js``).

    python tools/live.py [--port 8000] [--kernel-port 0] [--no-build] [--html DIR]
"""

import argparse
import functools
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ROOT / "docs" / "_kernels"  # the chapters' kernel spec: ipykernel, its log at ERROR
CULL_MINUTES = 15


def free_port(preferred=0):
    """``preferred`` if it is free on 127.0.0.1, else a free port the system picks."""
    for port in dict.fromkeys([preferred, 0]):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError("no free port on 127.0.0.1")


def kernel_server_config(origin, token, port, folder, cull_minutes=CULL_MINUTES):
    """The ``jupyter_server`` configuration: 127.0.0.1, one token, one origin, culling."""
    if not token:
        raise ValueError("the kernel server needs a token")
    cull_seconds = max(1, round(cull_minutes * 60))
    return {
        "IdentityProvider": {"token": token},
        "ServerApp": {
            "ip": "127.0.0.1",
            "port": port,
            "port_retries": 0,
            "open_browser": False,
            "allow_remote_access": False,
            "allow_origin": origin,
            # the same header on error answers too, so that the page can read a 403 (a
            # wrong token) instead of seeing a failed request
            "tornado_settings": {"headers": {"Access-Control-Allow-Origin": origin}},
            "root_dir": str(Path(folder) / "kernels"),
            "terminals_enabled": False,
            "log_level": "WARN",
        },
        "MappingKernelManager": {
            "cull_idle_timeout": cull_seconds,
            "cull_interval": max(1, min(60, cull_seconds // 2)),
            "cull_connected": True,  # an open page does not keep an idle kernel alive
        },
    }


def start_kernel_server(origin, token, port, folder, cull_minutes=CULL_MINUTES, log=None):
    """Start ``jupyter_server`` for the book at ``origin``; returns the process.

    ``folder`` (private, created here) holds the configuration with the token, the
    server's runtime files and the kernels' working folder.
    """
    folder = Path(folder)
    config = kernel_server_config(origin, token, port, folder, cull_minutes)
    (folder / "kernels").mkdir(parents=True, exist_ok=True)
    (folder / "runtime").mkdir(exist_ok=True)
    os.chmod(folder, 0o700)
    config_file = folder / "jupyter_server_config.json"
    config_file.touch(mode=0o600)
    config_file.write_text(json.dumps(config), encoding="utf-8")
    command = [sys.executable, "-m", "jupyter_server", f"--config={config_file}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers
        command.append("--ServerApp.allow_root=True")
    env = dict(os.environ)
    env.pop("JUPYTER_TOKEN", None)
    env["JUPYTER_RUNTIME_DIR"] = str(folder / "runtime")
    env["JUPYTER_PATH"] = os.pathsep.join(
        filter(None, [str(KERNELS), os.environ.get("JUPYTER_PATH", "")]))
    env.setdefault("MPLBACKEND", "Agg")  # as in the build (the page turns on inline figures)
    # one intra-op thread, as the build's kernels (conf.py): the chapters' models are
    # small, and more threads only spin against other processes on a busy machine
    env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = os.environ.get("ATTNBOOK_NUM_THREADS", "1")
    # stdin is no terminal: on SIGINT the server stops at once instead of asking
    return subprocess.Popen(command, stdin=subprocess.DEVNULL,
                            stdout=log or None, stderr=subprocess.STDOUT if log else None,
                            env=env)


def wait_for_kernel_server(url, token, process, timeout=60):
    """Wait until ``url`` answers ``api/status`` with ``token``; False if it never does."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url + "api/status",
                                     headers={"Authorization": f"token {token}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def stop_process(process, timeout=10):
    if process.poll() is None:
        process.terminate()  # jupyter_server shuts its kernels down on SIGTERM
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class BookHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the built book; a missing page gets the book's 404 page. Logs nothing."""

    def log_message(self, *args):
        pass

    def send_error(self, code, message=None, explain=None):
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            return super().send_error(code, message, explain)
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return None


def serve_book(html, port):
    """Serve ``html`` on 127.0.0.1:``port`` in a thread; returns the server."""
    handler = functools.partial(BookHandler, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def live_url(book_url, kernel_url, token, page="index.html"):
    """The one URL to open: the book, with the kernel's address and token in the fragment."""
    return f"{book_url}{page}#kernel={kernel_url}&token={token}"


def build(html):
    print("Building the book (Sphinx rebuilds what changed; a first build executes every "
          "chapter: minutes)…", flush=True)
    command = [sys.executable, "-m", "sphinx", "-q", "-j", "auto", "-n", "--keep-going",
               "-c", str(ROOT), str(ROOT / "docs"), str(html)]
    return subprocess.run(command, cwd=ROOT).returncode == 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000,
                        help="port of the book on 127.0.0.1 (another one if it is taken)")
    parser.add_argument("--kernel-port", type=int, default=0,
                        help="port of the kernel server on 127.0.0.1 (default: a free one)")
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html",
                        help="the built book (default: _build/html)")
    parser.add_argument("--no-build", action="store_true", help="serve the book as it is")
    parser.add_argument("--cull-minutes", type=float, default=CULL_MINUTES,
                        help="stop a kernel after this many minutes without use")
    args = parser.parse_args(argv)

    html = args.html.resolve()
    if not args.no_build and not build(html):
        print("The build reported errors; serving what was built.", file=sys.stderr)
    if not (html / "index.html").is_file():
        print(f"No built book in {html}.", file=sys.stderr)
        return 1

    book = serve_book(html, free_port(args.port))
    book_url = f"http://127.0.0.1:{book.server_port}/"
    origin = book_url.rstrip("/")
    token = secrets.token_urlsafe(32)
    kernel_port = free_port(args.kernel_port)
    kernel_url = f"http://127.0.0.1:{kernel_port}/"
    folder = Path(tempfile.mkdtemp(prefix="attnbook-live-"))
    signal.signal(signal.SIGTERM, _interrupt)
    process = None
    try:
        process = start_kernel_server(origin, token, kernel_port, folder, args.cull_minutes)
        if not wait_for_kernel_server(kernel_url, token, process):
            print("The kernel server did not start (see above).", file=sys.stderr)
            return 1
        print(f"\nThe book, with its code running in a Python kernel of {sys.prefix}:\n\n"
              f"    {live_url(book_url, kernel_url, token)}\n\n"
              "Open this URL in a browser (it holds the kernel's token: keep it to "
              "yourself). Ctrl-C stops the book and the kernel.", flush=True)
        while process.poll() is None:
            time.sleep(0.5)
        print(f"The kernel server stopped (exit code {process.returncode}).", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping the book and the kernel server…", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if process is not None:
            stop_process(process)
        book.shutdown()
        book.server_close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
