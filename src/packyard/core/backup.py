"""`packyard backup DEST` / `packyard restore SRC`: a consistent copy of the database and the blobs it names.

A backup is a folder:

    manifest.json            written last: its presence means the backup is complete
    packyard.db              the SQLite snapshot (online backup API), or
    database.pgdump          PostgreSQL's `pg_dump --format=custom`
    blobs/ab/cd/<sha256>     every blob a row of the snapshot names (absent with blobs="manifest-only")

Consistency rests on the store's one rule (core/fsck.py): a blob is stored before the row that names it commits.
So the database snapshot is taken first, and the blobs its rows name are copied after: every one of them exists.
Blobs uploaded meanwhile belong to rows the snapshot does not hold; they are simply not in this backup. The blob
list comes from the snapshot itself (SQLite: the copied file; PostgreSQL: the very snapshot pg_dump reads, shared
through `pg_export_snapshot()`), never from a second look at the live database.

Blobs go through the `BlobStore` protocol only (`iter_blobs` is not even needed: the snapshot names them), so the
same code backs up a local folder and an object store. Copies are resumable (a blob already in DEST with the size
the store reports is skipped) and hashed while they stream: a corrupt source blob stops the backup.

Restore writes in the same order as an upload: blobs first (each hashed while it streams into the store and
checked against its name before it is committed), the database last, then the migrations of a newer Packyard.

PostgreSQL is dumped with the PostgreSQL tools rather than a logical export of our own: pg_dump's snapshot, types,
sequences and constraints are exactly the server's, and `pg_restore` is what operators already know. The tools
must be at least as new as the server (`pg_tool`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import Connection, create_engine, inspect, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

import packyard
from packyard.core.storage import BlobStore

FORMAT = 1
"""The backup layout's version; a newer one is refused by older code."""
MANIFEST = "manifest.json"
SQLITE_DUMP = "packyard.db"
PG_DUMP = "database.pgdump"
BLOBS = "blobs"
CHUNK = 1 << 20

BlobsMode = Literal["copy", "manifest-only"]
Progress = Callable[[str], None]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_OWN_ENTRIES = {MANIFEST, SQLITE_DUMP, PG_DUMP, BLOBS}


