"""The `packyard` command: run the server and administer it without the UI."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.table import Table

from packyard.config import Settings

app = typer.Typer(
    help="Packyard: a self-hosted conda, PyPI, CRAN, notebook and file repository.", no_args_is_help=True
)
user_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
app.add_typer(user_app, name="user")
console = Console()
err = Console(stderr=True)


def _bootstrap(settings: Settings) -> tuple[object, str | None]:
    from packyard.core import migrate
    from packyard.core.db import Database
    from packyard.core.services.accounts import ensure_admin

    settings.data.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    password = ensure_admin(db, settings.admin_user, settings.admin_password)
    return db, password


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to listen on (default PACKYARD_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default PACKYARD_PORT or 8080)."),
    workers: int = typer.Option(1, help="Worker processes (they share nothing but the database and blobs)."),
) -> None:
    """Migrate the database, create the first administrator if needed, and serve."""
    import uvicorn

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)
    _db, password = _bootstrap(settings)
    url = settings.base_url or f"http://{settings.host}:{settings.port}"
    console.print(f"[bold]Packyard[/bold] serving {url} (data in {settings.data.resolve()})")
    if password:
        console.print(
            f"Created the administrator [bold]{settings.admin_user}[/bold] with password "
            f"[bold]{password}[/bold] (shown once; change it with `packyard user passwd`)."
        )
    console.print(
        "Log in with the anaconda client:\n"
        f"  anaconda config --set url {url}/api\n"
        f"  ANACONDA_CLIENT_LEGACY_INTERACTIVE_LOGIN=1 anaconda org login --username {settings.admin_user}"
    )
    sys.stdout.flush()
    if workers > 1:
        uvicorn.run(
            "packyard.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_level="info",
        )
    else:
        from packyard.app import create_app

        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from packyard.core import migrate as migrations

    settings = Settings()
    settings.data.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(settings.sqlalchemy_url)
    console.print("database is up to date")


@app.command()
def fsck(
    clean: bool = typer.Option(False, "--clean", help="Delete orphan blobs, temp files and expired uploads."),
    verify: bool = typer.Option(False, "--verify", help="Re-hash every blob (slow)."),
    grace: int = typer.Option(3600, help="Leave blobs and temp files younger than this many seconds alone."),
) -> None:
    """Check that every file has its blob and report (or clean) leftovers of interrupted uploads."""
    from packyard.core.db import Database
    from packyard.core.fsck import check
    from packyard.core.storage import LocalBlobStore

    settings = Settings()
    report = check(
        Database(settings.sqlalchemy_url),
        LocalBlobStore(settings.blob_root),
        clean=clean,
        verify=verify,
        grace_seconds=grace,
    )
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


@user_app.command("create")
def user_create(
    login: str,
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
    email: str = typer.Option("", help="E-mail address."),
    admin: bool = typer.Option(False, "--admin", help="Make the user a site administrator."),
) -> None:
    """Create a user account."""
    from packyard.core.db import Database
    from packyard.core.errors import PackyardError
    from packyard.core.services.accounts import create_user

    settings = Settings()
    try:
        create_user(Database(settings.sqlalchemy_url), login, password, email=email, is_admin=admin)
    except PackyardError as exc:
        err.print(f"error: {exc.message}")
        raise typer.Exit(2) from None
    console.print(f"created user {login}")


@user_app.command("passwd")
def user_passwd(
    login: str, password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True)
) -> None:
    """Set a user's password."""
    from packyard.core.db import Database
    from packyard.core.errors import PackyardError
    from packyard.core.services.accounts import set_password

    settings = Settings()
    try:
        set_password(Database(settings.sqlalchemy_url), login, password)
    except PackyardError as exc:
        err.print(f"error: {exc.message}")
        raise typer.Exit(2) from None
    console.print(f"password changed for {login}")


if __name__ == "__main__":
    app()
