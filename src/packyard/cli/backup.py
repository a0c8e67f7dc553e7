"""`packyard backup DEST` and `packyard restore SRC` (the logic is core/backup.py; docs/operations.md, "Backup and
restore"). Registered on the main app by cli/main.py."""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from packyard.config import Settings
    from packyard.core.backup import VerifyReport
    from packyard.core.storage import BlobStore


class BlobsOption(enum.StrEnum):
    copy = "copy"
    manifest_only = "manifest-only"


VERIFY_FAILED_EXIT = 1


def _say(line: str) -> None:
    typer.echo(line, err=True)


def _store(settings: Settings) -> BlobStore:
    """The blob store the server uses (PACKYARD_BLOB_URL: the data folder's blobs/, or a bucket)."""
    from packyard.config import build_store

    return build_store(settings)


def _os_error(exc: OSError) -> str:
    """A full disk, a folder we may not write, a store that does not answer: one line."""
    if exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"
    return " ".join(str(exc).split()) or type(exc).__name__


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(getattr(exc, "orig", None) or exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


@contextlib.contextmanager
def _one_line_errors() -> Iterator[None]:
    """What an operator can fix, as one line and exit status 2 (never a traceback): the backup's own errors, the
    file system's and the database's."""
    from sqlalchemy.exc import SQLAlchemyError

    from packyard.cli.main import _Stop
    from packyard.core.backup import BackupError

    try:
        yield
    except BackupError as exc:
        raise _Stop(exc.message) from None
    except OSError as exc:
        raise _Stop(_os_error(exc)) from None
    except SQLAlchemyError as exc:
        raise _Stop(
            f"database error ({_first_line(exc)}): check PACKYARD_DATA or PACKYARD_DATABASE_URL"
        ) from None


def _report(report: VerifyReport, src: Path) -> None:
    for problem in report.problems:
        typer.echo(f"error: {problem}", err=True)
    if report.ok:
        typer.echo(
            f"{src}: {report.blobs} blobs match their sha256; the dump's {report.file_rows} blobs are all there"
        )
    else:
        typer.echo(f"{src}: {len(report.problems)} problem(s) in the backup", err=True)


def backup(
    dest: Path = typer.Argument(..., help="Folder to write (new, empty, or a previous backup to update)."),
    blobs: BlobsOption = typer.Option(
        BlobsOption.copy,
        "--blobs",
        help="copy: copy every blob into DEST/blobs; manifest-only: list them (sha256, size) and leave the bytes "
        "to the store's own versioning or replication.",
    ),
    verify: bool = typer.Option(
        False, "--verify", help="Only check an existing backup in DEST: every sha256, every file row's blob."
    ),
) -> None:
    """Back up the database (a consistent snapshot, safe while serving) and the blobs it names into DEST."""
    from packyard.cli.main import _db, _settings
    from packyard.core import backup as backups

    settings = _settings()
    with _one_line_errors():
        if verify:  # the blob store only when the backup left the bytes there (it creates its folder)
            listed_only = backups.Manifest.read(dest).blobs_mode == "manifest-only"
            report = backups.verify(dest, _store(settings) if listed_only else None)
            _report(report, dest)
            raise typer.Exit(0 if report.ok else VERIFY_FAILED_EXIT)
        # No database where the server's should be: one line naming PACKYARD_DATA / PACKYARD_DATABASE_URL.
        _db(settings).dispose()
        done = backups.backup(
            settings.sqlalchemy_url, _store(settings), dest, blobs=blobs.value, progress=_say
        )
    m = done.manifest
    typer.echo(
        f"backed up the {m.database} database (revision {m.revision}: {m.counts['files']} files in "
        f"{m.counts['packages']} packages) and {len(m.blobs)} blobs "
        + (
            f"({done.copied.copied} copied, {done.copied.skipped} already there)"
            if m.blobs_mode == "copy"
            else "(listed only: the blob store keeps the bytes)"
        )
        + f" to {dest}"
    )


def restore(
    src: Path = typer.Argument(..., help="A folder written by `packyard backup`."),
    force: bool = typer.Option(False, "--force", help="Replace a database that is not empty."),
    verify: bool = typer.Option(
        False, "--verify", help="Check the whole backup first; restore only if it passes."
    ),
) -> None:
    """Restore a backup into the server's (empty) database and blob store, then migrate it to this version."""
    from packyard.cli.main import _settings
    from packyard.core import backup as backups

    settings = _settings()
    with _one_line_errors():
        backups.Manifest.read(src)  # a wrong SRC is one line before anything is created
        store = _store(settings)
        if verify:
            report = backups.verify(src, store)
            _report(report, src)
            if not report.ok:
                raise typer.Exit(VERIFY_FAILED_EXIT)
        done = backups.restore(src, settings.sqlalchemy_url, store, force=force, progress=_say)
    m = done.manifest
    typer.echo(
        f"restored the {m.database} database of {m.created_at} ({m.counts['files']} files; schema now at "
        f"{done.revision}) and {len(m.blobs)} blobs ({done.copied.copied} copied, {done.copied.skipped} already "
        "there); start the server with `packyard serve`"
    )
