"""PyPI's XML-RPC API (`POST /pypi`, `/pypi/`, `/RPC2`; and `/pypi/OWNER` for one owner's projects).

Every method of the legacy API, with its documented return shapes: `pip search --index URL/pypi` works, and so do
mirrors reading `changelog_since_serial` / `list_packages_with_serial`.

- **What is listed.** Python projects (packages with wheels or sdists) carrying the label "main", and only those
  `permissions.can_see(identity, package, via="pypi")` allows. Without an owner, names can clash across owners:
  the caller's own project wins, then the owner whose login sorts first; names are not repeated. The per-owner
  endpoint (`/pypi/OWNER`) is the unambiguous one. Name arguments are matched PEP 503-normalised, versions
  exactly or else canonically (1.0 == 1.0.0); returned names are the projects' display names.
- **The changelog** (`changelog*`, `changed_packages`, `list_packages_with_serial`) comes from the event log,
  filtered by `journal.Journal`: events of projects the caller may see now, and removal history of projects that
  were visible to the caller when they ended. `changelog_last_serial` is the last serial the caller can see.
- **Requests are parsed safely.** At most 1 MiB (more: HTTP 413 with a fault body); expat through defusedxml's
  parser, refusing DTDs, entity declarations and external references (so no billion laughs, no XXE), then
  `xmlrpc.client`'s own unmarshaller. Bad XML, an unknown method and wrong arguments are XML-RPC faults (HTTP
  200, as PyPI answers), never a 500. Wrong credentials are still an HTTP 401, as everywhere.
- **Numbers.** XML-RPC ints are 32-bit: a size, download count or serial beyond that is sent as a double.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.xmlrpc import DefusedExpatParser, defused_gzip_decode  # type: ignore[import-untyped]
from fastapi import APIRouter, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from packyard.core import queries
from packyard.core.errors import PackyardError
from packyard.core.models import OWNERS_GROUP, Account, Collaborator, Group, GroupMember, Package
from packyard.core.queries import version_key
from packyard.formats.pypi import catalog
from packyard.formats.pypi.catalog import Dist, Scope
from packyard.formats.pypi.journal import MAX_ENTRIES, Journal, project_serials
from packyard.formats.pypi.simple import normalize
from packyard.web.deps import Services, resolve_identity, services

log = logging.getLogger("packyard.pypi.xmlrpc")

MAX_BODY = 1 << 20
SEARCH_LIMIT = 100
SEARCH_FIELDS = frozenset({
    "name", "version", "author", "author_email", "maintainer", "maintainer_email", "home_page", "license",
    "summary", "description", "keywords", "platform", "download_url",
})  # fmt: skip
_INT_MAX = 2**31 - 1
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Fault codes of the XML-RPC fault code spec, as PyPI uses them.
PARSE_ERROR, INVALID_REQUEST, NO_METHOD, INVALID_PARAMS, INTERNAL, APPLICATION = (
    -32700, -32600, -32601, -32602, -32603, -32500,
)  # fmt: skip

router = APIRouter()


async def handle(request: Request, svc: Services, owner: str | None) -> Response:
    """Answer one XML-RPC call; `owner` limits it to one owner's projects (None: every owner)."""
    await run_in_threadpool(resolve_identity, request, svc)  # a wrong credential is a 401 whatever the body
    body = await _read_body(request)
    if body is None:
        return _respond(xmlrpc.client.Fault(INVALID_REQUEST, f"request body over {MAX_BODY} bytes"), 413)
    if request.headers.get("content-encoding", "identity").lower() == "gzip":
        try:
            body = defused_gzip_decode(body, limit=MAX_BODY)
        except (ValueError, OSError, EOFError):
            return _respond(xmlrpc.client.Fault(PARSE_ERROR, "parse error: bad or oversized gzip body"))
    try:
        params, method = _loads(body)
    except xmlrpc.client.Fault as fault:
        return _respond(fault)
    result = await run_in_threadpool(_call, request, svc, owner, method, params)
    return _respond(result)


async def _endpoint(request: Request) -> Response:
    return await handle(request, services(request), None)


async def handle_owner(request: Request, owner: str) -> Response:
    """XML-RPC posted to one owner's upload URL (/pypi/OWNER, /api/repo/OWNER), which it shares with twine."""
    return await handle(request, services(request), owner)


