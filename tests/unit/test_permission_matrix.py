"""Who may do what: every identity x every kind of package x every action, against one world built once.

The expected outcomes are written out by hand below (LEVELS_TABLE, CREATE_TABLE, NEEDS, and further down
SCOPES_TABLE and GROUPS_TABLE) from the access rules of issue #3; nothing here asks packyard.core.permissions.
The world (users, the org `acme`, its groups, the target packages, the tokens) is described in
tests/unit/matrix_support.py. An action that changes things works on a file or a package of its own, configured
like the target; a refused case that provably changed nothing hands it on to the next case, so only successes
cost a new one. The cases are independent of each other and of their order.

Case ids read `private-org/readers-listed/download`: package, identity, action.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import migrate
from packyard.core.db import Database
from tests.builders import build_conda, build_r_source, build_wheel
from tests.conftest import ADMIN_PASSWORD
from tests.unit.api.helpers import post_form
from tests.unit.matrix_support import (
    ACCESSES,
    ALL_SCOPES,
    COLUMNS,
    CREDENTIAL_KINDS,
    IDENTITIES,
    NAMESPACE_LOGIN,
    NAMESPACES,
    PASSWORD,
    USER_OF,
    World,
    auth_header,
    build_world,
    create_token,
    expect,
    file_bytes,
    make_credential,
    parse_table,
    refused,
    target_name,
)

# --- the rules ---------------------------------------------------------------------------------------------------

# What each identity may do with each target package: - nothing, R read, W write, A admin, x the credential itself
# is refused (401 on every request, even for public packages). The user-namespace packages are olivia's ("owner");
# the org ones are acme's. token-* are olivia's tokens for her packages and otto's (the org owner's) for acme's.
#
#                          user namespace      org namespace
#                          pub  auth priv      pub  auth priv
LEVELS_TABLE = """
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
token-all                  A    A    A         A    A    A      all: everything the user has
token-api-read             R    R    R         R    R    R      read through the REST API
token-conda-download       R    R    R         R    R    R      read through conda and the REST API
token-pypi-upload          R    -    -         R    -    -      PyPI uploads only; public reads need no scope
token-expired              x    x    x         x    x    x
token-removed              x    x    x         x    x    x
token-disabled             x    x    x         x    x    x      gone (collaborator, acme/admins) is disabled
"""

# Who may create a package in the namespace (upload a new package with `anaconda upload -u NAMESPACE`).
#                          user org
CREATE_TABLE = """
anonymous                  -    -
owner                      yes  -      her own namespace
stranger                   -    -
collaborator               -    -      collaborating on packages gives nothing on the namespace
org-owner                  -    yes
readers-listed             -    -      read groups: no
readers-unlisted           -    -
writers-listed             -    yes    write and admin groups: yes, whatever their package lists
writers-unlisted           -    yes
admins-listed              -    yes
admins-unlisted            -    yes
token-all                  yes  yes
token-api-read             -    -
token-conda-download       -    -
token-pypi-upload          -    -      not through the REST API
token-expired              x    x
token-removed              x    x
token-disabled             x    x
"""

LEVEL = {"-": 0, "R": 1, "W": 2, "A": 3}
NEEDS = {
    # READ
    "read": "R",
    "list": "R",
    "search": "R",
    "channel": "R",
    "download": "R",
    # WRITE
    "upload": "W",
    "remove": "W",
    "labels": "W",
    # ADMIN
    "access": "A",
    "collaborators": "A",
    "transfer": "A",
    "delete": "A",
}
LISTINGS = ("list", "search", "channel")
"""Answer 200 to every valid credential; the package is in the answer exactly when the caller may read it."""
SUCCESS = {
    "read": "200",
    "download": "200",
    "upload": "200",
    "remove": "200",
    "labels": "201",
    "access": "200",
    "collaborators": "201",
    "transfer": "200",
    "delete": "201",
    "create": "200",
}
LEVELS = parse_table(LEVELS_TABLE, COLUMNS)
CREATE_RIGHTS = parse_table(CREATE_TABLE, NAMESPACES, cells=("-", "yes", "x"))


def expected(identity: str, column: str, action: str) -> str:
    level = LEVELS[identity][column]
    if level == "x":
        return "401"
    if action in LISTINGS:
        return "listed" if LEVEL[level] >= LEVEL["R"] else "hidden"
    if (
        LEVEL[level] < LEVEL["R"]
    ):  # may not know it exists: answered as a missing name (test_no_enumeration.py)
        return "401" if identity == "anonymous" and LEVEL[NEEDS[action]] > LEVEL["R"] else "404"
    return SUCCESS[action] if LEVEL[level] >= LEVEL[NEEDS[action]] else refused(identity)


def hidden_or_403(level: str) -> str:
    """A refusal: 404 when the credential may not even read the package (it must not learn that it exists,
    tests/unit/test_no_enumeration.py), else 403."""
    return "404" if LEVEL[level] < LEVEL["R"] else "403"


def expected_create(identity: str, namespace: str) -> str:
    right = CREATE_RIGHTS[identity][namespace]
    if right == "x":
        return "401"
    return SUCCESS["create"] if right == "yes" else refused(identity)


# --- the world ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data: Path = tmp_path_factory.mktemp("matrix") / "data"
    data.mkdir()
    settings = Settings(data=data, admin_password=ADMIN_PASSWORD, base_url="http://testserver")
    migrate.upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    with TestClient(create_app(settings, db=db), raise_server_exceptions=False) as client:
        yield build_world(client, db)
    db.dispose()


def check_setup(world: World, identity: str, namespace: str) -> None:
    for key in (namespace, identity):
        if key in world.problems:
            pytest.fail(world.problems[key], pytrace=False)


# --- observing an action -----------------------------------------------------------------------------------------


def answer(response: httpx.Response) -> str:
    """The status, plus what is wrong with a refusal's shape."""
    status = response.status_code
    if status == 401 and not response.headers.get("www-authenticate", "").lower().startswith("basic"):
        return "401 without WWW-Authenticate: Basic"
    if status >= 400:
        try:
            has_error = bool(response.json().get("error"))
        except ValueError:
            has_error = False
        if not has_error:
            return f"{status} without an error message"
    return str(status)


class Case:
    def __init__(self, world: World, identity: str, access: str, namespace: str) -> None:
        self.world = world
        self.client = world.client
        self.identity = identity
        self.namespace = namespace
        self.access = access
        self.owner = NAMESPACE_LOGIN[namespace]
        self.name = target_name(access, namespace)
        self.headers = world.headers(identity, namespace)
        self.admin = world.admin(namespace)

    def fresh(self) -> str:
        """A package configured like the target (access, collaborator, group lists) that no case changed."""
        return self.world.take("package", self.namespace, self.access, self.name)

    def unchanged(self, kind: str, name: str) -> None:
        """The case was refused and changed nothing: the package (or file version) may serve the next case."""
        self.world.give_back(kind, self.namespace, self.access, name)

    def admin_get(self, path: str) -> httpx.Response:
        return self.client.get(path, headers=self.admin)


def listing(case: Case, response: httpx.Response, present: Callable[[object], bool]) -> str:
    """listed / hidden; and a package the structure does not show must not appear anywhere in the body."""
    if response.status_code != 200:
        return answer(response)
    if present(response.json()):
        return "listed"
    if case.name in response.text:
        return f"hidden, but {case.name!r} leaks in the body"
    return "hidden"


