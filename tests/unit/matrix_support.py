"""The world the permission matrix runs against, built once per module through the REST API (in-process).

Logins, by the role they play in the matrix:

    olivia   owns the user namespace `olivia` (and the org `olivia-co`, so she has somewhere to transfer to)
    sam      unrelated to everything
    cora     collaborator on every target package
    otto     created the org `acme`: an owner (member of `owners`)
    rita     acme/readers (read)        rex   acme/other-readers (read)
    wendy    acme/writers (write)       walt  acme/other-writers (write)
    ada      acme/admins (admin)        abe   acme/other-admins (admin)
    gone     collaborator on every target and member of acme/admins, then disabled
    spare    nobody; the collaborator the `collaborators` cases try to add

readers/writers/admins list every target package of acme; the other-* groups list only `decoy`.
Targets: `pkg-{access}-{user|org}` for access in public, authenticated, private, each with one file (1.0).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from packyard.core import auth as auth_module
from packyard.core.db import Database
from tests.unit.api.helpers import post_form

PASSWORD = "matrix-password-1"
ACCESSES = ("public", "authenticated", "private")
NAMESPACES = ("user", "org")
NAMESPACE_LOGIN = {"user": "olivia", "org": "acme"}
NAMESPACE_ADMIN = {"user": "olivia", "org": "otto"}
"""Whose tokens the token-* identities are, and who sets up (and inspects) the namespace's packages."""

USER_OF = {
    "owner": "olivia",
    "stranger": "sam",
    "collaborator": "cora",
    "org-owner": "otto",
    "readers-listed": "rita",
    "readers-unlisted": "rex",
    "writers-listed": "wendy",
    "writers-unlisted": "walt",
    "admins-listed": "ada",
    "admins-unlisted": "abe",
}
TOKEN_SCOPES = {
    "token-all": ["all"],
    "token-api-read": ["api:read"],
    "token-conda-download": ["conda:download"],
    "token-pypi-upload": ["pypi:upload"],
}
INVALID_TOKENS = ("token-expired", "token-removed", "token-disabled")
IDENTITIES = ("anonymous", *USER_OF, *TOKEN_SCOPES, *INVALID_TOKENS)

GROUPS = {
    "readers": ("read", "rita"),
    "writers": ("write", "wendy"),
    "admins": ("admin", "ada"),
    "other-readers": ("read", "rex"),
    "other-writers": ("write", "walt"),
    "other-admins": ("admin", "abe"),
}
LISTING_GROUPS = ("readers", "writers", "admins")


def target_name(access: str, namespace: str) -> str:
    return f"pkg-{access}-{namespace}"


class SetupError(AssertionError):
    pass


def expect(response: httpx.Response, *statuses: int, what: str) -> httpx.Response:
    if response.status_code not in statuses:
        raise SetupError(
            f"setup: {what} answered {response.status_code} (wanted {statuses}): {response.text[:300]}"
        )
    return response


