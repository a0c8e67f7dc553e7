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

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import migrate
from packyard.core.db import Database
from tests.conftest import ADMIN_PASSWORD
from tests.unit.matrix_support import (
    ACCESSES,
    COLUMNS,
    IDENTITIES,
    NAMESPACE_LOGIN,
    NAMESPACES,
    PASSWORD,
    USER_OF,
    World,
    build_world,
    create_token,
    file_bytes,
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
    return SUCCESS[action] if LEVEL[level] >= LEVEL[NEEDS[action]] else refused(identity)


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
SCOPES_TABLE = """
all                        A
api                        A      the whole REST API
api:read                   R
api:write                  W
conda                      W      conda channels and the REST API
conda:download             R
pypi                       W      PyPI and the REST API
pypi:download              R
pypi:upload                -      the PyPI upload API only: nothing through REST
cran                       W      CRAN and the REST API
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
        want = SUCCESS[action] if LEVEL[level] >= LEVEL[NEEDS[action]] else "403"
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
    assert client.get("/api/package/sams-co/secret", headers=spare).status_code == 403
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
    assert client.get(f"/api/package/olivia/{name}").status_code == 401
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
