"""`packyard env create OWNER/NAME` and `packyard env export` (the logic is packyard.client.envs; docs/client.md,
"Creating an environment from Packyard"). Registered on the main app by cli/main.py.

The server and token are resolved as for every client command (cli/session.py): `--url`, else PACKYARD_URL, else
the config file; `--token`, else PACKYARD_TOKEN, else the token `packyard login` stored.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from packyard.cli import session

if TYPE_CHECKING:
    from packyard.client.envs import Progress, ProgressCallback

env_app = typer.Typer(help="Create conda environments from Packyard, and export them.", no_args_is_help=True)

_URL = session.URL
_TOKEN = session.TOKEN


def _say(line: str) -> None:
    typer.echo(line, err=True)


def _fail(message: str) -> typer.Exit:
    _say(f"error: {message}")
    return typer.Exit(1)


def envs_dir(given: Path | None) -> Path:
    """Where `-n NAME` environments go: --envs-dir, else the envs/ folder of the active conda installation
    ($CONDA_PREFIX/envs, or the envs/ folder $CONDA_PREFIX is in when a named environment is active)."""
    if given is not None:
        return given
    active = os.environ.get("CONDA_PREFIX")
    if not active:
        raise _fail("-n NAME needs --envs-dir DIR or an active conda ($CONDA_PREFIX); or give -p PREFIX")
    prefix = Path(active)
    return prefix.parent if prefix.parent.name == "envs" else prefix / "envs"


def _target(spec_name: str | None, name: str | None, prefix: Path | None, envs: Path | None) -> Path:
    if name and prefix:
        raise _fail("give -n NAME or -p PREFIX, not both")
    if prefix is not None:
        return prefix
    chosen = name or spec_name
    if not chosen:
        raise _fail("the environment file has no name: give -n NAME or -p PREFIX")
    return envs_dir(envs) / chosen


@env_app.command("create")
def create(
    environment: str = typer.Argument(..., metavar="OWNER/NAME[/VERSION]", help="The uploaded environment."),
    name: str | None = typer.Option(
        None, "-n", "--name", help="Create it as ENVS_DIR/NAME (default: its name)."
    ),
    prefix: Path | None = typer.Option(None, "-p", "--prefix", help="Create it in this folder instead."),
    envs: Path | None = typer.Option(
        None, "--envs-dir", help="Where -n environments go (default $CONDA_PREFIX/envs)."
    ),
    url: str | None = _URL,
    token: str | None = _TOKEN,
) -> None:
    """Download an environment uploaded to Packyard, solve it with py-rattler against the channels it names (this
    server's, with the token) and install it into a new prefix."""
    from packyard.client import envs as client_envs

    parts = environment.strip("/").split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise _fail(f"expected OWNER/NAME or OWNER/NAME/VERSION, got {environment!r}")
    owner, env_name = parts[0], parts[1]
    version = parts[2] if len(parts) == 3 else None
    resolved = session.resolve(url, token)
    base, secret = resolved.url, resolved.token
    try:
        raw = client_envs.fetch_environment(base, owner, env_name, secret, version)
        the_plan = client_envs.plan(raw, base, secret, owner=owner)
        target = _target(the_plan.name, name, prefix, envs)
        _say(f"Creating {owner}/{env_name} in {target} from {', '.join(c.shown for c in the_plan.channels)}")
        with _progress() as report:
            installed = client_envs.create(the_plan, target, progress=report)
    except client_envs.EnvError as exc:
        _say(f"error: {exc.message}")
        _end_process_now(1)
    for package in installed:
        typer.echo(f"  {package.name} {package.version} {package.build}  {package.channel}")
    typer.echo(f"Created {target} ({len(installed)} packages).")
    _end_process_now(0)


def _end_process_now(code: int) -> NoReturn:
    """Exit without the interpreter's finalization once py-rattler has run.

    py-rattler 0.28 leaves background threads that may take the GIL while the interpreter finalizes, which aborts
    the process ("Fatal Python error: PyGILState_Release", exit -6) in about one run in ten, after the work is
    done. Nothing is left to clean up here, so the command flushes its output and ends the process itself.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@env_app.command("export")
def export(
    prefix: Path = typer.Option(..., "-p", "--prefix", help="The environment's folder."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write here (default: standard output)."),
    name: str | None = typer.Option(
        None, "-n", "--name", help="The name in the file (default: the folder's)."
    ),
    upload: bool = typer.Option(False, "--upload", help="Upload it to the server (needs a token)."),
    user: str | None = typer.Option(
        None, "-u", "--user", help="Upload to this owner (default: the token's)."
    ),
    url: str | None = _URL,
    token: str | None = _TOKEN,
) -> None:
    """Write an environment.yml of an installed prefix (name=version=build of each package and its channels,
    without tokens); with --upload, upload it."""
    from packyard.client import envs as client_envs

    try:
        data = client_envs.export(prefix, name=name)
        if output is not None:
            output.write_bytes(data)
        elif not upload:
            sys.stdout.write(data.decode())
        if upload:
            resolved = session.resolve(url, token)
            if not resolved.token:
                raise _fail("--upload needs a token: `packyard login`, --token or PACKYARD_TOKEN")
            typer.echo(client_envs.upload_environment(resolved.url, user, data, resolved.token))
    except client_envs.EnvError as exc:
        raise _fail(exc.message) from None
    except OSError as exc:
        raise _fail(f"{exc.strerror}: {exc.filename}") from None


class _progress:
    """Rich bars when standard error is a terminal; plain lines (one per package and stage) when it is piped."""

    def __enter__(self) -> ProgressCallback:
        from rich.console import Console

        console = Console(stderr=True)
        if console.is_terminal:
            return self._rich(console)
        return self._plain

    _bars: Any = None

    def __exit__(self, *exc: object) -> None:
        if self._bars is not None:
            self._bars.stop()

    def _plain(self, event: Progress) -> None:
        if event.stage == "solve" and event.done == 0:
            _say("solving ...")
        elif event.stage == "solve":
            _say("solved")
        elif event.stage == "download" and event.done == 0:
            _say(f"downloading {event.package}")
        elif event.stage == "link":
            _say(f"installed {event.package} ({event.done}/{event.total})")
        elif event.stage == "pip" and event.done == 0:
            _say(f"pip install {event.package}")
        elif event.stage == "pip":
            _say("pip done")

    def _rich(self, console: object) -> ProgressCallback:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            ProgressColumn,
            SpinnerColumn,
            Task,
            TaskID,
            TextColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as Bars
        from rich.text import Text

        class Amount(ProgressColumn):
            """Bytes for a download, packages for linking."""

            def render(self, task: Task) -> Text:
                if task.fields.get("bytes"):
                    return Text.assemble(
                        DownloadColumn().render(task), " ", TransferSpeedColumn().render(task)
                    )
                return MofNCompleteColumn().render(task)

        assert isinstance(console, Console)
        bars = Bars(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), Amount(), console=console)
        bars.start()
        self._bars = bars
        tasks: dict[str, TaskID] = {}

        def report(event: Progress) -> None:
            if event.stage == "solve":
                if "solve" not in tasks:
                    tasks["solve"] = bars.add_task("solving", total=None)
                else:
                    bars.update(tasks["solve"], description="solved", total=1, completed=1)
            elif event.stage == "download" and event.package:
                key = f"download {event.package}"
                if key not in tasks:
                    tasks[key] = bars.add_task(event.package, total=event.total, bytes=True)
                bars.update(tasks[key], completed=event.done, total=event.total)
            elif event.stage == "link":
                if "link" not in tasks:
                    tasks["link"] = bars.add_task("linking", total=event.total)
                bars.update(tasks["link"], completed=event.done, description=f"linked {event.package}")
            elif event.stage == "pip":
                if "pip" not in tasks:
                    tasks["pip"] = bars.add_task(f"pip install {event.package}", total=None)
                else:
                    bars.update(tasks["pip"], total=event.total, completed=event.done)

        return report
