"""Who may do what through the package managers' protocols: conda channels, the PyPI simple API, files and twine
uploads, and CRAN repositories. The REST API has its own matrix in test_permission_matrix.py; this one reuses its
world (tests/unit/matrix_support.py: users, the org `acme`, its groups, the tokens, the six target packages) and
puts real package files into it:

    pkg-{access}-{user|org}     (the targets) get a conda package (noarch) and a wheel, version 1.0
    rpkg.{access}.{user|org}    an R source package 1.0, in a package configured like the target (R names cannot
                                have hyphens): same access, collaborators cora and gone, same acme group lists
    upl.{access}.{user|org}     configured like the target, with a wheel and an R package 1.0: the upload cases put
                                their new versions there, so the targets stay as built (a name valid for both)
    solo-{access}-{ns}          a namespace of its own per target (a user, or an org run like acme by otto, with
                                the same groups and members) holding only a copy of the target: the `*-alone` cases
                                read its indexes, which answer 401/403 when the caller may see nothing in them
    otto/pkg-private-otto       otto's own private package, for the org-token row (see the end of the file)

The expected outcomes are written out by hand below from docs/security.md; nothing here asks
packyard.core.permissions. Listings (repodata, channeldata, shard index, simple index, PACKAGES) answer 200 as long
as the caller may see something in them; the package is in the answer exactly when the caller may read it, and
when it is not, its name must not appear anywhere in the (decompressed) body, nor in the refusal of an index that
hides everything or of a shard (fetched by the sha256 the owner's shard index gives).

Case ids read `private-org/readers-listed/conda-repodata@basic`: package, identity, action, and how the token was
sent: `path` (/conda/t/TOKEN/..., /pypi/t/TOKEN/..., /cran/t/TOKEN/..., /api/repo/t/TOKEN/...), `basic` (HTTP Basic
TOKEN:x-auth-token), `token` or `bearer` (Authorization: token|Bearer TOKEN). The forms rotate over the cases.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
import zstandard
from fastapi.testclient import TestClient

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import migrate
from packyard.core.db import Database
from tests.builders import build_conda, build_r_source, build_wheel
from tests.conftest import ADMIN_PASSWORD
from tests.unit.api.helpers import upload as rest_upload
from tests.unit.matrix_support import (
    ACCESSES,
    COLUMNS,
    GROUPS,
    LISTING_GROUPS,
    NAMESPACE_ADMIN,
    NAMESPACE_LOGIN,
    NAMESPACES,
    ORG_ROWS,
    PASSWORD,
    READS,
    TOKEN_SCOPES,
    USER_OF,
    Caller,
    Credential,
    MatrixCases,
    SetupError,
    World,
    answer,
    auth_header,
    build_world,
    create_token,
    expect,
    fast_passwords,
    hidden,
    org_cases,
    parse_table,
    refused,
    scope_cases,
    target_name,
)

# --- the rules ---------------------------------------------------------------------------------------------------

# What each identity may do with each target through one interface: - nothing, R read, W write, A admin, x the
# credential itself is refused (401 on every request, even for public things), U (PyPI only) upload with twine
# but not read. The users' rows are the same through every interface (their tokens have the scope `all`); the
# token rows differ, because scopes are per interface ("Tokens" in docs/security.md). token-* are olivia's tokens
# for her packages and otto's (the org owner's) for acme's; both may do everything with those packages, so the
# scope alone decides. Reading a public package needs no scope.

# Through conda channels (`via="conda"`): repodata, channeldata, shards, package files.
#                          user namespace      org namespace
#                          pub  auth priv      pub  auth priv
CONDA_TABLE = """
anonymous                  R    -    -         R    -    -      public needs nobody; the rest needs signing in
owner                      A    A    A         R    R    -      her own namespace; nothing special in acme
stranger                   R    R    -         R    R    -      authenticated = any valid user or token
collaborator               W    W    W         W    W    W      collaborators write, in both kinds of namespace
org-owner                  R    R    -         A    A    A      owners administer every package of the org
readers-listed             R    R    -         R    R    R      the group lists the package: the group's level
readers-unlisted           R    R    -         R    R    -      the group does not list it: nothing from it
writers-listed             R    R    -         W    W    W
writers-unlisted           R    R    -         R    R    -
admins-listed              R    R    -         A    A    A
admins-unlisted            R    R    -         R    R    -
token-all                  A    A    A         A    A    A      all: everything, everywhere
token-api-read             R    -    -         R    -    -      api:read works through the REST API only
token-conda-download       R    R    R         R    R    R      conda:download: reading through conda
token-pypi-upload          R    -    -         R    -    -      pypi:upload: PyPI uploads only
token-expired              x    x    x         x    x    x
token-removed              x    x    x         x    x    x
token-disabled             x    x    x         x    x    x      gone (collaborator, acme/admins) is disabled
"""

# Through PyPI (`via="pypi"`): the simple API, files, .metadata, the JSON API, and uploads (twine's POST to
# /pypi/OWNER/ or /api/repo/OWNER).
#                          user namespace      org namespace
#                          pub  auth priv      pub  auth priv
PYPI_TABLE = """
anonymous                  R    -    -         R    -    -
owner                      A    A    A         R    R    -
stranger                   R    R    -         R    R    -
collaborator               W    W    W         W    W    W
org-owner                  R    R    -         A    A    A
readers-listed             R    R    -         R    R    R
readers-unlisted           R    R    -         R    R    -
writers-listed             R    R    -         W    W    W
writers-unlisted           R    R    -         R    R    -
admins-listed              R    R    -         A    A    A
admins-unlisted            R    R    -         R    R    -
token-all                  A    A    A         A    A    A
token-api-read             R    -    -         R    -    -      the REST API only
token-conda-download       R    -    -         R    -    -      conda and the REST API only
token-pypi-upload          W    U    U         W    U    U      "PyPI upload (twine) only": reads of non-public
token-expired              x    x    x         x    x    x      packages are not uploads
token-removed              x    x    x         x    x    x
token-disabled             x    x    x         x    x    x
"""

# Through CRAN (`via="cran"`): PACKAGES[.gz], the tarballs, and R uploads (curl to /api/repo/OWNER, filetype
# cran_source_package).
#                          user namespace      org namespace
#                          pub  auth priv      pub  auth priv
CRAN_TABLE = """
anonymous                  R    -    -         R    -    -
owner                      A    A    A         R    R    -
stranger                   R    R    -         R    R    -
collaborator               W    W    W         W    W    W
org-owner                  R    R    -         A    A    A
readers-listed             R    R    -         R    R    R
readers-unlisted           R    R    -         R    R    -
writers-listed             R    R    -         W    W    W
writers-unlisted           R    R    -         R    R    -
admins-listed              R    R    -         A    A    A
admins-unlisted            R    R    -         R    R    -
token-all                  A    A    A         A    A    A
token-api-read             R    -    -         R    -    -      the REST API only
token-conda-download       R    -    -         R    -    -      conda and the REST API only
token-pypi-upload          R    -    -         R    -    -      PyPI uploads only
token-expired              x    x    x         x    x    x
token-removed              x    x    x         x    x    x
token-disabled             x    x    x         x    x    x
"""

WRITES = frozenset("WAU")
CELLS = ("-", "R", "W", "A", "U", "x")

TABLES = {
    "conda": parse_table(CONDA_TABLE, COLUMNS, cells=CELLS),
    "pypi": parse_table(PYPI_TABLE, COLUMNS, cells=CELLS),
    "cran": parse_table(CRAN_TABLE, COLUMNS, cells=CELLS),
}

LISTING, FETCH, UPLOAD, ALONE = "listing", "fetch", "upload", "alone"
"""What an action observes. listing: `listed` / `hidden` (200 either way). fetch: 200, or 401/403 when the caller
may not read the package. upload: 200, or 401/403 when the caller may not write. alone: an index of a namespace
holding only the target: `listed`, or 401 (anonymous) / 403 (valid credentials) when the target is hidden."""


def expected(cell: str, kind: str, identity: str) -> str:
    if cell == "x":
        return "401"
    if kind == LISTING:
        return "listed" if cell in READS else "hidden"
    if kind == UPLOAD:
        return "200" if cell in WRITES else refused(identity) if cell in READS else hidden(identity)
    if cell not in READS:
        return hidden(identity)
    return "listed" if kind == ALONE else "200"


# --- the world ---------------------------------------------------------------------------------------------------


def r_name(access: str, namespace: str) -> str:
    return f"rpkg.{access}.{namespace}"


def solo_owner(access: str, namespace: str) -> str:
    return f"solo-{access}-{namespace}"


@dataclass
class Target:
    """One package as the format routes see it, and the bytes of its files (for checking downloads)."""

    owner: str
    name: str
    """The conda and PyPI name (the REST package); the R package is `rname`."""
    rname: str
    conda_file: str = ""
    conda_bytes: bytes = b""
    wheel_file: str = ""
    wheel_bytes: bytes = b""
    r_file: str = ""
    r_bytes: bytes = b""
    uploads: str = ""
    """The package (configured like this one) that receives the upload cases' new versions."""
    shard: str = ""
    """sha256 of the package's noarch shard, as the owner sees it in the shard index."""