def do_read(case: Case) -> str:
    response = case.client.get(f"/api/package/{case.owner}/{case.name}", headers=case.headers)
    if response.status_code == 200 and response.json().get("full_name") != f"{case.owner}/{case.name}":
        return f"200 with {response.json().get('full_name')!r}"
    return answer(response)


def do_list(case: Case) -> str:
    response = case.client.get(f"/api/packages/{case.owner}", headers=case.headers)
    return listing(case, response, lambda body: any(p.get("name") == case.name for p in body))


def do_search(case: Case) -> str:
    response = case.client.get("/api/search", params={"name": case.name}, headers=case.headers)
    full = f"{case.owner}/{case.name}"
    return listing(case, response, lambda body: any(p.get("full_name") == full for p in body))


def do_channel(case: Case) -> str:
    response = case.client.get(f"/api/channels/{case.owner}/main", headers=case.headers)
    prefix = f"{case.owner}/{case.name}/"
    return listing(
        case,
        response,
        lambda body: any(f.get("full_name", "").startswith(prefix) for f in body.get("files", [])),
    )


def do_download(case: Case) -> str:
    basename = f"{case.name}-1.0.txt"
    response = case.client.get(f"/api/download/{case.owner}/{case.name}/1.0/{basename}", headers=case.headers)
    if response.status_code == 200 and response.content != file_bytes(case.owner, case.name, "1.0", basename):
        return "200 with other bytes"
    return answer(response)


def do_upload(case: Case) -> str:
    version = case.world.unique("u")
    basename = f"{case.name}-{version}.txt"
    response = case.world.upload(case.headers, case.owner, case.name, version, basename)
    stored = case.world.file_exists(case.namespace, case.name, version, basename)
    if response.status_code == 200 and not stored:
        return "200 but the file is not there"
    if response.status_code != 200 and stored:
        return f"{response.status_code} but the file was stored"
    return answer(response)


def do_remove(case: Case) -> str:
    version = case.world.take("file", case.namespace, case.access, case.name)
    basename = f"{case.name}-{version}.txt"
    response = case.client.delete(
        f"/api/dist/{case.owner}/{case.name}/{version}/{basename}", headers=case.headers
    )
    still_there = case.world.file_exists(case.namespace, case.name, version, basename)
    if response.status_code == 200 and still_there:
        return "200 but the file is still there"
    if response.status_code != 200 and not still_there:
        return f"{response.status_code} but the file was removed"
    if still_there:
        case.unchanged("file", version)
    return answer(response)


def do_labels(case: Case) -> str:
    label = case.world.unique("lbl")
    basename = f"{case.name}-1.0.txt"
    response = case.client.post(
        f"/api/channels/{case.owner}/{label}",
        headers=case.headers,
        json={"package": case.name, "version": "1.0", "basename": basename},
    )
    dist = case.admin_get(f"/api/dist/{case.owner}/{case.name}/1.0/{basename}").json()
    labelled = label in dist.get("labels", [])
    if response.status_code == 201 and not labelled:
        return "201 but the file does not have the label"
    if response.status_code != 201 and labelled:
        return f"{response.status_code} but the label was added"
    return answer(response)


NEXT_ACCESS = {"public": "private", "authenticated": "public", "private": "authenticated"}


def do_access(case: Case) -> str:
    name = case.fresh()
    wanted = NEXT_ACCESS[case.access]
    response = case.client.patch(
        f"/api/package/{case.owner}/{name}", headers=case.headers, json={"access": wanted}
    )
    now = case.admin_get(f"/api/package/{case.owner}/{name}").json().get("access")
    if response.status_code == 200 and now != wanted:
        return f"200 but the access is {now!r}"
    if response.status_code != 200 and now != case.access:
        return f"{response.status_code} but the access changed to {now!r}"
    if now == case.access:
        case.unchanged("package", name)
    return answer(response)


def do_collaborators(case: Case) -> str:
    name = case.fresh()
    base = f"/api/packages/{case.owner}/{name}/collaborators"

    def collaborators() -> set[str]:
        return {c["login"] for c in case.admin_get(base).json()}

    added = case.client.put(f"{base}/spare", headers=case.headers)
    if added.status_code == 201:
        if "spare" not in collaborators():
            return "201 but spare is not a collaborator"
        removed = case.client.delete(f"{base}/spare", headers=case.headers)
        if removed.status_code != 201 or "spare" in collaborators():
            return f"adding answered 201, removing {removed.status_code}"
        return "201"
    if "spare" in collaborators():
        return f"{added.status_code} but spare was added"
    removed = case.client.delete(f"{base}/cora", headers=case.headers)
    if removed.status_code != added.status_code or "cora" not in collaborators():
        return f"adding answered {added.status_code}, removing {removed.status_code}"
    case.unchanged("package", name)
    return answer(added)


def transfer_destination(case: Case) -> str:
    """Somewhere the caller administers: their own namespace, or an org they own when the package is theirs."""
    login = case.world.login_of(case.identity, case.namespace) or "sam"
    if login == "olivia" and case.namespace == "user":
        return "olivia-co"
    return login


def do_transfer(case: Case) -> str:
    name = case.fresh()
    destination = transfer_destination(case)
    response = case.client.post(
        f"/api/package/{case.owner}/{name}/transfer", headers=case.headers, json={"to_owner": destination}
    )
    left = case.admin_get(f"/api/package/{case.owner}/{name}").status_code == 404
    if response.status_code == 200:
        moved_to = response.json().get("full_name")
        if moved_to != f"{destination}/{name}" or not left:
            return f"200 but the package is {moved_to!r} and {'left' if left else 'still'} in {case.owner}"
    elif left:
        return f"{response.status_code} but the package left {case.owner}"
    else:
        case.unchanged("package", name)
    return answer(response)


def do_delete(case: Case) -> str:
    name = case.fresh()
    response = case.client.delete(f"/api/package/{case.owner}/{name}", headers=case.headers)
    gone = case.admin_get(f"/api/package/{case.owner}/{name}").status_code == 404
    if response.status_code == 201 and not gone:
        return "201 but the package is still there"
    if response.status_code != 201:
        if gone:
            return f"{response.status_code} but the package was deleted"
        case.unchanged("package", name)
    return answer(response)


ACTIONS: dict[str, Callable[[Case], str]] = {
    "read": do_read,
    "list": do_list,
    "search": do_search,
    "channel": do_channel,
    "download": do_download,
    "upload": do_upload,
    "remove": do_remove,
    "labels": do_labels,
    "access": do_access,
    "collaborators": do_collaborators,
    "transfer": do_transfer,
    "delete": do_delete,
}
assert set(ACTIONS) == set(NEEDS)

CASES = [
    pytest.param(identity, access, namespace, action, id=f"{access}-{namespace}/{identity}/{action}")
    for namespace in NAMESPACES
    for access in ACCESSES
    for identity in IDENTITIES
    for action in ACTIONS
]


@pytest.mark.parametrize(("identity", "access", "namespace", "action"), CASES)
def test_matrix(world: World, identity: str, access: str, namespace: str, action: str) -> None:
    check_setup(world, identity, namespace)
    observed = ACTIONS[action](Case(world, identity, access, namespace))
    want = expected(identity, f"{access}-{namespace}", action)
    assert observed == want, (
        f"{identity} {action} on {target_name(access, namespace)}: got {observed}, want {want}"
    )


