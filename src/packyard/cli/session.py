"""Where the client commands' server and credential come from, and `packyard login/logout/whoami/config`.

The server is `--url`, else PACKYARD_URL, else the `url` of the config file; the credential is `--token`, else
PACKYARD_TOKEN, else the token `packyard login` stored for that server. The config file and the token file live in
the user's config folder (platformdirs' when installed, else $XDG_CONFIG_HOME/packyard or ~/.config/packyard); the
token file is readable by its owner only (0600), as it holds secrets.

Every client command imports only packyard.client (+ typer, rich): it runs where the server is not installed.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import typer

from packyard.client import Client, PackyardError, api_url

_URL_HELP = "The Packyard server (default PACKYARD_URL, else `packyard config --set url=...`)."
_CREDENTIAL_HELP = (
    "An API token (default PACKYARD_TOKEN, else the one `packyard login` stored for the server)."
)
URL = typer.Option(None, "--url", help=_URL_HELP, show_default=False)
TOKEN = typer.Option(None, "--token", help=_CREDENTIAL_HELP, show_default=False)
JSON = typer.Option(False, "--json", help="Print JSON (for scripts) instead of a table.")

CONFIG_FILE = "config.json"
TOKENS_FILE = "tokens.json"
SETTABLE = ("url",)


def config_dir() -> Path:
    """The user's config folder for packyard (created by the commands that write to it)."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("packyard", appauthor=False))


def say(line: str) -> None:
    typer.echo(line, err=True)


def fail(message: str) -> NoReturn:
    """One line on stderr, exit status 1, no traceback."""
    say(f"error: {message}")
    raise typer.Exit(1)


def confirm(question: str, yes: bool) -> None:
    """Ask before something that cannot be undone; without a terminal to ask on, only `--yes` goes ahead."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"{question[:-1]}: give --yes to confirm without a terminal")
    if not typer.confirm(question):
        raise typer.Exit(1)


@contextmanager
def reporting() -> Iterator[None]:
    """Turn the server's errors (and a file or URL that cannot be used) into one line and exit status 1."""
    try:
        yield
    except PackyardError as exc:
        fail(_one_line(exc.message))
    except ValueError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        fail(f"cannot read {path} ({exc}): fix or delete it")
    if not isinstance(data, dict):
        fail(f"{path} is not a JSON object: fix or delete it")
    return data


def _write(path: Path, data: dict[str, Any], *, private: bool) -> None:
    """Write through a temporary file created with its final mode, so a token never sits in a readable file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")
    if private:
        os.chmod(tmp, 0o600)  # an older file of the same name may have had another mode
    tmp.replace(path)


def read_config() -> dict[str, Any]:
    return _read(config_dir() / CONFIG_FILE)


def site(url: str) -> str:
    """The server's root URL as tokens are keyed by (`host:8080`, `http://host:8080/api/` are one server)."""
    return api_url(url).removesuffix("/api")


def adopt_default_server(root: str) -> bool:
    """Make `root` the default server when none is configured: after `packyard login --url URL`, the next command
    needs no `--url` (as `anaconda login` leaves the server it used). A configured default is never replaced."""
    data = read_config()
    if data.get("url"):
        return False
    _write(config_dir() / CONFIG_FILE, {**data, "url": root}, private=False)
    return True


def stored_tokens() -> dict[str, str]:
    return {str(k): str(v) for k, v in _read(config_dir() / TOKENS_FILE).items()}


def store_token(url: str, token: str | None) -> None:
    tokens = stored_tokens()
    if token is None:
        tokens.pop(site(url), None)
    else:
        tokens[site(url)] = token
    _write(config_dir() / TOKENS_FILE, tokens, private=True)


@dataclass(frozen=True)
class Session:
    """The server and credential a command uses, and where each came from (for `whoami` and messages)."""

    url: str
    token: str | None
    url_from: str
    token_from: str

    def client(self) -> Client:
        return Client(self.url, self.token)


def server(url: str | None) -> tuple[str, str]:
    """The server's root URL and where it came from: `--url`, else PACKYARD_URL, else the config file."""
    if url:
        where = "--url"
    elif os.environ.get("PACKYARD_URL"):
        url, where = os.environ["PACKYARD_URL"], "PACKYARD_URL"
    elif read_config().get("url"):
        url, where = str(read_config()["url"]), str(config_dir() / CONFIG_FILE)
    else:
        fail("which server? give --url URL, set PACKYARD_URL, or run `packyard config --set url=URL`")
    try:
        root = site(url)
    except ValueError as exc:
        fail(f"{where}: {exc}")
    return root, where


def resolve(url: str | None, token: str | None) -> Session:
    """`--url`/`--token`, else the environment, else the config file and the stored token."""
    root, where = server(url)
    if token:
        return Session(root, token, where, "--token")
    if os.environ.get("PACKYARD_TOKEN"):
        return Session(root, os.environ["PACKYARD_TOKEN"], where, "PACKYARD_TOKEN")
    stored = stored_tokens().get(root)
    if stored:
        return Session(root, stored, where, f"`packyard login` ({config_dir() / TOKENS_FILE})")
    return Session(root, None, where, "none (anonymous)")