@dataclass
class FormatWorld:
    world: World
    files: Path
    """Whether app.py mounts the PyPI JSON API (/pypi/OWNER/PROJECT/json)."""
    targets: dict[tuple[str, str], Target] = field(default_factory=dict)
    """(column, "main" | "solo") -> the target; column "private-otto" is otto's own package."""
    solo_tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    """(identity, solo user) -> the token that plays `owner` / token-* in that user's solo namespace."""
    scope_tokens: dict[str, str] = field(default_factory=dict)
    org_token: str = ""
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def client(self) -> TestClient:
        return self.world.client


@pytest.fixture(scope="module")
def fw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FormatWorld]:
    data: Path = tmp_path_factory.mktemp("format-matrix") / "data"
    data.mkdir()
    settings = Settings(data=data, admin_password=ADMIN_PASSWORD, base_url="http://testserver")
    migrate.upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    app = create_app(settings, db=db)
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast_passwords(monkeypatch)
        with TestClient(app, raise_server_exceptions=False) as client:
            world = build_world(client, db)
            fmt = FormatWorld(
                world,
                tmp_path_factory.mktemp("format-files"),
            )
            build_formats(fmt)
            yield fmt
    db.dispose()


def build_formats(fw: FormatWorld) -> None:
    from packyard.core.services.accounts import set_disabled

    world = fw.world
    # gone collaborates on every package like the targets; build_world has disabled gone already.
    set_disabled(world.db, "gone", False)
    try:
        for namespace in NAMESPACES:
            if namespace in world.problems:
                continue
            try:
                _furnish_namespace(fw, namespace)
            except AssertionError as exc:
                fw.problems[namespace] = str(exc)
        for namespace in NAMESPACES:
            for access in ACCESSES:
                try:
                    _build_solo(fw, namespace, access)
                except AssertionError as exc:
                    fw.problems[solo_owner(access, namespace)] = str(exc)
        try:
            _build_otto(fw)
        except AssertionError as exc:
            fw.problems["otto"] = str(exc)
    finally:
        try:
            set_disabled(world.db, "gone", True)
        except Exception as exc:  # reported by every case of a disabled user
            fw.problems["token-disabled"] = f"setup: disabling gone again failed: {exc!r}"