@pytest.mark.parametrize(
    ("identity", "namespace"),
    [
        pytest.param(identity, namespace, id=f"{namespace}-namespace/{identity}/create")
        for namespace in NAMESPACES
        for identity in IDENTITIES
    ],
)
def test_create_in_namespace(world: World, identity: str, namespace: str) -> None:
    """Creating a package; whoever may create one may upload to it (in an org: it joins their groups' lists)."""
    check_setup(world, identity, namespace)
    owner = NAMESPACE_LOGIN[namespace]
    name = world.unique("new")
    headers = world.headers(identity, namespace)
    response = world.client.post(
        f"/api/package/{owner}/{name}",
        headers=headers,
        json={"public": False, "public_attrs": {"summary": "made by a matrix case"}},
    )
    exists = (
        world.client.get(f"/api/package/{owner}/{name}", headers=world.admin(namespace)).status_code == 200
    )
    observed = answer(response)
    if response.status_code == 200:
        if not exists:
            observed = "200 but there is no package"
        else:
            uploaded = world.upload(headers, owner, name, "1.0", f"{name}-1.0.txt")
            if uploaded.status_code != 200:
                observed = (
                    f"200 but the creator's upload answered {uploaded.status_code}: {uploaded.text[:200]}"
                )
    elif exists:
        observed = f"{response.status_code} but the package was created"
    want = expected_create(identity, namespace)
    assert observed == want, f"{identity} creating a package in {owner}: got {observed}, want {want}"


# What each token scope allows through the REST API on olivia's own private package (olivia may do anything
# with it, so the scope alone decides). Reading public packages needs no scope: the main matrix covers that.
# The package holds a plain file (type `file`): the conda, PyPI and CRAN scopes write only their own types
# (TYPES_TABLE below has packages of those types).
SCOPES_TABLE = """
all                        A
api                        A      the whole REST API
api:read                   R
api:write                  W
conda                      R      conda channels and the REST API; writes conda packages only
conda:download             R
pypi                       R      PyPI and the REST API; writes PyPI packages only
pypi:download              R
pypi:upload                -      the PyPI upload API only: nothing through REST
cran                       R      CRAN and the REST API; writes R packages only
cran:download              R
repos                      R      reading, everywhere
"""
SCOPE_LEVELS = {line.split()[0]: line.split()[1] for line in SCOPES_TABLE.strip().splitlines()}
SCOPE_ACTIONS = ("read", "list", "download", "upload", "labels", "access", "collaborators", "delete")


@pytest.mark.parametrize(
    ("scope", "action"),
    [
        pytest.param(scope, action, id=f"private-user/scope={scope}/{action}")
        for scope in SCOPE_LEVELS
        for action in SCOPE_ACTIONS
    ],
)
def test_scopes_through_the_rest_api(world: World, scope: str, action: str) -> None:
    check_setup(world, "owner", "user")
    identity = f"scope={scope}"
    if (identity, "user") not in world.scoped_tokens:
        world.scoped_tokens[(identity, "user")] = create_token(
            world.client, "olivia", identity, scopes=[scope]
        )
    observed = ACTIONS[action](Case(world, identity, "private", "user"))
    level = SCOPE_LEVELS[scope]
    if action in LISTINGS:
        want = "listed" if LEVEL[level] >= LEVEL["R"] else "hidden"
    else:
        want = SUCCESS[action] if LEVEL[level] >= LEVEL[NEEDS[action]] else hidden_or_403(level)
    assert observed == want, f"a {scope} token: {action} got {observed}, want {want}"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/groups/no-such-org"),
        ("GET", "/api/group/acme/no-such-group"),
        ("GET", "/api/group/acme/no-such-group/members"),
        ("GET", "/api/group/acme/no-such-group/packages"),
        ("PUT", "/api/group/acme/readers/members/no-such-user"),
        ("PUT", "/api/group/acme/readers/packages/no-such-package"),
        ("GET", "/api/packages/acme/no-such-package/collaborators"),
        ("PUT", "/api/packages/acme/no-such-package/collaborators/sam"),
        ("PUT", "/api/packages/acme/pkg-public-org/collaborators/no-such-user"),
        ("POST", "/api/package/acme/no-such-package/transfer"),
        ("DELETE", "/api/orgs/no-such-org"),
        ("GET", "/api/users/no-such-user/orgs"),
    ],
)
def test_nonexistent_things_are_404(world: World, method: str, path: str) -> None:
    check_setup(world, "org-owner", "org")
    body = {"to_owner": "otto"} if path.endswith("/transfer") else None
    response = world.client.request(method, path, headers=world.admin("org"), json=body)
    assert response.status_code == 404, response.text
    assert response.json()["error"]


def test_the_matrix_is_big_enough() -> None:
    assert len(CASES) >= 500
    assert set(USER_OF) | {"anonymous"} <= set(IDENTITIES)


# --- groups: who may see and manage them ---------------------------------------------------------------------------

# Org owners manage groups; members of any group of the org may look at them; nobody else may.
#                          view   manage
GROUPS_TABLE = """
anonymous                  401    401
org-owner                  ok     ok
readers-listed             ok     403     a member of a read group
admins-listed              ok     403     even an admin group does not manage groups: only owners do
stranger                   403    403     not a member of acme
"""
GROUP_RIGHTS = {
    identity: dict(zip(("view", "manage"), cells[:2], strict=True))
    for identity, *cells in (line.split() for line in GROUPS_TABLE.strip().splitlines())
}


def group_shape_problem(action: str, body: object) -> str | None:
    """What is missing from a successful answer (the fields anaconda-client prints)."""
    if action == "list":
        if not isinstance(body, list) or not any(g.get("name") == "readers" for g in body):
            return "no readers group in the list"
        readers = next(g for g in body if g.get("name") == "readers")
        if readers.get("perms") != "read" or readers.get("members") != 1 or "owner" not in readers:
            return f"readers is {readers}"
    if action == "show" and (not isinstance(body, dict) or body.get("perms") != "read"):
        return f"the group is {body}"
    if action == "members" and [m.get("login") for m in body] != ["rita"]:
        return f"the members are {body}"
    if action == "packages":
        names = {p.get("full_name") for p in body}
        targets = {f"acme/{target_name(a, 'org')}" for a in ACCESSES}
        if not targets <= names or "acme/decoy" in names or not all("summary" in p for p in body):
            return f"the packages are {sorted(names)}"
    return None


def view_group(world: World, headers: dict[str, str], action: str) -> httpx.Response:
    path = {
        "list": "/api/groups/acme",
        "show": "/api/group/acme/readers",
        "members": "/api/group/acme/readers/members",
        "is-member": "/api/group/acme/readers/members/rita",
        "packages": "/api/group/acme/readers/packages",
    }[action]
    return world.client.get(path, headers=headers)


@pytest.mark.parametrize(
    ("identity", "action"),
    [
        pytest.param(identity, action, id=f"acme-groups/{identity}/{action}")
        for identity in GROUP_RIGHTS
        for action in ("list", "show", "members", "is-member", "packages")
    ],
)
def test_group_viewing(world: World, identity: str, action: str) -> None:
    check_setup(world, identity, "org")
    response = view_group(world, world.headers(identity, "org"), action)
    success = "204" if action == "is-member" else "200"
    observed = answer(response)
    if response.status_code == 200:
        observed = group_shape_problem(action, response.json()) or observed
    want = success if GROUP_RIGHTS[identity]["view"] == "ok" else GROUP_RIGHTS[identity]["view"]
    assert observed == want


def test_group_membership_of_someone_else_is_404(world: World) -> None:
    check_setup(world, "org-owner", "org")
    response = world.client.get("/api/group/acme/readers/members/wendy", headers=world.admin("org"))
    assert response.status_code == 404


MANAGE = ("create", "add-member", "remove-member", "add-package", "remove-package")


