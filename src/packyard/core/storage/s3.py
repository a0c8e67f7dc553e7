"""Blobs in an S3-compatible bucket: ``PREFIX/ab/cd/<sha256>``, the local store's layout, on boto3.

An upload is still received into a local temp file while it is hashed (the parsers need a seekable local file;
`Incoming.path`), in `TMP/*.part`. `commit()` then copies it to its final key with boto3's managed transfer: one
PUT up to `TRANSFER.multipart_threshold`, a multipart upload above. Either becomes visible under the key only
when it completes (S3 never shows half an object), and the key is reachable only through the row the caller
commits afterwards, so a crash at any point leaves a temp file, an orphan object or an incomplete multipart
upload, all of which `packyard fsck --clean` removes, and never a visible half file.

Memory: an upload from a file name is read from disk as each part is sent, so a node holds at most
`max_concurrency` parts' send buffers, whatever the file's size; with 16 MiB parts and 4 at a time a 1 GiB
upload (64 parts) adds about 11 MB to the node's RSS, which peaks at 148-149 MB, boto3's client included
(docs/benchmarks.md, "Large files on S3"). 16 MiB parts allow objects up
to 156 GiB (S3's limit is 10,000 parts), far above `PACKYARD_MAX_UPLOAD_BYTES`.

Ages: fsck leaves young orphans alone (their row may be committing). An object's age is its LastModified, so a
commit that finds its object already stored "touches" it (a copy onto itself) rather than skipping silently:
otherwise fsck could delete an old orphan at the moment a new row starts naming it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from packyard.core.storage.base import BlobRef, BlobStore, Incoming, Leftover, StoreUnavailable
from packyard.core.storage.local import TempBlob, check_key, temp_files

if TYPE_CHECKING:
    from boto3.s3.transfer import TransferConfig

S3Client = Any
"""boto3's clients are built at run time and carry no type information."""

MiB = 1 << 20
PART = 16 * MiB
"""Multipart threshold and part size."""
CONCURRENCY = 4
"""Parts sent at once per upload."""
COPY_LIMIT = 5 * 1024 * MiB
"""S3's largest single CopyObject; a larger object is touched by a multipart copy."""
_BLOB_KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/([0-9a-f]{64})")
_MISSING = {"404", "NoSuchKey", "NotFound"}


def transfer_config() -> TransferConfig:
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig(
        multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=CONCURRENCY, use_threads=True
    )
    config.max_in_memory_upload_chunks = (
        CONCURRENCY  # only streams without seek() (copy_in) hold parts in memory
    )
    return config


def make_client(endpoint_url: str | None = None, *, addressing_style: str = "auto") -> S3Client:
    """An S3 client configured the ecosystem's way: boto3 reads AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_REGION (and ~/.aws, instance roles...) itself. Signature v4 always: presigned
    URLs of the older scheme are refused by many S3-compatible servers."""
    from botocore.config import Config

    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": addressing_style},
        retries={"max_attempts": 5, "mode": "standard"},
        max_pool_connections=64,  # the server's worker threads (40) each may stream a download
    )
    return _session().client("s3", endpoint_url=endpoint_url, config=config)


