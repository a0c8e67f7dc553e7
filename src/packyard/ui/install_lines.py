"""Install instructions for one package on this server, per format: pure, so tests can check each line.

URLs are this server's (`base`), under the format's prefix; for a package that is not public they carry the
`/t/<TOKEN>/` prefix every Packyard URL accepts (a placeholder the reader replaces with a token of theirs:
`anaconda auth --create --scopes repos`). conda channels are given at the site root (`BASE/OWNER`,
`BASE/OWNER/label/LABEL`), as anaconda.org names them: the same channel as `BASE/conda/OWNER`, shorter to type.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

_ENV_WORD = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def program(line: str) -> str:
    """The program a line is typed into (`pip`, `uv`, `conda`, `R`...), for the page's `data-install` attribute:
    scripts and tests find the line for their client by it instead of parsing prose. Leading `NAME=value` words
    only set the command's environment; an `install.packages(...)` line is R code."""
    for word in line.split():
        if not _ENV_WORD.match(word):
            return "R" if word.startswith("install.packages(") else word
    return ""


@dataclass(frozen=True)
class Recipe:
    title: str
    lines: list[str]
    note: str = ""

    @property
    def commands(self) -> list[tuple[str, str]]:
        """(program, line) pairs, what the template renders."""
        return [(program(line), line) for line in self.lines]


@dataclass(frozen=True)
class InstallHelp:
    needs_token: bool
    recipes: list[Recipe] = field(default_factory=list)


TOKEN = "<TOKEN>"  # noqa: S105 - a placeholder the reader replaces


def _prefix(base: str, needs_token: bool) -> str:
    return f"{base}/t/{TOKEN}" if needs_token else base


def conda_channel(base: str, owner: str, label: str = "main", *, needs_token: bool = False) -> str:
    """The channel URL of `owner`'s `label` (the bare owner for main, as conda users write it)."""
    channel = f"{_prefix(base, needs_token)}/{owner}"
    return channel if label == "main" else f"{channel}/label/{label}"


def _anaconda(base: str, owner: str, name: str, public: bool) -> list[str]:
    """anaconda-client, pointed at this server once (it keeps the URL in its config); a package that is not
    public needs a token (`-t`) unless the reader has run `anaconda login` against this server."""
    download = (
        f"anaconda download {owner}/{name}" if public else f"anaconda -t {TOKEN} download {owner}/{name}"
    )
    return [f"anaconda config --set url {base}/api", download]


def _uv_add(base: str, root: str, owner: str, name: str, public: bool) -> str:
    """`uv add` writes the index URL into pyproject.toml and uv.lock, which get committed: a token must not be in
    it. For a package that is not public the URL is the plain one and uv reads the token from the index's
    `UV_INDEX_<NAME>_USERNAME`/`_PASSWORD` variables (the index name upper-cased, other characters as `_`)."""
    if public:
        return f"uv add --index {owner}={root}/pypi/{owner}/simple/ {name}"
    var = "UV_INDEX_" + re.sub(r"[^A-Z0-9]", "_", owner.upper())
    return (
        f"{var}_USERNAME=__token__ {var}_PASSWORD={TOKEN} "
        f"uv add --index {owner}={base}/pypi/{owner}/simple/ {name}"
    )


_UV_CREDENTIALS_NOTE = (
    " uv add records the index URL in pyproject.toml and uv.lock: it takes the token from the UV_INDEX_..."
    " variables instead (export them once), so the token is never committed."
)


def _env_file(name: str, latest_files: list[tuple[str, str]]) -> str:
    """`anaconda download` saves an environment under the name it was uploaded with (often environment.yml)."""
    return next(
        (basename for _, basename in latest_files if basename.endswith((".yml", ".yaml"))), f"{name}.yml"
    )