def connect(url: str | None, token: str | None, *, need_token: bool = False) -> Client:
    """A client for the resolved server; `need_token` stops early, naming the ways to give one."""
    session = resolve(url, token)
    if need_token and not session.token:
        fail(f"this needs a token for {session.url}: run `packyard login`, or give --token or PACKYARD_TOKEN")
    return session.client()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


# --- the commands --------------------------------------------------------------------------------------------


def login(
    username: str | None = typer.Option(
        None, "--username", "-u", help="Your login (asked for when not given)."
    ),
    password: str | None = typer.Option(None, "--password", "-p", help="Asked for when not given."),
    token: str | None = typer.Option(
        None, "--token", help="Store this existing token instead of creating one with your password."
    ),
    url: str | None = URL,
) -> None:
    """Sign in to a server and store a token for it (0600, in your config folder); later commands use it."""
    root, where = server(url)
    adopt = (
        where == "--url"
    )  # PACKYARD_URL stays set for the next commands; a configured one is already there
    if token and (username or password):
        fail("give --token, or --username/--password, not both")
    with reporting():
        if token:
            with Client(root, token) as api:
                who = api.whoami()
            store_token(root, token)
            typer.echo(
                f"Logged in to {root} as {who['login']} (the given token is stored).{_default_note(root, adopt)}"
            )
            return
        if not username:
            username = typer.prompt("Username")
        if password is None:
            password = typer.prompt("Password", hide_input=True)
        host = platform.node() or "this computer"
        note = f"packyard CLI on {host} ({datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC)"
        with Client(root) as api:
            made = api.create_token(note, ["all"], username=username, password=password)
        store_token(root, str(made["token"]))
    typer.echo(
        f"Logged in to {root} as {username} (token {note!r}, stored in {config_dir() / TOKENS_FILE})."
        + _default_note(root, adopt)
    )


def _default_note(root: str, adopt: bool) -> str:
    return f" {root} is now the default server." if adopt and adopt_default_server(root) else ""


def logout(url: str | None = URL) -> None:
    """Revoke the token `packyard login` stored for the server, and forget it."""
    root, _ = server(url)
    stored = stored_tokens().get(root)
    if not stored:
        fail(f"not logged in to {root} (no stored token)")
    with Client(root, stored) as api:
        try:
            api.remove_authentication()
        except PackyardError as exc:
            if exc.status != 401:  # an expired or revoked token is forgotten all the same
                store_token(root, None)
                fail(f"the server did not revoke the token ({_one_line(exc.message)}); it is forgotten here")
    store_token(root, None)
    typer.echo(f"Logged out of {root} (the token is revoked and forgotten).")


def whoami(url: str | None = URL, token: str | None = TOKEN, as_json: bool = JSON) -> None:
    """Who the server says you are, and where the server and token came from."""
    session = resolve(url, token)
    if not session.token:
        fail(f"not logged in to {session.url}: run `packyard login`, or give --token or PACKYARD_TOKEN")
    with reporting(), session.client() as api:
        me = api.whoami()
    if as_json:
        print_json({**me, "server": session.url, "token_from": session.token_from})
        return
    name = f" ({me['name']})" if me.get("name") else ""
    typer.echo(f"{me['login']}{name} on {session.url}")
    typer.echo(f"server from {session.url_from}; token from {session.token_from}")


def config(
    set_: list[str] = typer.Option(
        [], "--set", help="KEY=VALUE to store (url=https://packages.example.org); repeat for several."
    ),
    unset: list[str] = typer.Option([], "--unset", help="KEY to remove."),
    as_json: bool = JSON,
) -> None:
    """Show the client's configuration (the servers you are logged in to, never the tokens), or change it."""
    data = read_config()
    for item in set_:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in SETTABLE:
            fail(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(SETTABLE)}")
        try:
            data[key] = site(value) if key == "url" else value.strip()
        except ValueError as exc:
            fail(f"--set {item!r}: {exc}")
    for key in unset:
        data.pop(key, None)
    if set_ or unset:
        _write(config_dir() / CONFIG_FILE, data, private=False)
    shown: dict[str, Any] = {
        "config_file": str(config_dir() / CONFIG_FILE),
        "url": data.get("url"),
        "PACKYARD_URL": os.environ.get("PACKYARD_URL"),
        "PACKYARD_TOKEN": "set" if os.environ.get("PACKYARD_TOKEN") else None,
        "logged_in_to": sorted(stored_tokens()),
    }
    if as_json:
        print_json(shown)
        return
    for key, value in shown.items():
        text = ", ".join(value) if isinstance(value, list) else value
        typer.echo(f"{key}: {text or '-'}")


COMMANDS: dict[str, Callable[..., None]] = {
    "login": login,
    "logout": logout,
    "whoami": whoami,
    "config": config,
}
