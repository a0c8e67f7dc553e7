"""Read model shared by PyPI's JSON API and XML-RPC: visible projects, their files, roles and release metadata.

A *project* is a package with at least one Python distribution (a `PypiFile` row) carrying the label being
served ("main" unless a `/label/LABEL/` URL says otherwise). Every package returned here has passed
`permissions.can_see(identity, package, via="pypi")`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import Request
from packaging.utils import canonicalize_version
from packaging.version import Version
from sqlalchemy import select
from sqlalchemy.orm import Session

from packyard.core import permissions
from packyard.core.auth import Identity
from packyard.core.models import (
    OWNERS_GROUP,
    Account,
    AccountKind,
    Collaborator,
    File,
    FileLabel,
    Group,
    GroupMember,
    Label,
    Package,
    Release,
)
from packyard.core.queries import version_key
from packyard.formats.pypi.models import PypiFile
from packyard.formats.pypi.simple import normalize
from packyard.web.deps import base_url

DEFAULT_LABEL = "main"


@dataclass(frozen=True)
class Scope:
    """Who is asking, about which owner's projects (None: every owner), through which label."""

    identity: Identity
    owner: Account | None = None
    label: str = DEFAULT_LABEL


@dataclass(frozen=True)
class Dist:
    """One wheel or sdist as served: its index row, the file and the release it belongs to."""

    row: PypiFile
    file: File
    release: Release

    @property
    def version(self) -> str:
        return self.row.version


def _labelled(label: str) -> Any:
    return (
        select(PypiFile.package_id)
        .join(FileLabel, FileLabel.file_id == PypiFile.file_id)
        .join(Label, Label.id == FileLabel.label_id)
        .where(Label.name == label)
    )


def visible_packages(session: Session, scope: Scope, project: str | None = None) -> list[Package]:
    """Every visible project of the scope (of one normalised name, when given), owners' duplicates included."""
    ids = _labelled(scope.label)
    if scope.owner is not None:
        ids = ids.where(PypiFile.owner_id == scope.owner.id)
    if project is not None:
        ids = ids.where(PypiFile.project == normalize(project))
    found = session.scalars(select(Package).where(Package.id.in_(ids))).all()
    return [p for p in found if permissions.can_see(scope.identity, p, via="pypi")]


def projects(session: Session, scope: Scope, project: str | None = None) -> dict[str, Package]:
    """Visible projects by normalised name (one `project` only, when given), sorted by name.

    Across owners (scope.owner None) two owners may both have a project `foo`; the caller's own one wins, then
    the owner whose login sorts first. The per-owner endpoints are the unambiguous ones.
    """
    me = scope.identity.account.id if scope.identity.account is not None else None
    chosen: dict[str, Package] = {}
    found = visible_packages(session, scope, project)
    for pkg in sorted(found, key=lambda p: (p.owner_id != me, p.owner.login_key, p.id)):
        chosen.setdefault(normalize(pkg.name), pkg)
    return dict(sorted(chosen.items()))


def project(session: Session, scope: Scope, name: str) -> Package | None:
    return projects(session, scope, name).get(normalize(name))


def dists(session: Session, package_ids: Collection[int], label: str) -> list[Dist]:
    """The label's Python files of these packages, oldest upload first."""
    if not package_ids:
        return []
    rows = session.execute(
        select(PypiFile, File, Release)
        .join(File, File.id == PypiFile.file_id)
        .join(Release, Release.id == File.release_id)
        .join(FileLabel, FileLabel.file_id == File.id)
        .join(Label, Label.id == FileLabel.label_id)
        .where(Label.name == label, PypiFile.package_id.in_(package_ids))
        .order_by(PypiFile.upload_time, PypiFile.file_id)
    ).all()
    return [Dist(row, f, rel) for row, f, rel in rows]


def by_version(items: Iterable[Dist]) -> dict[str, list[Dist]]:
    """Dists grouped by version, versions in ascending order, files by name."""
    grouped: dict[str, list[Dist]] = {}
    for d in items:
        grouped.setdefault(d.version, []).append(d)
    return {v: sorted(grouped[v], key=lambda d: d.row.filename) for v in sorted(grouped, key=version_key)}


def match_version(versions: Iterable[str], wanted: str) -> str | None:
    """The exact version, else the one version equal to it canonically (1.0 == 1.0.0); None if none or several."""
    versions = list(versions)
    if wanted in versions:
        return wanted
    canonical = canonicalize_version(wanted)
    found = [v for v in versions if canonicalize_version(v) == canonical]
    return found[0] if len(found) == 1 else None


