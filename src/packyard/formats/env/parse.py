"""conda environment files (environment.yml, CEP 24), checked well enough that conda and rattler can use them.

The YAML is read with a safe loader that also refuses aliases (a "billion laughs" file is tiny but walking it is
not). The name is the uploader's or the file's `name:`; when both are given they must agree. The version is the
uploader's, else a UTC timestamp as anaconda-client makes it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from packyard.core.artifacts import Artifact, InvalidPackage, check_basename
from packyard.formats.base import bounded_read, checked, shown
from packyard.formats.naming import check_name, check_version, summary_text, timestamp_version

PACKAGE_TYPE = "env"
MAX_ENV_BYTES = 1024 * 1024
SUFFIXES = (".yml", ".yaml")
_SPEC = re.compile(r"^[^\s#\x00-\x1f\x7f][^\x00-\x1f\x7f]{0,999}$")
_SELECTOR = re.compile(r"^sel\([A-Za-z0-9_\-]+\)$")
_ENV_NAME = re.compile(r"^[^/\s:#\x00-\x1f\x7f]{1,200}$")


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader without anchors and aliases: an environment file has no use for them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases are not allowed in an environment file", event.start_mark
            )
        return super().compose_node(parent, index)


def sniff(path: Path, basename: str) -> bool:
    """anaconda-client calls any .yml/.yaml file an environment; so do we (the parser then checks it)."""
    del path
    return basename.lower().endswith(SUFFIXES)


def parse(
    path: Path,
    basename: str,
    *,
    name: str | None = None,
    version: str | None = None,
    summary: str | None = None,
) -> Artifact:
    check_basename(basename)
    with path.open("rb") as fh:
        raw = bounded_read(fh, "the environment file", MAX_ENV_BYTES)
    env = read_environment(raw)
    env_name = env.get("name")
    if name and env_name and _norm(name) != _norm(env_name):
        raise InvalidPackage(f"the upload is named {shown(name)} but the file says name: {shown(env_name)}")
    chosen = name or env_name
    if not chosen:
        raise InvalidPackage(
            "the environment file has no name: add 'name:' to it or give a name with the upload"
        )
    check_name(chosen, "environment")
    version = check_version(version or timestamp_version(), "environment")
    return checked(
        Artifact(
            package_type=PACKAGE_TYPE,
            name=chosen,
            version=version,
            basename=basename,
            summary=summary_text(summary) or "Environment file",
            attrs=env,
        )
    )


def read_environment(raw: bytes) -> dict[str, Any]:
    """Bytes -> the environment's checked fields: name, channels, dependencies, pip (and the optional ones)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPackage("the environment file is not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise InvalidPackage("the environment file is not valid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        raise InvalidPackage(
            f"the environment file is not valid YAML: {shown(_yaml_message(exc), 200)}"
        ) from None
    if not isinstance(data, dict):
        raise InvalidPackage("the environment file must be a YAML mapping with a 'dependencies' list")
    out: dict[str, Any] = {}
    if data.get("name") is not None:
        out["name"] = _text(data["name"], "name")
        if not _ENV_NAME.match(out["name"]):
            raise InvalidPackage(f"invalid environment name {shown(out['name'])}: no '/', spaces, ':' or '#'")
    if data.get("prefix") is not None:
        out["prefix"] = _text(data["prefix"], "prefix")
    out["channels"] = _strings(data.get("channels") or [], "channels")
    conda, pip = _dependencies(data.get("dependencies"))
    out["dependencies"] = conda
    if pip is not None:
        out["pip"] = pip
    if data.get("platforms") is not None:
        out["platforms"] = _strings(data["platforms"], "platforms")
    if data.get("variables") is not None:
        variables = data["variables"]
        if not isinstance(variables, dict):
            raise InvalidPackage("variables must be a mapping of names to values")
        out["variables"] = {_text(k, "a variable name"): _scalar(v, str(k)) for k, v in variables.items()}
    if data.get("category") is not None:
        out["category"] = _text(data["category"], "category")
    return out


def _dependencies(value: Any) -> tuple[list[str], list[str] | None]:
    if value is None or value == []:
        raise InvalidPackage("the environment file has no dependencies: add a 'dependencies:' list")
    if not isinstance(value, list):
        raise InvalidPackage("dependencies must be a list of package specs")
    conda: list[str] = []
    pip: list[str] | None = None
    for item in value:
        if isinstance(item, str):
            conda.append(_spec(item))
        elif isinstance(item, dict) and len(item) == 1 and "pip" in item:
            pip = [*(pip or []), *(_spec(s) for s in _strings(item["pip"] or [], "the pip section"))]
        elif isinstance(item, dict) and len(item) == 1 and _SELECTOR.match(str(next(iter(item)))):
            conda.append(_spec(_text(next(iter(item.values())), "a selector's spec")))
        elif isinstance(item, dict):
            keys = ", ".join(shown(str(k)) for k in item)
            raise InvalidPackage(f"unknown dependencies subsection {keys}: only 'pip' is allowed")
        else:
            raise InvalidPackage(f"dependency {shown(item)} is not a package spec (a string)")
    if not conda and not pip:
        raise InvalidPackage("the environment file has no dependencies: add a 'dependencies:' list")
    return conda, pip


def _spec(value: str) -> str:
    spec = value.strip()
    if not _SPEC.match(spec):
        raise InvalidPackage(f"invalid package spec {shown(value)}")
    return spec


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list):
        raise InvalidPackage(f"{what} must be a list")
    return [_text(item, f"an entry of {what}") for item in value]


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 1000:
        raise InvalidPackage(f"{what} must be a non-empty string, got {shown(value)}")
    return value.strip()


def _scalar(value: Any, what: str) -> str:
    if isinstance(value, bool | int | float | str):
        return str(value)
    raise InvalidPackage(f"variable {shown(what)} must be a string")


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _yaml_message(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if problem and mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