def configure_package(
    fw: FormatWorld,
    owner: str,
    admin: dict[str, str],
    access: str,
    name: str,
    *,
    org: bool,
    collaborators: tuple[str, ...] = ("cora", "gone"),
) -> None:
    """A package configured like the targets: access, collaborators and (in an org) the readers/writers/admins
    group lists."""
    client = fw.client
    expect(
        client.post(
            f"/api/package/{owner}/{name}",
            headers=admin,
            json={"public": access == "public", "public_attrs": {"summary": "matrix package"}},
        ),
        200,
        what=f"create {owner}/{name}",
    )
    if access == "authenticated":
        expect(
            client.patch(f"/api/package/{owner}/{name}", headers=admin, json={"access": access}),
            200,
            what=f"make {owner}/{name} authenticated",
        )
    for login in collaborators:
        expect(
            client.put(f"/api/packages/{owner}/{name}/collaborators/{login}", headers=admin),
            201,
            what=f"add collaborator {login} to {owner}/{name}",
        )
    if org:
        for group in LISTING_GROUPS:
            expect(
                client.put(f"/api/group/{owner}/{group}/packages/{name}", headers=admin),
                204,
                what=f"list {name} in {owner}/{group}",
            )


def put_file(
    fw: FormatWorld, token: str, owner: str, name: str, path: Path, basename: str, dtype: str
) -> bytes:
    """Upload a file to an existing package as its administrator: conda packages through the REST API (stage ->
    commit), wheels and R packages in one request to /api/repo/OWNER (as twine and curl do; 1 request, not 3)."""
    data = path.read_bytes()
    if dtype == "conda":
        response = rest_upload(fw.client, token, owner, name, "1.0", path, basename, dtype, create=False)
    else:
        filetype = {"pypi": "bdist_wheel", "r": "cran_source_package"}[dtype]
        response = fw.client.post(
            f"/api/repo/{owner}",
            headers=auth_header(token),
            data={"filetype": filetype},
            files={"content": (path.name, data, "application/octet-stream")},
        )
    expect(response, 200, what=f"upload {owner}/{name}/{basename}")
    return data


def furnish(
    fw: FormatWorld, owner: str, token: str, access: str, name: str, rname: str, *, org: bool, uploads: bool
) -> Target:
    """Give the (existing) package `name` a conda package and a wheel, make the R package `rname` like it, and,
    with `uploads`, the package the upload cases write to."""
    folder = fw.files / owner
    folder.mkdir(exist_ok=True)
    admin = auth_header(token)
    target = Target(owner, name, rname)
    conda = build_conda(folder, name=name, version="1.0", subdir="noarch", fmt="tar.bz2")
    target.conda_file = conda.name
    target.conda_bytes = put_file(fw, token, owner, name, conda, f"noarch/{conda.name}", "conda")
    wheel = build_wheel(folder, name=name, version="1.0")
    target.wheel_file = wheel.name
    target.wheel_bytes = put_file(fw, token, owner, name, wheel, wheel.name, "pypi")
    configure_package(fw, owner, admin, access, rname, org=org)
    r = build_r_source(folder, name=rname, version="1.0")
    target.r_file = r.name
    target.r_bytes = put_file(fw, token, owner, rname, r, r.name, "r")
    if uploads:
        target.uploads = rname.replace("rpkg.", "upl.", 1)
        configure_package(fw, owner, admin, access, target.uploads, org=org)
        wheel = build_wheel(folder, name=target.uploads, version="1.0")
        put_file(fw, token, owner, target.uploads, wheel, wheel.name, "pypi")
        r = build_r_source(folder, name=target.uploads, version="1.0")
        put_file(fw, token, owner, target.uploads, r, r.name, "r")
    index = expect(
        fw.client.get(f"/conda/{owner}/noarch/repodata_shards.msgpack.zst", headers=admin),
        200,
        what=f"the shard index of {owner}",
    )
    shards = unpack_zst_msgpack(index.content).get("shards", {})
    if name not in shards:
        raise SetupError(f"setup: {name} is not in the shard index of {owner} as its owner sees it")
    target.shard = shards[name].hex()
    return target


