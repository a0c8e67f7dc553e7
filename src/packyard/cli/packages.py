"""The package commands: `download`, `show`, `search`, `remove`, `copy`, `move`, `access`, `collaborators`,
`transfer` and `label ...`, each one or two calls of packyard.client (docs/client.md, "The packyard command").

A package is named OWNER/PACKAGE[/VERSION[/FILE]]; a conda file's name has its subdir in it
(`alice/demo/1.0/linux-64/demo-1.0-0.conda`), so everything after the version is the file.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from packyard.cli import progress, session
from packyard.cli.session import JSON, TOKEN, URL
from packyard.client import Client
from packyard.client.extensions import ACCESS_LEVELS, PERMISSIONS

label_app = typer.Typer(
    help="Labels (channels): list, show, copy, rename, lock, unlock, remove.", no_args_is_help=True
)


@dataclass(frozen=True)
class Spec:
    owner: str
    package: str | None = None
    version: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        return "/".join(p for p in (self.owner, self.package, self.version, self.file) if p)


def parse(text: str, *, least: int = 1, most: int = 4, shape: str = "OWNER/PACKAGE[/VERSION[/FILE]]") -> Spec:
    parts = text.strip("/").split("/", 3)
    if not all(parts) or not least <= len(parts) <= most:
        session.fail(f"expected {shape}, got {text!r}")
    return Spec(*parts)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool, raw: Any = None) -> None:
    """`rows` as a table on a terminal or in a pipe, or (`--json`) `raw` (default: the rows) as JSON."""
    if as_json:
        session.print_json(rows if raw is None else raw)
        return
    shown = Table(*columns)
    for row in rows:
        shown.add_row(*(_cell(row.get(column)) for column in columns))
    Console(width=None if sys.stdout.isatty() else 240).print(shown)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# --- reading ---------------------------------------------------------------------------------------------------


def download(
    what: str = typer.Argument(..., metavar="OWNER/PACKAGE[/VERSION[/FILE]]"),
    output: Path = typer.Option(Path("."), "-o", "--output", help="The folder to save into."),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Download a file, a version's files, or the latest version's files; each is checked against its sha256."""
    spec = parse(what, least=2)
    assert spec.package
    with session.reporting(), session.connect(url, token) as api:
        if spec.file:
            assert spec.version
            chosen = [(spec.version, spec.file)]
        else:
            info = api.package(spec.owner, spec.package)
            version = spec.version or info.get("latest_version")
            chosen = [
                (str(f["version"]), str(f["basename"])) for f in info["files"] if f["version"] == version
            ]
            if not chosen:
                session.fail(f"{spec}: no files to download")
        output.mkdir(parents=True, exist_ok=True)
        saved: list[Path] = []
        with progress.transfers([b for _, b in chosen], "downloading", "received") as callback:
            for index, (version, basename) in enumerate(chosen):
                saved.append(
                    api.download_file(
                        spec.owner, spec.package, version, basename, output, callback=callback(index)
                    )
                )
    for path in saved:
        typer.echo(f"{path} ({path.stat().st_size:,} bytes, sha256 checked)")


