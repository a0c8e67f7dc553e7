"""Retries: idempotent requests (GET, HEAD, PUT, DELETE) are sent again after a dropped connection or a 502/503/504;
POSTs never are. A tiny socket server in the test plays the flaky proxy, one scripted action per connection."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from packyard.client import Client, errors
from tests.conftest import free_port

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{"login":"bob"}'
DONE = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n"
    b"Connection: close\r\n\r\nnode is restarting"
)


class FlakyServer:
    """Answers the n-th connection with `actions[n]`: "drop" closes it after reading the request, "503",
    "204" and "ok" answer; past the script every connection gets "ok". `requests` records each request line."""

    def __init__(self, actions: list[str]) -> None:
        self.actions = list(actions)
        self.requests: list[str] = []
        self.port = free_port()
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    head += chunk
                if not head:
                    continue
                self.requests.append(head.split(b"\r\n", 1)[0].decode())
                action = self.actions.pop(0) if self.actions else "ok"
                if action == "503":
                    conn.sendall(BUSY)
                elif action == "ok":
                    conn.sendall(OK)
                elif action == "204":
                    conn.sendall(DONE)
                # "drop": close without a word

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def flaky() -> Iterator[type[FlakyServer]]:
    made: list[FlakyServer] = []

    class Made(FlakyServer):
        def __init__(self, actions: list[str]) -> None:
            super().__init__(actions)
            made.append(self)

    yield Made
    for server in made:
        server.close()


def client(server: FlakyServer, retries: int = 3) -> Client:
    return Client(server.url, "tok", retries=retries, backoff=0.01, timeout=5)


def test_a_get_is_sent_again_after_a_dropped_connection(flaky: type[FlakyServer]) -> None:
    server = flaky(["drop"])
    with client(server) as api:
        assert api.user("bob") == {"login": "bob"}
    assert server.requests == ["GET /api/user/bob HTTP/1.1"] * 2


@pytest.mark.parametrize(
    ("method", "answer", "call"),
    [
        ("GET", "ok", lambda api: api.package("bob", "demo")),
        ("PUT", "204", lambda api: api.add_group_member("org", "devs", "bob")),
        ("DELETE", "204", lambda api: api.remove_group_member("org", "devs", "bob")),
        ("HEAD", "ok", lambda api: api.check_server()),
    ],
)
def test_idempotent_methods_retry_on_503_and_drops(
    flaky: type[FlakyServer], method: str, answer: str, call: Callable[[Client], object]
) -> None:
    server = flaky(["503", "drop", answer])
    with client(server) as api:
        call(api)
    assert [line.split()[0] for line in server.requests] == [method] * 3


def test_retries_are_bounded_and_the_last_answer_is_raised(flaky: type[FlakyServer]) -> None:
    server = flaky(["503"] * 5)
    with client(server, retries=2) as api, pytest.raises(errors.ServerError) as caught:
        api.user("bob")
    assert len(server.requests) == 3
    assert caught.value.status == 503 and caught.value.message == "node is restarting"


@pytest.mark.parametrize("action", ["drop", "503"])
def test_a_post_is_never_sent_twice(flaky: type[FlakyServer], action: str) -> None:
    server = flaky([action])
    with client(server) as api, pytest.raises(errors.ServerError) as caught:
        api.add_package("bob", "demo", summary="s")
    assert server.requests == ["POST /api/package/bob/demo HTTP/1.1"]
    if action == "drop":
        assert "cannot reach" in caught.value.message


def test_an_unreachable_server_says_so() -> None:
    api = Client(f"http://127.0.0.1:{free_port()}", retries=1, backoff=0.01)
    with api, pytest.raises(errors.ServerError) as caught:
        api.check_server()
    assert "API server is unavailable" in caught.value.message and "cannot reach" in caught.value.message
