"""Conda channel documents served in-process: records, incremental updates, access, shards, host routing."""

from __future__ import annotations

import hashlib
import time

import msgpack
import pytest
import zstandard
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import text

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import migrate
from tests.builders import build_conda, rewrite_zip
from tests.unit.api.helpers import auth, login, upload


@pytest.fixture
def alice(client, make_user) -> str:
    make_user("alice")
    return login(client, "alice", "password-123")


def put(client, token, tmp_path, name="foo", version="1.0", subdir="noarch", fmt="conda", labels=None, **kw):
    folder = tmp_path / f"{name}-{version}-{subdir}-{fmt}"
    folder.mkdir(exist_ok=True)
    path = build_conda(folder, name=name, version=version, subdir=subdir, fmt=fmt, **kw)
    response = upload(
        client, token, "alice", name, version, path, f"{subdir}/{path.name}", "conda", labels=labels
    )
    return response, path


def repodata(client, channel="alice", subdir="noarch", headers=None):
    response = client.get(f"/conda/{channel}/{subdir}/repodata.json", headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def unshard(data: bytes):
    return msgpack.unpackb(zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 24), raw=False)


def test_record_fields(client, alice, tmp_path) -> None:
    _, path = put(
        client,
        alice,
        tmp_path,
        name="rec",
        subdir="linux-64",
        fmt="tar.bz2",
        depends=["python >=3.9"],
        run_exports={"weak": ["rec >=1.0"]},
    )
    rec = repodata(client, subdir="linux-64")["packages"][path.name]
    data = path.read_bytes()
    assert rec["md5"] == hashlib.md5(data).hexdigest()
    assert rec["sha256"] == hashlib.sha256(data).hexdigest()
    assert rec["size"] == len(data)
    assert (rec["name"], rec["version"], rec["build"], rec["build_number"]) == ("rec", "1.0", "0", 0)
    assert rec["subdir"] == "linux-64"
    assert rec["depends"] == ["python >=3.9"]
    assert rec["run_exports"] == {"weak": ["rec >=1.0"]}
    assert rec["timestamp"] > 10**12  # milliseconds
    doc = repodata(client, subdir="linux-64")
    assert doc["info"] == {"subdir": "linux-64"}
    assert doc["repodata_version"] == 1
    run_exports = client.get("/conda/alice/linux-64/run_exports.json").json()
    assert run_exports["packages"][path.name] == {"run_exports": {"weak": ["rec >=1.0"]}}


def test_every_change_shows_at_once(client, alice, tmp_path) -> None:
    etags = set()

    def state():
        response = client.get("/conda/alice/noarch/repodata.json")
        etags.add(response.headers["etag"])
        doc = response.json()
        return sorted([*doc["packages"], *doc["packages.conda"]])

    assert state() == []
    put(client, alice, tmp_path, name="a", version="1.0")
    put(client, alice, tmp_path, name="a", version="2.0", fmt="tar.bz2")
    assert state() == ["a-1.0-0.conda", "a-2.0-0.tar.bz2"]
    client.post("/api/channels/alice/dev", headers=auth(alice), json={"package": "a", "version": "2.0"})
    dev = client.get("/conda/alice/label/dev/noarch/repodata.json").json()
    assert list(dev["packages"]) == ["a-2.0-0.tar.bz2"]
    client.request(
        "DELETE",
        "/api/channels/alice/main",
        headers=auth(alice),
        json={"package": "a", "version": "2.0", "basename": None},
    )
    assert state() == ["a-1.0-0.conda"]
    client.delete("/api/dist/alice/a/1.0/noarch/a-1.0-0.conda", headers=auth(alice))
    assert state() == []
    assert len(etags) == 3  # strong ETags are content hashes: empty at the start and at the end


def test_bad_uploads_leave_the_channel_unchanged(client, alice, tmp_path) -> None:
    put(client, alice, tmp_path, name="good")
    before = client.get("/conda/alice/noarch/repodata.json")
    bad, _ = put(client, alice, tmp_path, name="bad", index_overrides={"subdir": "linux-64"})
    assert bad.status_code == 400
    assert "subdir" in bad.json()["error"]
    folder = tmp_path / "noinfo"
    folder.mkdir()
    path = build_conda(folder, name="noinfo", fmt="conda")
    rewrite_zip(path, drop=["info-noinfo-1.0-0.tar.zst"])
    response = upload(client, alice, "alice", "noinfo", "1.0", path, f"noarch/{path.name}", "conda")
    assert response.status_code == 400
    assert "info" in response.json()["error"]
    after = client.get("/conda/alice/noarch/repodata.json")
    assert after.headers["etag"] == before.headers["etag"]
    assert after.content == before.content


