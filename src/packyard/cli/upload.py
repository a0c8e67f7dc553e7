"""`packyard upload FILES...`: every type the server takes, detected from the file (cli/detect.py), several at once.

conda packages use anaconda-client's stage flow (package, release, then the file); wheels, sdists, R packages,
notebooks, environments, projects and plain files go in one request to `POST /api/repo/OWNER`, where the server
parses them. Progress is rich bars (bytes, speed, time left) when standard error is a terminal, plain lines when it
is piped; a summary table follows, with each package's page, and the exit status is 1 if any file failed.
"""

from __future__ import annotations

import re
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from packyard.cli import progress, session
from packyard.cli.detect import CONDA, REPO_FILETYPES, Detected, detect
from packyard.client import Client, PackyardError, errors

PARALLEL = 4
"""Files sent at once: enough to fill a link with small files, few enough not to crowd the server."""

_UPLOADED = re.compile(r"^uploaded ([^/\s]+)/([^/\s]+)/([^/\s]+)/")


@dataclass
class Outcome:
    path: Path
    kind: str
    status: str  # uploaded, exists (identical), skipped (exists), replaced, failed
    name: str | None = None
    version: str | None = None
    message: str = ""
    url: str | None = None

    @property
    def failed(self) -> bool:
        return self.status == "failed"


Report = progress.Report


@dataclass(frozen=True)
class Options:
    owner: str
    labels: list[str]
    private: bool
    force: bool
    skip_existing: bool