@pytest.mark.parametrize(
    ("identity", "action"),
    [
        pytest.param(identity, action, id=f"acme-groups/{identity}/{action}")
        for identity in GROUP_RIGHTS
        for action in MANAGE
    ],
)
def test_group_managing(world: World, identity: str, action: str) -> None:
    """Each case works on a read group of its own, made by otto, holding `spare` and `decoy` when it must."""
    check_setup(world, identity, "org")
    client, otto = world.client, world.admin("org")
    group = world.unique("scratch")
    base = f"/api/group/acme/{group}"
    if action != "create":
        assert client.post(base, headers=otto, json={"perms": "read"}).status_code == 204
    if action == "remove-member":
        assert client.put(f"{base}/members/spare", headers=otto).status_code == 204
    if action == "remove-package":
        assert client.put(f"{base}/packages/decoy", headers=otto).status_code == 204

    def packages() -> list[str]:
        return [p["full_name"] for p in client.get(f"{base}/packages", headers=otto).json()]

    headers = world.headers(identity, "org")
    request, check = {
        "create": (
            lambda: client.post(base, headers=headers, json={"perms": "write"}),
            lambda: client.get(base, headers=otto).status_code == 200,
        ),
        "add-member": (
            lambda: client.put(f"{base}/members/spare", headers=headers),
            lambda: client.get(f"{base}/members/spare", headers=otto).status_code == 204,
        ),
        "remove-member": (
            lambda: client.delete(f"{base}/members/spare", headers=headers),
            lambda: client.get(f"{base}/members/spare", headers=otto).status_code == 404,
        ),
        "add-package": (
            lambda: client.put(f"{base}/packages/decoy", headers=headers),
            lambda: packages() == ["acme/decoy"],
        ),
        "remove-package": (
            lambda: client.delete(f"{base}/packages/decoy", headers=headers),
            lambda: packages() == [],
        ),
    }[action]
    response = request()
    changed = check()
    observed = answer(response)
    if response.status_code == 204 and not changed:
        observed = "204 but nothing changed"
    elif response.status_code != 204 and changed:
        observed = f"{response.status_code} but it changed"
    want = "204" if GROUP_RIGHTS[identity]["manage"] == "ok" else GROUP_RIGHTS[identity]["manage"]
    assert observed == want


def test_existing_group_is_409(world: World) -> None:
    check_setup(world, "org-owner", "org")
    response = world.client.post(
        "/api/group/acme/readers", headers=world.admin("org"), json={"perms": "admin"}
    )
    assert response.status_code == 409
    assert world.client.get("/api/group/acme/readers", headers=world.admin("org")).json()["perms"] == "read"


def test_my_groups(world: World) -> None:
    check_setup(world, "org-owner", "org")
    rita = {
        (g["owner"] if isinstance(g["owner"], str) else g["owner"].get("login"), g["name"])
        for g in world.client.get("/api/groups", headers=world.headers("readers-listed", "org")).json()
    }
    assert rita == {("acme", "readers")}
    otto = world.client.get("/api/groups", headers=world.admin("org")).json()
    owners = [g for g in otto if g["name"] == "owners"]
    assert owners and owners[0]["perms"] == "admin"
    assert world.client.get("/api/groups").status_code == 401


def test_the_owners_group_makes_owners(world: World) -> None:
    """Owners are the members of the built-in `owners` group: adding someone there makes them an owner."""
    client = world.client
    assert client.get("/api/group/acme/owners/members/otto", headers=world.admin("org")).status_code == 204
    sam = world.headers("stranger", "org")
    spare = {"Authorization": f"token {create_token(client, 'spare', 'owners-test')}"}
    assert client.post("/api/orgs/sams-co", headers=sam, json={"name": "Sam's"}).status_code == 201
    assert client.post("/api/package/sams-co/secret", headers=sam, json={"public": False}).status_code == 200
    assert (
        client.get("/api/package/sams-co/secret", headers=spare).status_code == 404
    )  # may not know it exists
    assert client.post("/api/group/sams-co/crew", headers=spare, json={"perms": "read"}).status_code == 403
    assert client.put("/api/group/sams-co/owners/members/spare", headers=sam).status_code == 204
    assert client.get("/api/package/sams-co/secret", headers=spare).status_code == 200
    assert client.post("/api/group/sams-co/crew", headers=spare, json={"perms": "read"}).status_code == 204
    patched = client.patch("/api/package/sams-co/secret", headers=spare, json={"access": "authenticated"})
    assert patched.status_code == 200
    assert client.delete("/api/group/sams-co/owners/members/spare", headers=sam).status_code == 204
    assert client.get("/api/package/sams-co/secret", headers=spare).status_code == 200  # authenticated now
    assert (
        client.patch("/api/package/sams-co/secret", headers=spare, json={"access": "public"}).status_code
        == 403
    )
    assert client.delete("/api/package/sams-co/secret", headers=spare).status_code == 403


# --- organizations ---------------------------------------------------------------------------------------------------


def test_org_objects_and_listings(world: World) -> None:
    check_setup(world, "org-owner", "org")
    client = world.client
    assert client.get("/api/user/acme").json()["user_type"] == "org"
    mine = client.get("/api/user/orgs", headers=world.admin("org"))
    assert mine.status_code == 200
    assert [(o["login"], o["user_type"]) for o in mine.json()] == [("acme", "org")]
    assert mine.json()[0]["name"] == "Acme"
    # memberships are not public (docs/security.md): the member, the org's members and site admins see them
    theirs = client.get("/api/users/otto/orgs", headers=world.headers("readers-listed", "org"))
    assert theirs.status_code == 200 and [o["login"] for o in theirs.json()] == ["acme"]
    olivias = client.get("/api/users/olivia/orgs", headers=world.admin("user"))
    assert [o["login"] for o in olivias.json()] == ["olivia-co"]
    assert client.get("/api/users/otto/orgs").json() == []
    assert client.get("/api/users/otto/orgs", headers=world.headers("stranger", "org")).json() == []
    assert client.get("/api/user/orgs").status_code == 401


def test_org_logins_share_the_user_namespace(world: World) -> None:
    check_setup(world, "org-owner", "org")
    client, sam = world.client, world.headers("stranger", "org")
    assert client.post("/api/orgs/acme", headers=sam, json={"name": "Again"}).status_code == 409
    assert client.post("/api/orgs/olivia", headers=sam, json={"name": "A user's login"}).status_code == 409
    assert client.post("/api/orgs/sams-org", json={"name": "Anonymous"}).status_code == 401
    assert client.get("/api/user/sams-org").status_code == 404


def test_only_owners_create_org_tokens(world: World) -> None:
    check_setup(world, "org-owner", "org")
    client = world.client
    for login in ("rita", "ada", "sam"):
        response = client.post(
            "/api/authentications", auth=(login, PASSWORD), json={"note": "org-token", "user": "acme"}
        )
        assert response.status_code == 403, login
    response = client.post(
        "/api/authentications", auth=("otto", PASSWORD), json={"note": "org-token", "user": "acme"}
    )
    assert response.status_code == 200, response.text


