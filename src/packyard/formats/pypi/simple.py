"""Pure renderers of the simple repository API (PEP 503/592/629/658/691/700/714): rows in, bytes out."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from packyard.core.queries import version_key

if TYPE_CHECKING:
    from packyard.formats.pypi.models import PypiFile

API_VERSION = "1.1"
"""PEP 700. Advertise only what is implemented: no provenance (1.3) or project status (1.4)."""
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
_OFFERED = (JSON_TYPE, HTML_TYPE, "text/html")


@dataclass(frozen=True)
class FileRow:
    filename: str
    version: str
    sha256: str
    size: int
    requires_python: str | None
    yanked: bool
    yanked_reason: str | None
    metadata_sha256: str | None
    upload_time: dt.datetime

    @classmethod
    def of(cls, pf: PypiFile, sha256: str, size: int) -> FileRow:
        """A stored file's row: its PyPI index record with the file's digest and size."""
        return cls(
            pf.filename,
            pf.version,
            sha256,
            size,
            pf.requires_python,
            pf.yanked,
            pf.yanked_reason,
            pf.metadata_sha256,
            pf.upload_time,
        )


def choose_content_type(accept: str | None, fmt: str | None = None) -> str | None:
    """PEP 691 negotiation with q-values; None when nothing offered is acceptable (answer 406)."""
    if fmt:
        accept = fmt
    if not accept:
        return "text/html"
    best: tuple[float, bool, int, str] | None = None
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower().replace(
            "application/vnd.pypi.simple.latest+", "application/vnd.pypi.simple.v1+"
        )
        for rank, offered in enumerate(_OFFERED):
            wildcards = ("*/*", "application/*" if offered.startswith("application") else "text/*")
            if q <= 0 or media not in (offered, *wildcards):
                continue
            # Named types in our order of preference; a bare wildcard (curl, browsers) gets HTML, as PyPI does.
            preference = -rank if media == offered else rank - len(_OFFERED)
            candidate = (q, media == offered, preference, offered)
            if best is None or candidate > best:
                best = candidate
    return best[3] if best else None


def normalize(name: str) -> str:
    """PEP 503."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _file_url(project: str, filename: str) -> str:
    # Relative to .../simple/PROJECT/, so /t/TOKEN/ prefixes and Basic credentials carry over to downloads.
    return f"../../files/{project}/{filename}"


def _upload_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def project_json(name: str, project: str, rows: Sequence[FileRow], serial: int) -> bytes:
    files = []
    for row in sorted(rows, key=lambda r: (version_key(r.version), r.filename)):
        metadata: dict[str, str] | bool = {"sha256": row.metadata_sha256} if row.metadata_sha256 else False
        files.append(
            {
                "filename": row.filename,
                "url": _file_url(project, row.filename),
                "hashes": {"sha256": row.sha256},
                "requires-python": row.requires_python,
                "size": row.size,
                "upload-time": _upload_time(row.upload_time),
                "yanked": (row.yanked_reason or True) if row.yanked else False,
                "core-metadata": metadata,
                "dist-info-metadata": metadata,
            }
        )
    versions = sorted({r.version for r in rows}, key=version_key)
    doc = {
        "meta": {"api-version": API_VERSION, "_last-serial": serial},
        "name": project,
        "versions": versions,
        "files": files,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def project_html(name: str, project: str, rows: Sequence[FileRow], serial: int) -> bytes:
    lines = [
        "<!DOCTYPE html>",
        f'<html><head><meta name="pypi:repository-version" content="{API_VERSION}">',
        f"<title>Links for {escape(name)}</title></head><body><h1>Links for {escape(name)}</h1>",
    ]
    for row in sorted(rows, key=lambda r: (version_key(r.version), r.filename)):
        attrs = [f'href="{escape(_file_url(project, row.filename))}#sha256={row.sha256}"']
        if row.requires_python:
            attrs.append(f'data-requires-python="{escape(row.requires_python)}"')
        if row.metadata_sha256:
            attrs.append(f'data-core-metadata="sha256={row.metadata_sha256}"')
            attrs.append(f'data-dist-info-metadata="sha256={row.metadata_sha256}"')
        if row.yanked:
            attrs.append(f'data-yanked="{escape(row.yanked_reason or "")}"')
        lines.append(f"<a {' '.join(attrs)}>{escape(row.filename)}</a><br/>")
    lines.append(f"</body></html>\n<!--SERIAL {serial}-->")
    return "\n".join(lines).encode()


def root_json(projects: Iterable[tuple[str, int]], serial: int) -> bytes:
    doc = {
        "meta": {"api-version": API_VERSION, "_last-serial": serial},
        "projects": [{"name": name, "_last-serial": s} for name, s in sorted(projects)],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def root_html(projects: Iterable[tuple[str, int]], serial: int) -> bytes:
    lines = [
        "<!DOCTYPE html>",
        f'<html><head><meta name="pypi:repository-version" content="{API_VERSION}">',
        "<title>Simple index</title></head><body>",
    ]
    for name, _ in sorted(projects):
        lines.append(f'<a href="{escape(normalize(name))}/">{escape(name)}</a><br/>')
    lines.append(f"</body></html>\n<!--SERIAL {serial}-->")
    return "\n".join(lines).encode()