def _furnish_namespace(fw: FormatWorld, namespace: str) -> None:
    token = fw.world.user_tokens[NAMESPACE_ADMIN[namespace]]
    owner = NAMESPACE_LOGIN[namespace]
    for access in ACCESSES:
        name = target_name(access, namespace)
        fw.targets[(f"{access}-{namespace}", "main")] = furnish(
            fw, owner, token, access, name, r_name(access, namespace), org=namespace == "org", uploads=True
        )


def _build_org_like_acme(fw: FormatWorld, org: str) -> None:
    """An org of otto's with acme's groups and members; the other-* groups list only a private `decoy`."""
    client = fw.client
    otto = auth_header(fw.world.user_tokens["otto"])
    expect(
        client.post(f"/api/orgs/{org}", headers=otto, json={"name": org.title()}), 201, what=f"create {org}"
    )
    for group, (perms, member) in GROUPS.items():
        expect(
            client.post(f"/api/group/{org}/{group}", headers=otto, json={"perms": perms}),
            204,
            what=f"group {org}/{group}",
        )
        expect(
            client.put(f"/api/group/{org}/{group}/members/{member}", headers=otto),
            204,
            what=f"{member} in {org}/{group}",
        )
    expect(
        client.put(f"/api/group/{org}/admins/members/gone", headers=otto), 204, what=f"gone in {org}/admins"
    )
    expect(
        client.post(f"/api/package/{org}/decoy", headers=otto, json={"public": False}),
        200,
        what=f"create {org}/decoy",
    )
    for group in ("other-readers", "other-writers", "other-admins"):
        expect(
            client.put(f"/api/group/{org}/{group}/packages/decoy", headers=otto),
            204,
            what=f"decoy in {org}/{group}",
        )


def _build_solo(fw: FormatWorld, namespace: str, access: str) -> None:
    from packyard.core.services.accounts import create_user

    owner = solo_owner(access, namespace)
    if namespace == "user":
        create_user(fw.world.db, owner, PASSWORD, name=owner.title())
        token = create_token(fw.client, owner, "matrix")
        fw.solo_tokens[("owner", owner)] = token
        for identity, scopes in TOKEN_SCOPES.items():
            fw.solo_tokens[(identity, owner)] = create_token(fw.client, owner, identity, scopes=scopes)
    else:
        _build_org_like_acme(fw, owner)
        token = fw.world.user_tokens["otto"]
    name = target_name(access, namespace)
    configure_package(fw, owner, auth_header(token), access, name, org=namespace == "org")
    fw.targets[(f"{access}-{namespace}", "solo")] = furnish(
        fw, owner, token, access, name, r_name(access, namespace), org=namespace == "org", uploads=False
    )


def _build_otto(fw: FormatWorld) -> None:
    """otto's own private package, and a token otto made for acme (`anaconda auth --create --org acme`)."""
    token = fw.world.user_tokens["otto"]
    configure_package(
        fw, "otto", auth_header(token), "private", "pkg-private-otto", org=False, collaborators=()
    )
    fw.targets[("private-otto", "main")] = furnish(
        fw, "otto", token, "private", "pkg-private-otto", "rpkg.private.otto", org=False, uploads=True
    )
    fw.org_token = create_token(fw.client, "otto", "matrix-org-token", user="acme")


def check_setup(fw: FormatWorld, *keys: str) -> None:
    for key in keys:
        problem = fw.world.problems.get(key) or fw.problems.get(key)
        if problem:
            pytest.fail(problem, pytrace=False)


# --- credentials ---------------------------------------------------------------------------------------------------

FORMS = ("path", "basic", "token", "bearer")


def credential(fw: FormatWorld, identity: str, namespace: str, owner: str, form: str) -> Credential:
    """The credential `identity` uses for a package of `owner` (in a namespace of kind `namespace`)."""
    world = fw.world
    if identity == "anonymous":
        return Credential()
    solo_user = namespace == "user" and owner != NAMESPACE_LOGIN["user"]
    if solo_user and (identity == "owner" or identity in TOKEN_SCOPES):
        return Credential(fw.solo_tokens[(identity, owner)], form=form)
    if identity in USER_OF:
        return Credential(world.user_tokens[USER_OF[identity]], form=form)
    if identity == "token-disabled":
        return Credential(world.scoped_tokens[(identity, "any")], form=form)
    return Credential(world.scoped_tokens[(identity, namespace)], form=form)


# --- observing an action -----------------------------------------------------------------------------------------


def unpack_zst_msgpack(data: bytes) -> Any:
    return msgpack.unpackb(zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 24), raw=False)


def unzst(data: bytes) -> bytes:
    return zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 26)


