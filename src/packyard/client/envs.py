"""Environments from the client's side: fetch an uploaded environment.yml, plan it against this server's channels,
solve and install it with py-rattler, and export an installed prefix back to an environment.yml.

Seeds 001/002 ("create an environment from an uploaded environment"): `conda env create OWNER/NAME` did this
against anaconda.org, and conda 25.9 dropped it; `packyard env create OWNER/NAME` does it against a Packyard
server (docs/client.md, "Creating an environment from Packyard").

Every function takes plain values (a server URL, a token) so that the CLI and the library call the same code.
py-rattler is imported inside `create` and `export` only: fetching and planning need httpx and PyYAML alone.
The channel mapping lives in `packyard.client.envplan` (pure); it is re-exported here.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import httpx
import yaml

from packyard.client.envplan import (
    ChannelRef,
    EnvError,
    InvalidEnvironment,
    Plan,
    plan,
    redact,
    server_url,
    strip_token,
)

if TYPE_CHECKING:
    import rattler

__all__ = [
    "ChannelRef",
    "EnvAccessDenied",
    "EnvError",
    "EnvNotFound",
    "InstallFailed",
    "Installed",
    "InvalidEnvironment",
    "Plan",
    "Progress",
    "SolveFailed",
    "UnsupportedEnvironment",
    "create",
    "export",
    "fetch_environment",
    "plan",
    "upload_environment",
]

MAX_ENVIRONMENT_BYTES = 1024 * 1024
"""The server refuses larger environment files (formats/env/parse.py): a larger answer is not one of ours."""
TIMEOUT = 60.0


class EnvNotFound(EnvError):
    """No such environment on the server (or a private one and no token, or a token that may not read it)."""


class EnvAccessDenied(EnvError):
    """The server refused the token (401) or the token may not do this (403)."""


class SolveFailed(EnvError):
    """py-rattler found no set of packages that satisfies the environment, or could not read a channel."""


class InstallFailed(EnvError):
    """The solve succeeded but downloading or linking a package into the prefix failed."""


class UnsupportedEnvironment(EnvError):
    """The environment asks for what `create` cannot do: another platform, a pip section without python."""


# --- the server ------------------------------------------------------------------------------------------------


def fetch_environment(
    base_url: str, owner: str, name: str, token: str | None = None, version: str | None = None
) -> bytes:
    """The environment.yml as the server serves it at /envs/OWNER/NAME[/VERSION] (the newest version unless one is
    given); a private one needs a token that may read it."""
    base = server_url(base_url)
    path = f"/envs/{quote(owner, safe='')}/{quote(name, safe='')}"
    if version:
        path += f"/{quote(version, safe='')}"
    what = f"environment {owner}/{name}" + (f" version {version}" if version else "")
    try:
        with httpx.stream(
            "GET", base + path, headers=_auth(token), timeout=TIMEOUT, follow_redirects=True
        ) as response:
            if response.status_code != 200:
                response.read()
                raise _http_error(response, what, base, token)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_ENVIRONMENT_BYTES:
                    raise EnvError(f"{base}{path} answered more than 1 MiB: that is not an environment file")
    except httpx.HTTPError as exc:
        raise EnvError(f"cannot reach {base}: {exc}") from None
    return bytes(body)


def upload_environment(
    base_url: str,
    owner: str | None,
    environment_yml: bytes,
    token: str,
    *,
    filename: str = "environment.yml",
    version: str | None = None,
) -> str:
    """Upload an environment file to OWNER (the token's user when None) with the one-request upload
    (POST /api/repo/OWNER); returns the server's answer, e.g. "uploaded OWNER/NAME/VERSION/environment.yml"."""
    base = server_url(base_url)
    try:
        if owner is None:
            me = httpx.get(f"{base}/api/user", headers=_auth(token), timeout=TIMEOUT)
            if me.status_code != 200:
                raise _http_error(me, "your account", base, token)
            owner = str(me.json()["login"])
        fields = {"filetype": "env", **({"version": version} if version else {})}
        response = httpx.post(
            f"{base}/api/repo/{quote(owner, safe='')}",
            headers=_auth(token),
            data=fields,
            files={"content": (filename, environment_yml, "application/yaml")},
            timeout=TIMEOUT,
        )
    except httpx.HTTPError as exc:
        raise EnvError(f"cannot reach {base}: {exc}") from None
    if response.status_code != 200:
        raise _http_error(response, f"the upload to {owner}", base, token)
    return response.text.strip()


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"token {token}"} if token else {}


