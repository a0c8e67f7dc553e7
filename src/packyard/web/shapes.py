"""The JSON shapes anaconda-client reads (reference/anaconda-client-api.md §4), built from model rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from packyard.core import client_attrs, queries
from packyard.core.models import Access, Account, File, Label, Package, Release
from packyard.core.services.tokens import TokenInfo


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def user(account: Account) -> dict[str, Any]:
    return {
        "login": account.login,
        "name": account.name,
        "user_type": account.kind,
        "created_at": iso(account.created_at),
        "company": account.company,
        "location": account.location,
        "url": account.url,
        "description": account.description,
    }


def file(f: File, pkg: Package, rel: Release, base: str) -> dict[str, Any]:
    owner = pkg.owner.login
    full_name = f"{owner}/{pkg.name}/{rel.version}/{f.basename}"
    host = base.split("://", 1)[-1]
    return {
        "id": str(f.id),
        "basename": f.basename,
        "version": rel.version,
        "type": f.package_type,
        "distribution_type": f.package_type,
        "labels": [label.name for label in f.labels],
        "attrs": client_attrs.public(f.attrs),
        "dependencies": f.dependencies,
        "description": f.description,
        "md5": f.md5,
        "sha256": f.sha256,
        "size": f.size,
        "upload_time": iso(f.uploaded_at),
        "full_name": full_name,
        "download_url": f"//{host}/api/download/{full_name}",
        "owner": owner,
        "ndownloads": f.ndownloads,
    }


def release(rel: Release, pkg: Package, base: str) -> dict[str, Any]:
    return {
        "version": rel.version,
        "full_name": f"{pkg.owner.login}/{pkg.name}/{rel.version}",
        "package": pkg.name,
        "owner": pkg.owner.login,
        "distributions": [file(f, pkg, rel, base) for f in rel.files],
        "public_attrs": {
            "description": rel.description,
            "summary": rel.summary,
            "home": rel.home,
            **{k: v for k, v in (rel.attrs or {}).items() if k != "requirements"},
        },
        "requirements": (rel.attrs or {}).get("requirements", []),
        "announce": rel.announce,
        "description": rel.description,
        "summary": rel.summary,
        "created_at": iso(rel.created_at),
        "modified_at": iso(rel.modified_at),
    }


def package(pkg: Package, base: str) -> dict[str, Any]:
    owner = pkg.owner
    files = [(rel, f) for rel in pkg.releases for f in rel.files]
    conda = [f for _, f in files if f.package_type == "conda"]
    platforms: dict[str, str] = {}
    for rel, f in files:
        subdir = (f.attrs or {}).get("subdir") if f.package_type == "conda" else None
        if subdir and queries.version_key(rel.version) >= queries.version_key(
            platforms.get(subdir, rel.version)
        ):
            platforms[subdir] = rel.version
    full_name = f"{owner.login}/{pkg.name}"
    return {
        "id": str(pkg.id),
        "name": pkg.name,
        "full_name": full_name,
        "owner": user(owner),
        "summary": pkg.summary,
        "description": pkg.description,
        "home": pkg.home,
        "license": pkg.license,
        "license_url": pkg.license_url,
        "license_family": pkg.license_family,
        "dev_url": pkg.dev_url,
        "doc_url": pkg.doc_url,
        "source_git_url": pkg.source_git_url,
        "source_git_tag": None,
        "public": pkg.access == Access.PUBLIC,
        "published": pkg.access == Access.PUBLIC,
        "access": pkg.access,
        "package_types": list(pkg.package_types or []),
        "versions": sorted({r.version for r in pkg.releases}, key=queries.version_key),
        "latest_version": queries.latest_version(pkg),
        "platforms": platforms,
        "conda_platforms": sorted(platforms),
        "builds": sorted({str(f.attrs.get("build")) for f in conda if f.attrs.get("build") is not None}),
        "revision": len(files),
        "releases": [
            {
                "version": rel.version,
                "distributions": [f.basename for f in rel.files],
                "full_name": f"{full_name}/{rel.version}",
            }
            for rel in pkg.releases
        ],
        "files": [file(f, pkg, rel, base) for rel, f in files],
        "url": f"{base}/api/package/{full_name}",
        "html_url": f"{base}/{full_name}",
        "watchers": 0,
        "upvoted": 0,
        "created_at": iso(pkg.created_at),
        "modified_at": iso(pkg.modified_at),
    }


def token(t: TokenInfo) -> dict[str, Any]:
    return {
        "id": t.public_id,
        "application": t.name,
        "name": t.name,
        "remote_addr": t.remote_addr,
        "hostname": t.hostname,
        "expires": iso(t.expires_at),
        "scopes": list(t.scopes or []),
        "created_at": iso(t.created_at),
        "last_used": iso(t.last_used_at),
        "org": t.org,
        "channel": t.channel,
    }


def label_summary(label: Label, num_files: int) -> dict[str, Any]:
    return {"is_locked": label.is_locked, "num_files": num_files, "name": label.name}