class Case(Caller):
    TOKEN_BASES = ("/api/repo", "/conda", "/pypi", "/cran")

    def __init__(self, fw: FormatWorld, identity: str, target: Target, cred: Credential) -> None:
        super().__init__(fw.client, identity, target, cred)
        self.fw = fw

    def get(self, path: str, **headers: str) -> httpx.Response:
        return self.request("GET", path, headers=headers)

    def admin_token(self) -> str:
        """A full token of whoever administers the owner's namespace: the user, or otto for the orgs."""
        tokens = self.fw.world.user_tokens
        return tokens.get(self.owner) or self.fw.solo_tokens.get(("owner", self.owner)) or tokens["otto"]

    def stored(self, name: str, version: str) -> bool:
        response = self.client.get(
            f"/api/release/{self.owner}/{name}/{version}", headers=auth_header(self.admin_token())
        )
        return response.status_code == 200

    def leak(self, text: str, names: tuple[str, ...]) -> str | None:
        lowered = text.lower()
        return next((n for n in names if n.lower() in lowered), None)

    @property
    def py_names(self) -> tuple[str, ...]:
        """How the conda/PyPI name can show: as is, and escaped in wheel file names."""
        return (self.target.name, self.target.name.replace("-", "_"))

    @property
    def r_names(self) -> tuple[str, ...]:
        return (self.target.rname,)


def index_answer(
    case: Case,
    response: httpx.Response,
    names: tuple[str, ...],
    present: Callable[[bytes], bool],
    decode: Callable[[bytes], bytes] = lambda b: b,
) -> str:
    """listed / hidden, or the refusal; a package the caller may not see must not show anywhere in the body."""
    if response.status_code != 200:
        observed = answer(response)
        leaked = case.leak(response.text, names)
        return observed + (f", and {leaked!r} leaks in the body" if leaked else "")
    try:
        body = decode(response.content)
        if present(body):
            return "listed"
    except (ValueError, KeyError, TypeError, zstandard.ZstdError, OSError, msgpack.ExtraData) as exc:
        return f"200 with a body that does not parse: {exc!r}"
    leaked = case.leak(body.decode("utf-8", "replace"), names)
    return f"hidden, but {leaked!r} leaks in the body" if leaked else "hidden"


def fetch_answer(response: httpx.Response, check: Callable[[bytes], bool], what: str) -> str:
    if response.status_code == 200 and not check(response.content):
        return f"200 with {what}"
    return answer(response)


# conda -----------------------------------------------------------------------------------------------------------


def conda_has(case: Case) -> Callable[[bytes], bool]:
    def present(body: bytes) -> bool:
        doc = json.loads(body)
        records = {**doc.get("packages", {}), **doc.get("packages.conda", {})}
        record = records.get(case.target.conda_file)
        return record is not None and record.get("name") == case.target.name

    return present


def do_conda_repodata(case: Case) -> str:
    response = case.get(f"/conda/{case.owner}/noarch/repodata.json")
    return index_answer(case, response, case.py_names, conda_has(case))


def do_conda_current(case: Case) -> str:
    response = case.get(f"/conda/{case.owner}/noarch/current_repodata.json")
    return index_answer(case, response, case.py_names, conda_has(case))


def do_conda_zst(case: Case) -> str:
    response = case.get(f"/conda/{case.owner}/noarch/repodata.json.zst")
    return index_answer(case, response, case.py_names, conda_has(case), unzst)


def do_conda_run_exports(case: Case) -> str:
    response = case.get(f"/conda/{case.owner}/noarch/run_exports.json")
    return index_answer(
        case, response, case.py_names, lambda body: case.target.conda_file in json.loads(body)["packages"]
    )


def do_conda_channeldata(case: Case) -> str:
    response = case.get(f"/conda/{case.owner}/channeldata.json")
    return index_answer(
        case,
        response,
        case.py_names,
        lambda body: "noarch" in json.loads(body)["packages"].get(case.target.name, {}).get("subdirs", []),
    )


def do_conda_shard_index(case: Case) -> str:
    response = case.get(f"/conda/{case.owner}/noarch/repodata_shards.msgpack.zst")

    def decode(data: bytes) -> bytes:
        """The decompressed msgpack, followed by its decoded form (names are msgpack strings)."""
        raw = unzst(data)
        return raw + repr(msgpack.unpackb(raw, raw=False)).encode()

    def present(body: bytes) -> bool:
        doc = msgpack.Unpacker(raw=False)
        doc.feed(body)
        return case.target.name in next(doc)["shards"]

    return index_answer(case, response, case.py_names, present, decode)


def do_conda_download(case: Case) -> str:
    response = case.get(f"/conda/{case.owner}/noarch/{case.target.conda_file}")
    return fetch_answer(response, lambda data: data == case.target.conda_bytes, "other bytes")


