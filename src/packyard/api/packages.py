"""Packages, releases and files (the `dist` endpoints), search, and copying files between owners and labels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Request, Response

from packyard.api.body import body_of
from packyard.api.schemas import (
    CopyRequest,
    License,
    PackageAttrs,
    PackageCreate,
    PackageUpdate,
    ReleaseCreate,
    ReleaseUpdate,
    YankRequest,
)
from packyard.core import client_attrs, permissions, queries
from packyard.core.auth import Identity
from packyard.core.models import Package
from packyard.core.services import packages as pkg_service
from packyard.core.services.copy import copy_files
from packyard.web import shapes as ser
from packyard.web.deps import Caller, SignedIn, Svc, base_url, readable_package

router = APIRouter()
_T = TypeVar("_T")


def _info(body: PackageUpdate) -> pkg_service.PackageInfo:
    attrs = body.public_attrs or PackageAttrs()
    lic = attrs.license
    info = pkg_service.PackageInfo(
        summary=attrs.summary,
        description=attrs.description,
        license=(lic.name if isinstance(lic, License) else lic) or None,
        license_url=(lic.url if isinstance(lic, License) else attrs.license_url) or None,
        license_family=(lic.family if isinstance(lic, License) else attrs.license_family) or None,
        home=attrs.home or attrs.home_page or None,
        dev_url=attrs.dev_url or None,
        doc_url=attrs.doc_url or None,
        source_git_url=attrs.source_git_url or None,
    )
    if body.access is not None:
        info.access = body.access
    elif body.public is not None:
        info.access = "public" if body.public else "private"
    return info


@router.get("/package/{owner}/{name}")
def get_package(owner: str, name: str, request: Request, ident: Caller, svc: Svc) -> dict[str, Any]:
    with svc.db.read() as session:
        return ser.package(readable_package(session, ident, owner, name), base_url(request))


@router.post("/package/{owner}/{name}")
async def create_package(
    owner: str,
    name: str,
    request: Request,
    ident: SignedIn,
    svc: Svc,
    body: Annotated[PackageCreate, body_of(PackageCreate)],
) -> dict[str, Any]:
    info = _info(body)  # package_types are validated by the model; the files uploaded decide them
    return await _run(request, lambda: _create(svc, ident, owner, name, info, base_url(request)))


def _create(
    svc: Svc, ident: Identity, owner: str, name: str, info: pkg_service.PackageInfo, base: str
) -> dict[str, Any]:
    with svc.db.read() as session:
        account = queries.owner(session, owner)
    pkg_service.create_package(svc.db, ident, account, name, info)
    with svc.db.read() as session:
        return ser.package(queries.package(session, owner, name), base)


async def _run(request: Request, fn: Callable[[], _T]) -> _T:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn)


@router.patch("/package/{owner}/{name}")
async def update_package(
    owner: str,
    name: str,
    request: Request,
    ident: SignedIn,
    svc: Svc,
    body: Annotated[PackageUpdate, body_of(PackageUpdate)],
) -> dict[str, Any]:
    info = _info(body)

    def work() -> dict[str, Any]:
        pkg_service.update_package(svc.db, ident, owner, name, info)
        with svc.db.read() as session:
            return ser.package(queries.package(session, owner, name), base_url(request))

    return await _run(request, work)


@router.delete("/package/{owner}/{name}", status_code=201)
def delete_package(owner: str, name: str, ident: SignedIn, svc: Svc) -> Response:
    pkg_service.delete_package(svc.db, ident, owner, name)
    return Response(status_code=201)


@router.get("/release/{owner}/{name}/{version}")
def get_release(
    owner: str, name: str, version: str, request: Request, ident: Caller, svc: Svc
) -> dict[str, Any]:
    with svc.db.read() as session:
        pkg = readable_package(session, ident, owner, name)
        return ser.release(queries.release(pkg, version), pkg, base_url(request))


@router.post("/release/{owner}/{name}/{version}")
async def create_release(
    owner: str,
    name: str,
    version: str,
    request: Request,
    ident: SignedIn,
    svc: Svc,
    body: Annotated[ReleaseCreate, body_of(ReleaseCreate)],
) -> dict[str, Any]:
    given = body.model_dump(exclude_unset=True)
    attrs = {
        k: v for k, v in given.items() if k not in ("requirements", "announce", "description", "version")
    }
    # anaconda-client's add_release sends them (its upload command sends []); the release JSON returns them.
    attrs["requirements"] = client_attrs.clean_requirements(body.requirements)

    def work() -> dict[str, Any]:
        with svc.db.read() as session:
            pkg = readable_package(session, ident, owner, name)
        pkg_service.create_release(
            svc.db,
            ident,
            pkg,
            version,
            summary=body.summary or "",
            description=body.description or "",
            announce=body.announce,
            home=body.home_page or body.home,
            attrs=attrs,
        )
        with svc.db.read() as session:
            pkg = queries.package(session, owner, name)
            return ser.release(queries.release(pkg, version), pkg, base_url(request))

    return await _run(request, work)


@router.patch("/release/{owner}/{name}/{version}")
async def update_release(
    owner: str,
    name: str,
    version: str,
    request: Request,
    ident: SignedIn,
    svc: Svc,
    body: Annotated[ReleaseUpdate, body_of(ReleaseUpdate)],
) -> dict[str, Any]:
    given = (
        body.public_attrs or body
    )  # anaconda-client sends {public_attrs}; curl users often the attrs alone
    attrs = {k: v for k, v in given.model_dump(exclude_unset=True).items() if k != "public_attrs"}
    if "requirements" in attrs:
        attrs["requirements"] = client_attrs.clean_requirements(attrs["requirements"])

    def work() -> dict[str, Any]:
        with svc.db.read() as session:
            rel = queries.release(readable_package(session, ident, owner, name), version)
        pkg_service.update_release(svc.db, ident, rel, attrs)
        with svc.db.read() as session:
            pkg = queries.package(session, owner, name)
            return ser.release(queries.release(pkg, version), pkg, base_url(request))

    return await _run(request, work)


@router.delete("/release/{owner}/{name}/{version}", status_code=201)
def delete_release(owner: str, name: str, version: str, ident: SignedIn, svc: Svc) -> Response:
    with svc.db.read() as session:
        rel = queries.release(readable_package(session, ident, owner, name), version)
    pkg_service.delete_release(svc.db, ident, rel)
    return Response(status_code=201)


@router.get("/dist/{owner}/{name}/{version}/{basename:path}")
def get_dist(
    owner: str, name: str, version: str, basename: str, request: Request, ident: Caller, svc: Svc
) -> dict[str, Any]:
    with svc.db.read() as session:
        pkg = readable_package(session, ident, owner, name)
        rel = queries.release(pkg, version)
        return ser.file(queries.file(rel, basename), pkg, rel, base_url(request))


@router.delete("/dist/{owner}/{name}/{version}/{basename:path}")
def delete_dist(
    owner: str, name: str, version: str, basename: str, request: Request, ident: SignedIn, svc: Svc
) -> dict[str, Any]:
    with svc.db.read() as session:
        pkg = readable_package(session, ident, owner, name)
        rel = queries.release(pkg, version)
        f = queries.file(rel, basename) if not basename.startswith("-/") else _file_by_id(rel, basename[2:])
        shown = ser.file(f, pkg, rel, base_url(request))
    pkg_service.remove_file(svc.db, ident, f)
    return shown


def _file_by_id(rel: Any, file_id: str) -> Any:
    for f in rel.files:
        if str(f.id) == file_id:
            return f
    return queries.file(rel, f"-/{file_id}")


@router.get("/search")
def search(
    request: Request,
    ident: Caller,
    svc: Svc,
    name: str = "",
    type: str | None = None,
    platform: str | None = None,
) -> list[dict[str, Any]]:
    """Packages whose name or summary contain the query, that the caller may see."""
    from sqlalchemy import func, or_

    query_text = name.strip().lower()
    with svc.db.read() as session:
        query = queries.package_query()
        if query_text:
            like = f"%{query_text.replace('%', '').replace('_', '')}%"
            query = query.where(or_(func.lower(Package.name).like(like), Package.summary.ilike(like)))
        rows = session.scalars(query.order_by(Package.name_key).limit(2000)).unique().all()
        found = [p for p in rows if permissions.can_see(ident, p)]
        if type:
            found = [p for p in found if type in (p.package_types or [])]
        if platform:
            found = [
                p
                for p in found
                if any(f.attrs.get("subdir") == platform for r in p.releases for f in r.files)
            ]
        return [ser.package(p, base_url(request)) for p in found[:500]]


async def copy(
    owner: str,
    name: str,
    version: str,
    basename: str,
    request: Request,
    ident: SignedIn,
    svc: Svc,
    body: Annotated[CopyRequest, body_of(CopyRequest)],
) -> list[dict[str, Any]]:
    """POST copies, PUT replaces what exists at the destination, PATCH updates (skips identical files)."""
    mode = {"POST": "copy", "PUT": "replace", "PATCH": "update"}[request.method]

    def work() -> list[dict[str, Any]]:
        copied = copy_files(
            svc.db,
            ident,
            owner,
            name,
            version,
            basename or None,
            to_owner=body.to_owner or ident.login,
            from_label=body.from_channel or "main",
            to_label=body.to_channel or "main",
            mode=mode,
        )
        base = base_url(request)
        with svc.db.read() as session:
            out = []
            for c in copied:
                pkg = queries.package(session, c.owner, c.package)
                rel = queries.release(pkg, c.version)
                out.append(ser.file(queries.file(rel, c.basename), pkg, rel, base))
            return out

    return await _run(request, work)


for _method in ("POST", "PUT", "PATCH"):
    router.add_api_route(
        "/copy/package/{owner}/{name}/{version}/{basename:path}",
        copy,
        methods=[_method],
        operation_id=f"copy_package_{_method.lower()}",
    )


@router.post("/yank/{owner}/{name}/{version}/{basename:path}")
async def yank(
    owner: str,
    name: str,
    version: str,
    basename: str,
    request: Request,
    ident: SignedIn,
    svc: Svc,
    body: Annotated[YankRequest, body_of(YankRequest)],
) -> dict[str, Any]:
    """Packyard extension, PEP 592: installers skip a yanked file unless it is pinned with ==. Body: {reason}."""
    return await _run(
        request, lambda: _set_yanked(svc, ident, request, owner, name, version, basename, body.reason)
    )


@router.delete("/yank/{owner}/{name}/{version}/{basename:path}")
def unyank(
    owner: str, name: str, version: str, basename: str, request: Request, ident: SignedIn, svc: Svc
) -> dict[str, Any]:
    return _set_yanked(svc, ident, request, owner, name, version, basename, None, yanked=False)


def _set_yanked(
    svc: Svc,
    ident: Identity,
    request: Request,
    owner: str,
    name: str,
    version: str,
    basename: str,
    reason: str | None,
    *,
    yanked: bool = True,
) -> dict[str, Any]:
    with svc.db.read() as session:
        f = queries.file(queries.release(readable_package(session, ident, owner, name), version), basename)
    pkg_service.set_yanked(svc.db, ident, f, yanked, reason)
    with svc.db.read() as session:
        pkg = queries.package(session, owner, name)
        rel = queries.release(pkg, version)
        return ser.file(queries.file(rel, basename), pkg, rel, base_url(request))
