"""The `packyard` command: run the server and administer it without the UI."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    import uvicorn

    from packyard.config import Settings
    from packyard.core.auth import Identity
    from packyard.core.db import Database

app = typer.Typer(
    help="Packyard: a self-hosted conda, PyPI, CRAN, notebook and file repository.", no_args_is_help=True
)
user_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations: create, show, delete, members, owners.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
names_app = typer.Typer(help="Check package names (identity follows PEP 503).", no_args_is_help=True)
package_app = typer.Typer(help="Administer packages (e.g. to resolve name collisions).", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(org_app, name="org")
app.add_typer(token_app, name="token")
app.add_typer(names_app, name="names")
blobs_app = typer.Typer(help="Manage the blob store (where package files are kept).", no_args_is_help=True)
app.add_typer(package_app, name="package")
app.add_typer(blobs_app, name="blobs")
snapshots_app = typer.Typer(
    help="Snapshots: channels as at an event serial (docs/mirrors.md, Snapshots).", no_args_is_help=True
)
app.add_typer(snapshots_app, name="snapshots")
console = Console()
err = Console(stderr=True)
_URL = typer.Option(
    None, "--url", help="The server, for the client's form (default PACKYARD_URL, or config)."
)
_TOKEN = typer.Option(
    None, "--token", help="Your API token, for the client's form (default PACKYARD_TOKEN, or login)."
)


CLIENT_COMMANDS = frozenset(
    {"env", "login", "logout", "whoami", "config", "upload", "label"}
    | {
        "download",
        "show",
        "search",
        "remove",
        "copy",
        "move",
        "access",
        "collaborators",
        "transfer",
        "groups",
        "yank",
    }
)
"""Commands that talk to a server through packyard.client and never reach this installation's core."""


@app.callback()
def _register_formats(ctx: typer.Context) -> None:
    # Every command may reach the core, which reads the formats from their registry (core/formats.py); importing
    # packyard.formats registers them. Here rather than at the top, so that `--help` stays quick; the client's
    # commands do without (they need none of the server's code).
    if ctx.invoked_subcommand not in CLIENT_COMMANDS:
        import packyard.formats  # noqa: F401


def _bootstrap(settings: Settings) -> tuple[object, str | None]:
    from packyard.core import migrate
    from packyard.core.db import Database
    from packyard.core.services.accounts import ensure_admin

    settings.data.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    _refuse_name_collisions(db)
    password = ensure_admin(db, settings.admin_user, settings.admin_password)
    return db, password


NAME_COLLISIONS_EXIT = 3