def show(
    what: str = typer.Argument(..., metavar="OWNER[/PACKAGE[/VERSION]]"),
    as_json: bool = JSON,
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """An owner and their packages, a package and its files, or one version."""
    spec = parse(what, most=3, shape="OWNER[/PACKAGE[/VERSION]]")
    with session.reporting(), session.connect(url, token) as api:
        if spec.package is None:
            owner = api.user(spec.owner)
            packages = api.user_packages(spec.owner)
            if not as_json:
                typer.echo(
                    f"{owner['login']} ({owner['user_type']}){': ' + owner['name'] if owner.get('name') else ''}"
                )
            rows = [{**p, "package": p["name"]} for p in packages]
            table(
                rows,
                ["package", "latest_version", "access", "package_types", "summary"],
                as_json,
                {**owner, "packages": packages},
            )
        elif spec.version is None:
            info = api.package(spec.owner, spec.package)
            if not as_json:
                typer.echo(f"{info['full_name']}: {info.get('summary') or ''}")
                typer.echo(
                    f"access {info['access']}; versions {', '.join(info['versions'])}; {info['html_url']}"
                )
            table(
                info["files"], ["version", "basename", "type", "labels", "size", "upload_time"], as_json, info
            )
        else:
            release = api.release(spec.owner, spec.package, spec.version)
            if not as_json:
                typer.echo(f"{release['full_name']}: {release.get('summary') or ''}")
            table(
                release["distributions"], ["basename", "type", "labels", "size", "sha256"], as_json, release
            )


def search(
    text: str = typer.Argument(..., help="Part of a package's name or summary."),
    package_type: str | None = typer.Option(
        None, "-t", "--type", help="conda, pypi, cran, file, ipynb, env, project."
    ),
    platform: str | None = typer.Option(None, "--platform", help="A conda subdir, e.g. linux-64."),
    as_json: bool = JSON,
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Packages you may see whose name or summary contains TEXT."""
    with session.reporting(), session.connect(url, token) as api:
        found = api.search(text, package_type, platform)
    table(found, ["full_name", "latest_version", "package_types", "summary"], as_json)
    if not as_json and not found:
        session.say(f"no packages match {text!r}")


# --- changing --------------------------------------------------------------------------------------------------


def remove(
    what: str = typer.Argument(..., metavar="OWNER/PACKAGE[/VERSION[/FILE]]"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Delete a package (with all its files), a version, or one file."""
    spec = parse(what, least=2)
    assert spec.package
    session.confirm(f"Delete {spec} for good?", yes)
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        if spec.file:
            assert spec.version
            api.remove_dist(spec.owner, spec.package, spec.version, spec.file)
        elif spec.version:
            api.remove_release(spec.owner, spec.package, spec.version)
        else:
            api.remove_package(spec.owner, spec.package)
    typer.echo(f"removed {spec}")


def copy(
    what: str = typer.Argument(..., metavar="OWNER/PACKAGE/VERSION[/FILE]"),
    to_owner: str | None = typer.Option(None, "--to-owner", help="Copy to this user or organization."),
    from_label: str = typer.Option("main", "--from-label"),
    to_label: str = typer.Option("main", "--to-label"),
    replace: bool = typer.Option(False, "--replace", help="Replace files that exist at the destination."),
    update: bool = typer.Option(False, "--update", help="Add to existing files instead of failing."),
    as_json: bool = JSON,
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Copy a version (or one file) to another owner and/or label."""
    spec = parse(what, least=3, shape="OWNER/PACKAGE/VERSION[/FILE]")
    assert spec.package
    assert spec.version
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        copied = api.copy(
            spec.owner, spec.package, spec.version, spec.file, to_owner, from_label, to_label, replace, update
        )
    table(copied, ["full_name", "labels"], as_json)


def move(
    what: str = typer.Argument(..., metavar="OWNER/PACKAGE[/VERSION[/FILE]]"),
    from_label: str = typer.Option(..., "--from-label", help="The label to take the files off."),
    to_label: str = typer.Option(..., "--to-label", help="The label to put them on."),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Move files from one label to another (e.g. dev to main)."""
    spec = parse(what, least=2)
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        api.add_label(spec.owner, to_label, spec.package, spec.version, spec.file)
        api.remove_label(spec.owner, from_label, spec.package, spec.version, spec.file)
    typer.echo(f"moved {spec} from {from_label} to {to_label}")


def access(
    level: str = typer.Argument(..., help=f"One of {', '.join(ACCESS_LEVELS)}."),
    packages: list[str] = typer.Argument(..., metavar="OWNER/PACKAGE..."),
    as_json: bool = JSON,
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Make packages public, authenticated (any signed-in user) or private; all of an owner's or none."""
    if level not in ACCESS_LEVELS:
        session.fail(f"access must be one of {', '.join(ACCESS_LEVELS)}, not {level!r}")
    by_owner: dict[str, list[str]] = {}
    for text in packages:
        spec = parse(text, least=2, most=2, shape="OWNER/PACKAGE")
        by_owner.setdefault(spec.owner, []).append(str(spec.package))
    changed: list[dict[str, Any]] = []
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        for owner, names in by_owner.items():
            changed += api.set_access(owner, names, level)
    table(changed, ["full_name", "access"], as_json)


def collaborators(
    package: str = typer.Argument(..., metavar="OWNER/PACKAGE"),
    add: list[str] = typer.Option([], "--add", help="Make LOGIN a collaborator (repeat for several)."),
    remove: list[str] = typer.Option([], "--remove", help="Take LOGIN off the collaborators."),
    permission: str | None = typer.Option(
        None, "--permission", help=f"For --add: {', '.join(PERMISSIONS[:2])}."
    ),
    as_json: bool = JSON,
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """List a package's collaborators, or add and remove them."""
    spec = parse(package, least=2, most=2, shape="OWNER/PACKAGE")
    assert spec.package
    with session.reporting(), session.connect(url, token, need_token=bool(add or remove)) as api:
        for login in add:
            api.add_collaborator(spec.owner, spec.package, login, permission)
        for login in remove:
            api.remove_collaborator(spec.owner, spec.package, login)
        found = api.collaborators(spec.owner, spec.package)
    table(found, ["login", "name", "permission"], as_json)


def transfer(
    package: str = typer.Argument(..., metavar="OWNER/PACKAGE"),
    to: str = typer.Argument(..., metavar="NEW_OWNER"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Give a package, files and all, to another user or organization."""
    spec = parse(package, least=2, most=2, shape="OWNER/PACKAGE")
    assert spec.package
    session.confirm(f"Transfer {spec} to {to}?", yes)
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        moved = api.transfer(spec.owner, spec.package, to)
    typer.echo(f"transferred {spec} to {moved.get('full_name', to)}")


def yank(
    what: str = typer.Argument(..., metavar="OWNER/PACKAGE/VERSION/FILE"),
    reason: str | None = typer.Option(None, "--reason", help="Why (installers show it)."),
    undo: bool = typer.Option(False, "--undo", help="Take the yank back."),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Yank a file (PEP 592): installers skip it unless it is pinned; --undo takes that back."""
    spec = parse(what, least=4, shape="OWNER/PACKAGE/VERSION/FILE")
    assert spec.package
    assert spec.version
    assert spec.file
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        if undo:
            api.unyank(spec.owner, spec.package, spec.version, spec.file)
        else:
            api.yank(spec.owner, spec.package, spec.version, spec.file, reason)
    typer.echo(f"{'unyanked' if undo else 'yanked'} {spec}")


# --- labels ----------------------------------------------------------------------------------------------------


def _client(url: str | None, token: str | None, write: bool = False) -> Client:
    return session.connect(url, token, need_token=write)


@label_app.command("list")
def label_list(owner: str, as_json: bool = JSON, url: str | None = URL, token: str | None = TOKEN) -> None:
    """An owner's labels, with their file counts and locks."""
    with session.reporting(), _client(url, token) as api:
        found = api.labels(owner)
    rows = [
        {"label": name, **(info if isinstance(info, dict) else {})} for name, info in sorted(found.items())
    ]
    table(rows, ["label", "num_files", "is_locked"], as_json, found)


@label_app.command("show")
def label_show(
    owner: str, label: str, as_json: bool = JSON, url: str | None = URL, token: str | None = TOKEN
) -> None:
    """The files a label holds."""
    with session.reporting(), _client(url, token) as api:
        found = api.label(owner, label)
    files = found.get("files", []) if isinstance(found, dict) else []
    table(files, ["full_name", "type"], as_json, found)


def _label_change(verb: str, done: str) -> Any:
    def command(owner: str, label: str, url: str | None = URL, token: str | None = TOKEN) -> None:
        with session.reporting(), _client(url, token, write=True) as api:
            getattr(api, f"{verb}_label")(owner, label)
        typer.echo(f"{done} {owner}/{label}")

    return command


def _label_pair(verb: str, done: str) -> Any:
    def command(
        owner: str, label: str, to_label: str, url: str | None = URL, token: str | None = TOKEN
    ) -> None:
        with session.reporting(), _client(url, token, write=True) as api:
            getattr(api, f"{verb}_label")(owner, label, to_label)
        typer.echo(f"{done} {owner}/{label} to {to_label}")

    return command


label_app.command("lock", help="Lock a label: its files can no longer change.")(
    _label_change("lock", "locked")
)
label_app.command("unlock", help="Unlock a label.")(_label_change("unlock", "unlocked"))
label_app.command("copy", help="Put a second label on every file of a label.")(_label_pair("copy", "copied"))
label_app.command("rename", help="Rename a label.")(_label_pair("rename", "renamed"))


@label_app.command("remove")
def label_remove(
    owner: str,
    label: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Remove a label from every file (the files stay, under their other labels)."""
    session.confirm(f"Remove the label {owner}/{label}?", yes)
    with session.reporting(), _client(url, token, write=True) as api:
        api.remove_label(owner, label)
    typer.echo(f"removed the label {owner}/{label}")


COMMANDS: dict[str, Callable[..., None]] = {
    "download": download,
    "show": show,
    "search": search,
    "remove": remove,
    "copy": copy,
    "move": move,
    "access": access,
    "collaborators": collaborators,
    "transfer": transfer,
    "yank": yank,
}
