"""Install instructions for one package on this server, per format: pure, so tests can check each line.

URLs are this server's (`base`), under the format's prefix; for a package that is not public they carry the
`/t/<TOKEN>/` prefix every Packyard URL accepts (a placeholder the reader replaces with a token of theirs:
`anaconda auth --create --scopes repos`). conda channels are given at the site root (`BASE/OWNER`,
`BASE/OWNER/label/LABEL`), as anaconda.org names them: the same channel as `BASE/conda/OWNER`, shorter to type.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Recipe:
    title: str
    lines: list[str]
    note: str = ""


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


def _anaconda(base: str, owner: str, name: str) -> list[str]:
    """anaconda-client, pointed at this server once (it keeps the URL in its config)."""
    return [f"anaconda config --set url {base}/api", f"anaconda download {owner}/{name}"]


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
                    f"uv add --index {owner}={index} {name}",
                ],
                "--index-url makes this server the only index; use --extra-index-url to add it to PyPI "
                "(then a same-named project on PyPI may win).",
            )
        )
    if "r" in types:
        repos = f"{root}/cran/{owner}"
        recipes.append(Recipe("R", [f'install.packages("{name}", repos = "{repos}")']))
    if "env" in types:
        recipes.append(
            Recipe(
                "conda environment",
                [*_anaconda(base, owner, name), f"conda env create --file {name}.yml"],
            )
        )
    if "ipynb" in types:
        recipes.append(Recipe("notebook", _anaconda(base, owner, name)))
    if "project" in types:
        recipes.append(Recipe("project", _anaconda(base, owner, name)))
    if "file" in types or not recipes:
        lines = _anaconda(base, owner, name)
        lines += [
            f"curl -fLO {root}/{owner}/{name}/{version}/download/{basename}"
            for version, basename in latest_files[:3]
        ]
        recipes.append(Recipe("files", lines))
    return InstallHelp(needs_token=not public, recipes=recipes)
