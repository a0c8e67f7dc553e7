"""`packyard mirror create|show|list|edit|delete|sync|syncs`: each one call of packyard.client (docs/client.md);
`sync` also polls the queued sync until it ends (unless `--no-wait`)."""

from __future__ import annotations

import sys

import typer

from packyard.cli import session
from packyard.cli.packages import table
from packyard.cli.session import JSON, TOKEN, URL

mirror_app = typer.Typer(
    help="Mirrors: organizations whose channel proxies an upstream index (docs/mirrors.md).",
    no_args_is_help=True,
)
FORMAT = typer.Option(None, "--format", help="Which of NAME's mirrors, when it mirrors several formats.")
_COLUMNS = ["name", "format", "upstream", "public", "ttl", "include", "exclude", "last_ok_at", "last_error"]


def _show(mirror: dict[str, object], as_json: bool) -> None:
    table([mirror], _COLUMNS, as_json, mirror)


@mirror_app.command("create")
def create(
    name: str = typer.Argument(..., help="The new organization that will be the mirror."),
    upstream: str = typer.Option(..., "--upstream", help="The upstream index, e.g. https://pypi.org/simple/"),
    format: str = typer.Option("pypi", "--format", help="conda, pypi or cran (what this server supports)."),
    include: list[str] = typer.Option(
        [], "--include", help="A rule to include (repeat): NAME-PATTERN, type:wheel..."
    ),
    exclude: list[str] = typer.Option([], "--exclude", help="A rule to exclude (repeat)."),
    ttl: int | None = typer.Option(
        None, "--ttl", help="Seconds an upstream index page is kept (default 600)."
    ),
    private: bool = typer.Option(False, "--private", help="Only the organization's members may use it."),
    as_json: bool = JSON,
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Create organization NAME (you its owner) whose channel proxies UPSTREAM and keeps what it served."""
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        made = api.create_mirror(
            name, format, upstream, include=include, exclude=exclude, ttl=ttl, public=not private
        )
    _show(made, as_json)


@mirror_app.command("show")
def show(
    name: str,
    format: str | None = FORMAT,
    as_json: bool = JSON,
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """A mirror's configuration and when its upstream last answered (or what went wrong)."""
    with session.reporting(), session.connect(url, token) as api:
        _show(api.mirror(name, format), as_json)


@mirror_app.command("list")
def list_(as_json: bool = JSON, url: str | None = URL, token: str | None = TOKEN) -> None:
    """Every mirror you may use."""
    with session.reporting(), session.connect(url, token) as api:
        found = api.mirrors()
    table(found, _COLUMNS, as_json, found)


@mirror_app.command("edit")
def edit(
    name: str,
    format: str | None = FORMAT,
    upstream: str | None = typer.Option(None, "--upstream", help="A new upstream URL."),
    include: list[str] | None = typer.Option(None, "--include", help="Replace the include rules (repeat)."),
    exclude: list[str] | None = typer.Option(None, "--exclude", help="Replace the exclude rules (repeat)."),
    clear_rules: bool = typer.Option(False, "--clear-rules", help="Remove every include and exclude rule."),
    ttl: int | None = typer.Option(None, "--ttl", help="Seconds an upstream index page is kept."),
    public: bool | None = typer.Option(
        None, "--public/--private", help="Who may use it (and see its packages)."
    ),
    as_json: bool = JSON,
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Change a mirror; what is not given stays as it is."""
    fields: dict[str, object] = {}
    if clear_rules:
        fields.update(include=[], exclude=[])
    for key, value in (("upstream", upstream), ("include", include), ("exclude", exclude), ("ttl", ttl)):
        if value is not None and (key != "upstream" or value):
            fields[key] = value
    if public is not None:
        fields["public"] = public
    if not fields:
        session.fail(
            "nothing to change: give --upstream, --include, --exclude, --clear-rules, --ttl or --public"
        )
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        _show(api.update_mirror(name, format, **fields), as_json)


@mirror_app.command("delete")
def delete(name: str, format: str | None = FORMAT, url: str | None = URL, token: str | None = TOKEN) -> None:
    """Remove the mirror's configuration; the packages it cached stay in organization NAME."""
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        api.delete_mirror(name, format)
    typer.echo(f"removed the mirror {name}; its cached packages stay in the organization {name}")


@mirror_app.command("sync")
def sync(
    name: str = typer.Argument(..., help="The mirror (its organization's name)."),
    packages: list[str] = typer.Option(..., "--packages", "-p", help="A package or requirement (repeat)."),
    deps: bool = typer.Option(True, "--deps/--no-deps", help="Also fetch their dependencies."),
    subdir: list[str] = typer.Option(
        [], "--subdir", help="conda: a platform to solve for (repeat; default linux-64; noarch comes along)."
    ),
    wait: bool = typer.Option(
        True,
        "--wait/--no-wait",
        help="Wait for the server to finish (default), or print the queued sync's id.",
    ),
    format: str | None = FORMAT,
    as_json: bool = JSON,
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Fetch packages into the mirror, so a site can be filled and then cut off from the upstream.

    The server queues the sync and one of its nodes runs it; this waits for it (Ctrl-C stops waiting, not the
    sync) and prints the files fetched, or the error and exit status 1."""
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        queued = api.sync_mirror(name, packages, deps=deps, subdirs=subdir, format=format, wait=False)
        if "id" not in queued:  # a server that syncs inside the request answered the files already
            done = queued
        elif not wait:
            if as_json:
                session.print_json(queued)
            else:
                where = f"{api.url}/api/mirrors/{queued['mirror']}/syncs/{queued['id']}"
                typer.echo(f"sync {queued['id']} of mirror {queued['mirror']} is {queued['state']}: {where}")
                typer.echo(f"see how it goes: packyard mirror syncs {queued['mirror']} --id {queued['id']}")
            return
        else:
            if sys.stderr.isatty():  # a person waiting is told why; a script's output stays as it was
                session.say(f"sync {queued['id']} queued; waiting for the server to fetch the packages")
            try:
                done = api.wait_for_mirror_sync(name, int(queued["id"]))
            except KeyboardInterrupt:
                session.say(
                    f"stopped waiting; sync {queued['id']} goes on on the server: "
                    f"packyard mirror syncs {queued['mirror']} --id {queued['id']}"
                )
                raise typer.Exit(130) from None
    if as_json:
        session.print_json(done)
        return
    for filename in done["fetched"]:
        typer.echo(filename)
    typer.echo(f"{len(done['fetched'])} files cached in mirror {done['mirror']}")


_SYNC_COLUMNS = [
    "id",
    "format",
    "state",
    "packages",
    "requested_by",
    "created_at",
    "finished_at",
    "fetched",
    "error",
]


@mirror_app.command("syncs")
def syncs(
    name: str,
    sync_id: int | None = typer.Option(None, "--id", help="Only this sync."),
    format: str | None = FORMAT,
    as_json: bool = JSON,
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """The latest syncs of a mirror (or one, with --id): queued, running, done with the files, or failed with why."""
    with session.reporting(), session.connect(url, token) as api:
        found = [api.mirror_sync(name, sync_id)] if sync_id is not None else api.mirror_syncs(name, format)
    table(found, _SYNC_COLUMNS, as_json, found[0] if sync_id is not None else found)
