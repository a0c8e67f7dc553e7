"""Downloads from a server whose blobs are in S3 and that answers each download with a 302 to a presigned URL
of the bucket (`PACKYARD_BLOB_REDIRECT=1`, a real SeaweedFS): the client follows it without sending its token
into the bucket (the signed URL is the credential), and still checks the sha256."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.client.conftest import new_account
from tests.conftest import LiveServer, start_server
from tests.seaweed import SeaweedS3

pytestmark = pytest.mark.xdist_group("client-s3")

DATA = b"bytes kept in a bucket\n" * 5000


@pytest.fixture(scope="module")
def redirecting(seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        **seaweed.env(),
        "PACKYARD_BLOB_URL": f"s3://{seaweed.new_bucket()}/blobs/",
        "PACKYARD_BLOB_REDIRECT": "1",
        "PACKYARD_BLOB_REDIRECT_MINUTES": "2",
    }
    live = start_server(tmp_path_factory.mktemp("client-s3"), extra_env=env)
    try:
        yield live
    finally:
        live.stop()


def test_downloads_follow_the_redirect_into_the_bucket(redirecting: LiveServer, tmp_path: Path) -> None:
    account = new_account(redirecting, "s3")
    owner = account.login
    with account.client() as api:
        api.add_package(owner, "bucketed", summary="in S3", public=False)
        api.add_release(owner, "bucketed", "1.0", [], None, {})
        api.upload(owner, "bucketed", "1.0", "data.txt", io.BytesIO(DATA), "file")

        first = httpx.get(
            f"{redirecting.api}/download/{owner}/bucketed/1.0/data.txt",
            headers={"Authorization": f"token {account.token}"},
        )
        assert first.status_code in (302, 307) and "X-Amz-Signature" in first.headers["location"]
        sent: list[httpx.Request] = []
        api._t.http.event_hooks["request"].append(
            sent.append
        )  # every request the client sends, redirects too

        path = api.download_file(owner, "bucketed", "1.0", "data.txt", tmp_path)
        assert path.read_bytes() == DATA
        with api.download(owner, "bucketed", "1.0", "data.txt") as answer:  # type: ignore[union-attr]
            assert answer.content == DATA and "X-Amz-Signature" in answer.url
        assert (
            hashlib.sha256(DATA).hexdigest()
            == api.distribution(owner, "bucketed", "1.0", "data.txt")["sha256"]
        )