def _refuse_name_collisions(db: Database) -> None:
    """Key the packages freed since the last start; stop if some still share a key (migration 0008).

    Serving two packages under one PEP 503 name would let either shadow the other, and merging them silently
    would hand one's files to the other's writers: an administrator decides (docs/operations.md).
    """
    from packyard.core import queries
    from packyard.core.services.packages import rekey

    rekey(db)
    with db.read() as session:
        collisions = queries.name_collisions(session)
    if collisions:
        shown = "; ".join(f"{c.owner}: {', '.join(p.name for p in c.packages)}" for c in collisions[:5]) + (
            "; ..." if len(collisions) > 5 else ""
        )
        err.print(
            f"error: {len(collisions)} set(s) of packages have names that are one name under PEP 503 "
            f"normalisation ({shown}). Packyard will not start until each set is down to one package: "
            "list them with `packyard names check`, then delete or transfer the extra ones with "
            "`packyard package delete OWNER NAME` or `packyard package transfer OWNER NAME TO` "
            '(docs/operations.md, "Package name collisions").'
        )
        raise typer.Exit(NAME_COLLISIONS_EXIT)


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to listen on (default PACKYARD_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default PACKYARD_PORT or 8080)."),
    workers: int = typer.Option(1, help="Worker processes (they share nothing but the database and blobs)."),
) -> None:
    """Migrate the database, create the first administrator if needed, and serve."""
    import uvicorn

    overrides: dict[str, Any] = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = _settings(**overrides)
    _check_store(settings)
    _db, password = _bootstrap(settings)
    url = settings.base_url or f"http://{settings.host}:{settings.port}"
    console.print(f"[bold]Packyard[/bold] serving {url} (data in {settings.data.resolve()})")
    if password:
        console.print(
            f"Created the administrator [bold]{settings.admin_user}[/bold] with password "
            f"[bold]{password}[/bold] (shown once; change it with `packyard user passwd`)."
        )
    console.print(
        f"Sign in to the website at {url}/login, or with the anaconda client:\n"
        f"  anaconda config --set url {url}/api\n"
        f"  ANACONDA_CLIENT_LEGACY_INTERACTIVE_LOGIN=1 anaconda org login --username {settings.admin_user}"
    )
    if settings.database_url and not settings.secret_key:
        console.print(
            "Note: PACKYARD_SECRET_KEY is not set, so this node signs forms with the key in "
            f"{settings.data.resolve() / 'secret.key'}: every node of a cluster must share one key "
            '(docs/operations.md, "Production layout: several nodes").'
        )
    sys.stdout.flush()
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        config = uvicorn.Config(
            "packyard.app:create_served_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level="info",
        )
        Multiprocess(config, sockets=[listener(config)]).run()
    else:
        from packyard.app import create_served_app

        uvicorn.run(create_served_app(settings), host=settings.host, port=settings.port, log_level="info")


def _check_store(settings: Settings) -> None:
    """Stop in one line when the blob store cannot be used (a bucket that does not answer, wrong credentials)."""
    from packyard.config import build_store
    from packyard.core.storage import StoreUnavailable

    try:
        build_store(settings).check()
    except StoreUnavailable as exc:
        where = "PACKYARD_BLOB_URL and the AWS_* variables" if settings.blob_url else "PACKYARD_DATA"
        raise _Stop(f"the blob store cannot be used ({exc}): check {where}") from None


def listener(config: uvicorn.Config) -> socket.socket:
    """The socket the workers share, marked as TCP so that their connections get TCP_NODELAY.

    uvicorn binds it with protocol 0 (uvicorn#3149); asyncio sets TCP_NODELAY on an accepted connection only when
    the socket says IPPROTO_TCP, so with Nagle left on every keep-alive response would wait ~40 ms for the
    client's delayed ACK.
    """
    bound = config.bind_socket()
    if bound.family not in (socket.AF_INET, socket.AF_INET6):
        return bound
    sock = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
    sock.set_inheritable(True)
    return sock


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from packyard.core import migrate as migrations

    settings = _settings()
    db = _db(settings)  # upgrades the server's database; never creates one where the server would not look
    migrations.upgrade(settings.sqlalchemy_url)
    _refuse_name_collisions(db)
    console.print("database is up to date")


@app.command()
def fsck(
    clean: bool = typer.Option(
        False,
        "--clean",
        "--repair",
        help="Delete orphan blobs (files or objects), temp files, unfinished multipart uploads and expired "
        "uploads. (--repair is the same.)",
    ),
    verify: bool = typer.Option(False, "--verify", help="Re-hash every blob (slow)."),
    grace: int = typer.Option(3600, help="Leave blobs and temp files younger than this many seconds alone."),
) -> None:
    """Check that every file has its blob and report (or clean) leftovers of interrupted uploads."""
    from packyard.config import build_store
    from packyard.core.fsck import check
    from packyard.core.storage import StoreUnavailable

    settings = _settings()
    try:
        report = check(
            _db(settings),
            build_store(settings),
            clean=clean,
            verify=verify,
            grace_seconds=grace,
        )
    except StoreUnavailable as exc:
        raise _Stop(
            f"the blob store cannot be used ({exc}): check PACKYARD_BLOB_URL and the AWS_* variables"
        ) from None
    table = Table("problem", "count", "examples")
    for title, items in (
        ("orphan blobs", report.orphans),
        ("temp files", report.temp_files),
        ("expired uploads", report.expired_stages),
        ("missing blobs", report.missing),
        ("corrupt blobs", report.corrupt),
    ):
        table.add_row(title, str(len(items)), ", ".join(str(i) for i in items[:3]))
    console.print(table)
    if clean:
        console.print(f"cleaned {report.cleaned} leftovers")
    raise typer.Exit(0 if report.ok else 1)