def upload(
    files: list[Path] = typer.Argument(..., help="Files or project folders; the type of each is detected."),
    owner: str | None = typer.Option(None, "-u", "--user", help="The user or organization to upload to."),
    labels: list[str] = typer.Option([], "-l", "--label", help="Labels to put the files on (default main)."),
    private: bool = typer.Option(False, "--private", help="Make new packages private."),
    force: bool = typer.Option(False, "--force", help="Replace a file that exists already."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Leave files that exist already."),
    package: str | None = typer.Option(
        None, "-p", "--package", help="The name of a plain file, notebook, environment or project."
    ),
    version: str | None = typer.Option(
        None, "-v", "--version", help="The version of a plain file, notebook, environment or project."
    ),
    as_json: bool = session.JSON,
    url: str | None = session.URL,
    token: str | None = session.TOKEN,
) -> None:
    """Upload conda packages, wheels and sdists, R packages, notebooks (.ipynb), environments (environment.yml),
    project folders and plain files; several in parallel."""
    if force and skip_existing:
        session.fail("give --force or --skip-existing, not both")
    resolved = session.resolve(url, token)
    if not resolved.token:
        session.fail(f"uploading needs a token for {resolved.url}: run `packyard login`, or give --token")
    with session.reporting():
        found = [detect(path, name=package, version=version) for path in files]
        with resolved.client() as api:
            target = owner or str(api.whoami()["login"])
    for item in found:
        if item.kind == "file" and not item.version:
            session.fail(
                f"{item.path}: a plain file needs --version V (and --package NAME, default {item.name!r})"
            )
    options = Options(target, labels, private, force, skip_existing)
    names = [f"{item.path.name} ({item.kind})" for item in found]
    with (
        progress.transfers(names, "uploading", "sent") as callback,
        ThreadPoolExecutor(max_workers=min(PARALLEL, len(found))) as pool,
    ):
        outcomes = list(
            pool.map(lambda i: _send(resolved, found[i], options, callback(i)), range(len(found)))
        )
    _summary(outcomes, as_json)
    if any(o.failed for o in outcomes):
        raise typer.Exit(1)


def _send(resolved: session.Session, item: Detected, options: Options, report: Report) -> Outcome:
    """Upload one file with a client of its own (one connection per thread); never raises."""
    outcome = Outcome(item.path, item.kind, "failed", item.name, item.version)
    try:
        with resolved.client() as api:
            _upload_one(api, item, options, report, outcome)
    except PackyardError as exc:
        outcome.status, outcome.message = "failed", " ".join(exc.message.split())
    except OSError as exc:
        outcome.status, outcome.message = "failed", f"{exc.strerror or exc}"
    if outcome.name and not outcome.failed:
        outcome.url = f"{resolved.url}/{options.owner}/{outcome.name}"
    return outcome


def _upload_one(api: Client, item: Detected, options: Options, report: Report, outcome: Outcome) -> None:
    if options.private and item.name:
        _ensure_package(api, options.owner, item.name, public=False)
    try:
        outcome.status = _attempt(api, item, options, report, outcome)
    except errors.Conflict as exc:
        stored = conflicting_file(exc.message)
        if stored is None or not (options.force or options.skip_existing):  # e.g. a locked label
            raise
        if options.skip_existing:
            outcome.status, outcome.message = "skipped (exists)", " ".join(exc.message.split())
            return
        api.remove_dist(stored.owner, stored.name, stored.version, stored.basename)
        # Into the version the server named when the user named none: a notebook's or environment's timestamp
        # taken twice in one second is the one the new bytes replace.
        _attempt(api, replace(item, version=item.version or stored.version), options, report, outcome)
        outcome.status = "replaced"


@dataclass(frozen=True)
class Stored:
    """The file a 409 says is in the way, as the server stored it."""

    owner: str
    name: str
    version: str
    basename: str


_EXISTS = re.compile(r"([^/\s']+)/([^/\s]+)/([^/\s]+)/(\S.*?) already exists")
"""The server's conflict names the stored file: `OWNER/NAME/VERSION/BASENAME already exists` (a conda basename has
its subdir in front). The version is the stored file's, which the client may not know: the server chose it (a
notebook's timestamp, a project's revision) or it is another version (a plain file's name is unique in its
package)."""


def conflicting_file(message: str) -> Stored | None:
    found = _EXISTS.search(message)
    return Stored(*found.groups()) if found else None


def _attempt(api: Client, item: Detected, options: Options, report: Report, outcome: Outcome) -> str:
    if item.kind == CONDA:
        assert item.name  # a conda file's name says both
        assert item.version
        _ensure_package(api, options.owner, item.name, public=not options.private)
        try:
            api.release(options.owner, item.name, item.version)
        except errors.NotFound:
            with suppress(errors.Conflict):  # another file of this call made it meanwhile
                api.add_release(options.owner, item.name, item.version, [], None, {})
        with item.path.open("rb") as fh:
            api.upload(
                options.owner,
                item.name,
                item.version,
                item.path.name,
                fh,
                CONDA,
                channels=options.labels or ["main"],
                callback=report,
            )
        return "uploaded"
    common: dict[str, Any] = {
        "name": item.name,
        "version": item.version,
        "labels": options.labels,
        "callback": report,
    }
    if item.kind == "project":
        message = api.upload_project(options.owner, item.path, **common)
    else:
        if item.kind not in ("notebook", "env", "file"):  # the file itself names them
            common.update(name=None, version=None)
        message = api.upload_repo(options.owner, item.path, REPO_FILETYPES[item.kind], **common)
    outcome.message = message
    said = _UPLOADED.match(message)
    if said:
        outcome.name, outcome.version = said.group(2), said.group(3)
        return "uploaded"
    return "exists (identical)" if "already uploaded" in message else "uploaded"


def _ensure_package(api: Client, owner: str, name: str, *, public: bool) -> None:
    try:
        api.package(owner, name)
    except errors.NotFound:
        with suppress(errors.Conflict):  # another file of this call made it meanwhile
            api.add_package(owner, name, public=public)


def _summary(outcomes: list[Outcome], as_json: bool) -> None:
    if as_json:
        session.print_json(
            [
                {
                    "file": str(o.path),
                    "type": o.kind,
                    "status": o.status,
                    "name": o.name,
                    "version": o.version,
                    "url": o.url,
                    "message": o.message,
                }
                for o in outcomes
            ]
        )
    else:
        table = Table("file", "type", "package", "version", "status", "page")
        for o in outcomes:
            table.add_row(str(o.path), o.kind, o.name or "", o.version or "", o.status, o.url or "")
        Console(width=None if sys.stdout.isatty() else 240).print(table)
    for o in outcomes:
        if o.failed:
            session.say(f"error: {o.path}: {o.message}")