def test_deleting_an_org(world: World) -> None:
    client = world.client
    sam, rita = world.headers("stranger", "org"), world.headers("readers-listed", "org")
    created = client.post("/api/orgs/doomed", headers=sam, json={"name": "Doomed"})
    assert created.status_code == 201 and created.json()["login"] == "doomed"
    assert created.json()["user_type"] == "org"
    assert client.post("/api/package/doomed/thing", headers=sam, json={"public": True}).status_code == 200
    assert client.post("/api/group/doomed/crew", headers=sam, json={"perms": "write"}).status_code == 204
    assert client.put("/api/group/doomed/crew/members/rita", headers=sam).status_code == 204
    org_token = client.post(
        "/api/authentications", auth=("sam", PASSWORD), json={"note": "doomed-ci", "user": "doomed"}
    ).json()["token"]
    assert (
        client.get("/api/packages/olivia", headers={"Authorization": f"token {org_token}"}).status_code == 200
    )

    assert client.delete("/api/orgs/doomed").status_code == 401
    assert client.delete("/api/orgs/doomed", headers=rita).status_code == 403
    assert client.get("/api/package/doomed/thing").status_code == 200
    assert client.delete("/api/orgs/doomed", headers=sam).status_code == 201
    assert client.get("/api/user/doomed").status_code == 404
    assert client.get("/api/package/doomed/thing").status_code == 404
    assert (
        client.get("/api/packages/olivia", headers={"Authorization": f"token {org_token}"}).status_code == 401
    )
    assert "doomed" not in client.get("/api/groups", headers=rita).text
    assert "doomed" not in client.get("/api/search", params={"name": "thing"}).text


# --- transfer and bulk access: the rules around the matrix -----------------------------------------------------------


def test_transfer_needs_admin_on_the_destination_too(world: World) -> None:
    check_setup(world, "owner", "org")
    client = world.client
    olivia, otto = world.admin("user"), world.admin("org")
    mine = world.make_package("user", "public", world.unique("xfer"))
    refused = client.post(f"/api/package/olivia/{mine}/transfer", headers=olivia, json={"to_owner": "acme"})
    assert refused.status_code == 403
    refused = client.post(f"/api/package/olivia/{mine}/transfer", headers=olivia, json={"to_owner": "sam"})
    assert refused.status_code == 403
    assert client.get(f"/api/package/olivia/{mine}").status_code == 200
    ours = world.make_package("org", "public", world.unique("xfer"))
    # ada administers the package (acme/admins lists it) but not the org acme: she may take it home, no further.
    ada = world.headers("admins-listed", "org")
    assert (
        client.post(f"/api/package/acme/{ours}/transfer", headers=ada, json={"to_owner": "otto"}).status_code
        == 403
    )
    assert (
        client.post(
            f"/api/package/acme/{ours}/transfer", headers=otto, json={"to_owner": "nobody-here"}
        ).status_code
        == 404
    )


def test_transfer_to_an_owner_with_that_package_is_409(world: World) -> None:
    check_setup(world, "org-owner", "org")
    client, otto = world.client, world.admin("org")
    name = world.make_package("org", "public", world.unique("twin"))
    assert client.post(f"/api/package/otto/{name}", headers=otto, json={"public": True}).status_code == 200
    response = client.post(f"/api/package/acme/{name}/transfer", headers=otto, json={"to_owner": "otto"})
    assert response.status_code == 409
    assert client.get(f"/api/package/acme/{name}").status_code == 200


def test_bulk_access_is_all_or_nothing(world: World) -> None:
    check_setup(world, "admins-listed", "org")
    client, otto, ada = world.client, world.admin("org"), world.headers("admins-listed", "org")
    listed = world.make_package("org", "public", world.unique("bulk"))
    unlisted = world.unique("bulk")
    assert (
        client.post(f"/api/package/acme/{unlisted}", headers=otto, json={"public": True}).status_code == 200
    )

    def access(name: str) -> str:
        return client.get(f"/api/package/acme/{name}", headers=otto).json()["access"]

    body = {"packages": [listed, unlisted], "access": "private"}
    assert client.post("/api/packages/acme/access", json=body).status_code == 401
    assert client.post("/api/packages/acme/access", headers=ada, json=body).status_code == 403
    assert (access(listed), access(unlisted)) == ("public", "public")
    alone = client.post(
        "/api/packages/acme/access", headers=ada, json={"packages": [listed], "access": "authenticated"}
    )
    assert alone.status_code == 200 and [p["full_name"] for p in alone.json()] == [f"acme/{listed}"]
    assert access(listed) == "authenticated"
    both = client.post("/api/packages/acme/access", headers=otto, json=body)
    assert both.status_code == 200
    assert sorted(p["full_name"] for p in both.json()) == sorted(f"acme/{n}" for n in (listed, unlisted))
    assert (access(listed), access(unlisted)) == ("private", "private")


def test_public_flag_sets_access(world: World) -> None:
    check_setup(world, "owner", "user")
    client, olivia = world.client, world.admin("user")
    name = world.make_package("user", "public", world.unique("flag"))
    assert (
        client.patch(f"/api/package/olivia/{name}", headers=olivia, json={"public": False}).status_code == 200
    )
    assert client.get(f"/api/package/olivia/{name}", headers=olivia).json()["access"] == "private"
    assert client.get(f"/api/package/olivia/{name}").status_code == 404  # private: answered as a missing name
    assert (
        client.patch(f"/api/package/olivia/{name}", headers=olivia, json={"public": True}).status_code == 200
    )
    assert client.get(f"/api/package/olivia/{name}").status_code == 200


# --- accounts ----------------------------------------------------------------------------------------------------


def test_disabled_user_cannot_log_in(world: World) -> None:
    check_setup(world, "token-disabled", "user")
    response = world.client.post("/api/authentications", auth=("gone", PASSWORD), json={"note": "again"})
    assert response.status_code == 401
    assert world.client.get("/api/user", auth=("gone", PASSWORD)).status_code == 401


def test_sign_up_is_closed_by_default(world: World) -> None:
    from packyard.core.services.accounts import create_user

    client = world.client
    body = {"login": "newcomer", "password": "newcomer-pass-1", "email": "new@example.org"}
    assert client.post("/api/users", json=body).status_code == 403
    assert client.post("/api/users", headers=world.headers("stranger", "user"), json=body).status_code == 403
    create_user(world.db, "root", PASSWORD, is_admin=True)
    root = {"Authorization": f"token {create_token(client, 'root', 'signup')}"}
    created = client.post("/api/users", headers=root, json=body)
    assert created.status_code == 201, created.text
    assert created.json()["login"] == "newcomer" and created.json()["user_type"] == "user"
    assert (
        client.post("/api/authentications", auth=("newcomer", "newcomer-pass-1"), json={}).status_code == 200
    )


def test_open_sign_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    settings = Settings(
        data=data, admin_password=ADMIN_PASSWORD, base_url="http://testserver", allow_signup=True
    )
    migrate.upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    try:
        with TestClient(create_app(settings, db=db), raise_server_exceptions=False) as client:
            body = {"login": "walk-in", "password": "walk-in-pass-1", "email": "w@example.org"}
            created = client.post("/api/users", json=body)
            assert created.status_code == 201, created.text
            assert created.json()["login"] == "walk-in"
            token = client.post("/api/authentications", auth=("walk-in", "walk-in-pass-1"), json={})
            assert token.status_code == 200
            assert client.post("/api/users", json=body).status_code == 409
    finally:
        db.dispose()


# --- what a credential may do with tokens and with the account -----------------------------------------------------

