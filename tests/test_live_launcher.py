"""The kernel server of `tox -e live` (tools/live.py) is configured as the page needs.

The kernel runs whatever the page sends, as the reader: the server listens on
127.0.0.1 only, needs a token, answers exactly the book's origin, and stops idle
kernels. The end-to-end behaviour is in ``tests/browser/test_live.py``.
"""

import importlib.util
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("live", ROOT / "tools" / "live.py")
live = importlib.util.module_from_spec(spec)
spec.loader.exec_module(live)

ORIGIN = "http://127.0.0.1:8000"


def test_the_server_listens_on_loopback_for_the_book_origin_only(tmp_path):
    config = live.kernel_server_config(ORIGIN, "s3cret-token", 8888, tmp_path)
    app = config["ServerApp"]
    assert app["ip"] == "127.0.0.1" and app["allow_remote_access"] is False
    assert app["port"] == 8888 and app["port_retries"] == 0  # this port or none
    assert app["allow_origin"] == ORIGIN  # exactly, not a pattern, not "*"
    assert "allow_origin_pat" not in app
    assert app["tornado_settings"]["headers"] == {"Access-Control-Allow-Origin": ORIGIN}
    assert app["terminals_enabled"] is False and app["open_browser"] is False
    assert Path(app["root_dir"]).parent == tmp_path
    assert config["IdentityProvider"]["token"] == "s3cret-token"


def test_idle_kernels_are_stopped_after_15_minutes_even_with_the_page_open(tmp_path):
    culling = live.kernel_server_config(ORIGIN, "t", 8888, tmp_path)["MappingKernelManager"]
    assert culling["cull_idle_timeout"] == 15 * 60
    assert 0 < culling["cull_interval"] <= 60
    assert culling["cull_connected"] is True


def test_there_is_no_server_without_a_token(tmp_path):
    with pytest.raises(ValueError, match="token"):
        live.kernel_server_config(ORIGIN, "", 8888, tmp_path)


def test_the_token_travels_in_the_fragment_only():
    url = live.live_url("http://127.0.0.1:8000/", "http://127.0.0.1:8888/", "abc-DEF_123")
    parsed = urlparse(url)
    assert (parsed.scheme, parsed.hostname, parsed.port) == ("http", "127.0.0.1", 8000)
    assert parsed.path == "/index.html" and parsed.query == ""
    assert parsed.fragment == "kernel=http://127.0.0.1:8888/&token=abc-DEF_123"


def test_a_taken_port_is_replaced_by_a_free_one():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        other = live.free_port(port)
    assert other != port and other > 0