@functools.cache
def _session() -> Any:
    """One boto3 session per process: its clients share the parsed service model (a client costs ~16 MB of
    memory on its own session, ~1 MB more on a shared one). Creating clients from one session is thread-safe;
    the clients themselves are too."""
    import boto3

    return boto3.session.Session()


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """boto3's errors as the store's: a missing key is FileNotFoundError, anything else StoreUnavailable."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            raise FileNotFoundError(f"{what}: not in the bucket") from exc
        raise StoreUnavailable(f"{what}: {exc}") from exc
    except (BotoCoreError, Boto3Error) as exc:  # Boto3Error: the managed transfer's S3UploadFailedError
        raise StoreUnavailable(f"{what}: {exc}") from exc


class S3Incoming(TempBlob):
    durable = False  # the temp file is only a spool: the object store keeps the blob

    def __init__(self, store: S3BlobStore) -> None:
        super().__init__(store.tmp)
        self._store = store

    def commit(self) -> BlobRef:
        ref = self.digest()
        self._store.upload(self.path, ref)
        self.discard()
        return ref


class S3BlobStore:
    """A `BlobStore` in `bucket` under `prefix` (empty, or ending in "/"), with temp files in `tmp`."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        tmp: Path,
        *,
        client: S3Client | None = None,
        presign_client: S3Client | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.tmp = tmp
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.client = client or make_client()
        self.presign_client = presign_client or self.client
        self._transfer = transfer_config()

    def __repr__(self) -> str:
        return f"S3BlobStore(s3://{self.bucket}/{self.prefix})"

    def check(self) -> None:
        """Raise StoreUnavailable unless the bucket answers to these credentials (start-up, readiness)."""
        try:
            with _translated(f"s3://{self.bucket}"):
                self.client.head_bucket(Bucket=self.bucket)
        except FileNotFoundError:
            raise StoreUnavailable(f"s3://{self.bucket}: no such bucket") from None

    def key(self, sha256: str) -> str:
        check_key(sha256)
        return f"{self.prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"

    @contextlib.contextmanager
    def receive(self) -> Iterator[Incoming]:
        incoming = S3Incoming(self)
        try:
            yield incoming
        finally:
            incoming.discard()

    def upload(self, path: Path, ref: BlobRef) -> None:
        """Store the file at `path` as the blob `ref`; an object already there with that size is kept (and
        touched, so fsck sees it as young)."""
        key = self.key(ref.sha256)
        stored = self._head(key)
        with _translated(f"storing {key}"):
            if stored is not None and stored["ContentLength"] == ref.size:
                self._touch(key, ref.size)
            else:
                self.client.upload_file(str(path), self.bucket, key, Config=self._transfer)

    def copy_in(self, sha256: str, source: IO[bytes], size: int) -> bool:
        """Store `size` bytes read from `source` as the blob `sha256` unless an object of that size is already
        there (False: skipped). The bytes are hashed while they stream up, and a mismatch (a damaged source)
        raises `CorruptBlob` before the upload completes, so no object appears under a name it does not match.
        (`packyard blobs migrate`; the upload path hashes in `receive()` instead.)"""
        key = self.key(sha256)
        stored = self._head(key)
        if stored is not None and stored["ContentLength"] == size:
            return False
        checked = _Checked(source, sha256, size)
        with _translated(f"storing {key}"):
            self.client.upload_fileobj(checked, self.bucket, key, Config=self._transfer)
        return True

    def _touch(self, key: str, size: int) -> None:
        source = {"Bucket": self.bucket, "Key": key}
        extra = {"MetadataDirective": "REPLACE", "Metadata": {"stored": str(int(time.time()))}}
        if size < COPY_LIMIT:
            self.client.copy_object(CopySource=source, Bucket=self.bucket, Key=key, **extra)
        else:
            self.client.copy(source, self.bucket, key, ExtraArgs=extra, Config=self._transfer)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            with _translated(f"looking up {key}"):
                return cast(dict[str, Any], self.client.head_object(Bucket=self.bucket, Key=key))
        except FileNotFoundError:
            return None

    def put_bytes(self, data: bytes) -> BlobRef:
        with self.receive() as incoming:
            incoming.write(data)
            return incoming.commit()

    def open(self, sha256: str, start: int = 0, stop: int | None = None) -> IO[bytes]:
        key = self.key(sha256)
        if stop is not None and stop <= start:
            return io.BytesIO(b"")
        wanted = {}
        if start or stop is not None:
            wanted["Range"] = f"bytes={start}-{'' if stop is None else stop - 1}"
        with _translated(f"reading {key}"):
            answer = self.client.get_object(Bucket=self.bucket, Key=key, **wanted)
        return cast(IO[bytes], _Body(answer["Body"], key))

    def exists(self, sha256: str) -> bool:
        return self._head(self.key(sha256)) is not None

    def size(self, sha256: str) -> int:
        found = self._head(self.key(sha256))
        if found is None:
            raise FileNotFoundError(f"{self.key(sha256)}: not in the bucket")
        return int(found["ContentLength"])

    def modified(self, sha256: str) -> float | None:
        found = self._head(self.key(sha256))
        return None if found is None else cast(datetime, found["LastModified"]).timestamp()

    def delete(self, sha256: str) -> None:
        key = self.key(sha256)
        with _translated(f"deleting {key}"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def local_path(self, sha256: str) -> Path | None:
        check_key(sha256)
        return None

    def iter_blobs(self) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        with _translated(f"listing s3://{self.bucket}/{self.prefix}"):
            for page in pages:
                for item in page.get("Contents", []):
                    rest = item["Key"][len(self.prefix) :]
                    found = _BLOB_KEY.fullmatch(rest)
                    if found and rest[:2] + rest[3:5] == found.group(1)[:4]:  # ab/cd/abcd...: not a stray
                        yield found.group(1)

    def iter_temp(self) -> Iterator[Leftover]:
        """Local temp files, then the incomplete multipart uploads under the prefix (a node killed while it
        uploaded a large file leaves one; S3 keeps and bills its parts until it is aborted)."""
        yield from temp_files(self.tmp)
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        with _translated(f"listing the multipart uploads of s3://{self.bucket}/{self.prefix}"):
            for page in pages:
                for upload in page.get("Uploads", []):
                    key, upload_id = upload["Key"], upload["UploadId"]
                    started = upload["Initiated"].timestamp()
                    yield Leftover(
                        name=f"s3://{self.bucket}/{key} (multipart upload {upload_id})",
                        modified=functools.partial(float, started),  # the start time: parts never renew it
                        remove=functools.partial(self._abort, key, upload_id),
                    )

    def _abort(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError), _translated(f"aborting the upload of {key}"):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def presigned_url(
        self, sha256: str, expires: int, *, content_type: str, content_disposition: str | None = None
    ) -> str | None:
        params = {"Bucket": self.bucket, "Key": self.key(sha256), "ResponseContentType": content_type}
        if content_disposition is not None:
            params["ResponseContentDisposition"] = content_disposition
        with _translated(f"signing a URL for {params['Key']}"):
            url: str = self.presign_client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires
            )
        return url


