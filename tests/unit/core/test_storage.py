"""The BlobStore contract, as a conformance suite every backend must pass, and the local folder layout.

Every test taking `store` runs on each backend in `STORES`: the local folder, and an S3 bucket on a real
SeaweedFS (tests/seaweed.py). The S3 store's own behaviour (layout, multipart leftovers, presigned URLs) is
tested in test_storage_s3.py.
"""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from packyard.core.storage import BlobRef, BlobStore, LocalBlobStore
from packyard.core.storage import local as local_module


def _local(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def _s3(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    from packyard.core.storage.s3 import S3BlobStore

    seaweed = request.getfixturevalue("seaweed")
    return S3BlobStore(seaweed.new_bucket(), "blobs/", tmp_path / "tmp", client=seaweed.client())


STORES: dict[str, Callable[[pytest.FixtureRequest, Path], BlobStore]] = {"local": _local, "s3": _s3}

MiB = 1 << 20


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return STORES[request.param](request, tmp_path)


def temp_names(store: BlobStore) -> list[str]:
    return sorted(leftover.name for leftover in store.iter_temp())


def ref_of(data: bytes) -> BlobRef:
    return BlobRef(
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        size=len(data),
    )


def read(store: BlobStore, sha256: str) -> bytes:
    with store.open(sha256) as fh:
        return fh.read()


# --- conformance: every backend ---------------------------------------------------------------------------------


def test_receive_hashes_and_commits(store) -> None:
    chunks = [b"hello ", b"", b"blob ", b"world" * 1000]
    data = b"".join(chunks)
    with store.receive() as incoming:
        for chunk in chunks:
            incoming.write(chunk)
        digest = incoming.digest()
        assert digest == ref_of(data)
        # Written and hashed, but not a blob yet: a parser may still reject it.
        assert incoming.path.read_bytes() == data
        assert not store.exists(digest.sha256)
        assert list(store.iter_blobs()) == []
        assert incoming.digest() == digest  # idempotent
        committed = incoming.commit()
    assert committed == digest
    assert store.exists(digest.sha256) and store.size(digest.sha256) == len(data)
    assert read(store, digest.sha256) == data
    assert list(store.iter_blobs()) == [digest.sha256]
    assert temp_names(store) == []


def test_commit_without_digest(store) -> None:
    with store.receive() as incoming:
        incoming.write(b"abc")
        assert incoming.commit() == ref_of(b"abc")
    assert read(store, ref_of(b"abc").sha256) == b"abc"


def test_leaving_the_block_without_commit_discards(store) -> None:
    with store.receive() as incoming:
        incoming.write(b"never committed")
        path = incoming.path
        assert path.exists() and temp_names(store) == [str(path)]
    assert not path.exists()
    with store.receive() as incoming:
        incoming.write(b"hashed, then rejected by the parser")
        incoming.digest()
    assert temp_names(store) == [] and list(store.iter_blobs()) == []
    assert not store.exists(ref_of(b"never committed").sha256)


def test_an_exception_inside_the_block_discards(store) -> None:
    with pytest.raises(ZeroDivisionError), store.receive() as incoming:  # noqa: PT012
        incoming.write(b"half an upload")
        path = incoming.path
        raise ZeroDivisionError
    assert not path.exists()
    assert temp_names(store) == [] and list(store.iter_blobs()) == []


def test_committing_the_same_content_twice(store) -> None:
    first = store.put_bytes(b"same bytes")
    with store.receive() as incoming:
        incoming.write(b"same ")
        incoming.write(b"bytes")
        second = incoming.commit()
    assert first == second == ref_of(b"same bytes")
    assert list(store.iter_blobs()) == [first.sha256]
    assert temp_names(store) == []
    assert read(store, first.sha256) == b"same bytes"


def test_put_bytes_and_empty_blob(store) -> None:
    ref = store.put_bytes(b"side document")
    assert ref == ref_of(b"side document") and read(store, ref.sha256) == b"side document"
    empty = store.put_bytes(b"")
    assert empty == ref_of(b"") and store.size(empty.sha256) == 0 and read(store, empty.sha256) == b""
    assert sorted(store.iter_blobs()) == sorted([ref.sha256, empty.sha256])
    assert temp_names(store) == []


def test_delete(store) -> None:
    ref = store.put_bytes(b"to delete")
    store.delete(ref.sha256)
    assert not store.exists(ref.sha256) and list(store.iter_blobs()) == []
    store.delete(ref.sha256)  # deleting what is gone is not an error (fsck may race another fsck)


def test_iter_blobs_and_iter_temp(store) -> None:
    refs = {store.put_bytes(f"blob {i}".encode()).sha256 for i in range(20)}
    with store.receive() as a, store.receive() as b:
        a.write(b"in flight")
        b.write(b"also in flight")
        assert temp_names(store) == sorted([str(a.path), str(b.path)])
        assert set(store.iter_blobs()) == refs
    assert temp_names(store) == []


BAD_KEYS = [
    "../../../../etc/passwd",
    "..",
    "",
    "a" * 63,
    "a" * 65,
    "A" * 64,  # keys are lower-case hex
    "g" * 64,
    "ab/" + "a" * 61,
    "/" + "a" * 63,
    "a" * 64 + "\n",
    "tmp/" + "a" * 60,
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_keys_must_be_sha256(store, key) -> None:
    """Every method taking a key refuses anything but 64 lower-case hex digits: no path traversal."""
    with pytest.raises(ValueError, match="sha256"):
        store.open(key)
    with pytest.raises(ValueError, match="sha256"):
        store.exists(key)
    with pytest.raises(ValueError, match="sha256"):
        store.size(key)
    with pytest.raises(ValueError, match="sha256"):
        store.delete(key)
    with pytest.raises(ValueError, match="sha256"):
        store.local_path(key)
    with pytest.raises(ValueError, match="sha256"):
        store.modified(key)
    with pytest.raises(ValueError, match="sha256"):
        store.presigned_url(key, 60, content_type="application/octet-stream")


def test_check(store) -> None:
    store.check()  # the folder is writable, the bucket answers


def test_missing_blobs(store) -> None:
    """A blob that is not there: FileNotFoundError to read or size it (callers catch OSError), None as its age."""
    absent = ref_of(b"never stored").sha256
    assert not store.exists(absent) and store.modified(absent) is None
    with pytest.raises(FileNotFoundError):
        store.size(absent)
    with pytest.raises(FileNotFoundError):
        read(store, absent)


def test_ranges(store) -> None:
    """open(start, stop) gives exactly those bytes (serving a Range from a store without local files)."""
    data = bytes(range(256)) * 40
    ref = store.put_bytes(data)
    for start, stop in [(0, None), (0, 1), (5, 17), (100, None), (len(data) - 1, len(data)), (0, len(data))]:
        with store.open(ref.sha256, start, stop) as fh:
            assert fh.read() == data[start:stop], (start, stop)
    with store.open(ref.sha256, 10, 10) as fh:
        assert fh.read() == b""
    with store.open(ref.sha256, 3, 4000) as fh:  # read in pieces
        pieces = list(iter(lambda: fh.read(1000), b""))
    assert b"".join(pieces) == data[3:4000]


def test_modified_is_when_the_blob_was_last_stored(store) -> None:
    """fsck's grace period is measured from here: committing the same bytes again makes the blob young again
    (an old orphan about to be named by a new row must not look old)."""
    import time

    before = time.time()
    ref = store.put_bytes(b"aging")
    first = store.modified(ref.sha256)
    assert first is not None and before - 2 <= first <= time.time() + 2
    time.sleep(1.1)
    store.put_bytes(b"aging")
    second = store.modified(ref.sha256)
    assert second is not None and second >= first + 1


def test_streaming_50_mib_is_not_held_in_memory(store) -> None:
    """50 MiB in 1 MiB chunks: the bytes go to disk as they come, only the digests stay in memory."""
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    tracemalloc.start()
    try:
        with store.receive() as incoming:
            for i in range(50):
                chunk = os.urandom(MiB - i)  # distinct chunks, so a store keeping them would show
                md5.update(chunk)
                sha256.update(chunk)
                incoming.write(chunk)
                del chunk
            assert incoming.path.stat().st_size >= 49 * MiB  # on disk before commit
            _current, peak = tracemalloc.get_traced_memory()
            ref = incoming.commit()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB, f"{peak / MiB:.1f} MiB were held while streaming 50 MiB"
    size = sum(MiB - i for i in range(50))
    assert ref == BlobRef(sha256=sha256.hexdigest(), md5=md5.hexdigest(), size=size)
    assert store.size(ref.sha256) == size
    digest = hashlib.sha256()
    with store.open(ref.sha256) as fh:
        for block in iter(lambda: fh.read(MiB), b""):
            digest.update(block)
    assert digest.hexdigest() == ref.sha256
    assert temp_names(store) == []


# --- the local folder -------------------------------------------------------------------------------------------


def test_local_layout(tmp_path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    ref = store.put_bytes(b"layout")
    expected = tmp_path / "blobs" / ref.sha256[:2] / ref.sha256[2:4] / ref.sha256
    assert store.path_for(ref.sha256) == store.local_path(ref.sha256) == expected
    assert expected.read_bytes() == b"layout"
    with store.receive() as incoming:
        assert incoming.path.parent == tmp_path / "blobs" / "tmp"  # same filesystem: the rename is atomic
        assert incoming.path.suffix == ".part"


@pytest.mark.parametrize("key", BAD_KEYS)
def test_local_path_for_refuses_non_sha256(tmp_path, key) -> None:
    with pytest.raises(ValueError, match="sha256"):
        LocalBlobStore(tmp_path / "blobs").path_for(key)


def test_local_iter_blobs_ignores_strays(tmp_path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    ref = store.put_bytes(b"real")
    folder = store.path_for(ref.sha256).parent
    (folder / "README").write_text("not a blob")
    (folder / f"{ref.sha256[:-1]}X").write_text("not a sha256")
    (tmp_path / "blobs" / "tmp" / "notes.txt").write_text("not a temp upload")
    assert list(store.iter_blobs()) == [ref.sha256]
    assert temp_names(store) == []


def test_local_a_failed_rename_leaves_no_temp_file(tmp_path, monkeypatch) -> None:
    store = LocalBlobStore(tmp_path / "blobs")

    def no_space(*_args) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local_module.os, "replace", no_space)
    with pytest.raises(OSError, match="No space"), store.receive() as incoming:  # noqa: PT012
        incoming.write(b"doomed")
        incoming.commit()
    assert temp_names(store) == [] and list(store.iter_blobs()) == []


def test_local_commit_is_durable_before_it_returns(tmp_path, monkeypatch) -> None:
    """commit() fsyncs the file, then the folders naming it, so a row naming the blob never outlives a power cut."""
    store = LocalBlobStore(tmp_path / "blobs")
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(local_module.os, "fsync", fsync)
    with store.receive() as incoming:
        incoming.write(b"durable")
        temp = str(incoming.path)
        ref = incoming.commit()
    leaf = store.path_for(ref.sha256).parent
    # The blob's folder, and since blobs/ab/ and blobs/ab/cd/ were new, the folders holding their entries.
    assert synced[0] == temp
    assert sorted(synced[1:]) == sorted(str(p) for p in (leaf, leaf.parent, leaf.parent.parent))

    synced.clear()
    with store.receive() as incoming:
        incoming.write(b"durable")
        temp = str(incoming.path)
        incoming.commit()
    assert synced == [temp, str(leaf)]  # the folders exist now: only the file and its folder


def test_index_cache_builds_a_stale_key_once_for_concurrent_readers() -> None:
    import threading
    import time

    from packyard.core.indexes import Document, IndexCache

    cache = IndexCache()
    builds = []

    def build() -> Document:
        builds.append(1)
        time.sleep(0.2)
        return Document(b'{"x":1}')

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_build(("k", 1), build))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert len(results) == 8
    assert all(doc is results[0] for doc in results)