# Each row is a kind of credential of otto's (matrix_support.CREDENTIAL_KINDS: his password, a token with each scope,
# a token of his that expires in an hour, and tokens he made for acme, which he owns); each column an action on
# his tokens or his account. ok: it succeeds (and did what it says); otherwise the status, and nothing changed.
#
# A token may mint tokens at most as powerful as itself: scopes it covers (permission, interface and package
# type), its own organization if it has one, an expiry no later than its own (token-expiring checks that the
# new token expires by then); an org token for acme also needs ADMIN on acme. Listing and removing other tokens,
# creating and deleting organizations and creating users (site administrators only, sign-up being closed: the
# column uses the same kind of credential of an administrator's) need the account's own credential: the password
# or a token with `all` and no organization. Any token may remove itself; a password has no token to remove.
#
#   mint-same      the credential's own scopes (and org)     mint-read      api:read, no org
#   mint-all       all, no org                               mint-conda-dl  conda:download, no org
#   mint-org       for acme, the credential's own scopes
#                          whoami mint- mint- mint- mint-  mint- list remove remove remove create delete create
#                                 same  all   read  condadl org              -org   -self  -org   -org   -user
ACCOUNT_TABLE = """
anonymous                  401    401   401   401   401    401   401  401    401    401    401    401    403
password                   ok     ok    ok    ok    ok     ok    ok   ok     ok     400    ok     ok     ok
token-expiring             ok     ok    ok    ok    ok     ok    ok   ok     ok     ok     ok     ok     ok
scope=all                  ok     ok    ok    ok    ok     ok    ok   ok     ok     ok     ok     ok     ok
scope=api                  ok     ok    403   ok    403    ok    403  403    403    ok     403    403    403
scope=api:read             ok     ok    403   ok    403    403   403  403    403    ok     403    403    403
scope=api:write            ok     ok    403   ok    403    403   403  403    403    ok     403    403    403
scope=conda                ok     ok    403   403   ok     403   403  403    403    ok     403    403    403
scope=conda:download       ok     ok    403   403   ok     403   403  403    403    ok     403    403    403
scope=pypi                 ok     ok    403   403   403    403   403  403    403    ok     403    403    403
scope=pypi:download        ok     ok    403   403   403    403   403  403    403    ok     403    403    403
scope=pypi:upload          ok     ok    403   403   403    403   403  403    403    ok     403    403    403
scope=cran                 ok     ok    403   403   403    403   403  403    403    ok     403    403    403
scope=cran:download        ok     ok    403   403   403    403   403  403    403    ok     403    403    403
scope=repos                ok     ok    403   ok    ok     403   403  403    403    ok     403    403    403
scope=repo                 ok     ok    403   ok    ok     403   403  403    403    ok     403    403    403
org-token                  ok     ok    403   403   403    ok    403  403    403    ok     403    403    403
org-token-api              ok     ok    403   403   403    ok    403  403    403    ok     403    403    403
org-token-conda            ok     403   403   403   403    403   403  403    403    ok     403    403    403
"""
ACCOUNT_ACTIONS = (
    "whoami",
    "mint-same",
    "mint-all",
    "mint-read",
    "mint-conda-dl",
    "mint-org",
    "list",
    "remove",
    "remove-org",
    "remove-self",
    "create-org",
    "delete-org",
    "create-user",
)
ACCOUNT_RIGHTS = parse_table(
    ACCOUNT_TABLE, ACCOUNT_ACTIONS, tuple(CREDENTIAL_KINDS), cells=("ok", "400", "401", "403")
)
SITE_ADMIN = "siteadmin"


def site_admin(world: World) -> str:
    """A site administrator with an organization of their own (made once per world); returns their full token."""
    if SITE_ADMIN not in world.user_tokens:
        from packyard.core.services.accounts import create_user

        create_user(world.db, SITE_ADMIN, PASSWORD, is_admin=True)
        token = create_token(world.client, SITE_ADMIN, "matrix")
        expect(
            world.client.post(f"/api/orgs/{SITE_ADMIN}-co", headers=auth_header(token), json={}),
            201,
            what="the site administrator's org",
        )
        world.user_tokens[SITE_ADMIN] = token
    return world.user_tokens[SITE_ADMIN]


class AccountCase:
    """One kind of credential of otto's (or, for create-user, of the site administrator's), made for this case."""

    def __init__(self, world: World, kind: str, action: str) -> None:
        self.world = world
        self.client = world.client
        self.kind = kind
        self.otto = world.admin("org")
        login, full, org = "otto", world.user_tokens["otto"], "acme"
        if action == "create-user":
            login, full, org = SITE_ADMIN, site_admin(world), f"{SITE_ADMIN}-co"
        elif action == "delete-org":
            org = world.unique("doomed")
            expect(self.client.post(f"/api/orgs/{org}", headers=self.otto, json={}), 201, what=f"org {org}")
        self.org = org
        self.headers = make_credential(self.client, full, login, kind, org)
        spec = CREDENTIAL_KINDS[kind]
        self.scopes: list[str] | None = spec.get("scopes")
        self.own_org: str | None = org if spec.get("org") else None

    def works(self, headers: dict[str, str]) -> bool:
        return self.client.get("/api/user", headers=headers).status_code == 200

    def own_expiry(self) -> str | None:
        if self.kind in ("anonymous", "password"):
            return None
        return self.client.get("/api/authentication", headers=self.headers).json().get("expires")

    def victim(self, org: str | None = None) -> tuple[str, dict[str, str]]:
        """Another token of otto's (made with his full token): the one remove/remove-org try to remove."""
        name = self.world.unique("victim")
        body: dict[str, Any] = {"note": name, **({"user": org} if org else {})}
        response = expect(
            self.client.post("/api/authentications", headers=self.otto, json=body), 200, what=f"token {name}"
        )
        return name, auth_header(response.json()["token"])


def account_outcome(response: httpx.Response, success: int, done: bool, what: str) -> str:
    """ok when the action answered success and did what it says; a refusal must have changed nothing."""
    if response.status_code == success:
        return "ok" if done else f"{success} but {what} did not happen"
    if done:
        return f"{response.status_code} but {what} happened"
    return answer(response)


def do_whoami(case: AccountCase) -> str:
    response = case.client.get("/api/user", headers=case.headers)
    if response.status_code == 200:
        return (
            "ok" if response.json().get("login") == "otto" else f"200 with {response.json().get('login')!r}"
        )
    return answer(response)


def mint(case: AccountCase, scopes: list[str] | None, org: str | None) -> str:
    note = case.world.unique("minted")
    body: dict[str, Any] = {
        "note": note,
        **({"scopes": scopes} if scopes else {}),
        **({"user": org} if org else {}),
    }
    response = case.client.post("/api/authentications", headers=case.headers, json=body)
    if response.status_code != 200:
        listed = case.client.get("/api/authentications", headers=case.otto).text
        return account_outcome(response, 200, note in listed, f"minting {note}")
    minted = auth_header(response.json()["token"])
    current = case.client.get("/api/authentication", headers=minted)
    if current.status_code != 200:
        return f"200 but the new token answers {current.status_code}"
    got = current.json()
    if got["scopes"] != (scopes or ["all"]) or got["org"] != org:
        return f"200 but the new token has scopes {got['scopes']} and org {got['org']}"
    own = case.own_expiry()
    if own is not None and (got["expires"] is None or got["expires"] > own):
        return f"200 but the new token expires at {got['expires']}, after the token that made it ({own})"
    return "ok"


def do_mint_same(case: AccountCase) -> str:
    return mint(case, case.scopes, case.own_org)


def do_mint_all(case: AccountCase) -> str:
    return mint(case, ["all"], None)


def do_mint_read(case: AccountCase) -> str:
    return mint(case, ["api:read"], None)


def do_mint_conda_dl(case: AccountCase) -> str:
    return mint(case, ["conda:download"], None)


def do_mint_org(case: AccountCase) -> str:
    return mint(case, case.scopes, "acme")