def instructions(
    base: str,
    owner: str,
    name: str,
    types: list[str],
    *,
    public: bool,
    labels: list[str],
    latest_files: list[tuple[str, str]],
) -> InstallHelp:
    """`latest_files`: (version, basename) of the latest release's files, for direct downloads."""
    root = _prefix(base, not public)
    recipes: list[Recipe] = []
    other_labels = [label for label in labels if label != "main"]
    if "conda" in types:
        channel = conda_channel(base, owner, needs_token=not public)
        lines = [
            f"conda install --channel {channel} {name}",
            f"mamba install --channel {channel} {name}",
            f"pixi workspace channel add {channel}",
            f"pixi add {name}",
        ]
        lines += [
            f"conda install --channel {conda_channel(base, owner, label, needs_token=not public)} {name}"
            for label in other_labels[:3]
        ]
        recipes.append(Recipe("conda, mamba, pixi", lines, f"Channel URL: {channel}"))
    if "pypi" in types:
        index = f"{root}/pypi/{owner}/simple/"
        recipes.append(
            Recipe(
                "pip, uv",
                [
                    f"pip install --index-url {index} {name}",
                    f"uv pip install --index-url {index} {name}",
                    _uv_add(base, root, owner, name, public),
                ],
                "--index-url makes this server the only index; use --extra-index-url to add it to PyPI "
                "(then a same-named project on PyPI may win)." + ("" if public else _UV_CREDENTIALS_NOTE),
            )
        )
    if "r" in types:
        repos = f"{root}/cran/{owner}"
        recipes.append(Recipe("R", [f'install.packages("{name}", repos = "{repos}")']))
    if "env" in types:
        recipes.append(
            Recipe(
                "conda environment",
                [
                    *_anaconda(base, owner, name, public),
                    f"conda env create --file {_env_file(name, latest_files)}",
                ],
            )
        )
    if "ipynb" in types:
        recipes.append(Recipe("notebook", _anaconda(base, owner, name, public)))
    if "project" in types:
        recipes.append(Recipe("project", _anaconda(base, owner, name, public)))
    if "file" in types or not recipes:
        lines = _anaconda(base, owner, name, public)
        lines += [
            f"curl -fLO {root}/{owner}/{name}/{version}/download/{basename}"
            for version, basename in latest_files[:3]
        ]
        recipes.append(Recipe("files", lines))
    return InstallHelp(needs_token=not public, recipes=recipes)


def channel_instructions(
    base: str, owner: str, label: str, types: Collection[str], *, any_private: bool
) -> list[Recipe]:
    """How to use one channel (an owner's label) with each client whose files it holds. With `any_private`
    (something the reader sees there is not public) the `/t/<TOKEN>/` forms come too: public packages install
    without a token, the others need one."""
    forms = [False, True] if any_private else [False]
    recipes = []
    if "conda" in types or not types:
        channel = conda_channel(base, owner, label)
        lines = [
            f"conda config --add channels {conda_channel(base, owner, label, needs_token=t)}" for t in forms
        ]
        lines += [f"conda install --channel {channel} <PACKAGE>", f"pixi workspace channel add {channel}"]
        recipes.append(Recipe("conda, mamba, pixi", lines, f"Channel URL: {channel}"))
    path = "" if label == "main" else f"/label/{label}"
    if "pypi" in types:
        lines = [
            f"pip install --index-url {_prefix(base, t)}/pypi/{owner}{path}/simple/ <PACKAGE>" for t in forms
        ]
        recipes.append(Recipe("pip, uv", lines))
    if "r" in types:
        lines = [
            f'install.packages("<PACKAGE>", repos = "{_prefix(base, t)}/cran/{owner}{path}")' for t in forms
        ]
        recipes.append(Recipe("R", lines))
    return recipes


def mirror_instructions(base: str, owner: str, fmt: str, *, public: bool) -> list[Recipe]:
    """How to install through organization `owner`'s mirror of `fmt` (core/mirrors): the index URLs its clients
    already know, at this server. A private mirror is for its members, so only the `/t/<TOKEN>/` forms are given
    (the plain URL answers 401 to a client that sends nothing)."""
    root = _prefix(base, not public)
    if fmt == "pypi":
        index = f"{root}/pypi/{owner}/simple/"
        return [
            Recipe(
                "pip, uv",
                [
                    f"pip install --index-url {index} <PACKAGE>",
                    f"uv pip install --index-url {index} <PACKAGE>",
                ],
                f"Index URL: {index}",
            )
        ]
    if fmt == "conda":
        channel = conda_channel(base, owner, needs_token=not public)
        return [
            Recipe(
                "conda, mamba, pixi",
                [f"conda install --channel {channel} <PACKAGE>", f"pixi workspace channel add {channel}"],
                f"Channel URL: {channel}",
            )
        ]
    if fmt == "cran":
        repos = f"{root}/cran/{owner}"
        return [
            Recipe("R", [f'install.packages("<PACKAGE>", repos = "{repos}")'], f"CRAN repository: {repos}")
        ]
    return []
