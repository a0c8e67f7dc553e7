"""An environment.yml read into a plan: which conda specs, from which channel URLs (pure: no network, no rattler).

Channels are mapped so that a file written for anaconda.org or for any Packyard server works on this one:

    OWNER, OWNER/label/LABEL                   -> BASE/conda/OWNER[/label/LABEL]
    a URL on this server (any of its forms:    -> the same channel as BASE/conda/OWNER[/label/LABEL]
      /conda/OWNER, /OWNER, /t/TOKEN/..., /conda/t/TOKEN/...)
    conda-forge, bioconda, defaults, pkgs/...  -> anaconda.org / repo.anaconda.com, unchanged (they must be reachable)
    any other URL                              -> unchanged

With a token, every channel on this server becomes BASE/conda/t/TOKEN/...: conda, pip and rattler send a token in
the path, and rattler keeps it on the package URLs. A token already in a URL of the file is kept when no token is
given (it was the uploader's choice) and replaced when one is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import yaml

WELL_KNOWN: dict[str, tuple[str, ...]] = {
    "conda-forge": ("https://conda.anaconda.org/conda-forge",),
    "bioconda": ("https://conda.anaconda.org/bioconda",),
    "defaults": ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r"),
    "pkgs/main": ("https://repo.anaconda.com/pkgs/main",),
    "pkgs/r": ("https://repo.anaconda.com/pkgs/r",),
    "pkgs/free": ("https://repo.anaconda.com/pkgs/free",),
}
"""Channel names that mean anaconda.org's or Anaconda's channels, not an account of this server."""

_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._+-]*"
_NAME = re.compile(rf"^(?P<owner>{_SEGMENT})(?:/label/(?P<label>{_SEGMENT}))?$")
_PATH_TOKEN = re.compile(r"^/t/(?P<token>[A-Za-z0-9-]+)(?=/|$)")
_SELECTOR = re.compile(r"^sel\([A-Za-z0-9_\-]+\)$")
_ANY_TOKEN = re.compile(r"/t/(?!label(?:/|$))[A-Za-z0-9-]+(?=/|$)")


class EnvError(Exception):
    """Something about an environment the user can fix; the message says what."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidEnvironment(EnvError):
    """The environment file cannot be used: not YAML, no dependencies, a channel that is no channel."""


@dataclass(frozen=True)
class ChannelRef:
    """A channel of the environment: as the file wrote it, and the URL rattler reads."""

    written: str
    url: str
    on_server: bool

    @property
    def has_token(self) -> bool:
        return _ANY_TOKEN.search(urlsplit(self.url).path) is not None

    @property
    def shown(self) -> str:
        """The URL with any token masked: for messages and logs."""
        return redact(self.url)


@dataclass(frozen=True)
class Plan:
    """What `create` installs: conda specs from channels, then the pip section from this server's PyPI indexes
    (those of the channels' owners, else of the environment's owner; with the token)."""

    name: str | None
    channels: tuple[ChannelRef, ...]
    specs: tuple[str, ...]
    pip: tuple[str, ...] = ()
    pip_indexes: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()


def server_url(base_url: str) -> str:
    """The server's root URL: no trailing slash, and no `/api` (anaconda-client's configured URL ends in it)."""
    base = base_url.strip().rstrip("/")
    if not re.match(r"^https?://[^/]", base):
        raise EnvError(f"the server URL must start with http:// or https://, got {base_url!r}")
    return base.removesuffix("/api")


def redact(text: str) -> str:
    """`/t/TOKEN` -> `/t/<TOKEN>` everywhere in a text (a URL, rattler's error message)."""
    return _ANY_TOKEN.sub("/t/<TOKEN>", text)


def strip_token(url: str) -> str:
    """A channel URL without its `/t/TOKEN` part: what an exported environment file may say."""
    parts = urlsplit(url)
    return parts._replace(path=_ANY_TOKEN.sub("", parts.path, count=1)).geturl()


def plan(
    environment_yml: bytes, base_url: str, token: str | None = None, *, owner: str | None = None
) -> Plan:
    """Read an environment file and map its channels to URLs (module docstring). `owner` is the account the
    environment was fetched from: its channel is used when the file names no channel."""
    base = server_url(base_url)
    data = _load(environment_yml)
    written = _strings(data.get("channels") or [], "channels")
    if not written:
        if owner is None:
            raise InvalidEnvironment("the environment file names no channels: add a 'channels:' list")
        written = [owner]
    channels: list[ChannelRef] = []
    for name in written:
        channels.extend(channel_refs(name, base, token))
    specs: list[str] = []
    pip: list[str] = []
    for item in _dependencies(data.get("dependencies")):
        if isinstance(item, str):
            spec, extra = _spec_channel(item, base, token)
            specs.append(spec)
            channels.extend(extra)
        else:
            pip.extend(item)
    unique = tuple({c.url: c for c in channels}.values())
    owners = [o for o in (_owner_of(base, c) for c in unique if c.on_server) if o] or (
        [owner] if owner else []
    )
    indexes = tuple(dict.fromkeys(_pypi_index(base, token, o) for o in owners))
    env_name = data.get("name")
    return Plan(
        name=str(env_name) if env_name is not None else None,
        channels=unique,
        specs=tuple(specs),
        pip=tuple(pip),
        pip_indexes=indexes if pip else (),
        platforms=tuple(_strings(data.get("platforms") or [], "platforms")),
    )