def do_list_tokens(case: AccountCase) -> str:
    response = case.client.get("/api/authentications", headers=case.headers)
    if response.status_code == 200:
        names = {t.get("name") for t in response.json()}
        return "ok" if "matrix" in names else f"200 but otto's tokens are {sorted(names)}"
    if "matrix" in response.text:
        return f"{response.status_code}, but the body names otto's tokens"
    return answer(response)


def do_remove(case: AccountCase) -> str:
    name, victim = case.victim()
    response = case.client.delete(f"/api/authentications/name/{name}", headers=case.headers)
    return account_outcome(response, 201, not case.works(victim), f"removing {name}")


def do_remove_org(case: AccountCase) -> str:
    name, victim = case.victim("acme")
    response = case.client.delete(f"/api/authentications/org/acme/name/{name}", headers=case.headers)
    return account_outcome(response, 201, not case.works(victim), f"removing {name}")


def do_remove_self(case: AccountCase) -> str:
    response = case.client.delete("/api/authentications", headers=case.headers)
    if case.kind in ("anonymous", "password"):
        return answer(response)
    return account_outcome(response, 201, not case.works(case.headers), "removing the token")


def do_create_org(case: AccountCase) -> str:
    org = case.world.unique("neworg")
    response = case.client.post(f"/api/orgs/{org}", headers=case.headers, json={"name": org})
    exists = case.client.get(f"/api/user/{org}").status_code == 200
    return account_outcome(response, 201, exists, f"creating {org}")


def do_delete_org(case: AccountCase) -> str:
    response = case.client.delete(f"/api/orgs/{case.org}", headers=case.headers)
    gone = case.client.get(f"/api/user/{case.org}").status_code == 404
    return account_outcome(response, 201, gone, f"deleting {case.org}")


def do_create_user(case: AccountCase) -> str:
    login = case.world.unique("newuser")
    response = case.client.post(
        "/api/users", headers=case.headers, json={"login": login, "password": "new-user-pass-1"}
    )
    exists = case.client.get(f"/api/user/{login}").status_code == 200
    return account_outcome(response, 201, exists, f"creating the user {login}")


ACCOUNT_DOERS: dict[str, Callable[[AccountCase], str]] = {
    "whoami": do_whoami,
    "mint-same": do_mint_same,
    "mint-all": do_mint_all,
    "mint-read": do_mint_read,
    "mint-conda-dl": do_mint_conda_dl,
    "mint-org": do_mint_org,
    "list": do_list_tokens,
    "remove": do_remove,
    "remove-org": do_remove_org,
    "remove-self": do_remove_self,
    "create-org": do_create_org,
    "delete-org": do_delete_org,
    "create-user": do_create_user,
}
assert tuple(ACCOUNT_DOERS) == ACCOUNT_ACTIONS


@pytest.mark.parametrize(
    ("kind", "action"),
    [
        pytest.param(kind, action, id=f"otto/{kind}/{action}")
        for kind in CREDENTIAL_KINDS
        for action in ACCOUNT_ACTIONS
    ],
)
def test_tokens_and_the_account(world: World, kind: str, action: str) -> None:
    check_setup(world, "org-owner", "org")
    observed = ACCOUNT_DOERS[action](AccountCase(world, kind, action))
    want = ACCOUNT_RIGHTS[kind][action]
    assert observed == want, f"a {kind} credential: {action} got {observed}, want {want}"


def test_every_scope_is_in_the_tables(world: World) -> None:
    """A new scope must get its rows here (ACCOUNT_TABLE, TYPES_TABLE) before it can ship."""
    assert set(world.client.get("/api/scopes").json()) == set(ALL_SCOPES) == set(TYPE_LEVELS)


# --- writes through the REST API, by package type ------------------------------------------------------------------

# What a token of olivia's with one scope may do through the REST API with her own private packages of each type
# (she may do anything with them, so the scope alone decides): the conda, PyPI and CRAN scopes write only packages
# of their own type (`r` for CRAN), as through their protocols; api, api:write and all write every type. Reading
# is not by type (a conda token reads her private wheels through the REST API).
#                          conda  pypi   r
TYPES_TABLE = """
all                        A      A      A
api                        A      A      A
api:read                   R      R      R
api:write                  W      W      W
conda                      W      R      R
conda:download             R      R      R
pypi                       R      W      R
pypi:download              R      R      R
pypi:upload                -      -      -      the PyPI upload API only: nothing through REST
cran                       R      R      W
cran:download              R      R      R
repos                      R      R      R
repo                       R      R      R
"""
PACKAGE_TYPES = ("conda", "pypi", "r")
TYPE_LEVELS = parse_table(TYPES_TABLE, PACKAGE_TYPES, ALL_SCOPES)
TYPE_NEEDS = {
    "stage": "W",  # stage -> upload -> commit, the stage saying the type
    "stage-untyped": "W",  # the same, the stage not saying it: checked at commit, on the type the server parsed
    "remove": "W",
    "remove-release": "W",
    "edit-release": "W",
    "edit-package": "W",
    "label": "W",
    "unlabel": "W",
    "copy-label": "W",
    "copy-owner": "W",  # to olivia-co, which olivia owns
    "yank": "W",
    "access": "A",
    "delete": "A",
}
TYPE_SUCCESS = {"remove-release": "201", "label": "201", "unlabel": "201", "delete": "201"}


class TypedFiles:
    """olivia's private packages of each type, and files made in them on demand (with a pool, like World.take)."""

    def __init__(self, world: World, files: Path) -> None:
        self.world = world
        self.files = files
        self.olivia = world.admin("user")
        self.pristine: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
        self.shared_packages: dict[str, str] = {}
        """Type -> the package that receives the files of the "file" pool and the stage cases' uploads."""

    def build(self, ptype: str, name: str, version: str) -> tuple[Path, str]:
        """A real package file of the type; returns it and its basename."""
        folder = self.files / f"{name}-{version}"
        folder.mkdir()
        if ptype == "conda":
            path = build_conda(folder, name=name, version=version, subdir="noarch", fmt="tar.bz2")
            return path, f"noarch/{path.name}"
        path = (build_wheel if ptype == "pypi" else build_r_source)(folder, name=name, version=version)
        return path, path.name

    def upload(
        self, headers: dict[str, str], ptype: str, name: str, version: str, *, declare: bool = True
    ) -> tuple[httpx.Response, str]:
        """stage -> form POST -> commit; the first refusal or the commit's answer, and the file's basename."""
        client = self.world.client
        path, basename = self.build(ptype, name, version)
        data = path.read_bytes()
        where = f"olivia/{name}/{version}/{quote(basename)}"
        body: dict[str, Any] = {"attrs": {}, "channels": [], "sha256": hashlib.sha256(data).hexdigest()}
        if declare:
            body["distribution_type"] = ptype
        staged = client.post(f"/api/stage/{where}", headers=headers, json=body)
        if staged.status_code != 200:
            return staged, basename
        posted = post_form(client, staged.json(), data, basename)
        if posted.status_code != 201:
            return posted, basename
        return client.post(
            f"/api/commit/{where}", headers=headers, json={"dist_id": staged.json()["dist_id"]}
        ), basename

    def new_package(self, ptype: str) -> str:
        name = self.world.unique(f"typed{ptype}")
        expect(
            self.world.client.post(
                f"/api/package/olivia/{name}", headers=self.olivia, json={"public": False}
            ),
            200,
            what=f"create olivia/{name}",
        )
        return name

    def take(self, kind: str, ptype: str) -> tuple[str, str, str]:
        """(package, version, basename): a file in a package of its own ("package") or in the type's shared
        package ("file"), exactly as uploaded by olivia."""
        pool = self.pristine.setdefault((kind, ptype), [])
        if pool:
            return pool.pop()
        name = self.new_package(ptype) if kind == "package" else self.shared(ptype)
        version = f"1.{next(self.world.counter)}"
        response, basename = self.upload(self.olivia, ptype, name, version)
        expect(response, 200, what=f"upload {ptype} {name} {version}")
        return name, version, basename

    def shared(self, ptype: str) -> str:
        if ptype not in self.shared_packages:
            self.shared_packages[ptype] = self.new_package(ptype)
        return self.shared_packages[ptype]

    def give_back(self, kind: str, ptype: str, found: tuple[str, str, str]) -> None:
        self.pristine.setdefault((kind, ptype), []).append(found)

    def dist(self, name: str, version: str, basename: str) -> httpx.Response:
        return self.world.client.get(f"/api/dist/olivia/{name}/{version}/{basename}", headers=self.olivia)


