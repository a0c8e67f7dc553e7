"""The one receive pipeline (core/services/receive.py) behind every upload route, seen from the routes.

Four routes receive files: anaconda-client's POST to post_url, twine's/uv's POST /pypi/OWNER, and POST
/api/repo/OWNER (R packages by curl, notebooks, files...). They share one pipeline, which hashes and writes off the
event loop, and each shapes the pipeline's errors in its own protocol (S3 XML, plain text).
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from packyard.core.services import receive
from packyard.core.storage.local import LocalIncoming
from tests.builders import build_r_source, build_wheel
from tests.unit.api.helpers import auth, ensure_package, login, post_form
from tests.unit.formats.named_support import repo_upload


@pytest.fixture
def alice(client, make_user) -> str:
    make_user("alice")
    return login(client, "alice", "password-123")


def twine_upload(
    client, token: str, path: Path, *, blake2: str | None = None, **extra: str
) -> httpx.Response:
    """What twine sends: metadata and digests first, then the file as `content`."""
    data = path.read_bytes()
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "filetype": "bdist_wheel",
        "md5_digest": hashlib.md5(data).hexdigest(),
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        "blake2_256_digest": blake2
        if blake2 is not None
        else hashlib.blake2b(data, digest_size=32).hexdigest(),
        **extra,
    }
    return client.post(
        "/pypi/alice/", auth=("__token__", token), data=fields, files={"content": (path.name, data)}
    )


def rest_post(client, token: str, data: bytes, basename: str = "demo.bin") -> httpx.Response:
    """anaconda-client's stage, then the POST to post_url (the commit is not what these tests look at)."""
    ensure_package(client, token, "alice", "demo")
    staged = client.post(
        f"/api/stage/alice/demo/1/{basename}",
        headers=auth(token),
        json={"distribution_type": "file", "sha256": hashlib.sha256(data).hexdigest()},
    )
    assert staged.status_code == 200, staged.text
    return post_form(client, staged.json(), data, basename)


def test_every_upload_route_goes_through_the_pipeline(client, alice, tmp_path, monkeypatch) -> None:
    calls: list[tuple[str, ...]] = []
    original = receive.receive_form

    async def counted(*args: Any, **kw: Any) -> receive.Received:
        calls.append(kw["file_fields"])
        return await original(*args, **kw)

    monkeypatch.setattr(receive, "receive_form", counted)
    posted = rest_post(client, alice, b"plain bytes")
    assert posted.status_code == 201 and "<PostResponse>" in posted.text, posted.text
    wheel = build_wheel(tmp_path, name="demo-wheel", version="1.0")
    assert twine_upload(client, alice, wheel).status_code == 200
    r_pkg = build_r_source(tmp_path)
    assert (
        repo_upload(client, alice, "alice", "cran_source_package", r_pkg.name, r_pkg.read_bytes()).status_code
        == 200
    )
    notebook = repo_upload(client, alice, "alice", "file", "notes.txt", b"notes", name="notes", version="1")
    assert notebook.status_code == 200, notebook.text
    assert calls == [("file", "content"), ("content",), ("content",), ("content",)]


def test_a_large_upload_does_not_block_other_requests(client, alice, monkeypatch) -> None:
    """While an upload's bytes are being written (here: a disk that stalls), the event loop answers others."""
    entered, release = threading.Event(), threading.Event()
    write = LocalIncoming.write

    def stalled(self: LocalIncoming, chunk: bytes) -> None:
        entered.set()
        release.wait(timeout=5)
        write(self, chunk)

    ensure_package(client, alice, "alice", "demo")
    monkeypatch.setattr(LocalIncoming, "write", stalled)
    data = b"\x00" * (3 << 20)
    result: list[httpx.Response] = []
    uploader = threading.Thread(target=lambda: result.append(rest_post(client, alice, data)))
    uploader.start()
    try:
        assert entered.wait(timeout=10), "the upload never reached the blob store"
        started = time.monotonic()
        health = client.get("/health")
        waited = time.monotonic() - started
    finally:
        release.set()
        uploader.join(timeout=30)
    assert health.status_code == 200
    assert waited < 2, f"GET /health waited {waited:.1f} s for the upload's write"
    assert result and result[0].status_code == 201, result and result[0].text


def test_twine_upload_also_not_blocking(client, alice, tmp_path, monkeypatch) -> None:
    entered, release = threading.Event(), threading.Event()
    write = LocalIncoming.write

    def stalled(self: LocalIncoming, chunk: bytes) -> None:
        entered.set()
        release.wait(timeout=5)
        write(self, chunk)

    monkeypatch.setattr(LocalIncoming, "write", stalled)
    wheel = build_wheel(
        tmp_path, name="big-wheel", version="1.0", modules={"big/data.bin": b"\x01" * (2 << 20)}
    )
    result: list[httpx.Response] = []
    uploader = threading.Thread(target=lambda: result.append(twine_upload(client, alice, wheel)))
    uploader.start()
    try:
        assert entered.wait(timeout=10)
        started = time.monotonic()
        health = client.get("/health")
        waited = time.monotonic() - started
    finally:
        release.set()
        uploader.join(timeout=30)
    assert health.status_code == 200 and waited < 2, waited
    assert result and result[0].status_code == 200, result and result[0].text