class CorruptBlob(ValueError):
    """A blob's bytes do not hash to its name (or are not its size)."""


class _Checked:
    """A read-only stream that hashes what is read and refuses to end unless it is `size` bytes hashing to
    `sha256`. It has no seek(), so boto3 reads it once, in order (parts held in memory: `max_in_memory_upload_chunks`
    of the transfer config)."""

    def __init__(self, source: IO[bytes], sha256: str, size: int) -> None:
        self._source = source
        self._sha256 = sha256
        self._size = size
        self._hash = hashlib.sha256()
        self._seen = 0

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        self._hash.update(data)
        self._seen += len(data)
        if self._seen > self._size or (not data and size != 0 and self._seen < self._size):
            raise CorruptBlob(f"{self._sha256}: {self._seen} bytes read, {self._size} expected")
        if self._seen == self._size and self._hash.hexdigest() != self._sha256:
            raise CorruptBlob(f"{self._sha256}: the bytes hash to {self._hash.hexdigest()}")
        return data


class _Body(io.RawIOBase):
    """get_object's streaming body, read as a file: its errors (a dropped connection) become StoreUnavailable."""

    def __init__(self, body: Any, key: str) -> None:
        self._body = body
        self._key = key

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        with _translated(f"reading {self._key}"):
            data: bytes = self._body.read(None if size is None or size < 0 else size)
        return data

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


# Structural check: mypy fails here if S3BlobStore stops satisfying the BlobStore protocol.
_: type[BlobStore] = S3BlobStore