@snapshots_app.command("prune")
def snapshots_prune(
    before: str = typer.Option(
        ...,
        "--before",
        help="An event serial, or a UTC time (2026-12-01T00:00:00Z, or a date): forget the files removed "
        "before it. Snapshots older than that point are refused from then on.",
    ),
) -> None:
    """Forget the history of files removed before a serial or time, so that their blobs can go: the next
    `packyard fsck --clean` deletes the ones nothing else names."""
    from packyard.core import snapshots
    from packyard.core.errors import PackyardError

    db = _db()
    try:
        serial = snapshots.prune_point(db, before)
        gone = snapshots.prune(db, serial)
    except PackyardError as exc:
        raise _fail(exc) from None
    console.print(
        f"forgot {gone} removed files; snapshots start at serial {serial} "
        "(run `packyard fsck --clean` to delete blobs nothing names any more)",
        highlight=False,
    )


@blobs_app.command("migrate")
def blobs_migrate(
    to: str = typer.Option(..., "--to", help="The bucket to copy into: s3://BUCKET/PREFIX."),
) -> None:
    """Copy every blob of the local store into S3 (resumable, each verified by its sha256); then set
    PACKYARD_BLOB_URL to the same URL and restart the servers."""
    from packyard.config import build_store
    from packyard.core.blobcopy import copy_blobs
    from packyard.core.storage import S3Location, StoreUnavailable, open_store, parse_blob_url
    from packyard.core.storage.s3 import S3BlobStore

    settings = _settings()
    _db(settings)  # the server's data folder, or one line saying where it was looked for
    try:
        where = parse_blob_url(to)
    except ValueError as exc:
        raise _Stop(f"--to: {exc}") from None
    if not isinstance(where, S3Location):
        raise _Stop("--to must be an S3 URL, s3://BUCKET/PREFIX (the local store is the one copied from)")
    if settings.blob_url is not None and not settings.blob_url.startswith("file://"):
        raise _Stop(f"PACKYARD_BLOB_URL is already {settings.blob_url}: migrate copies a local store")
    source = build_store(settings)
    dest = open_store(to, tmp=settings.blob_root / "tmp", addressing_style=settings.s3_addressing_style)
    assert isinstance(dest, S3BlobStore)
    try:
        dest.check()
    except StoreUnavailable as exc:
        raise _Stop(
            f"cannot use {where.url}: {exc}; check the bucket and AWS_ENDPOINT_URL / AWS_* credentials"
        ) from None

    def progress(outcome: str, sha: str, size: int, done: int, total: int) -> None:
        if outcome != "skipped":
            console.print(f"[{done}/{total}] {outcome} {sha} ({size:,} bytes)", highlight=False)

    console.print(f"copying {settings.blob_root} to {where.url}", highlight=False)
    try:
        report = copy_blobs(source, dest, progress)
    except StoreUnavailable as exc:
        raise _Stop(f"{exc}; run the command again to resume") from None
    console.print(
        f"{report.copied} blobs copied ({report.copied_bytes:,} bytes), {report.skipped} already in the bucket"
        + (f", {len(report.vanished)} deleted meanwhile" if report.vanished else ""),
        highlight=False,
    )
    if report.corrupt:
        err.print(
            f"error: {len(report.corrupt)} blobs do not match their sha256 and were not copied: "
            f"{', '.join(report.corrupt[:5])}{' ...' if len(report.corrupt) > 5 else ''} (see `packyard fsck --verify`)",
            highlight=False,
        )
        raise typer.Exit(1)
    console.print(
        f"done: set PACKYARD_BLOB_URL={where.url} on every node and restart them (run this again first if "
        "uploads continued meanwhile: it copies only what is new)",
        highlight=False,
    )


