"""What a file given to `packyard upload` is, read client-side: its type, and the name and version where the file
carries them (the server parses every file again and has the last word).

conda packages go through anaconda-client's stage flow, which needs the package and release before the file; the
other types go in one request to `POST /api/repo/OWNER` with the form's `filetype`, so the name and version read
here serve the summary, `--private` (the package is made private before the first file arrives) and `--force`.
"""

from __future__ import annotations

import re
import tarfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

CONDA = "conda"
REPO_FILETYPES = {
    "wheel": "bdist_wheel",
    "sdist": "sdist",
    "r": "cran_source_package",
    "notebook": "ipynb",
    "env": "env",
    "project": "project",
    "file": "file",
}
"""The form's `filetype` for each type that goes to `POST /api/repo/OWNER`."""

_SCAN_MEMBERS = 200  # how many archive members to look at for PKG-INFO / DESCRIPTION / info/index.json
_ENV_NAME = re.compile(r"^name:\s*['\"]?([^'\"#\s]+)", re.M)


@dataclass(frozen=True)
class Detected:
    """`kind` is conda, wheel, sdist, r, notebook, env, project or file; `name`/`version` are None when the
    server decides them (a notebook's or project's version) or the user must (a plain file's)."""

    path: Path
    kind: str
    name: str | None
    version: str | None


def detect(path: Path, *, name: str | None = None, version: str | None = None) -> Detected:
    """The type of `path` and what it says of itself; `name`/`version` (from --package/--version) name the types
    that carry neither (a plain file, a notebook, an environment, a project) and override what they suggest."""
    if path.is_dir():
        return Detected(path, "project", name or _server_name(path.resolve().name), version)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file or folder", str(path))
    lower = path.name.lower()
    if lower.endswith((".conda", ".tar.bz2")) and _is_conda(path):
        conda_name, conda_version, _build = path.name.rsplit(".", 2 if lower.endswith(".tar.bz2") else 1)[
            0
        ].rsplit("-", 2)
        return Detected(path, CONDA, conda_name, conda_version)
    if lower.endswith(".whl") and path.name.count("-") >= 4:
        wheel_name, wheel_version = path.name.split("-")[:2]
        return Detected(path, "wheel", wheel_name, wheel_version)
    if lower.endswith((".tar.gz", ".tgz", ".zip")):
        inside = _members(path)
        if any(_at_depth(m, 1) and m.endswith("/PKG-INFO") for m in inside):
            stem = re.sub(r"\.(tar\.gz|tgz|zip)$", "", path.name, flags=re.I)
            sdist_name, _, sdist_version = stem.rpartition("-")
            return Detected(path, "sdist", sdist_name or stem, sdist_version or None)
        if any(_at_depth(m, 1) and m.endswith("/DESCRIPTION") for m in inside):
            stem = re.sub(r"\.(tar\.gz|tgz|zip)$", "", path.name, flags=re.I)
            r_name, _, r_version = stem.partition("_")
            return Detected(path, "r", r_name, r_version or None)
    if lower.endswith(".ipynb"):
        return Detected(path, "notebook", name or _server_name(path.stem), version)
    if lower.endswith((".yml", ".yaml")) and _is_environment(path):
        text = path.read_text(errors="replace")
        found = _ENV_NAME.search(text)
        return Detected(path, "env", name or (found.group(1) if found else None), version)
    return Detected(path, "file", name or _plain_name(path), version)


def _is_conda(path: Path) -> bool:
    """A .conda is a zip with info-*.tar.zst and metadata.json; a conda .tar.bz2 has info/index.json."""
    try:
        if path.name.lower().endswith(".conda"):
            with zipfile.ZipFile(path) as archive:
                return any(n.startswith("info-") for n in archive.namelist())
        with tarfile.open(path, "r:bz2") as tar:
            for count, member in enumerate(tar):
                if member.name.lstrip("./") == "info/index.json":
                    return True
                if count > _SCAN_MEMBERS:
                    break
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError):
        return False
    return False


def _members(path: Path) -> list[str]:
    try:
        if path.name.lower().endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                return archive.namelist()[:_SCAN_MEMBERS]
        names: list[str] = []
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                names.append(member.name.lstrip("./"))
                if len(names) >= _SCAN_MEMBERS:
                    break
        return names
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError):
        return []


def _at_depth(member: str, depth: int) -> bool:
    return member.strip("/").count("/") == depth


def _is_environment(path: Path) -> bool:
    if path.stem.lower().startswith("environment"):
        return True
    try:
        head = path.read_text(errors="replace")[:65536]
    except OSError:
        return False
    return re.search(r"^dependencies:", head, re.M) is not None


def _server_name(stem: str) -> str | None:
    """The name the server gives a notebook or project that names none (anaconda-client's parameterize):
    `My Análisis` -> `my-analisis`. Sent with the upload, so that a stem the server's names cannot hold (a space)
    is not refused, and `--private` makes the very package the file lands in."""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9_.-]+", "-", ascii_stem.lower()).strip("-._")[:100] or None


def _plain_name(path: Path) -> str:
    """A package name the server accepts from a file name: `Survey answers.csv` gives `Survey-answers`."""
    stem = path.name.split(".", 1)[0] or path.name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:100] or "file"