@dataclass
class World:
    client: TestClient
    db: Database
    user_tokens: dict[str, str] = field(default_factory=dict)
    """A full-access token of every user, by login."""
    scoped_tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    """(identity, namespace) -> the token of NAMESPACE_ADMIN[namespace] that identity uses."""
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    problems: dict[str, str] = field(default_factory=dict)
    """What could not be set up, by namespace ("user", "org") or identity ("token-disabled"): those cases fail."""
    pristine: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    """(kind, namespace, access) -> packages ("package") or file versions ("file") still exactly as set up.

    A mutating case takes one; a refused case that provably changed nothing gives it back for the next case, so
    only the cases that succeed (and change things) cost a new package or file."""

    # --- credentials ---------------------------------------------------------------------------------------

    def headers(self, identity: str, namespace: str) -> dict[str, str]:
        if identity == "anonymous":
            return {}
        if identity in USER_OF:
            return auth_header(self.user_tokens[USER_OF[identity]])
        if identity == "token-disabled":
            return auth_header(self.scoped_tokens[(identity, "any")])
        return auth_header(self.scoped_tokens[(identity, namespace)])

    def admin(self, namespace: str) -> dict[str, str]:
        """Full credentials of whoever administers the namespace (to set up and inspect)."""
        return auth_header(self.user_tokens[NAMESPACE_ADMIN[namespace]])

    def login_of(self, identity: str, namespace: str) -> str | None:
        if identity == "anonymous":
            return None
        if identity in USER_OF:
            return USER_OF[identity]
        if identity == "token-disabled":
            return "gone"
        return NAMESPACE_ADMIN[namespace]

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self.counter)}"

    def take(self, kind: str, namespace: str, access: str, target: str) -> str:
        pool = self.pristine.setdefault((kind, namespace, access), [])
        if pool:
            return pool.pop()
        if kind == "package":
            return self.make_package(namespace, access, self.unique("fresh"))
        version = self.unique("r")
        self.add_file(namespace, target, version)
        return version

    def give_back(self, kind: str, namespace: str, access: str, name: str) -> None:
        self.pristine.setdefault((kind, namespace, access), []).append(name)

    # --- packages and files --------------------------------------------------------------------------------

    def make_package(
        self, namespace: str, access: str, name: str, *, collaborators: tuple[str, ...] = ("cora",)
    ) -> str:
        """A package configured like the targets: same access, collaborators and (in acme) group lists."""
        owner = NAMESPACE_LOGIN[namespace]
        admin = self.admin(namespace)
        expect(
            self.client.post(
                f"/api/package/{owner}/{name}",
                headers=admin,
                json={"public": access == "public", "public_attrs": {"summary": "matrix package"}},
            ),
            200,
            what=f"create {owner}/{name}",
        )
        if access == "authenticated":
            expect(
                self.client.patch(f"/api/package/{owner}/{name}", headers=admin, json={"access": access}),
                200,
                what=f"make {owner}/{name} authenticated",
            )
        for login in collaborators:
            expect(
                self.client.put(f"/api/packages/{owner}/{name}/collaborators/{login}", headers=admin),
                201,
                what=f"add collaborator {login} to {owner}/{name}",
            )
        if namespace == "org":
            for group in LISTING_GROUPS:
                expect(
                    self.client.put(f"/api/group/{owner}/{group}/packages/{name}", headers=admin),
                    204,
                    what=f"list {name} in acme/{group}",
                )
        return name

    def add_file(self, namespace: str, name: str, version: str) -> str:
        """Upload a new file to an existing package as the namespace's administrator; returns its basename."""
        basename = f"{name}-{version}.txt"
        response = self.upload(self.admin(namespace), NAMESPACE_LOGIN[namespace], name, version, basename)
        expect(response, 200, what=f"upload {basename}")
        return basename

    def upload(
        self, headers: dict[str, str], owner: str, name: str, version: str, basename: str
    ) -> httpx.Response:
        """stage -> form POST -> commit; returns the first refusal, or the commit's answer."""
        data = file_bytes(owner, name, version, basename)
        path = f"{owner}/{name}/{version}/{quote(basename)}"
        staged = self.client.post(
            f"/api/stage/{path}",
            headers=headers,
            json={
                "distribution_type": "file",
                "attrs": {},
                "channels": [],
                "sha256": hashlib.sha256(data).hexdigest(),
            },
        )
        if staged.status_code != 200:
            return staged
        posted = post_form(self.client, staged.json(), data, basename)
        if posted.status_code != 201:
            return posted
        return self.client.post(
            f"/api/commit/{path}", headers=headers, json={"dist_id": staged.json()["dist_id"]}
        )

    def file_exists(self, namespace: str, name: str, version: str, basename: str) -> bool:
        owner = NAMESPACE_LOGIN[namespace]
        response = self.client.get(
            f"/api/dist/{owner}/{name}/{version}/{basename}", headers=self.admin(namespace)
        )
        return response.status_code == 200


def file_bytes(owner: str, name: str, version: str, basename: str) -> bytes:
    return f"{owner}/{name}/{version}/{basename}\n".encode()