def roles(session: Session, pkg: Package) -> list[tuple[str, str]]:
    """PyPI's [role, user]: owners ("Owner": the user, or an organization's owners group) and collaborators."""
    owner = pkg.owner
    if owner.kind == AccountKind.ORG:
        owners = list(
            session.scalars(
                select(Account.login)
                .join(GroupMember, GroupMember.account_id == Account.id)
                .join(Group, Group.id == GroupMember.group_id)
                .where(Group.org_id == owner.id, Group.name == OWNERS_GROUP)
                .order_by(Account.login_key)
            )
        )
    else:
        owners = [owner.login]
    collaborators = session.scalars(
        select(Account.login)
        .join(Collaborator, Collaborator.account_id == Account.id)
        .where(Collaborator.package_id == pkg.id, Collaborator.permission == "write")
        .order_by(Account.login_key)
    )
    return [("Owner", login) for login in owners] + [
        ("Maintainer", login) for login in collaborators if login not in owners
    ]


def url_prefix(request: Request) -> str:
    """The server's URL, with the request's `/t/TOKEN/` prefix kept so generated links keep working."""
    token = request.scope.get("packyard.path_token")
    base = base_url(request)
    return f"{base}/t/{token}" if token else base


def owner_path(owner: str, label: str) -> str:
    return f"/pypi/{quote(owner)}" + ("" if label == DEFAULT_LABEL else f"/label/{quote(label)}")


def file_url(prefix: str, owner: str, label: str, project_name: str, filename: str) -> str:
    return f"{prefix}{owner_path(owner, label)}/files/{normalize(project_name)}/{quote(filename)}"


def file_info(d: Dist, url: str) -> dict[str, Any]:
    """The fields PyPI's JSON API and XML-RPC `release_urls` share for one file."""
    f, row = d.file, d.row
    return {
        "filename": row.filename,
        "packagetype": row.packagetype,
        "python_version": row.python_version,
        "has_sig": False,
        "comment_text": f.description or "",
        "md5_digest": f.md5,
        "digests": {"md5": f.md5, "sha256": f.sha256},
        "size": f.size,
        "url": url,
        "requires_python": row.requires_python,
        "yanked": row.yanked,
        "yanked_reason": row.yanked_reason,
        "upload_time_iso_8601": utc(row.upload_time).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }


def is_yanked(items: Sequence[Dist]) -> tuple[bool, str | None]:
    """A release is yanked when every one of its files is (PyPI yanks releases; Packyard yanks files)."""
    if not items or not all(d.row.yanked for d in items):
        return False, None
    return True, next((d.row.yanked_reason for d in items if d.row.yanked_reason), None)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or None
    return str(value)


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def metadata(pkg: Package, rel: Release, items: Sequence[Dist]) -> dict[str, Any]:
    """A release's core metadata in PyPI's shapes, from its first uploaded file (as PyPI keeps the first)."""
    first = min(items, key=lambda d: (d.row.upload_time, d.row.file_id))
    attrs = first.file.attrs or {}
    core: dict[str, Any] = attrs.get("core") or {}
    urls = core.get("project_urls") if isinstance(core.get("project_urls"), dict) else None
    keywords = core.get("keywords")
    yanked, reason = is_yanked(items)
    return {
        "name": pkg.name,
        "version": rel.version,
        "summary": attrs.get("summary") or rel.summary or "",
        "description": rel.description or "",
        "description_content_type": _text(core.get("description_content_type")),
        "keywords": ",".join(keywords) if isinstance(keywords, list) else (keywords or ""),
        "license": _text(core.get("license")),
        "license_expression": _text(core.get("license_expression")),
        "license_files": _list(core.get("license_files")) or None,
        "classifiers": _list(core.get("classifiers")),
        "author": _text(core.get("author")),
        "author_email": _text(core.get("author_email")),
        "maintainer": _text(core.get("maintainer")),
        "maintainer_email": _text(core.get("maintainer_email")),
        "home_page": _text(core.get("home_page")),
        "download_url": _text(core.get("download_url")),
        "platform": _text(core.get("platforms")),
        "requires_python": attrs.get("requires_python") or first.row.requires_python,
        "requires_dist": _list(attrs.get("requires_dist")) or None,
        "provides_extra": _list(attrs.get("provides_extra")) or None,
        "dynamic": _list(core.get("dynamic")) or None,
        "project_urls": dict(urls) if urls else None,
        "requires": _list(core.get("requires")),
        "provides": _list(core.get("provides")),
        "obsoletes": _list(core.get("obsoletes")),
        "provides_dist": _list(core.get("provides_dist")),
        "obsoletes_dist": _list(core.get("obsoletes_dist")),
        "requires_external": _list(core.get("requires_external")),
        "docs_url": pkg.doc_url or None,
        "bugtrack_url": None,
        "yanked": yanked,
        "yanked_reason": reason,
    }


def latest(versions: dict[str, list[Dist]]) -> str | None:
    """PyPI's "latest": the newest final, unyanked release; else the newest unyanked; else the newest."""
    ordered = list(reversed(versions))  # versions come sorted ascending
    unyanked = [v for v in ordered if not is_yanked(versions[v])[0]]
    for v in unyanked:
        key = version_key(v)[1]
        if isinstance(key, Version) and not key.is_prerelease:
            return v
    candidates = unyanked or ordered
    return candidates[0] if candidates else None


def utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