class BackupError(Exception):
    """An operator error: `message` is one line saying what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class BlobEntry:
    sha256: str
    size: int


@dataclass
class Manifest:
    packyard_version: str
    created_at: str
    database: Literal["sqlite", "postgresql"]
    dump: str
    revision: str | None
    blobs_mode: BlobsMode
    blobs: list[BlobEntry]
    counts: dict[str, int]
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST
        if not folder.is_dir():
            raise BackupError(f"{folder} is not a folder: give the folder `packyard backup` wrote")
        if not path.is_file():
            raise BackupError(
                f"{folder} holds no {MANIFEST}: not a Packyard backup, or one that did not finish (run "
                "`packyard backup` again)"
            )
        try:
            raw = json.loads(path.read_text())
            if raw.get("format", 0) > FORMAT:
                raise BackupError(
                    f"{path} is in backup format {raw['format']}, newer than this Packyard reads ({FORMAT}): "
                    "upgrade Packyard"
                )
            raw["blobs"] = [BlobEntry(sha256=b["sha256"], size=int(b["size"])) for b in raw["blobs"]]
            manifest = cls(**raw)
        except BackupError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"{path} is not a valid backup manifest ({exc})") from None
        if manifest.database not in ("sqlite", "postgresql") or manifest.blobs_mode not in (
            "copy",
            "manifest-only",
        ):
            raise BackupError(f"{path} is not a valid backup manifest (database or blobs_mode)")
        return manifest


@dataclass
class Snapshot:
    """What the database snapshot names and holds, read from the snapshot itself."""

    files: dict[str, str]
    """sha256 -> the file it belongs to, for every blob a file row names (its own and its side documents)."""
    stages: set[str]
    """Blobs of uploads in progress: copied when they are still in the store, never required."""
    kept: set[str]
    """Blobs of removed files that snapshots still list (file_history), and a mirror's upstream indexes and
    rendered documents: copied when in the store; a missing one does not stop the backup (a mirror fetches or
    renders it again; `packyard fsck` is what reports a lost file)."""
    revision: str | None
    counts: dict[str, int]


@dataclass
class Copied:
    copied: int = 0
    skipped: int = 0
    bytes: int = 0


@dataclass
class BackupResult:
    manifest: Manifest
    copied: Copied


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    blobs: int = 0
    file_rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class RestoreResult:
    manifest: Manifest
    copied: Copied
    revision: str | None
    """The schema revision after the migrations."""


def database_kind(url: str) -> Literal["sqlite", "postgresql"]:
    name = make_url(url).get_backend_name()
    if name == "sqlite":
        return "sqlite"
    if name == "postgresql":
        return "postgresql"
    raise BackupError(f"backup supports SQLite and PostgreSQL databases, not {name}")


def blob_path(folder: Path, sha256: str) -> Path:
    if not _SHA256.fullmatch(sha256):
        raise BackupError(f"not a sha256 in the backup: {sha256!r}")
    return folder / BLOBS / sha256[:2] / sha256[2:4] / sha256


# --- backup ------------------------------------------------------------------------------------------------------


def backup(
    url: str, store: BlobStore, dest: Path, *, blobs: BlobsMode = "copy", progress: Progress | None = None
) -> BackupResult:
    """Snapshot the database into `dest`, then copy (or list) every blob the snapshot names, then the manifest."""
    say = progress or (lambda _line: None)
    kind = database_kind(url)
    _prepare_dest(dest)
    dump = SQLITE_DUMP if kind == "sqlite" else PG_DUMP
    say(f"snapshot of the {kind} database -> {dest / dump}")
    snapshot = (
        _snapshot_sqlite(url, dest / dump) if kind == "sqlite" else _snapshot_postgres(url, dest / dump)
    )
    entries, copied = _save_blobs(store, dest, snapshot, blobs, say)
    manifest = Manifest(
        packyard_version=packyard.__version__,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        database=kind,
        dump=dump,
        revision=snapshot.revision,
        blobs_mode=blobs,
        blobs=entries,
        counts={**snapshot.counts, "blobs": len(entries), "blob_bytes": sum(e.size for e in entries)},
    )
    _write_atomically(dest / MANIFEST, manifest.to_json().encode())
    return BackupResult(manifest=manifest, copied=copied)


def _prepare_dest(dest: Path) -> None:
    """DEST is new, empty, or a previous backup (updated in place: its blobs are reused)."""
    if dest.exists() and not dest.is_dir():
        raise BackupError(f"{dest} is a file: give a folder (new, empty, or a previous backup to update)")
    if dest.is_dir():
        strangers = sorted(
            p.name for p in dest.iterdir() if p.name not in _OWN_ENTRIES and not p.name.endswith(".tmp")
        )
        if strangers:
            raise BackupError(
                f"{dest} is not empty and is not a Packyard backup (it holds {', '.join(strangers[:3])}): "
                "give a new or empty folder"
            )
    dest.mkdir(parents=True, exist_ok=True)
    # From here until the new manifest is written, the folder holds no complete backup.
    (dest / MANIFEST).unlink(missing_ok=True)


def _snapshot_sqlite(url: str, target: Path) -> Snapshot:
    path = make_url(url).database
    if not path or path == ":memory:" or not Path(path).is_file():
        raise BackupError(f"no SQLite database at {path}: check PACKYARD_DATA")
    tmp = target.with_name(target.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        source = sqlite3.connect(path, timeout=30)
        copy = sqlite3.connect(tmp)
        try:
            # One step (pages=-1): one read transaction over the whole file, a consistent snapshot even while the
            # server writes (WAL: writers do not wait for it either).
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, readable without -wal/-shm
            copy.commit()
        finally:
            source.close()
            copy.close()
        _fsync(tmp)
        os.replace(tmp, target)
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"SQLite backup of {path} failed: {exc}") from None
    engine = create_engine(f"sqlite:///{target}", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return _read_snapshot(conn)
    finally:
        engine.dispose()


def _snapshot_postgres(url: str, target: Path) -> Snapshot:
    """pg_dump reads the snapshot this transaction exported, and the blob list is read in the same one."""
    engine = create_engine(url, poolclass=NullPool)
    tmp = target.with_name(target.name + ".tmp")
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                major = _server_major(conn)
                pg_dump = pg_tool("pg_dump", major)
                _run_pg([str(pg_dump), "--format=custom", f"--snapshot={snapshot_id}", f"--file={tmp}"], url)
                snapshot = _read_snapshot(conn)
    except SQLAlchemyError as exc:
        tmp.unlink(missing_ok=True)
        raise BackupError(
            f"cannot read the PostgreSQL database ({_first_line(exc)}): check PACKYARD_DATABASE_URL"
        ) from None
    finally:
        engine.dispose()
    _fsync(tmp)
    os.replace(tmp, target)
    return snapshot


def _read_snapshot(conn: Connection) -> Snapshot:
    files: dict[str, str] = {}
    for sha, basename, extra in conn.execute(text("SELECT sha256, basename, extra FROM files")):
        files[sha] = basename
        for name, value in _as_dict(extra).items():
            if isinstance(value, str) and _SHA256.fullmatch(value):
                files.setdefault(value, f"{basename}: {name}")
    stages: set[str] = set()
    for sha, result in conn.execute(text("SELECT sha256, result FROM stages")):
        if sha:
            stages.add(sha)
        extra = _as_dict(_as_dict(result).get("extra"))
        stages.update(v for v in extra.values() if isinstance(v, str) and _SHA256.fullmatch(v))
    kept: set[str] = set()
    tables = set(inspect(conn).get_table_names())  # a database at an older revision lacks the newer tables
    if "file_history" in tables:
        kept.update(sha for (sha,) in conn.execute(text("SELECT DISTINCT sha256 FROM file_history")))
    if "mirror_documents" in tables:
        kept.update(
            sha for (sha,) in conn.execute(text("SELECT blob FROM mirror_indexes WHERE blob IS NOT NULL"))
        )
        for sha, variants in conn.execute(text("SELECT sha256, variants FROM mirror_documents")):
            kept.add(sha)
            kept.update(v for v in _as_dict(variants).values() if isinstance(v, str) and _SHA256.fullmatch(v))
    counts = {
        table: int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608 - fixed names
        for table in ("accounts", "packages", "releases", "files", "labels")
    }
    return Snapshot(
        files=files,
        stages=stages - set(files),
        kept=kept - set(files) - stages,
        revision=_revision(conn),
        counts=counts,
    )


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _as_dict(value: Any) -> Mapping[str, Any]:
    """A JSON column's value: PostgreSQL's driver decodes it, SQLite's text is decoded here."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def _save_blobs(
    store: BlobStore, dest: Path, snapshot: Snapshot, mode: BlobsMode, say: Progress
) -> tuple[list[BlobEntry], Copied]:
    entries: list[BlobEntry] = []
    copied = Copied()
    wanted = sorted(snapshot.files.keys() | snapshot.stages | snapshot.kept)
    optional = snapshot.stages | snapshot.kept
    say(f"{len(wanted)} blobs named by the snapshot ({'copying' if mode == 'copy' else 'listing'})")
    for n, sha in enumerate(wanted, 1):
        if not store.exists(sha):
            if sha in optional:
                continue  # an upload in progress that has since expired or failed; a mirror's document
            raise BackupError(
                f"blob {sha} ({snapshot.files[sha]}) is named by the database but missing from the blob store: "
                "run `packyard fsck` and restore that file before backing up"
            )
        size = store.size(sha)
        if mode == "copy":
            target = blob_path(dest, sha)
            if target.is_file() and target.stat().st_size == size:
                copied.skipped += 1
            else:
                try:
                    _copy_out(store, sha, target)
                except FileNotFoundError:
                    if sha in optional:
                        continue  # that upload's blob was just cleaned up (fsck --clean of an expired stage)
                    raise
                copied.copied += 1
                copied.bytes += size
        entries.append(BlobEntry(sha256=sha, size=size))
        if n % 1000 == 0:
            say(f"{n}/{len(wanted)} blobs")
    return entries, copied


