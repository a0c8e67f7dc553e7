"""Jupyter notebooks: validated with nbformat, rendered to a script-free HTML page once, at upload time.

The name and version are the uploader's (the form, or the stage URL); without them the name is the file's stem,
as anaconda-client made it, and the version a UTC timestamp. The HTML page is a pure function of the bytes (and
that name and version), stored beside the notebook as the side document "html".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from packyard.core.artifacts import Artifact, InvalidPackage, check_basename
from packyard.formats.base import bounded_read, checked, shown
from packyard.formats.naming import (
    check_name,
    check_version,
    name_from_basename,
    summary_text,
    timestamp_version,
)

PACKAGE_TYPE = "ipynb"
MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024
SUFFIXES = (".ipynb",)


def sniff(path: Path, basename: str) -> bool:
    """anaconda-client calls any `.ipynb` a notebook; so do we (the parser then checks it)."""
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
    """Validate a notebook and render it; the Artifact carries the page in `extra_files["html"]`."""
    check_basename(basename)
    name = check_name(name or name_from_basename(basename, SUFFIXES) or "", "notebook")
    version = check_version(version or timestamp_version(), "notebook")
    with path.open("rb") as fh:
        raw = bounded_read(fh, "the notebook", MAX_NOTEBOOK_BYTES)
    notebook = read_notebook(raw)
    metadata = notebook.get("metadata") or {}
    from packyard.formats.notebook import render

    try:
        page = render.render(notebook, title=name, subtitle=f"version {version}")
    except Exception as exc:  # nbconvert has no error contract; a notebook it cannot render is refused
        raise InvalidPackage(f"the notebook could not be rendered: {_describe(exc)}") from exc
    kernel = (metadata.get("kernelspec") or {}).get("name")
    language = (metadata.get("language_info") or {}).get("name")
    return checked(
        Artifact(
            package_type=PACKAGE_TYPE,
            name=name,
            version=version,
            basename=basename,
            summary=summary_text(summary) or summary_text(metadata.get("summary")) or "Jupyter Notebook",
            description=summary_text(metadata.get("description")),
            attrs={
                "nbformat": notebook.get("nbformat"),
                "nbformat_minor": notebook.get("nbformat_minor"),
                "kernel": kernel if isinstance(kernel, str) else None,
                "language": language if isinstance(language, str) else None,
                "cells": len(notebook.get("cells") or ()),
            },
            extra_files={"html": page},
        )
    )


def read_notebook(raw: bytes) -> Any:
    """Bytes -> a validated nbformat v4 `NotebookNode` (older versions are converted), or InvalidPackage."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPackage("the notebook is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except RecursionError:
        raise InvalidPackage("the notebook is not valid JSON: nested too deeply") from None
    except ValueError as exc:
        raise InvalidPackage(f"the notebook is not valid JSON: {shown(str(exc), 200)}") from None
    if not isinstance(data, dict) or "nbformat" not in data:
        raise InvalidPackage("the file is JSON but not a Jupyter notebook (no top-level 'nbformat' key)")
    import nbformat
    from nbformat import reader

    try:
        # nbformat.reads() would log invalid notebooks as errors; this is its path, raising instead.
        major, minor = reader.get_version(data)
        if major not in nbformat.versions:
            raise InvalidPackage(f"unsupported nbformat version {shown(major)}")
        notebook = nbformat.versions[major].to_notebook_json(data, minor=minor)
        notebook = nbformat.convert(notebook, 4)
        nbformat.validate(notebook)
    except InvalidPackage as exc:
        raise InvalidPackage(f"not a valid Jupyter notebook: {exc}") from None
    except Exception as exc:  # nbformat raises ValidationError, NBFormatError, KeyError, TypeError...
        raise InvalidPackage(f"not a valid Jupyter notebook: {_describe(exc)}") from None
    return notebook


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    where = getattr(exc, "json_path", None)  # jsonschema's ValidationError: where in the notebook
    if isinstance(where, str) and where not in ("", "$"):
        text = f"{text} (at {where})"
    return shown(text, 200)