def do_conda_shard(case: Case) -> str:
    """The shard the owner's shard index names; refused, it must not name the package either (a shard is index)."""
    response = case.get(f"/conda/{case.owner}/noarch/shards/{case.target.shard}.msgpack.zst")
    if response.status_code == 200:
        try:
            doc = unpack_zst_msgpack(response.content)
        except (ValueError, zstandard.ZstdError, msgpack.ExtraData) as exc:
            return f"200 with a shard that does not parse: {exc!r}"
        return (
            "200" if case.target.conda_file in doc.get("packages", {}) else "200 without the package's record"
        )
    leaked = case.leak(response.text, case.py_names)
    return answer(response) + (f", and {leaked!r} leaks in the body" if leaked else "")


# PyPI ------------------------------------------------------------------------------------------------------------

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_ANCHOR = re.compile(rb"<a [^>]*>([^<]*)</a>")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def project_page(case: Case, base: str, accept: str) -> str:
    response = case.get(f"{base}/{case.owner}/simple/{case.target.name}/", accept=accept)

    def has_file(data: bytes) -> bool:
        if accept == SIMPLE_JSON:
            return any(f.get("filename") == case.target.wheel_file for f in json.loads(data).get("files", []))
        return case.target.wheel_file.encode() in data

    return fetch_answer(response, has_file, "a page without the wheel")


def do_pypi_project(case: Case) -> str:
    return project_page(case, "/pypi", "text/html")


def do_pypi_project_json(case: Case) -> str:
    return project_page(case, "/pypi", SIMPLE_JSON)


def do_pypi_repo_project(case: Case) -> str:
    return project_page(case, "/api/repo", "text/html")


def root_html_has(case: Case) -> Callable[[bytes], bool]:
    return lambda body: case.target.name in {normalize(m.decode()) for m in _ANCHOR.findall(body)}


def do_pypi_root(case: Case) -> str:
    response = case.get(f"/pypi/{case.owner}/simple/", accept="text/html")
    return index_answer(case, response, case.py_names, root_html_has(case))


def do_pypi_root_json(case: Case) -> str:
    response = case.get(f"/pypi/{case.owner}/simple/", accept=SIMPLE_JSON)
    return index_answer(
        case,
        response,
        case.py_names,
        lambda body: case.target.name in {normalize(p["name"]) for p in json.loads(body)["projects"]},
    )


def do_pypi_download(case: Case) -> str:
    response = case.get(f"/pypi/{case.owner}/files/{case.target.name}/{case.target.wheel_file}")
    return fetch_answer(response, lambda data: data == case.target.wheel_bytes, "other bytes")


def do_pypi_metadata(case: Case) -> str:
    response = case.get(f"/pypi/{case.owner}/files/{case.target.name}/{case.target.wheel_file}.metadata")
    return fetch_answer(
        response,
        lambda data: data.startswith(b"Metadata-Version:") and f"Name: {case.target.name}\n".encode() in data,
        "something other than the wheel's METADATA",
    )


def do_pypi_json_api(case: Case) -> str:
    response = case.get(f"/pypi/{case.owner}/{case.target.name}/json")
    return fetch_answer(
        response,
        lambda data: (
            normalize(json.loads(data)["info"]["name"]) == case.target.name
            and any(u["filename"] == case.target.wheel_file for u in json.loads(data)["urls"])
        ),
        "another project's document",
    )


def twine_upload(case: Case, path: str) -> str:
    """twine's legacy upload of a new version of the package that collects the upload cases' files."""
    name, version = case.target.uploads, f"2.{next(case.fw.world.counter)}"
    wheel = build_wheel(case.fw.files / case.owner, name=name, version=version)
    data = wheel.read_bytes()
    response = case.request(
        "POST",
        path,
        data={
            ":action": "file_upload",
            "protocol_version": "1",
            "filetype": "bdist_wheel",
            "pyversion": "py3",
            "metadata_version": "2.1",
            "name": name,
            "version": version,
            "md5_digest": hashlib.md5(data).hexdigest(),
            "sha256_digest": hashlib.sha256(data).hexdigest(),
        },
        files={"content": (wheel.name, data, "application/octet-stream")},
    )
    return upload_answer(case, response, name, version)


def upload_answer(case: Case, response: httpx.Response, name: str, version: str) -> str:
    stored = case.stored(name, version)
    if response.status_code == 200 and not stored:
        return "200 but the file is not there"
    if response.status_code != 200 and stored:
        return f"{response.status_code} but the file was stored"
    return answer(response, plain=True)


def do_pypi_upload(case: Case) -> str:
    return twine_upload(case, f"/pypi/{case.owner}/")


def do_pypi_upload_repo(case: Case) -> str:
    return twine_upload(case, f"/api/repo/{case.owner}")


# CRAN ------------------------------------------------------------------------------------------------------------


def packages_has(case: Case) -> Callable[[bytes], bool]:
    pattern = re.compile(rb"^Package: " + re.escape(case.target.rname.encode()) + rb"$", re.MULTILINE)
    return lambda body: pattern.search(body) is not None


def do_cran_packages(case: Case) -> str:
    response = case.get(f"/cran/{case.owner}/src/contrib/PACKAGES")
    return index_answer(case, response, case.r_names, packages_has(case))