@user_app.command("create")
def user_create(
    login: str,
    password: str = typer.Option(
        None, prompt=True, hide_input=True, confirmation_prompt=True, help="Asked for when not given."
    ),
    email: str = typer.Option("", help="E-mail address."),
    admin: bool = typer.Option(False, "--admin", help="Make the user a site administrator."),
) -> None:
    """Create a user account."""
    from packyard.core.errors import PackyardError
    from packyard.core.services import admin as site_admin

    db = _db()
    try:
        site_admin.create_user(
            db,
            site_admin.OPERATOR,
            login,
            password,
            email=email,
            is_admin=admin,
        )
    except PackyardError as exc:
        err.print(f"error: {exc.message}")
        raise typer.Exit(2) from None
    console.print(f"created user {login}")


@user_app.command("passwd")
def user_passwd(
    login: str,
    password: str = typer.Option(
        None, prompt=True, hide_input=True, confirmation_prompt=True, help="Asked for when not given."
    ),
) -> None:
    """Set a user's password (their web sessions end)."""
    from packyard.core.errors import PackyardError
    from packyard.core.services import admin as site_admin

    db = _db()
    try:
        site_admin.reset_password(db, site_admin.OPERATOR, login, password)
    except PackyardError as exc:
        err.print(f"error: {exc.message}")
        raise typer.Exit(2) from None
    console.print(f"password changed for {login}")


class _Stop(typer.Exit):
    """An operator error: one line on stderr, exit status 2, no traceback."""

    def __init__(self, message: str) -> None:
        typer.echo(f"error: {message}", err=True)  # not rich: it would wrap the line at 80 columns
        super().__init__(2)