def test_locked_label_refuses_and_index_stays(client, alice, tmp_path) -> None:
    put(client, alice, tmp_path, name="locked", labels=["stable"])
    client.post("/api/channels/alice/stable/lock", headers=auth(alice))
    response, _ = put(client, alice, tmp_path, name="locked", version="2.0", labels=["stable"])
    assert response.status_code == 409
    assert list(repodata(client, "alice/label/stable")["packages.conda"]) == ["locked-1.0-0.conda"]


def test_access_change_hides_and_shows(client, alice, make_user, tmp_path) -> None:
    put(client, alice, tmp_path, name="pub")
    put(client, alice, tmp_path, name="sec")
    public_etag = client.get("/conda/alice/noarch/repodata.json").headers["etag"]
    client.patch("/api/package/alice/sec", headers=auth(alice), json={"access": "private"})
    anon = client.get("/conda/alice/noarch/repodata.json")
    assert anon.headers["etag"] != public_etag
    assert list(anon.json()["packages.conda"]) == ["pub-1.0-0.conda"]
    assert "public" in anon.headers["cache-control"]
    mine = client.get(f"/conda/t/{alice}/alice/noarch/repodata.json")
    assert sorted(mine.json()["packages.conda"]) == ["pub-1.0-0.conda", "sec-1.0-0.conda"]
    assert "private" in mine.headers["cache-control"]
    make_user("bob")
    bob = login(client, "bob", "password-123")
    assert list(repodata(client, headers=auth(bob))["packages.conda"]) == ["pub-1.0-0.conda"]
    assert client.get("/conda/alice/noarch/sec-1.0-0.conda").status_code == 401
    assert client.get("/conda/alice/noarch/sec-1.0-0.conda", headers=auth(bob)).status_code == 404
    assert client.get(f"/conda/t/{alice}/alice/noarch/sec-1.0-0.conda").status_code == 200
    client.patch("/api/package/alice/pub", headers=auth(alice), json={"access": "private"})
    assert client.get("/conda/alice/noarch/repodata.json").status_code == 401
    assert client.get("/conda/alice/noarch/repodata.json", headers=auth(bob)).status_code == 404


def test_shards_follow_changes_and_are_immutable(client, alice, tmp_path) -> None:
    put(client, alice, tmp_path, name="sh", version="1.0")
    index = unshard(client.get("/conda/alice/noarch/repodata_shards.msgpack.zst").content)
    assert index["info"]["subdir"] == "noarch"
    assert {"base_url", "shards_base_url"} <= set(index["info"])
    old_sha = index["shards"]["sh"].hex()
    first = client.get(f"/conda/alice/noarch/shards/{old_sha}.msgpack.zst")
    assert "immutable" in first.headers["cache-control"]
    assert hashlib.sha256(first.content).hexdigest() == old_sha
    shard = unshard(first.content)
    assert list(shard["packages.conda"]) == ["sh-1.0-0.conda"]
    assert isinstance(shard["packages.conda"]["sh-1.0-0.conda"]["sha256"], bytes)
    put(client, alice, tmp_path, name="sh", version="1.1")
    new_sha = unshard(client.get("/conda/alice/noarch/repodata_shards.msgpack.zst").content)["shards"][
        "sh"
    ].hex()
    assert new_sha != old_sha
    assert sorted(
        unshard(client.get(f"/conda/alice/noarch/shards/{new_sha}.msgpack.zst").content)["packages.conda"]
    ) == ["sh-1.0-0.conda", "sh-1.1-0.conda"]
    # a client holding the older index can still fetch the older shard
    assert client.get(f"/conda/alice/noarch/shards/{old_sha}.msgpack.zst").status_code == 200
    client.patch("/api/package/alice/sh", headers=auth(alice), json={"access": "private"})
    assert client.get(f"/conda/alice/noarch/shards/{new_sha}.msgpack.zst").status_code == 401