def channel_refs(written: str, base: str, token: str | None) -> tuple[ChannelRef, ...]:
    """One channel of the file -> the channel URL(s) it stands for (`defaults` stands for two)."""
    name = written.strip().rstrip("/")
    if name in WELL_KNOWN:
        return tuple(ChannelRef(written, url, False) for url in WELL_KNOWN[name])
    if "://" in name:
        path = _on_server_path(name, base)
        if path is None:
            return (ChannelRef(written, name, False),)
        channel, embedded = path
        if channel is None:  # a URL of this server that is not OWNER[/label/L]: use it as written
            return (ChannelRef(written, name, True),)
        return (ChannelRef(written, _conda_url(base, token or embedded, channel), True),)
    if _NAME.match(name):
        return (ChannelRef(written, _conda_url(base, token, name), True),)
    raise InvalidEnvironment(
        f"channel {written!r} is neither OWNER, OWNER/label/LABEL, a URL nor one of {', '.join(WELL_KNOWN)}"
    )


def _on_server_path(url: str, base: str) -> tuple[str | None, str | None] | None:
    """For a URL on this server: (OWNER[/label/L] or None, the token in it or None); None for other servers."""
    parts, root = urlsplit(url), urlsplit(base)
    if (parts.scheme, parts.netloc.lower()) != (root.scheme, root.netloc.lower()):
        return None
    rest = parts.path
    if root.path:
        if not (rest == root.path or rest.startswith(root.path + "/")):
            return None
        rest = rest[len(root.path) :]
    token = None
    for _ in range(2):  # /t/TOKEN/conda/OWNER and /conda/t/TOKEN/OWNER are both served
        found = _PATH_TOKEN.match(rest)
        if found:
            token = found["token"]
            rest = rest[found.end() :]
        if rest.startswith("/conda/"):
            rest = rest[len("/conda") :]
    channel = rest.strip("/")
    return (channel if _NAME.match(channel) else None), token


def _conda_url(base: str, token: str | None, channel: str) -> str:
    return f"{base}/conda/t/{token}/{channel}" if token else f"{base}/conda/{channel}"


def _owner_of(base: str, channel: ChannelRef) -> str | None:
    found = _on_server_path(channel.url, base)
    if found is None or found[0] is None:
        return None
    return found[0].split("/", 1)[0]


def _pypi_index(base: str, token: str | None, owner: str) -> str:
    return f"{base}/pypi/t/{token}/{owner}/simple" if token else f"{base}/pypi/{owner}/simple"


def _spec_channel(spec: str, base: str, token: str | None) -> tuple[str, tuple[ChannelRef, ...]]:
    """`CHANNEL::name >=1` names its channel: map it like the channel list, and solve with it too."""
    if "::" not in spec:
        return spec, ()
    written, rest = spec.split("::", 1)
    refs = channel_refs(written, base, token)
    return f"{refs[0].url}::{rest}", refs


def _load(raw: bytes) -> dict[str, Any]:
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidEnvironment("the environment file is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise InvalidEnvironment(f"the environment file is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEnvironment("the environment file must be a YAML mapping with a 'dependencies' list")
    return data


def _dependencies(value: Any) -> list[str | list[str]]:
    """Conda specs (strings) and pip sections (lists of strings), in the file's order."""
    if not isinstance(value, list) or not value:
        raise InvalidEnvironment("the environment file has no dependencies: add a 'dependencies:' list")
    out: list[str | list[str]] = []
    for item in value:
        if isinstance(item, str) and item.strip():
            out.append(item.strip())
        elif isinstance(item, dict) and list(item) == ["pip"]:
            out.append(_strings(item["pip"] or [], "the pip section"))
        elif isinstance(item, dict) and len(item) == 1 and _SELECTOR.match(str(next(iter(item)))):
            out.extend(_strings(list(item.values()), "a selector's spec"))  # taken as the server takes it
        else:
            raise InvalidEnvironment(f"dependency {item!r} is neither a package spec nor a pip section")
    return out


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidEnvironment(f"{what} must be a list of strings")
    return [v.strip() for v in value]