def _copy_out(store: BlobStore, sha: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    digest = hashlib.sha256()
    try:
        with store.open(sha) as source, open(tmp, "wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != sha:
            raise BackupError(
                f"blob {sha} in the blob store does not match its sha256 (corrupt): run `packyard fsck --verify`"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# --- verify ------------------------------------------------------------------------------------------------------


def verify(src: Path, store: BlobStore | None = None) -> VerifyReport:
    """Every blob against its sha256 and size, and every file row of the dump against the backup's blobs.

    A manifest-only backup's blobs are checked in `store` (the bucket that kept them).
    """
    manifest = Manifest.read(src)
    report = VerifyReport()
    if manifest.blobs_mode == "manifest-only" and store is None:
        raise BackupError("this backup lists its blobs only: verify it with the blob store the server uses")
    listed = set()
    for entry in manifest.blobs:
        listed.add(entry.sha256)
        report.blobs += 1
        problem = _check_blob(src, entry, store if manifest.blobs_mode == "manifest-only" else None)
        if problem:
            report.problems.append(f"blob {entry.sha256}: {problem}")
    dump = src / manifest.dump
    if not dump.is_file():
        report.problems.append(f"the database dump {dump} is missing")
        return report
    for sha, owner in sorted(dump_file_blobs(dump, manifest.database).items()):
        report.file_rows += 1
        if sha not in listed:
            report.problems.append(
                f"blob {sha} ({owner}): named by a file row of the dump but not in the backup"
            )
    return report


def _check_blob(src: Path, entry: BlobEntry, store: BlobStore | None) -> str | None:
    digest = hashlib.sha256()
    size = 0
    try:
        with _open_blob(src, entry.sha256, store) as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return "missing from the backup" if store is None else "missing from the blob store"
    if size != entry.size:
        return f"{size} bytes, the manifest says {entry.size}"
    if digest.hexdigest() != entry.sha256:
        return "its content does not match its sha256 (corrupt)"
    return None


@contextmanager
def _open_blob(src: Path, sha: str, store: BlobStore | None) -> Iterator[IO[bytes]]:
    if store is None:
        with open(blob_path(src, sha), "rb") as fh:
            yield fh
    else:
        if not store.exists(sha):
            raise FileNotFoundError(sha)
        with store.open(sha) as fh:
            yield fh


def dump_file_blobs(dump: Path, kind: str) -> dict[str, str]:
    """sha256 -> file, for every blob a file row of the dump names (read from the dump, not the manifest)."""
    rows = _sqlite_file_rows(dump) if kind == "sqlite" else _pgdump_file_rows(dump)
    named: dict[str, str] = {}
    for sha, basename, extra in rows:
        named[sha] = basename
        for name, value in _as_dict(extra).items():
            if isinstance(value, str) and _SHA256.fullmatch(value):
                named.setdefault(value, f"{basename}: {name}")
    return named


def _sqlite_file_rows(dump: Path) -> list[tuple[str, str, Any]]:
    try:
        conn = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
        try:
            return list(conn.execute("SELECT sha256, basename, extra FROM files"))
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot read the database dump {dump}: {exc}") from None


def _pgdump_file_rows(dump: Path) -> list[tuple[str, str, Any]]:
    """The `files` table's rows, as `pg_restore` prints them (COPY text format), without any server."""
    pg_restore = pg_tool("pg_restore", None)
    done = subprocess.run(
        [str(pg_restore), "--data-only", "--table=files", "--file=-", str(dump)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(
            f"pg_restore cannot read {dump}: {_first_line(done.stderr.decode(errors='replace'))}"
        )
    rows: list[tuple[str, str, Any]] = []
    columns: list[str] | None = None
    for line in done.stdout.decode().splitlines():
        if columns is None:
            match = re.match(r"COPY \S*files \(([^)]*)\) FROM stdin;", line)
            if match:
                columns = [c.strip().strip('"') for c in match.group(1).split(",")]
            continue
        if line == "\\.":
            break
        values = dict(zip(columns, (_copy_value(v) for v in line.split("\t")), strict=True))
        rows.append((values["sha256"] or "", values["basename"] or "", values.get("extra")))
    return rows


_COPY_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _copy_value(raw: str) -> str | None:
    """One field of PostgreSQL's COPY text format (`\\N` is NULL, backslash escapes)."""
    if raw == "\\N":
        return None

    def unescape(match: re.Match[str]) -> str:
        code = match.group(1)
        if code in _COPY_ESCAPES:
            return _COPY_ESCAPES[code]
        if code[0] == "x":
            return chr(int(code[1:], 16))
        if code[0].isdigit():
            return chr(int(code, 8))
        return code

    return re.sub(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", unescape, raw)


# --- restore -----------------------------------------------------------------------------------------------------


def restore(
    src: Path, url: str, store: BlobStore, *, force: bool = False, progress: Progress | None = None
) -> RestoreResult:
    """Blobs into `store`, then the database into `url` (empty, unless `force`), then the migrations."""
    from packyard.core import migrate

    say = progress or (lambda _line: None)
    manifest = Manifest.read(src)
    kind = database_kind(url)
    if manifest.database != kind:
        raise BackupError(
            f"this backup holds a {manifest.database} database and the server's is {kind}: restore into a "
            f"{manifest.database} database (PACKYARD_DATABASE_URL)"
        )
    _check_revision_known(url, manifest.revision)
    dump = src / manifest.dump
    if not dump.is_file():
        raise BackupError(f"the database dump {dump} is missing: the backup is incomplete")
    if _holds_tables(url) and not force:
        where = make_url(url).database if kind == "sqlite" else _safe_url(url)
        raise BackupError(
            f"the target database ({where}) is not empty: restore into an empty one, or pass --force to replace it"
        )
    copied = _restore_blobs(src, manifest, store, say)
    say(f"restoring the {kind} database")
    if kind == "sqlite":
        _restore_sqlite(dump, url)
    else:
        _restore_postgres(dump, url, force=force)
    if manifest.revision is not None:
        say(f"migrating the schema from revision {manifest.revision}")
    migrate.upgrade(url)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            revision = _revision(conn)
    finally:
        engine.dispose()
    return RestoreResult(manifest=manifest, copied=copied, revision=revision)


def _check_revision_known(url: str, revision: str | None) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from packyard.core import migrate

    if revision is None:
        return
    scripts = ScriptDirectory.from_config(migrate.alembic_config(url))
    try:
        known = scripts.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise BackupError(
            f"the backup's schema revision {revision} is unknown to this Packyard ({packyard.__version__}): "
            "restore with the Packyard version that made the backup, or a newer one"
        )


def _holds_tables(url: str) -> bool:
    if database_kind(url) == "sqlite":
        path = make_url(url).database
        if not path or not Path(path).is_file() or Path(path).stat().st_size == 0:
            return False
        try:
            target = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                return bool(
                    target.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
                )
            finally:
                target.close()
        except sqlite3.Error as exc:
            raise BackupError(f"cannot read the target database {path}: {exc}") from None
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return bool(
                conn.execute(
                    text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
                ).scalar_one()
            )
    except SQLAlchemyError as exc:
        raise BackupError(
            f"cannot open the target database ({_first_line(exc)}): check PACKYARD_DATABASE_URL"
        ) from None
    finally:
        engine.dispose()


def _restore_blobs(src: Path, manifest: Manifest, store: BlobStore, say: Progress) -> Copied:
    copied = Copied()
    say(f"{len(manifest.blobs)} blobs")
    for n, entry in enumerate(manifest.blobs, 1):
        if store.exists(entry.sha256) and store.size(entry.sha256) == entry.size:
            copied.skipped += 1  # content-addressed: the same name is the same bytes (a resumed restore)
        elif manifest.blobs_mode == "manifest-only":
            raise BackupError(
                f"blob {entry.sha256} is not in the blob store: this backup lists its blobs only, so the store "
                "(or its own backup) must still hold them"
            )
        else:
            _copy_in(src, entry, store)
            copied.copied += 1
            copied.bytes += entry.size
        if n % 1000 == 0:
            say(f"{n}/{len(manifest.blobs)} blobs")
    return copied


def _copy_in(src: Path, entry: BlobEntry, store: BlobStore) -> None:
    path = blob_path(src, entry.sha256)
    try:
        source = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise BackupError(f"blob {entry.sha256} is missing from the backup ({path})") from None
    with source, store.receive() as incoming:
        while chunk := source.read(CHUNK):
            incoming.write(chunk)
        if incoming.digest().sha256 != entry.sha256:  # not committed: the receive block discards it
            raise BackupError(
                f"blob {entry.sha256} in the backup does not match its sha256 (corrupt): "
                "check the backup with `packyard backup --verify`"
            )
        incoming.commit()


def _restore_sqlite(dump: Path, url: str) -> None:
    path = Path(make_url(url).database or "")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".restore.tmp")
    shutil.copyfile(dump, tmp)
    _fsync(tmp)
    for stale in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)  # --force: the old database's log must not be replayed onto the new one
    os.replace(tmp, path)


def _restore_postgres(dump: Path, url: str, *, force: bool) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            major = _server_major(conn)
            if force:  # what the database held goes, whatever migrations made it: the dump recreates it all
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
    except SQLAlchemyError as exc:
        raise BackupError(f"cannot prepare the target database ({_first_line(exc)})") from None
    finally:
        engine.dispose()
    pg_restore = pg_tool("pg_restore", major)
    _run_pg(
        [str(pg_restore), "--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", str(dump)],
        url,
    )


# --- PostgreSQL tools --------------------------------------------------------------------------------------------


def _server_major(conn: Connection) -> int:
    return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def pg_tool(name: str, server_major: int | None) -> Path:
    """`name` (pg_dump, pg_restore) for a server of `server_major`: the same major version, else the oldest newer
    one (the tools read older servers, never newer ones), from Debian's /usr/lib/postgresql/*/bin or PATH; with
    no server (reading a dump), the newest found."""
    found: dict[int, Path] = {}
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    for tool in candidates:
        major = _tool_major(tool)
        if major is not None:
            found.setdefault(major, tool)
    if server_major is None:
        if found:
            return found[max(found)]
    else:
        fits = sorted(major for major in found if major >= server_major)
        if fits:
            return found[fits[0]]
    want = f"PostgreSQL {server_major} or newer" if server_major else "PostgreSQL"
    raise BackupError(
        f"{name} for {want} not found (found: {', '.join(str(m) for m in sorted(found)) or 'none'}): install "
        f"postgresql-client{f'-{server_major}' if server_major else ''} or put its {name} on PATH"
    )


def _tool_major(tool: Path) -> int | None:
    try:
        out = subprocess.run(
            [str(tool), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    match = re.search(r"\(PostgreSQL\) (\d+)", out.stdout)
    return int(match.group(1)) if match else None


def _run_pg(args: list[str], url: str) -> None:
    """Run a PostgreSQL tool on the database of `url`: the password through the environment, not the command line."""
    parsed = make_url(url)
    env = {**os.environ, **_libpq_env(parsed)}
    args = [args[0], f"--dbname={_conninfo(parsed)}", *args[1:]]
    done = subprocess.run(args, capture_output=True, env=env, check=False)
    if done.returncode != 0:
        message = _first_line(done.stderr.decode(errors="replace"))
        raise BackupError(f"{Path(args[0]).name} failed: {message}")


def _libpq_env(url: URL) -> dict[str, str]:
    return {"PGPASSWORD": url.password} if url.password else {}


def _conninfo(url: URL) -> str:
    params: dict[str, str] = {}
    if url.host:
        params["host"] = url.host
    if url.port:
        params["port"] = str(url.port)
    if url.username:
        params["user"] = url.username
    if url.database:
        params["dbname"] = url.database
    for key, value in url.query.items():
        params[key] = value if isinstance(value, str) else value[-1]
    return " ".join(f"{key}='{_quote(value)}'" for key, value in params.items())


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: object) -> str:
    message = str(getattr(exc, "orig", None) or exc).strip()
    lines = [line for line in message.splitlines() if line.strip()]
    return lines[0].strip() if lines else "no message"


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