def do_cran_packages_gz(case: Case) -> str:
    response = case.get(f"/cran/{case.owner}/src/contrib/PACKAGES.gz")
    return index_answer(case, response, case.r_names, packages_has(case), gzip.decompress)


def do_cran_repo_packages(case: Case) -> str:
    response = case.get(f"/api/repo/{case.owner}/cran/src/contrib/PACKAGES")
    return index_answer(case, response, case.r_names, packages_has(case))


def do_cran_download(case: Case) -> str:
    response = case.get(f"/cran/{case.owner}/src/contrib/{case.target.r_file}")
    return fetch_answer(response, lambda data: data == case.target.r_bytes, "other bytes")


def do_cran_upload(case: Case) -> str:
    """`curl -F filetype=cran_source_package -F content=@PKG_VER.tar.gz .../api/repo/OWNER`: a new version."""
    name, version = case.target.uploads, f"1.{next(case.fw.world.counter)}"
    path = build_r_source(case.fw.files / case.owner, name=name, version=version)
    response = case.request(
        "POST",
        f"/api/repo/{case.owner}",
        data={"filetype": "cran_source_package"},
        files={"content": (path.name, path.read_bytes(), "application/gzip")},
    )
    return upload_answer(case, response, name, version)


# The `*-alone` actions read the solo namespace's copy of the target (the Case is built on it).
ACTIONS: dict[str, tuple[str, str, Callable[[Case], str]]] = {
    "conda-repodata": ("conda", LISTING, do_conda_repodata),
    "conda-current-repodata": ("conda", LISTING, do_conda_current),
    "conda-repodata-zst": ("conda", LISTING, do_conda_zst),
    "conda-run-exports": ("conda", LISTING, do_conda_run_exports),
    "conda-channeldata": ("conda", LISTING, do_conda_channeldata),
    "conda-shard-index": ("conda", LISTING, do_conda_shard_index),
    "conda-download": ("conda", FETCH, do_conda_download),
    "conda-shard": ("conda", FETCH, do_conda_shard),
    "conda-alone": ("conda", ALONE, do_conda_repodata),
    "pypi-project": ("pypi", FETCH, do_pypi_project),
    "pypi-project-json": ("pypi", FETCH, do_pypi_project_json),
    "pypi-repo-project": ("pypi", FETCH, do_pypi_repo_project),
    "pypi-root": ("pypi", LISTING, do_pypi_root),
    "pypi-root-json": ("pypi", LISTING, do_pypi_root_json),
    "pypi-download": ("pypi", FETCH, do_pypi_download),
    "pypi-metadata": ("pypi", FETCH, do_pypi_metadata),
    "pypi-json-api": ("pypi", FETCH, do_pypi_json_api),
    "pypi-upload": ("pypi", UPLOAD, do_pypi_upload),
    "pypi-upload-repo": ("pypi", UPLOAD, do_pypi_upload_repo),
    "pypi-alone": ("pypi", ALONE, do_pypi_root),
    "cran-packages": ("cran", LISTING, do_cran_packages),
    "cran-packages-gz": ("cran", LISTING, do_cran_packages_gz),
    "cran-repo-packages": ("cran", LISTING, do_cran_repo_packages),
    "cran-download": ("cran", FETCH, do_cran_download),
    "cran-upload": ("cran", UPLOAD, do_cran_upload),
    "cran-alone": ("cran", ALONE, do_cran_packages),
}
MATRIX = MatrixCases(tuple(ACTIONS), FORMS)
CASES = MATRIX.params()


@pytest.mark.parametrize(("identity", "column", "action"), CASES)
def test_format_matrix(fw: FormatWorld, identity: str, column: str, action: str) -> None:
    family, kind, do = ACTIONS[action]
    access, namespace = column.split("-")
    place = "solo" if kind == ALONE else "main"
    check_setup(fw, namespace, identity)
    if place == "solo":
        check_setup(fw, solo_owner(access, namespace))
    target = fw.targets[(column, place)]
    cred = credential(fw, identity, namespace, target.owner, MATRIX.form(identity, column, action))
    observed = do(Case(fw, identity, target, cred))
    want = expected(TABLES[family][identity][column], kind, identity)
    assert observed == want, (
        f"{identity} {action} on {target.owner}/{target.name} ({cred.form}): got {observed}, want {want}"
    )


def test_the_format_matrix_is_big_enough() -> None:
    assert len(CASES) >= 1000
    assert {case.id.rsplit("@", 1)[1] for case in CASES} == {*FORMS, "none"}


# --- scopes, one interface at a time -------------------------------------------------------------------------------