def _http_error(response: httpx.Response, what: str, base: str, token: str | None) -> EnvError:
    """The server's own message (JSON `error` or plain text) in a typed exception that says what to do."""
    try:
        said = str(response.json().get("error") or "")
    except (ValueError, AttributeError):
        said = response.text.strip()[:300]
    said = f": {said}" if said else ""
    status = response.status_code
    if status == 404:
        hint = (
            "" if token else " (if it is private, give a token that may read it: --token or PACKYARD_TOKEN)"
        )
        return EnvNotFound(f"{what} was not found on {base}{hint}")
    if status == 401:
        return EnvAccessDenied(f"{base} refused the token (wrong, expired or revoked){said}")
    if status == 403:
        return EnvAccessDenied(f"the token may not reach {what} on {base}{said}")
    return EnvError(f"{base} answered {status} for {what}{said}")


# --- create ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """One step of `create`, for a progress display.

    stage "solve": reading the channels and solving (done 0 then 1, total 1); "download": bytes of one package's
    file (`total` None when the server did not say); "link": one package linked into the prefix (done/total count
    packages); "pip": the pip section (`package` lists it; done 0 then `total`); "done": the prefix is ready.
    """

    stage: Literal["solve", "download", "link", "pip", "done"]
    package: str | None
    done: int
    total: int | None


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class Installed:
    """A package now in the prefix, and the channel it came from (without a token)."""

    name: str
    version: str
    build: str
    channel: str


def create(
    the_plan: Plan,
    prefix: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> list[Installed]:
    """Solve `the_plan` with py-rattler for this machine's platform and noarch, and install it into `prefix`.

    The prefix must not exist yet or be empty (nothing is overwritten). Runs its own event loop: call it from
    synchronous code. `cache_dir` is rattler's cache (repodata and packages); None means rattler's default.
    """
    import rattler
    from rattler.exceptions import (
        CacheDirError,
        ExtractError,
        FetchRepoDataError,
        GatewayError,
        InstallerError,
        IoError,
        LinkError,
        SolverError,
        TransactionError,
    )

    target = Path(prefix)
    _check_target(target)
    _check_supported(the_plan)
    specs = [_match_spec(spec) for spec in the_plan.specs]
    report: ProgressCallback = progress or (lambda _event: None)
    cache = Path(cache_dir) if cache_dir is not None else None
    platform = rattler.Subdir.current()

    async def run() -> list[rattler.RepoDataRecord]:
        gateway = rattler.Gateway(cache_dir=cache) if cache is not None else rattler.Gateway()
        report(Progress("solve", None, 0, 1))
        records = await rattler.solve(
            sources=[c.url for c in the_plan.channels],
            specs=specs,
            platforms=[platform, rattler.Subdir("noarch")],
            virtual_packages=rattler.VirtualPackage.detect(),
            gateway=gateway,
        )
        report(Progress("solve", None, 1, 1))
        await rattler.install(
            records,
            target_prefix=target,
            cache_dir=cache / "pkgs" if cache is not None else None,
            show_progress=False,
            reporter=_Reporter(report, len(records)),
        )
        return records

    try:
        records = asyncio.run(run())
    except SolverError as exc:
        raise SolveFailed(_solve_message(the_plan, str(exc))) from None
    except (FetchRepoDataError, GatewayError) as exc:
        raise SolveFailed(_fetch_message(the_plan, str(exc))) from None
    except (InstallerError, LinkError, TransactionError, ExtractError, CacheDirError, IoError) as exc:
        raise InstallFailed(f"installing into {target} failed: {redact(str(exc))}") from None
    if the_plan.pip:
        _pip_install(the_plan, target, report)
    report(Progress("done", None, len(records), len(records)))
    return sorted(
        (
            Installed(r.name.source, str(r.version), str(r.build), strip_token(r.channel or "").rstrip("/"))
            for r in records
        ),
        key=lambda i: i.name,
    )


def _pip_install(the_plan: Plan, target: Path, report: ProgressCallback) -> None:
    """The pip section, with the prefix's own python (`python -m pip install --prefix PREFIX`), from this server's
    PyPI indexes (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL); pip's configuration decides the rest (and the index, when
    the plan names none)."""
    python = _prefix_python(target)
    done = f"the conda packages are installed in {target}"
    if python is None:
        raise UnsupportedEnvironment(
            f"the pip section ({', '.join(the_plan.pip)}) needs python in the environment: add python (with pip) "
            f"to its dependencies; {done}"
        )
    # The indexes go in pip's environment, not its argv: a token in a command line is visible to every local user.
    env = dict(os.environ)
    if the_plan.pip_indexes:
        env["PIP_INDEX_URL"] = the_plan.pip_indexes[0]
        env["PIP_EXTRA_INDEX_URL"] = " ".join(the_plan.pip_indexes[1:])
    command = [str(python), "-m", "pip", "install", "--prefix", str(target), *the_plan.pip]
    report(Progress("pip", ", ".join(the_plan.pip), 0, len(the_plan.pip)))
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        said = redact("\n".join((result.stderr or result.stdout).strip().splitlines()[-5:]))
        raise InstallFailed(f"pip install {' '.join(the_plan.pip)} failed ({said}); {done}")
    report(Progress("pip", ", ".join(the_plan.pip), len(the_plan.pip), len(the_plan.pip)))


def _prefix_python(target: Path) -> Path | None:
    for candidate in (target / "bin" / "python", target / "python.exe"):
        if candidate.exists():
            return candidate
    return None


def _match_spec(spec: str) -> rattler.MatchSpec:
    """conda's spec syntax, `name=version=build` included (what `conda env export` writes): rattler's lenient
    parser reads it, the strict one that `solve` applies to strings does not."""
    import rattler
    from rattler.exceptions import InvalidMatchSpecError

    try:
        return rattler.MatchSpec(spec)
    except InvalidMatchSpecError as exc:
        raise InvalidEnvironment(f"invalid package spec {spec!r}: {exc}") from None


def _check_target(target: Path) -> None:
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise EnvError(f"{target} exists and is not empty: remove it or choose another prefix")


def _check_supported(the_plan: Plan) -> None:
    import rattler

    platform = str(rattler.Subdir.current())
    if the_plan.platforms and platform not in the_plan.platforms:
        raise UnsupportedEnvironment(
            f"the environment is for {', '.join(the_plan.platforms)}; this machine is {platform}"
        )
    if not the_plan.specs:
        raise InvalidEnvironment(
            "the environment names no conda packages (a pip section needs python from conda)"
        )


def _solve_message(the_plan: Plan, said: str) -> str:
    channels = ", ".join(c.shown for c in the_plan.channels)
    hint = ""
    if any(c.on_server and not c.has_token for c in the_plan.channels):
        hint = (
            "; without a token private packages are left out of the channels: give a token that may read them "
            "(--token or PACKYARD_TOKEN)"
        )
    return f"no solution for {', '.join(the_plan.specs)} from {channels}: {redact(said.strip())}{hint}"


def _fetch_message(the_plan: Plan, said: str) -> str:
    said = redact("; ".join(line.strip() for line in said.splitlines() if line.strip()))  # rattler's causes
    hint = ""
    if re.search(r"\b(401|403|unauthori[sz]ed|forbidden)\b", said, re.IGNORECASE):
        hint = "; the channel is private: give a token that may read it (--token or PACKYARD_TOKEN)"
    if any(not c.on_server for c in the_plan.channels):
        external = ", ".join(c.shown for c in the_plan.channels if not c.on_server)
        hint += f" (channels outside this server must be reachable from this machine: {external})"
    return f"cannot read a channel: {said}{hint}"


class _Reporter:
    """rattler's InstallerReporter (its methods may run on rattler's threads) -> `Progress` events."""

    def __init__(self, report: ProgressCallback, total: int) -> None:
        self._report = report
        self._total = total
        self._lock = threading.Lock()
        self._caching: dict[int, str] = {}
        self._downloads: dict[int, str] = {}
        self._linking: dict[int, str] = {}
        self._linked = 0
        self._next = 0

    def _token(self) -> int:
        with self._lock:
            self._next += 1
            return self._next

    def on_populate_cache_start(self, operation: int, package_name: str) -> int:
        token = self._token()
        self._caching[token] = package_name
        return token

    def on_download_start(self, cache_entry: int) -> int:
        token = self._token()
        self._downloads[token] = self._caching.get(cache_entry, "?")
        self._report(Progress("download", self._downloads[token], 0, None))
        return token

    def on_download_progress(self, download_idx: int, progress: int, total: int | None) -> None:
        self._report(Progress("download", self._downloads.get(download_idx, "?"), progress, total))

    def on_link_start(self, operation: int, package_name: str) -> int:
        token = self._token()
        self._linking[token] = package_name
        return token

    def on_link_complete(self, index: int) -> None:
        with self._lock:
            self._linked += 1
            done = self._linked
        self._report(Progress("link", self._linking.get(index, "?"), done, self._total))

    # The rest of rattler's InstallerReporter protocol: nothing to report; a `*_start` returns a token.
    def on_transaction_start(self, total_operations: int) -> None:
        return None

    def on_transaction_operation_start(self, operation: int) -> None:
        return None

    def on_validate_start(self, cache_entry: int) -> int:
        return self._token()

    def on_validate_complete(self, validate_idx: int) -> None:
        return None

    def on_download_completed(self, download_idx: int) -> None:
        return None

    def on_populate_cache_complete(self, cache_entry: int) -> None:
        return None

    def on_unlink_start(self, operation: int, package_name: str) -> int:
        return self._token()

    def on_unlink_complete(self, index: int) -> None:
        return None

    def on_transaction_operation_complete(self, operation: int) -> None:
        return None

    def on_transaction_complete(self) -> None:
        return None

    def on_post_link_start(self, package_name: str, script_path: str) -> int:
        return self._token()

    def on_post_link_complete(self, index: int, success: bool) -> None:
        return None

    def on_pre_unlink_start(self, package_name: str, script_path: str) -> int:
        return self._token()

    def on_pre_unlink_complete(self, index: int, success: bool) -> None:
        return None


# --- export ----------------------------------------------------------------------------------------------------


def export(prefix: str | os.PathLike[str], *, name: str | None = None) -> bytes:
    """An environment.yml of an installed prefix: `name=version=build` of each package (conda-meta/*.json) and the
    channels they came from, in order and without tokens (a file one uploads must not carry one)."""
    import rattler

    folder = Path(prefix)
    meta = folder / "conda-meta"
    if not meta.is_dir():
        raise EnvError(f"{folder} is not a conda environment: it has no conda-meta folder")
    records: list[rattler.PrefixRecord] = [
        rattler.PrefixRecord.from_path(p) for p in sorted(meta.glob("*.json"))
    ]
    if not records:
        raise EnvError(f"{folder} has no packages installed (conda-meta is empty)")
    records.sort(key=lambda r: r.name.normalized)
    channels = list(dict.fromkeys(strip_token(r.channel).rstrip("/") for r in records if r.channel))
    document: dict[str, Any] = {
        "name": name or folder.resolve().name,
        "channels": channels,
        "dependencies": [f"{r.name.source}={r.version}={r.build}" for r in records],
    }
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False).encode()