def _settings(**overrides: Any) -> Settings:
    """The settings exactly as `packyard serve` reads them here: PACKYARD_* variables, then
    PACKYARD_DATA/packyard.toml (PACKYARD_DATA defaults to ./packyard-data, relative to the working folder)."""
    import tomllib

    from pydantic import ValidationError

    from packyard.config import Settings

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise _Stop(
            f"setting {where!r}: {first['msg']}; fix the PACKYARD_{where.upper()} variable or packyard.toml "
            "in the data folder (PACKYARD_DATA)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise _Stop(f"packyard.toml in the data folder (PACKYARD_DATA) is not valid TOML: {exc}") from None


def _db(settings: Settings | None = None) -> Database:
    """The server's database, or one line saying where it was looked for (never a traceback).

    Run from cron or another folder, the default `./packyard-data` is not the server's: rather than create an
    empty database there (or fail deep in SQLite), every command but `serve` stops and names PACKYARD_DATA.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from packyard.core.db import Database

    settings = settings or _settings()
    if settings.database_url is None:
        path = (settings.data / "packyard.db").resolve()
        if not path.is_file():
            raise _Stop(
                f"no Packyard database at {path}: set PACKYARD_DATA to the server's data folder "
                "(`packyard serve` creates the database)"
            )
    db = Database(settings.sqlalchemy_url)
    try:
        with db.read() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        where = "PACKYARD_DATABASE_URL" if settings.database_url else "PACKYARD_DATA"
        raise _Stop(f"cannot open the database ({reason}): check {where}") from None
    return db


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"error: {getattr(exc, 'message', exc)}")
    return typer.Exit(2)


def _as_user(db: Database, login: str) -> Identity:
    """The identity of `login`, for admin commands that act on a user's behalf."""
    from packyard.core import queries
    from packyard.core.auth import identity_for
    from packyard.core.errors import BadRequest

    with db.read() as session:
        account = queries.owner(session, login)
    if account.kind != "user":
        raise BadRequest(f"{login} is an organization, not a user")
    return identity_for(db, account)


@user_app.command("list")
def user_list() -> None:
    """List users and organizations."""
    from packyard.core.services.accounts import list_accounts

    table = Table("login", "type", "admin", "disabled", "created")
    for account in list_accounts(_db()):
        table.add_row(
            account.login,
            account.kind,
            "yes" if account.is_admin else "",
            "yes" if account.is_disabled else "",
            account.created_at.strftime("%Y-%m-%d"),
        )
    console.print(table)


@user_app.command("disable")
def user_disable(
    login: str, enable: bool = typer.Option(False, "--enable", help="Enable the user again.")
) -> None:
    """Disable a user: no login, their web sessions end, and every token of theirs stops working."""
    from packyard.core.errors import PackyardError
    from packyard.core.services import admin as site_admin

    try:
        site_admin.set_disabled(_db(), site_admin.OPERATOR, login, not enable)
    except PackyardError as exc:
        raise _fail(exc) from None
    console.print(f"{'enabled' if enable else 'disabled'} {login}")


@user_app.command("unlock")
def user_unlock(login: str) -> None:
    """Lift a login's sign-in throttle: forget its recent failed sign-ins from every address."""
    from packyard.core.errors import PackyardError
    from packyard.core.services import admin as site_admin

    try:
        n = site_admin.unlock(_db(), site_admin.OPERATOR, login)
    except PackyardError as exc:
        raise _fail(exc) from None
    console.print(f"unlocked {login} ({n} failed sign-ins forgotten)")


@org_app.command("create")
def org_create(
    login: str,
    owner: str | None = typer.Option(
        None, help="Operator: the user who becomes the first owner (works on this installation's database)."
    ),
    name: str = typer.Option("", help="Display name."),
    email: str = typer.Option("", help="Contact e-mail (through the server)."),
    url: str | None = _URL,
    token: str | None = _TOKEN,
) -> None:
    """Create an organization: through the server, owned by you; or (operator, --owner USER) in this
    installation's database, owned by USER."""
    if owner is None:
        from packyard.cli import accounts

        accounts.org_create_remote(login, name, email, url, token)
        return
    from packyard.core.errors import PackyardError
    from packyard.core.services.orgs import create_org

    db = _db()
    try:
        create_org(db, _as_user(db, owner), login, name)
    except PackyardError as exc:
        raise _fail(exc) from None
    console.print(f"created organization {login}, owned by {owner}")


@token_app.command("create")
def token_create(
    user: str | None = typer.Option(
        None, help="Operator: the user the token acts as (works on this installation's database)."
    ),
    name: str = typer.Option(..., help="A name to recognise (and remove) the token by."),
    scopes: list[str] = typer.Option(["all"], "--scope", "-s", help="Scopes (repeat, or space-separated)."),
    max_age: int | None = typer.Option(None, help="Lifetime in seconds (default: no expiry)."),
    org: str | None = typer.Option(None, help="Create the token for this organization."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the whole answer as JSON (through the server)."
    ),
    url: str | None = _URL,
    token: str | None = _TOKEN,
) -> None:
    """Create a token and print it (it is shown only once): through the server with your token; or (operator,
    --user USER) in this installation's database."""
    if user is None:
        from packyard.cli import accounts

        accounts.token_create_remote(name, scopes, max_age, org, as_json, url, token)
        return
    from packyard.core.errors import PackyardError
    from packyard.core.services.tokens import create_token

    db = _db()
    try:
        _token, secret = create_token(
            db,
            _as_user(db, user),
            name=name,
            scopes=scopes,
            max_age=max_age,
            org=org or None,
            fail_if_exists=True,
        )
    except PackyardError as exc:
        raise _fail(exc) from None
    print(secret)


@names_app.command("check")
def names_check() -> None:
    """List packages whose names are one name under PEP 503 (exit 1 if there are any)."""
    from packyard.core import queries

    with _db().read() as session:
        collisions = queries.name_collisions(session)
    if not collisions:
        console.print("no package name collisions")
        return
    table = Table("owner", "PEP 503 name", "package", "types", "files", "id")
    for c in collisions:
        for p in c.packages:
            table.add_row(c.owner, c.key, p.name, ",".join(p.package_types), str(p.files), str(p.id))
    console.print(table)
    console.print(
        f"{len(collisions)} collision(s): keep one package of each set and delete or transfer the others "
        "(`packyard package delete OWNER NAME`, `packyard package transfer OWNER NAME TO`)."
    )
    raise typer.Exit(1)


def _admin(db: Database, login: str | None) -> Identity:
    from packyard.core.errors import BadRequest

    identity = _as_user(db, login or _settings().admin_user)
    if identity.account is None or not identity.account.is_admin:
        raise BadRequest(f"{identity.login} is not a site administrator (give one with --as)")
    return identity


_EXACT = "the package's exact name (as `packyard names check` shows it)"
_AS = typer.Option(None, "--as", help="Site administrator to act as (default PACKYARD_ADMIN_USER).")


@package_app.command("delete")
def package_delete(
    owner: str,
    name: str = typer.Argument(..., help=_EXACT),
    as_: str | None = _AS,
) -> None:
    """Delete a package with all its releases and files (their blobs go at the next `fsck --clean`)."""
    from packyard.core.errors import PackyardError
    from packyard.core.services.packages import delete_package

    db = _db()
    try:
        identity = _admin(db, as_)
        delete_package(db, identity, owner, name, exact=True)
    except PackyardError as exc:
        raise _fail(exc) from None
    console.print(f"deleted {owner}/{name}")


@package_app.command("transfer")
def package_transfer(
    owner: str,
    name: str = typer.Argument(..., help=_EXACT),
    to: str = typer.Argument(..., help="The user or organization that receives it."),
    as_: str | None = _AS,
) -> None:
    """Move a package, files and all, to another owner (e.g. to keep a colliding package aside)."""
    from packyard.core.errors import PackyardError
    from packyard.core.services.packages import transfer

    db = _db()
    try:
        identity = _admin(db, as_)
        transfer(db, identity, owner, name, to, exact=True)
    except PackyardError as exc:
        raise _fail(exc) from None
    console.print(f"moved {owner}/{name} to {to}")


def _register_backup() -> None:
    from packyard.cli import backup as backup_commands

    app.command("backup")(backup_commands.backup)
    app.command("restore")(backup_commands.restore)


_register_backup()


def _register_envs() -> None:
    from packyard.cli.envs import env_app

    app.add_typer(env_app, name="env")


_register_envs()


def _register_client_commands() -> None:
    """The user's commands (docs/client.md, "The packyard command"): thin layers on packyard.client."""
    from packyard.cli import accounts, mirrors, packages, session, upload

    commands: dict[str, Callable[..., None]] = {
        **session.COMMANDS,
        "upload": upload.upload,
        **packages.COMMANDS,
    }
    for name, command in commands.items():
        app.command(name)(command)
    app.add_typer(packages.label_app, name="label")
    for sub, function in accounts.ORG_COMMANDS.items():
        org_app.command(sub)(function)
    for sub, function in accounts.TOKEN_COMMANDS.items():
        token_app.command(sub)(function)
    app.add_typer(accounts.groups_app, name="groups")
    app.add_typer(mirrors.mirror_app, name="mirror")


_register_client_commands()

EXTRAS = {"rattler": "env"}
"""Which extra brings a module a command may miss; any other missing library is the server's (pyproject.toml)."""


def main() -> None:
    """The `packyard` script. `pip install packyard` is only the client: an operator command run there (`serve`,
    `user`, `backup`...) or `env create` without py-rattler says which extra to install instead of a traceback."""
    try:
        app()
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if not missing or missing == "packyard":
            raise
        extra = EXTRAS.get(missing, "server")
        err.print(
            f"error: this command needs Packyard's {extra} libraries, not installed here (no module "
            f"{missing!r}): pip install 'packyard[{extra}]'",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