# What a token of olivia's with one scope may do with her own private package through each protocol (she may do
# anything with it, so the scope alone decides): the "Tokens" table of docs/security.md.
#                  conda  PyPI   PyPI     CRAN
#                         read   upload
SCOPES_TABLE = """
all                A      A      A        A
api                -      -      -        -       the REST API only
api:read           -      -      -        -
api:write          -      -      -        -
conda              W      -      -        -       conda channels (and the REST API)
conda:download     R      -      -        -
pypi               -      W      W        -       PyPI (and the REST API)
pypi:download      -      R      R        -
pypi:upload        -      -      W        -       PyPI upload (twine) only
cran               -      -      -        W       CRAN (and the REST API)
cran:download      -      -      -        R
repos              R      R      R        R       reading, everywhere
repo               R      R      R        R       the same as repos
"""
SCOPE_COLUMNS = ("conda", "pypi", "pypi-upload", "cran")
SCOPE_LEVELS = {
    scope: dict(zip(SCOPE_COLUMNS, cells[: len(SCOPE_COLUMNS)], strict=True))
    for scope, *cells in (line.split() for line in SCOPES_TABLE.strip().splitlines())
}
SCOPE_ACTIONS = {
    "conda-repodata": "conda",
    "conda-download": "conda",
    "conda-shard": "conda",
    "pypi-project": "pypi",
    "pypi-root": "pypi",
    "pypi-download": "pypi",
    "pypi-upload": "pypi-upload",
    "pypi-upload-repo": "pypi-upload",
    "cran-packages": "cran",
    "cran-download": "cran",
    "cran-upload": "cran",
}


@pytest.mark.parametrize(("scope", "action"), scope_cases(tuple(SCOPE_LEVELS), tuple(SCOPE_ACTIONS), FORMS))
def test_scopes_through_the_protocols(
    fw: FormatWorld, scope: str, action: str, request: pytest.FixtureRequest
) -> None:
    check_setup(fw, "user")
    if scope not in fw.scope_tokens:
        fw.scope_tokens[scope] = create_token(fw.client, "olivia", f"scope={scope}", scopes=[scope])
    form = request.node.callspec.id.rsplit("@", 1)[1]
    _, kind, do = ACTIONS[action]
    observed = do(
        Case(fw, "scope", fw.targets[("private-user", "main")], Credential(fw.scope_tokens[scope], form=form))
    )
    cell = SCOPE_LEVELS[scope][SCOPE_ACTIONS[action]]
    if kind == UPLOAD:
        want = "200" if cell in "WA" else "403" if cell in READS else "404"
    elif kind == LISTING:
        want = "listed" if cell in READS else "hidden"
    else:
        want = "200" if cell in READS else "404"
    assert observed == want, f"a {scope} token: {action} got {observed}, want {want}"


# --- an organization's token, and a disabled user signing in with the password ------------------------------------

# The table is matrix_support.ORG_TOKEN_TABLE. Through the protocols, otto's namespace holds only private packages,
# so its indexes answer 403 to the org token.
ORG_ACTIONS = (
    "conda-repodata",
    "conda-channeldata",
    "conda-download",
    "conda-shard",
    "pypi-project",
    "pypi-root",
    "pypi-download",
    "pypi-upload",
    "pypi-upload-repo",
    "cran-packages",
    "cran-download",
    "cran-upload",
)


@pytest.mark.parametrize(("identity", "column", "action"), org_cases(ORG_ACTIONS, FORMS))
def test_org_token_and_disabled_user(
    fw: FormatWorld, identity: str, column: str, action: str, request: pytest.FixtureRequest
) -> None:
    check_setup(fw, "user", "org", "otto", "token-disabled")
    _, kind, do = ACTIONS[action]
    target = fw.targets[(column, "main")]
    if identity == "org-token":
        cred = Credential(fw.org_token, form=request.node.callspec.id.rsplit("@", 1)[1])
    else:
        cred = Credential(password=("gone", PASSWORD))
    if column == "private-otto" and kind == LISTING:
        kind = ALONE  # otto's namespace holds only private packages
    observed = do(Case(fw, identity, target, cred))
    want = expected(ORG_ROWS[identity][column], kind, identity)
    assert observed == want, (
        f"{identity} {action} on {target.owner}/{target.name}: got {observed}, want {want}"
    )


def test_otto_himself_may_read_his_private_package(fw: FormatWorld) -> None:
    """The control for the org-token row: the `-` in its last column comes from the token, not from otto."""
    check_setup(fw, "otto")
    target = fw.targets[("private-otto", "main")]
    otto = Credential(fw.world.user_tokens["otto"], form="token")
    assert do_conda_repodata(Case(fw, "org-owner", target, otto)) == "listed"
    assert do_pypi_project(Case(fw, "org-owner", target, otto)) == "200"
    assert do_cran_download(Case(fw, "org-owner", target, otto)) == "200"


def test_the_disabled_user_is_refused_for_being_disabled(fw: FormatWorld) -> None:
    """The disabled-password row answers 401 because gone is disabled, not because the password is wrong: a wrong
    one would be recorded as a failed login (and the eleventh would answer 429)."""
    from sqlalchemy import func, select

    from packyard.core.models import LoginFailure

    check_setup(fw, "user", "token-disabled")
    target = fw.targets[("public-user", "main")]
    observed = do_conda_repodata(
        Case(fw, "disabled-password", target, Credential(password=("gone", PASSWORD)))
    )
    assert observed == "401"
    with fw.world.db.read() as session:
        failures = session.scalar(
            select(func.count()).select_from(LoginFailure).where(LoginFailure.login_key == "gone")
        )
    assert failures == 0
