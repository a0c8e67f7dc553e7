"""Download counts are tallied in memory and written in batches (core/services/downloads.py, issue #11 item 7)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from packyard.core.db import Database
from packyard.core.models import File
from packyard.core.services.downloads import DownloadCounter
from tests.unit.api.helpers import auth, login


def _file_id(client: TestClient, make_user: Any) -> int:
    make_user("counted", "password-123")
    token = login(client, "counted", "password-123")
    response = client.post(
        "/api/repo/counted",
        headers=auth(token),
        data={"filetype": "file", "name": "data", "version": "1"},
        files={"content": ("data.csv", b"a,b\n1,2\n")},
    )
    assert response.status_code == 200, response.text
    return int(
        client.get("/api/package/counted/data").json()["files"][0]["id"]
    )  # the API sends it as a string


def _ndownloads(db: Database, file_id: int) -> int:
    with db.read() as session:
        return session.scalar(select(File.ndownloads).where(File.id == file_id)) or 0


def test_counts_are_written_at_a_flush_and_at_shutdown(
    client: TestClient, db: Database, make_user: Any
) -> None:
    file_id = _file_id(client, make_user)
    downloads = client.app.state.services.downloads
    downloads.interval = 3600  # only explicit flushes here
    url = "/api/download/counted/data/1/data.csv"
    for _ in range(3):
        assert client.get(url).status_code == 200
    assert client.head(url).status_code == 200  # not a download
    assert (
        client.get(url, headers={"Range": "bytes=4-"}).status_code == 206
    )  # a resumed one: not counted again
    etag = client.get(url).headers["etag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304  # nothing sent
    assert (downloads.pending(), _ndownloads(db, file_id)) == ({file_id: 4}, 0)
    downloads.flush()
    assert (downloads.pending(), _ndownloads(db, file_id)) == ({}, 4)
    assert client.get("/api/package/counted/data").json()["files"][0]["ndownloads"] == 4
    assert client.get(url).status_code == 200
    client.app.state.services.downloads.close()  # what the app's shutdown does
    assert _ndownloads(db, file_id) == 5


class _Broken:
    """A database whose writer is unavailable (busy past its timeout, or gone)."""

    @contextmanager
    def write(self) -> Iterator[Any]:
        raise RuntimeError("database is locked")
        yield


def test_counts_survive_a_failed_flush(db: Database) -> None:
    counter = DownloadCounter(_Broken(), interval=3600)  # type: ignore[arg-type]
    counter.add(7)
    counter.add(7)
    with pytest.raises(RuntimeError):
        counter.flush()
    counter.add(8)
    assert counter.pending() == {7: 2, 8: 1}
    counter.db = db
    counter.close()
    assert counter.pending() == {}
