"""core/mirrors/upstream.py: one client per process, and an upstream host that could not be reached is left alone
for RETRY_SECONDS, so offline mode answers from the cache at once instead of waiting on the upstream again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from packyard.core.mirrors import upstream
from tests.conftest import free_port


class _Index(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html></html>")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    upstream.forget_down_hosts()
    yield
    upstream.forget_down_hosts()


def test_an_unreachable_host_is_left_alone_then_asked_again() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/simple/pkg/"
    with pytest.raises(upstream.Unreachable, match="could not be reached"):
        upstream.get(url, accept="text/html")

    server = ThreadingHTTPServer(("127.0.0.1", port), _Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        with pytest.raises(upstream.Unreachable, match="not asked again for"):
            upstream.get(url, accept="text/html")  # the host is up now, but still left alone
        with pytest.raises(upstream.Unreachable, match="not asked again for"):
            upstream.download(url.replace("simple/pkg/", "files/pkg.whl"), lambda chunk: None)
        assert time.monotonic() - started < 1

        upstream.forget_down_hosts()
        page = upstream.get(url, accept="text/html")
        assert page.status == 200 and page.body == b"<html></html>"
    finally:
        server.shutdown()
        server.server_close()


def test_an_answer_is_not_a_reason_to_leave_a_host_alone() -> None:
    """A 5xx is Unreachable for that request (serve the cache), but the host answered: ask it again next time."""
    calls = []

    class Broken(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            calls.append(self.path)
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/simple/pkg/"
        for _ in range(2):
            with pytest.raises(upstream.Unreachable, match="answered 503"):
                upstream.get(url, accept="text/html")
        assert len(calls) == 2
    finally:
        server.shutdown()
        server.server_close()


def test_one_client_serves_the_process() -> None:
    assert upstream._client() is upstream._client()