for _path in ("/pypi", "/pypi/", "/RPC2"):
    router.add_api_route(_path, _endpoint, methods=["POST"], include_in_schema=False)


async def _read_body(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _loads(body: bytes) -> tuple[tuple[Any, ...], str]:
    """`xmlrpc.client.loads` with defusedxml's expat parser: DTDs, entities and external references refused."""
    target = xmlrpc.client.Unmarshaller()
    parser = DefusedExpatParser(target, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(body)
        parser.close()
        params = target.close()
        method = target.getmethodname()
    except DefusedXmlException as exc:
        raise xmlrpc.client.Fault(
            PARSE_ERROR, f"parse error: DTDs and entity declarations are not allowed ({type(exc).__name__})"
        ) from None
    except xmlrpc.client.Fault:
        raise xmlrpc.client.Fault(INVALID_REQUEST, "invalid request: a fault is not a method call") from None
    except Exception as exc:  # expat errors, bad values (<int>x</int>), unbalanced documents...
        raise xmlrpc.client.Fault(
            PARSE_ERROR, f"parse error: {type(exc).__name__}: {str(exc)[:200]}"
        ) from None
    if not method:
        raise xmlrpc.client.Fault(INVALID_REQUEST, "invalid request: not an XML-RPC methodCall")
    return params, method


def _respond(value: tuple[Any, ...] | xmlrpc.client.Fault, status: int = 200) -> Response:
    try:
        body = xmlrpc.client.dumps(_clean(value), methodresponse=True, allow_none=True, encoding="utf-8")
    except (OverflowError, TypeError) as exc:
        log.exception("cannot marshal an XML-RPC result", exc_info=exc)
        fault = xmlrpc.client.Fault(INTERNAL, "internal error: the result cannot be sent as XML-RPC")
        body = xmlrpc.client.dumps(fault, methodresponse=True, allow_none=True, encoding="utf-8")
    return Response(body.encode("utf-8"), status_code=status, media_type="text/xml")


def _clean(value: Any) -> Any:
    """Characters XML 1.0 cannot carry (e.g. NUL in a description) become U+FFFD; big ints become doubles."""
    if isinstance(value, str):
        return _NOT_XML.sub("\ufffd", value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -_INT_MAX - 1 <= value <= _INT_MAX else float(value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value] if isinstance(value, list) else tuple(_clean(v) for v in value)
    if isinstance(value, xmlrpc.client.Fault):
        return xmlrpc.client.Fault(value.faultCode, _clean(value.faultString))
    return value


# --- dispatch -------------------------------------------------------------------------------------------------

_REQUIRED = object()


@dataclass(frozen=True)
class Param:
    name: str
    kinds: tuple[type, ...]
    default: Any = _REQUIRED


@dataclass(frozen=True)
class Method:
    fn: Callable[..., Any]
    params: tuple[Param, ...]

    def signature(self, name: str) -> str:
        shown = [p.name if p.default is _REQUIRED else f"{p.name}={p.default!r}" for p in self.params]
        return f"{name}({', '.join(shown)})"


METHODS: dict[str, Method] = {}


def rpc(name: str, *params: Param) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        METHODS[name] = Method(fn, params)
        return fn

    return register


@dataclass(frozen=True)
class Ctx:
    session: Session
    scope: Scope
    prefix: str
    """The server URL (with the request's /t/TOKEN/ prefix) that file URLs start with."""


def _call(
    request: Request, svc: Services, owner: str | None, name: str, args: tuple[Any, ...]
) -> tuple[Any, ...] | xmlrpc.client.Fault:
    identity = resolve_identity(request, svc)  # wrong credentials: HTTP 401 like every other endpoint
    method = METHODS.get(name)
    if method is None:
        return xmlrpc.client.Fault(NO_METHOD, f"method not found: {name!r}; see system.listMethods")
    try:
        values = _bind(name, method, args)
        with svc.db.read() as session:
            account = queries.owner(session, owner) if owner is not None else None
            ctx = Ctx(session, Scope(identity, account), catalog.url_prefix(request))
            return (method.fn(ctx, *values),)
    except xmlrpc.client.Fault as fault:
        return fault
    except PackyardError as exc:
        return xmlrpc.client.Fault(APPLICATION, f"{type(exc).__name__}: {exc.message}")
    except Exception as exc:
        log.exception("XML-RPC %s failed", name, exc_info=exc)
        return xmlrpc.client.Fault(INTERNAL, "internal error; the server log has the details")


def _bind(name: str, method: Method, args: tuple[Any, ...]) -> list[Any]:
    params = method.params
    required = sum(p.default is _REQUIRED for p in params)
    if not required <= len(args) <= len(params):
        expected = str(required) if required == len(params) else f"{required} to {len(params)}"
        raise _invalid(f"{method.signature(name)} takes {expected} argument(s), {len(args)} given")
    values = []
    for i, param in enumerate(params):
        if i >= len(args):
            values.append(param.default)
            continue
        value = args[i]
        if not _is(value, param.kinds):
            kinds = " or ".join("nil" if k is type(None) else k.__name__ for k in param.kinds)
            got = "nil" if value is None else type(value).__name__
            raise _invalid(f"{method.signature(name)}: {param.name} must be {kinds}, not {got}")
        values.append(value)
    return values


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def _invalid(message: str) -> xmlrpc.client.Fault:
    return xmlrpc.client.Fault(INVALID_PARAMS, f"invalid parameters: {message}")


NAME = Param("package_name", (str,))
VERSION = Param("release_version", (str,))
SINCE = Param("since", (int, float))


def _since(value: float) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise _invalid(f"since: {value!r} is not a valid UTC timestamp") from None


# --- lookups --------------------------------------------------------------------------------------------------


def _project(ctx: Ctx, name: str) -> tuple[Package, dict[str, list[Dist]]] | None:
    pkg = catalog.project(ctx.session, ctx.scope, name)
    if pkg is None:
        return None
    return pkg, catalog.by_version(catalog.dists(ctx.session, [pkg.id], ctx.scope.label))


def _release(ctx: Ctx, name: str, version: str) -> tuple[Package, str, list[Dist]] | None:
    found = _project(ctx, name)
    if found is None:
        return None
    pkg, versions = found
    matched = catalog.match_version(versions, version)
    return (pkg, matched, versions[matched]) if matched is not None else None


def _all(ctx: Ctx) -> list[tuple[Package, dict[str, list[Dist]]]]:
    pkgs = catalog.projects(ctx.session, ctx.scope)
    grouped: dict[int, list[Dist]] = {}
    for d in catalog.dists(ctx.session, [p.id for p in pkgs.values()], ctx.scope.label):
        grouped.setdefault(d.row.package_id, []).append(d)
    return [(p, catalog.by_version(grouped.get(p.id, []))) for p in pkgs.values()]


# --- package querying -----------------------------------------------------------------------------------------


@rpc("system.listMethods")
def list_methods(ctx: Ctx) -> list[str]:
    return sorted(METHODS)


@rpc("list_packages")
def list_packages(ctx: Ctx) -> list[str]:
    return [pkg.name for pkg in catalog.projects(ctx.session, ctx.scope).values()]


@rpc("package_releases", NAME, Param("show_hidden", (bool, int), False))
def package_releases(ctx: Ctx, name: str, show_hidden: bool) -> list[str]:
    """Every version, oldest first (show_hidden is ignored, as on PyPI)."""
    found = _project(ctx, name)
    return list(found[1]) if found is not None else []


@rpc("package_roles", NAME)
def package_roles(ctx: Ctx, name: str) -> list[list[str]]:
    pkg = catalog.project(ctx.session, ctx.scope, name)
    return [list(r) for r in catalog.roles(ctx.session, pkg)] if pkg is not None else []


@rpc("user_packages", Param("user", (str,)))
def user_packages(ctx: Ctx, user: str) -> list[list[str]]:
    session = ctx.session
    account = session.scalar(select(Account).where(Account.login_key == user.lower()))
    if account is None:
        return []
    owned_orgs = set(
        session.scalars(
            select(Group.org_id)
            .join(GroupMember, GroupMember.group_id == Group.id)
            .where(GroupMember.account_id == account.id, Group.name == OWNERS_GROUP)
        )
    )
    collaborations = set(
        session.scalars(
            select(Collaborator.package_id).where(
                Collaborator.account_id == account.id, Collaborator.permission == "write"
            )
        )
    )
    found: set[tuple[str, str]] = set()
    for pkg in catalog.visible_packages(session, ctx.scope):
        if pkg.owner_id == account.id or pkg.owner_id in owned_orgs:
            found.add(("Owner", pkg.name))
        elif pkg.id in collaborations:
            found.add(("Maintainer", pkg.name))
    return [list(r) for r in sorted(found, key=lambda r: (r[0] != "Owner", r[1].lower(), r[1]))]


@rpc("release_downloads", NAME, VERSION)
def release_downloads(ctx: Ctx, name: str, version: str) -> list[list[Any]]:
    found = _release(ctx, name, version)
    return [[d.row.filename, d.file.ndownloads] for d in found[2]] if found is not None else []


@rpc("release_urls", NAME, VERSION)
def release_urls(ctx: Ctx, name: str, version: str) -> list[dict[str, Any]]:
    found = _release(ctx, name, version)
    if found is None:
        return []
    pkg, _, items = found
    owner, label = pkg.owner.login, ctx.scope.label
    urls = []
    for d in items:
        info = catalog.file_info(d, catalog.file_url(ctx.prefix, owner, label, pkg.name, d.row.filename))
        info["path"] = catalog.file_url("", owner, label, pkg.name, d.row.filename)
        info["sha256_digest"] = d.file.sha256
        info["downloads"] = d.file.ndownloads
        info["upload_time"] = xmlrpc.client.DateTime(catalog.utc(d.row.upload_time).replace(tzinfo=None))
        urls.append(info)
    return urls


@rpc("release_data", NAME, VERSION)
def release_data(ctx: Ctx, name: str, version: str) -> dict[str, Any]:
    found = _project(ctx, name)
    if found is None:
        return {}
    pkg, versions = found
    matched = catalog.match_version(versions, version)
    if matched is None:
        return {}
    data = catalog.metadata(pkg, versions[matched][0].release, versions[matched])
    base = f"{ctx.prefix}{catalog.owner_path(pkg.owner.login, ctx.scope.label)}"
    data |= {
        "stable_version": "",
        "project_url": [f"{label}, {url}" for label, url in (data["project_urls"] or {}).items()],
        "package_url": f"{base}/simple/{normalize(pkg.name)}/",
        "release_url": f"{base}/{normalize(pkg.name)}/{matched}/json",
        "downloads": {"last_day": -1, "last_week": -1, "last_month": -1},
        "_pypi_ordering": list(versions).index(matched),
        "_pypi_hidden": False,
        "cheesecake_code_kwalitee_id": None,
        "cheesecake_documentation_id": None,
        "cheesecake_installability_id": None,
    }
    return data


def _spec(spec: dict[str, Any]) -> dict[str, list[str]]:
    """Valid fields only (others are ignored, as PyPI does); each value a list of strings."""
    out: dict[str, list[str]] = {}
    for key, value in spec.items():
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _invalid(f"search: the value of {key!r} must be a string or a list of strings")
        if key in SEARCH_FIELDS and values:
            out[key] = values
    return out


def _field_text(pkg: Package, meta: dict[str, Any], field: str) -> str:
    if field == "name":
        return f"{pkg.name} {normalize(pkg.name)}"
    value = meta.get(field)
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value or "")


def _matches(pkg: Package, meta: dict[str, Any], spec: dict[str, list[str]], operator: str) -> bool:
    checks = []
    for field, wanted in spec.items():
        if field == "version":
            checks.append(any(catalog.match_version([meta["version"]], w) is not None for w in wanted))
        else:
            text = _field_text(pkg, meta, field).lower()
            checks.append(any(w.lower() in text for w in wanted))
    return all(checks) if operator == "and" else any(checks)


@rpc("search", Param("spec", (dict,)), Param("operator", (str,), "and"))
def search(ctx: Ctx, spec: dict[str, Any], operator: str) -> list[dict[str, Any]]:
    """Case-insensitive substring search (versions match exactly), at most 100 results.

    One result per project (its latest release) unless the spec names a version, then one per matching release.
    """
    operator = operator.lower()
    if operator not in ("and", "or"):
        raise _invalid("search: operator must be 'and' or 'or'")
    fields = _spec(spec)
    if not fields:
        return []
    hits: list[tuple[Package, str, dict[str, Any]]] = []
    for pkg, versions in _all(ctx):
        if not versions:
            continue
        candidates = list(versions) if "version" in fields else [catalog.latest(versions) or ""]
        for version in candidates:
            meta = catalog.metadata(pkg, versions[version][0].release, versions[version])
            if _matches(pkg, meta, fields, operator):
                hits.append((pkg, version, meta))
    wanted = {normalize(n) for n in fields.get("name", [])}
    hits.sort(key=lambda h: (normalize(h[0].name) not in wanted, h[0].name.lower(), version_key(h[1])))
    return [
        {"name": pkg.name, "version": version, "summary": meta["summary"], "_pypi_ordering": False}
        for pkg, version, meta in hits[:SEARCH_LIMIT]
    ]


@rpc("browse", Param("classifiers", (list,)))
def browse(ctx: Ctx, classifiers: list[Any]) -> list[list[str]]:
    if not all(isinstance(c, str) for c in classifiers):
        raise _invalid("browse: classifiers must be a list of strings")
    if not classifiers:
        return []
    wanted = set(classifiers)
    return [
        [pkg.name, version]
        for pkg, versions in _all(ctx)
        for version, items in versions.items()
        if wanted <= set(catalog.metadata(pkg, items[0].release, items)["classifiers"])
    ]


@rpc("top_packages", Param("number", (int, type(None)), None))
def top_packages(ctx: Ctx, number: int | None) -> list[list[Any]]:
    if number is not None and number < 0:
        raise _invalid("top_packages: number must not be negative")
    totals = [
        (pkg.name, sum(d.file.ndownloads for items in versions.values() for d in items))
        for pkg, versions in _all(ctx)
    ]
    totals.sort(key=lambda t: (-t[1], t[0].lower()))
    return [list(t) for t in (totals if number is None else totals[:number])]


@rpc("updated_releases", SINCE)
def updated_releases(ctx: Ctx, since: float) -> list[list[str]]:
    """Releases whose first file was uploaded after `since`, newest first."""
    after = _since(since)
    found = []
    for pkg, versions in _all(ctx):
        for version, items in versions.items():
            first = min(catalog.utc(d.row.upload_time) for d in items)
            if first > after:
                found.append((first, pkg.name, version))
    found.sort(key=lambda r: (r[0], r[1]), reverse=True)
    return [[name, version] for _, name, version in found]


@rpc("changed_packages", SINCE)
def changed_packages(ctx: Ctx, since: float) -> list[str]:
    names: dict[str, None] = {}
    for entry in Journal(ctx.session, ctx.scope).newest(after=_since(since)):
        names.setdefault(entry.name, None)
    return list(names)


# --- mirroring support ----------------------------------------------------------------------------------------


@rpc("changelog", SINCE, Param("with_ids", (bool, int), False))
def changelog(ctx: Ctx, since: float, with_ids: bool) -> list[list[Any]]:
    """Entries after `since` (UTC seconds), oldest first, at most 50000."""
    entries = Journal(ctx.session, ctx.scope).entries(after=_since(since))
    return [[e.name, e.version, e.timestamp, e.action, *([e.serial] if with_ids else [])] for e in entries]


@rpc("changelog_last_serial")
def changelog_last_serial(ctx: Ctx) -> int:
    return Journal(ctx.session, ctx.scope).last_serial()


@rpc("changelog_since_serial", Param("since_serial", (int,)))
def changelog_since_serial(ctx: Ctx, since_serial: int) -> list[list[Any]]:
    entries = Journal(ctx.session, ctx.scope).entries(after_serial=since_serial, limit=MAX_ENTRIES)
    return [[e.name, e.version, e.timestamp, e.action, e.serial] for e in entries]


@rpc("list_packages_with_serial")
def list_packages_with_serial(ctx: Ctx) -> dict[str, int]:
    pkgs = list(catalog.projects(ctx.session, ctx.scope).values())
    serials = project_serials(ctx.session, pkgs)
    return {pkg.name: serials[pkg.id] for pkg in pkgs}