def test_the_shard_index_is_the_same_bytes_whenever_and_wherever_it_is_rendered(
    client, alice, tmp_path, settings, db
) -> None:
    """Several nodes (or one node's rebuilds) must agree byte for byte, or each would send its own ETag."""
    put(client, alice, tmp_path, name="det", version="1.0")
    url = "/conda/alice/noarch/repodata_shards.msgpack.zst"
    first = client.get(url)
    time.sleep(1.1)  # a rendering time in it would now differ (it has second resolution)
    with TestClient(create_app(settings, db=db)) as other_node:  # its own caches, the same database
        again = other_node.get(url)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    with db.read() as session:
        latest = session.execute(text("SELECT max(at) FROM events WHERE owner = 'alice'")).scalar_one()
    assert unshard(first.content)["info"]["created_at"] == str(latest)[:19].replace(" ", "T") + "Z"


def test_compressed_variants_match(client, alice, tmp_path) -> None:
    import bz2

    put(client, alice, tmp_path, name="zz")
    plain = client.get("/conda/alice/noarch/repodata.json").content
    zst = client.get("/conda/alice/noarch/repodata.json.zst")
    assert zstandard.ZstdDecompressor().decompress(zst.content, max_output_size=1 << 24) == plain
    assert zst.headers["etag"] != client.get("/conda/alice/noarch/repodata.json").headers["etag"]
    assert bz2.decompress(client.get("/conda/alice/noarch/repodata.json.bz2").content) == plain
    assert client.get("/conda/alice/noarch/current_repodata.json").content == plain
    assert client.get("/conda/alice/channeldata.json").json()["packages"]["zz"]["subdirs"] == ["noarch"]


def test_transfer_moves_records(client, alice, tmp_path) -> None:
    client.post("/api/orgs/acme", headers=auth(alice), json={})
    put(client, alice, tmp_path, name="mover", labels=["dev"])
    client.post("/api/package/alice/mover/transfer", headers=auth(alice), json={"to_owner": "acme"})
    assert repodata(client, "alice/label/dev")["packages.conda"] == {}
    assert list(repodata(client, "acme/label/dev")["packages.conda"]) == ["mover-1.0-0.conda"]


def test_conda_subdomain_and_token_positions(settings, db, make_user, tmp_path) -> None:
    from fastapi.testclient import TestClient

    from packyard.app import create_app

    settings = Settings(data=settings.data, base_url="http://example.org", domain="example.org")
    client = TestClient(create_app(settings, db=db))
    make_user("alice")
    token = login(client, "alice", "password-123")
    put(client, token, tmp_path, name="dom")
    via_host = client.get("/alice/noarch/repodata.json", headers={"Host": "conda.example.org"})
    assert list(via_host.json()["packages.conda"]) == ["dom-1.0-0.conda"]
    with_token = client.get(f"/t/{token}/alice/noarch/repodata.json", headers={"Host": "conda.example.org"})
    assert with_token.status_code == 200


def test_migration_0007_backfills_slice_membership(client, alice, settings, db, tmp_path) -> None:
    """Upgrading a database made before `conda_members` gives every labelled file the rows uploads now write."""
    put(client, alice, tmp_path, name="both", labels=["main", "dev"])
    put(client, alice, tmp_path, name="lin", subdir="linux-64")
    put(client, alice, tmp_path, name="dev", fmt="tar.bz2", labels=["dev"])
    query = text("SELECT owner_id, label, subdir, file_id FROM conda_members")
    with db.read() as session:
        recorded = set(session.execute(query).all())
    assert {(label, subdir) for _, label, subdir, _ in recorded} == {
        ("main", "noarch"),
        ("dev", "noarch"),
        ("main", "linux-64"),
    }
    assert len(recorded) == 4
    db.dispose()
    command.downgrade(migrate.alembic_config(settings.sqlalchemy_url), "0006")
    migrate.upgrade(settings.sqlalchemy_url)
    with db.read() as session:
        assert set(session.execute(query).all()) == recorded
    assert sorted(repodata(client, "alice/label/dev")["packages"]) == ["dev-1.0-0.tar.bz2"]