def test_too_large_is_413_in_each_protocol(client, alice, settings, tmp_path) -> None:
    settings.max_upload_bytes = 1000
    posted = rest_post(client, alice, b"x" * 5000)
    assert posted.status_code == 413
    assert "<Code>EntityTooLarge</Code>" in posted.text and "larger than the 1000 bytes" in posted.text
    wheel = build_wheel(tmp_path, name="demo-wheel", version="1.0", modules={"demo/data.bin": b"y" * 5000})
    refused = twine_upload(client, alice, wheel)
    assert refused.status_code == 413
    assert refused.text == "the file is larger than the 1000 bytes this server accepts"
    assert not list((settings.blob_root / "tmp").iterdir())


def test_two_file_parts_and_truncated_bodies_are_400(client, alice, settings) -> None:
    two = client.post(
        "/api/repo/alice",
        headers=auth(alice),
        data={"filetype": "file", "name": "two", "version": "1"},
        files=[("content", ("a.txt", b"a")), ("content", ("b.txt", b"b"))],
    )
    assert two.status_code == 400 and "more than one file part" in two.text
    boundary = "cut-short"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="filetype"\r\n\r\nfile\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="a.txt"\r\n\r\nsome bytes'
    )
    cut = client.post(
        "/api/repo/alice",
        headers={**auth(alice), "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body.encode(),
    )
    assert cut.status_code == 400 and "cut short" in cut.text
    assert not list((settings.blob_root / "tmp").iterdir())


def test_blake2_is_checked_when_declared(client, alice, tmp_path, monkeypatch) -> None:
    wheel = build_wheel(tmp_path, name="demo-wheel", version="1.0")
    wrong = twine_upload(client, alice, wheel, blake2="0" * 64)
    assert wrong.status_code == 400
    assert wrong.text == "The digest supplied does not match a digest calculated from the uploaded file."
    # Declared after the file (no client does): still checked, by hashing the received file again.
    data = wheel.read_bytes()
    after = client.post(
        "/pypi/alice/",
        auth=("__token__", alice),
        files=[
            (":action", (None, b"file_upload")),
            ("filetype", (None, b"bdist_wheel")),
            ("content", (wheel.name, data)),
            ("blake2_256_digest", (None, b"1" * 64)),
        ],
    )
    assert after.status_code == 400 and after.text.startswith("The digest supplied")


def test_pipeline_reassembles_a_body_sent_in_pieces(tmp_path) -> None:
    """Pieces as uvicorn hands them over (64 KiB), batched for the worker thread: the bytes stored are the bytes
    sent, in order, and the digests are theirs."""
    from packyard.core.storage import LocalBlobStore

    data = bytes(range(251)) * ((receive.BATCH_BYTES * 2 + 12345) // 251)
    boundary = "pieces"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{receive.BLAKE2_FIELD}"\r\n\r\n'
            f"{hashlib.blake2b(data, digest_size=32).hexdigest()}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="a.bin"\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )

    async def pieces():
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    store = LocalBlobStore(tmp_path / "blobs")

    async def run() -> tuple[receive.Received, bytes]:
        with store.receive() as incoming:
            got = await receive.receive_form(
                incoming,
                f"multipart/form-data; boundary={boundary}",
                pieces(),
                file_fields=("content",),
                max_file_bytes=len(data),
            )
            return got, incoming.path.read_bytes()

    got, stored = anyio.run(run)
    assert stored == data
    assert got.ref.md5 == hashlib.md5(data).hexdigest() and got.ref.size == len(data)
    assert got.blake2_256 == hashlib.blake2b(data, digest_size=32).hexdigest()
    assert got.form.file_size == len(data) and got.form.filename == "a.bin"


@pytest.mark.parametrize("route", ["rest", "repo"])
def test_client_going_away_mid_body_is_400_and_leaves_nothing(client, alice, settings, route) -> None:
    """The body stops with http.disconnect while a batch is in the worker thread: the answer is a 400 (nobody
    reads it, but it is no 500 in the log) and the temp file is gone once the thread is done with it."""
    boundary = "going-away"
    if route == "rest":
        ensure_package(client, alice, "alice", "demo")
        staged = client.post(
            "/api/stage/alice/demo/1/demo.bin", headers=auth(alice), json={"distribution_type": "file"}
        ).json()
        path, fields, headers = staged["post_url"].replace("http://testserver", ""), staged["form_data"], []
    else:
        path, fields = "/api/repo/alice", {"filetype": "file", "name": "demo", "version": "1"}
        headers = [(b"authorization", f"token {alice}".encode())]
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in fields.items()
    )
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="demo.bin"\r\n\r\n'
    if route == "repo":
        head = head.replace('name="file"', 'name="content"')
    messages = [
        {
            "type": "http.request",
            "body": head.encode() + b"\x00" * (receive.BATCH_BYTES + 1000),
            "more_body": True,
        },
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive_message() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
            *headers,
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    anyio.run(client.app, scope, receive_message, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400, sent
    assert b"went away" in b"".join(m.get("body", b"") for m in sent[1:])
    assert not list((settings.blob_root / "tmp").iterdir())