def auth_header(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def create_token(client: TestClient, login: str, note: str, **body: Any) -> str:
    response = expect(
        client.post("/api/authentications", auth=(login, PASSWORD), json={"note": note, **body}),
        200,
        what=f"token {note} for {login}",
    )
    return response.json()["token"]


def build_world(client: TestClient, db: Database) -> World:
    from packyard.core.services.accounts import create_user

    world = World(client, db)
    users = (*dict.fromkeys(USER_OF.values()), "gone", "spare")
    for login in users:
        create_user(db, login, PASSWORD, name=login.title())
    for login in users[:-1]:
        world.user_tokens[login] = create_token(client, login, "matrix")
    # The tokens of the token-* identities: olivia's for the user namespace, otto's for acme.
    for namespace in NAMESPACES:
        login = NAMESPACE_ADMIN[namespace]
        for identity, scopes in TOKEN_SCOPES.items():
            world.scoped_tokens[(identity, namespace)] = create_token(
                client, login, f"matrix-{identity}", scopes=scopes
            )
        world.scoped_tokens[("token-expired", namespace)] = create_token(
            client, login, "matrix-expiring", **{"max-age": 1}
        )
        world.scoped_tokens[("token-removed", namespace)] = create_token(client, login, "matrix-removed")
        expect(
            client.delete(
                "/api/authentications/name/matrix-removed", headers=auth_header(world.user_tokens[login])
            ),
            201,
            what=f"remove {login}'s token",
        )
    expired_after = time.monotonic() + 1.5
    world.scoped_tokens[("token-disabled", "any")] = world.user_tokens["gone"]

    for namespace in NAMESPACES:
        try:
            _build_namespace(world, namespace)
        except AssertionError as exc:
            world.problems[namespace] = str(exc)

    try:
        from packyard.core.services.accounts import set_disabled

        set_disabled(db, "gone", True)
    except Exception as exc:  # reported by every token-disabled case
        world.problems["token-disabled"] = f"setup: disabling gone failed: {exc!r}"
    time.sleep(max(0.0, expired_after - time.monotonic()))
    return world


def _build_namespace(world: World, namespace: str) -> None:
    client = world.client
    if namespace == "org":
        otto = auth_header(world.user_tokens["otto"])
        response = expect(
            client.post("/api/orgs/acme", headers=otto, json={"name": "Acme"}), 201, what="create acme"
        )
        if response.json().get("user_type") != "org":
            raise SetupError(f"setup: the org object has user_type {response.json().get('user_type')!r}")
        for group, (perms, member) in GROUPS.items():
            expect(
                client.post(f"/api/group/acme/{group}", headers=otto, json={"perms": perms}),
                204,
                what=f"group {group}",
            )
            expect(
                client.put(f"/api/group/acme/{group}/members/{member}", headers=otto),
                204,
                what=f"{member} in {group}",
            )
        expect(client.put("/api/group/acme/admins/members/gone", headers=otto), 204, what="gone in admins")
        expect(
            client.post("/api/package/acme/decoy", headers=otto, json={"public": False}),
            200,
            what="create acme/decoy",
        )
        for group in ("other-readers", "other-writers", "other-admins"):
            expect(
                client.put(f"/api/group/acme/{group}/packages/decoy", headers=otto),
                204,
                what=f"decoy in {group}",
            )
    else:
        olivia = auth_header(world.user_tokens["olivia"])
        expect(
            client.post("/api/orgs/olivia-co", headers=olivia, json={"name": "Olivia & Co"}),
            201,
            what="olivia-co",
        )
    for access in ACCESSES:
        name = world.make_package(
            namespace, access, target_name(access, namespace), collaborators=("cora", "gone")
        )
        world.add_file(namespace, name, "1.0")


# --- what the matrix test modules share: the tables, the credentials, reading an answer ---------------------------

COLUMNS = tuple(f"{access}-{namespace}" for namespace in NAMESPACES for access in ACCESSES)
READS = frozenset("RWA")


def parse_table(
    text: str,
    columns: tuple[str, ...],
    rows: tuple[str, ...] = IDENTITIES,
    cells: tuple[str, ...] = ("-", "R", "W", "A", "x"),
) -> dict[str, dict[str, str]]:
    """A table of `identity cell cell ... comment` lines: one row per identity, in order, one cell per column."""
    table = {}
    for line in text.strip().splitlines():
        identity, *values = line.split()
        table[identity] = dict(zip(columns, values[: len(columns)], strict=True))
    assert tuple(table) == rows, "the tables must have one row per identity, in order"
    assert all(cell in cells for row in table.values() for cell in row.values())
    return table


def refused(identity: str) -> str:
    return "401" if identity == "anonymous" else "403"


def hidden(identity: str, *, asks: bool = True) -> str:
    """A package the identity may not see answers as a missing name (tests/unit/test_no_enumeration.py): 401 to
    anonymous callers of a package manager's index (`asks`), so that the client sends credentials, else 404."""
    return "401" if identity == "anonymous" and asks else "404"


def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: a world signs in ~40 times to make tokens, and the matrices are not about hashing."""
    monkeypatch.setattr(auth_module, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


@dataclass(frozen=True)
class Credential:
    token: str | None = None
    password: tuple[str, str] | None = None
    """(login, password) sent as HTTP Basic."""
    form: str = "none"
    """How a token travels: `path` (/t/TOKEN/), `basic` (TOKEN:x-auth-token), `token` or `bearer` headers."""


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def answer(response: httpx.Response, *, plain: bool = False) -> str:
    """The status, plus what is wrong with a refusal's shape (JSON {"error"}; plain text for uploads)."""
    status = response.status_code
    if status == 401 and not response.headers.get("www-authenticate", "").lower().startswith("basic"):
        return "401 without WWW-Authenticate: Basic"
    if status >= 400:
        if plain:
            has_error = bool(response.text.strip())
        else:
            try:
                has_error = bool(response.json().get("error"))
            except ValueError:
                has_error = False
        if not has_error:
            return f"{status} without an error message"
    return str(status)


class Caller:
    """One identity acting on one target with one credential: every request carries the credential."""

    TOKEN_BASES: tuple[str, ...] = ()
    """URL spaces whose token goes after their base (`/conda/t/TOKEN/...`); elsewhere a leading `/t/TOKEN/`."""

    def __init__(self, client: TestClient, identity: str, target: Any, cred: Credential) -> None:
        self.client = client
        self.identity = identity
        self.target = target
        self.owner = target.owner
        self.cred = cred

    def with_path_token(self, path: str, token: str) -> str:
        for base in self.TOKEN_BASES:
            if path.startswith(base + "/"):
                return f"{base}/t/{token}{path[len(base) :]}"
        return f"/t/{token}{path}"

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        headers = dict(headers or {})
        cred = self.cred
        if cred.password is not None:
            headers["Authorization"] = basic(*cred.password)
        elif cred.token is not None:
            if cred.form == "path":
                path = self.with_path_token(path, cred.token)
            elif cred.form == "basic":
                headers["Authorization"] = basic(cred.token, "x-auth-token")
            elif cred.form == "token":
                headers["Authorization"] = f"token {cred.token}"
            elif cred.form == "bearer":
                headers["Authorization"] = f"Bearer {cred.token}"
            else:
                raise AssertionError(f"unknown credential form {cred.form}")
        return self.client.request(method, path, headers=headers, **kw)


@dataclass(frozen=True)
class MatrixCases:
    """Every (identity, column, action) of a matrix, each with the credential form it uses (`@form` in its id)."""

    actions: tuple[str, ...]
    forms: tuple[str, ...]

    def form(self, identity: str, column: str, action: str) -> str:
        """Rotate the credential forms so that each identity, package and action meets all of them."""
        if identity == "anonymous":
            return "none"
        i = IDENTITIES.index(identity) + COLUMNS.index(column) + self.actions.index(action)
        return self.forms[i % len(self.forms)]

    def params(self) -> list[Any]:
        return [
            pytest.param(
                identity,
                column,
                action,
                id=f"{column}/{identity}/{action}@{self.form(identity, column, action)}",
            )
            for column in COLUMNS
            for identity in IDENTITIES
            for action in self.actions
        ]


def scope_cases(scopes: Sequence[str], actions: Sequence[str], forms: Sequence[str]) -> list[Any]:
    """(scope, action) for a token of olivia's with only that scope, acting on her private package."""
    pairs = [(scope, action) for scope in scopes for action in actions]
    return [
        pytest.param(scope, action, id=f"private-user/scope={scope}/{action}@{forms[i % len(forms)]}")
        for i, (scope, action) in enumerate(pairs)
    ]


# `anaconda auth --create --org acme` (by otto) acts as otto inside acme only; elsewhere it is just a valid token,
# which reads public and `authenticated` packages. gone signing in with the password is refused everywhere (401),
# even for public things. The last column is otto's own private package: otto may do anything with it, his acme
# token nothing.
#                          user namespace      org namespace     otto's own
#                          pub  auth priv      pub  auth priv    priv
ORG_TOKEN_TABLE = """
org-token                  R    R    -         A    A    A       -
disabled-password          x    x    x         x    x    x       x
"""
ORG_COLUMNS = (*COLUMNS, "private-otto")
ORG_ROWS = parse_table(ORG_TOKEN_TABLE, ORG_COLUMNS, ("org-token", "disabled-password"))


def org_cases(actions: Sequence[str], forms: Sequence[str]) -> list[Any]:
    """(identity, column, action) for the org token (forms rotated) and gone's password (always Basic)."""
    triples = [
        (identity, column, action) for identity in ORG_ROWS for column in ORG_COLUMNS for action in actions
    ]
    return [
        pytest.param(
            identity,
            column,
            action,
            id=f"{column}/{identity}/{action}@"
            + ("basic" if identity == "disabled-password" else forms[i % len(forms)]),
        )
        for i, (identity, column, action) in enumerate(triples)
    ]


# --- kinds of credential, for the matrices of what a credential may do with tokens and the account ----------------

ALL_SCOPES = (
    "all",
    "api",
    "api:read",
    "api:write",
    "conda",
    "conda:download",
    "pypi",
    "pypi:download",
    "pypi:upload",
    "cran",
    "cran:download",
    "repos",
    "repo",
)
"""Every scope GET /api/scopes lists (test_every_scope_is_in_the_tables keeps this true)."""

CREDENTIAL_KINDS: dict[str, dict[str, Any]] = {
    "anonymous": {},
    "password": {},
    "token-expiring": {"scopes": ["all"], "max-age": 3600},
    **{f"scope={scope}": {"scopes": [scope]} for scope in ALL_SCOPES},
    "org-token": {"scopes": ["all"], "org": True},
    "org-token-api": {"scopes": ["api"], "org": True},
    "org-token-conda": {"scopes": ["conda"], "org": True},
}
"""How each kind of credential is made, by its holder's full token: `scopes`, `max-age`, and `org` (a token
`anaconda auth --create --org ORG` makes for an organization the holder owns)."""


def make_credential(client: TestClient, full_token: str, login: str, kind: str, org: str) -> dict[str, str]:
    """Fresh headers of one kind for `login` (whose full-access token is `full_token`); org tokens are for `org`."""
    if kind == "anonymous":
        return {}
    if kind == "password":
        return {"Authorization": basic(login, PASSWORD)}
    spec = CREDENTIAL_KINDS[kind]
    body: dict[str, Any] = {"note": f"kind-{kind}-{time.monotonic_ns()}", "scopes": spec["scopes"]}
    if "max-age" in spec:
        body["max-age"] = spec["max-age"]
    if spec.get("org"):
        body["user"] = org
    response = expect(
        client.post("/api/authentications", headers=auth_header(full_token), json=body),
        200,
        what=f"a {kind} token for {login}",
    )
    return auth_header(response.json()["token"])