@pytest.fixture(scope="module")
def typed(world: World, tmp_path_factory: pytest.TempPathFactory) -> TypedFiles:
    return TypedFiles(world, tmp_path_factory.mktemp("typed-files"))


def typed_outcome(response: httpx.Response, success: str, done: bool, what: str) -> str:
    if str(response.status_code) == success:
        return success if done else f"{success} but {what} did not happen"
    if done:
        return f"{response.status_code} but {what} happened"
    return answer(response)


def type_write(typed: TypedFiles, headers: dict[str, str], ptype: str, action: str) -> str:
    client, olivia = typed.world.client, typed.olivia
    success = TYPE_SUCCESS.get(action, "200")
    if action in ("stage", "stage-untyped"):
        name, version = typed.shared(ptype), f"1.{next(typed.world.counter)}"
        response, basename = typed.upload(headers, ptype, name, version, declare=action == "stage")
        stored = typed.dist(name, version, basename).status_code == 200
        return typed_outcome(response, success, stored, "the upload")
    kind = "package" if action in ("access", "delete", "edit-package") else "file"
    name, version, basename = found = typed.take(kind, ptype)
    dist = f"olivia/{name}/{version}/{basename}"

    def labels() -> list[str]:
        return typed.dist(name, version, basename).json().get("labels", [])

    if action == "remove":
        response = client.delete(f"/api/dist/{dist}", headers=headers)
        done = typed.dist(name, version, basename).status_code == 404
    elif action == "remove-release":
        response = client.delete(f"/api/release/olivia/{name}/{version}", headers=headers)
        done = client.get(f"/api/release/olivia/{name}/{version}", headers=olivia).status_code == 404
    elif action == "edit-release":
        response = client.patch(
            f"/api/release/olivia/{name}/{version}", headers=headers, json={"summary": "edited"}
        )
        done = (
            client.get(f"/api/release/olivia/{name}/{version}", headers=olivia).json()["summary"] == "edited"
        )
    elif action == "edit-package":
        response = client.patch(
            f"/api/package/olivia/{name}", headers=headers, json={"public_attrs": {"summary": "edited"}}
        )
        done = client.get(f"/api/package/olivia/{name}", headers=olivia).json()["summary"] == "edited"
    elif action == "label":
        response = client.post(
            "/api/channels/olivia/typed",
            headers=headers,
            json={"package": name, "version": version, "basename": basename},
        )
        done = "typed" in labels()
    elif action == "unlabel":
        response = client.request(
            "DELETE",
            "/api/channels/olivia/main",
            headers=headers,
            json={"package": name, "version": version, "basename": basename},
        )
        done = "main" not in labels()
    elif action in ("copy-label", "copy-owner"):
        body = {"to_owner": "olivia-co"} if action == "copy-owner" else {"to_channel": "copied"}
        response = client.post(f"/api/copy/package/{dist}", headers=headers, json=body)
        if action == "copy-owner":
            there = f"/api/dist/olivia-co/{name}/{version}/{basename}"
            done = client.get(there, headers=olivia).status_code == 200
        else:
            done = "copied" in labels()
    elif action == "yank":
        response = client.post(f"/api/yank/{dist}", headers=headers, json={"reason": "matrix"})
        done = bool(typed.dist(name, version, basename).json()["attrs"].get("yanked"))
    elif action == "access":
        response = client.patch(f"/api/package/olivia/{name}", headers=headers, json={"access": "public"})
        done = client.get(f"/api/package/olivia/{name}", headers=olivia).json()["access"] == "public"
    else:
        assert action == "delete"
        response = client.delete(f"/api/package/olivia/{name}", headers=headers)
        done = client.get(f"/api/package/olivia/{name}", headers=olivia).status_code == 404
    if not done and str(response.status_code) != success:
        typed.give_back(kind, ptype, found)
    return typed_outcome(response, success, done, action)


@pytest.mark.parametrize(
    ("scope", "ptype", "action"),
    [
        pytest.param(scope, ptype, action, id=f"private-user/{ptype}/scope={scope}/{action}")
        for scope in ALL_SCOPES
        for ptype in PACKAGE_TYPES
        for action in TYPE_NEEDS
    ],
)
def test_writes_by_package_type(world: World, typed: TypedFiles, scope: str, ptype: str, action: str) -> None:
    check_setup(world, "owner", "user")
    identity = f"scope={scope}"
    if (identity, "user") not in world.scoped_tokens:
        world.scoped_tokens[(identity, "user")] = create_token(
            world.client, "olivia", identity, scopes=[scope]
        )
    observed = type_write(typed, auth_header(world.scoped_tokens[(identity, "user")]), ptype, action)
    level = TYPE_LEVELS[scope][ptype]
    want = (
        TYPE_SUCCESS.get(action, "200") if LEVEL[level] >= LEVEL[TYPE_NEEDS[action]] else hidden_or_403(level)
    )
    assert observed == want, f"a {scope} token: {action} on a {ptype} package got {observed}, want {want}"


def test_a_format_token_works_on_its_own_files_of_a_mixed_package(world: World, typed: TypedFiles) -> None:
    """A package with a conda package and a wheel: the conda token opens a release and adds and removes conda
    files there, but may not touch the wheel nor act on the package as a whole (it holds a PyPI file)."""
    check_setup(world, "owner", "user")
    client = world.client
    conda = auth_header(create_token(client, "olivia", world.unique("mixed-conda"), scopes=["conda"]))
    name = typed.new_package("conda")
    wheel_version = f"1.{next(world.counter)}"
    response, wheel = typed.upload(typed.olivia, "pypi", name, wheel_version)
    assert response.status_code == 200, response.text
    version = f"1.{next(world.counter)}"
    assert client.post(f"/api/release/olivia/{name}/{version}", headers=conda, json={}).status_code == 200
    response, basename = typed.upload(conda, "conda", name, version)
    assert response.status_code == 200, response.text
    assert client.delete(f"/api/dist/olivia/{name}/{version}/{basename}", headers=conda).status_code == 200
    refused = client.delete(f"/api/dist/olivia/{name}/{wheel_version}/{wheel}", headers=conda)
    assert refused.status_code == 403 and "pypi" in refused.json()["error"]
    assert (
        client.patch(
            f"/api/package/olivia/{name}", headers=conda, json={"public_attrs": {"summary": "x"}}
        ).status_code
        == 403
    )
    assert client.delete(f"/api/package/olivia/{name}", headers=conda).status_code == 403
    assert typed.dist(name, wheel_version, wheel).status_code == 200
