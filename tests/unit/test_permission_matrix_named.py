"""Who may read and write notebooks, environments, projects and plain files: the `/notebooks`, `/envs`,
`/api/projects` and download routes, and one-request uploads to `POST /api/repo/OWNER`. The REST API and the
package managers' protocols have their own matrices (test_permission_matrix.py, test_permission_matrix_formats.py);
this one reuses their world (tests/unit/matrix_support.py: users, the org `acme`, its groups, the tokens, the six
target packages) and puts the four "named" kinds of file into it:

    pkg-{access}-{user|org}     (the targets) get, in version 1.0, a notebook (`NAME.ipynb`), an environment
                                (`environment.yml`, `name: NAME`), a project revision (`NAME.tar.gz`) and a plain
                                CSV file (`NAME.csv`), each uploaded in one request by the namespace's administrator
    upl-{access}-{user|org}     configured like the target (access, collaborators cora and gone, acme's group
                                lists) and holding the same four kinds in 1.0: the upload cases put their new
                                versions there, so the targets stay as built
    otto/pkg-private-otto       otto's own private package (and otto/upl-private-otto), for the org-token row

These routes decide access through `core.permissions` via the REST interface: `serving.VIA == "api"` for the
notebook, environment and project routes, `readable_package` (via="api") for the file downloads, and
the formats' registered filetypes map ipynb, env, project and file to "api" for uploads. So the scopes are those of the
REST API ("Tokens" in docs/security.md): conda:download reads through conda channels *and the REST API*, so it reads
all of these; pypi:upload works through PyPI upload only, so it reads only what is public and uploads nothing here.

The actions: notebook-html (`/notebooks/O/N`, the rendered page), notebook-raw (`/notebooks/O/N/1.0?download`),
envs-listing (`/envs/O`), env-yaml (`/envs/O/N`), env-yaml-version (`/envs/O/N/1.0`), project-revisions
(`/api/projects/O/N`), project-files (`/api/projects/O/N/1.0/files`), file-download (`/O/N/1.0/download/N.csv`),
file-api-download (`/api/download/O/N/1.0/N.csv`), upload-{notebook,env,project,file} (a new version of each kind
of the upload package, `POST /api/repo/O` with filetype ipynb|env|project|file: WRITE via "api"), and file-reupload
(the target's own CSV again, byte for byte, to its version 1.0: an upload like any other, so WRITE).

The expected outcomes are written out by hand below from docs/security.md; nothing here asks
packyard.core.permissions. `/envs/OWNER` answers 200 to every valid credential (or none); the environment is in
the list exactly when the caller may read it, and when it is not, its name appears nowhere in the body.

Case ids read `private-org/readers-listed/notebook-html@token`: package, identity, action, and how the token was
sent: `path` (`/notebooks/t/TOKEN/...`, `/envs/t/TOKEN/...`, `/api/repo/t/TOKEN/OWNER`, and a leading `/t/TOKEN/`
for `/api/projects/...`, `/api/download/...` and `/OWNER/NAME/VERSION/download/...`), `basic` (HTTP Basic
TOKEN:x-auth-token) or `token` (Authorization: token TOKEN). The forms rotate over the cases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import migrate
from packyard.core.db import Database
from packyard.core.models import Account, File, Package, Release
from tests.builders import Member
from tests.conftest import ADMIN_PASSWORD
from tests.unit.formats.named_support import env_yaml, notebook_bytes, project_tar_gz
from tests.unit.matrix_support import (
    ACCESSES,
    COLUMNS,
    NAMESPACE_ADMIN,
    NAMESPACE_LOGIN,
    NAMESPACES,
    ORG_ROWS,
    PASSWORD,
    READS,
    USER_OF,
    Caller,
    Credential,
    MatrixCases,
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

# nbconvert renders every uploaded notebook and says, each time, that it highlights IPython code as Python 3.
pytestmark = pytest.mark.filterwarnings("ignore:IPython3 lexer unavailable:UserWarning")

# --- the rules ---------------------------------------------------------------------------------------------------

# What each identity may do with each target through the REST interface: - nothing, R read, W write, A admin, x the
# credential itself is refused (401 on every request, even for public things). token-* are olivia's tokens for her
# packages and otto's (the org owner's) for acme's; both may do everything with those packages, so the scope alone
# decides. Reading a public package needs no scope.
#                          user namespace      org namespace
#                          pub  auth priv      pub  auth priv
NAMED_TABLE = """
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
token-api-read             R    R    R         R    R    R      api:read: reading through the REST API
token-conda-download       R    R    R         R    R    R      conda:download: conda channels and the REST API
token-pypi-upload          R    -    -         R    -    -      pypi:upload: PyPI upload (twine) only
token-expired              x    x    x         x    x    x
token-removed              x    x    x         x    x    x
token-disabled             x    x    x         x    x    x      gone (collaborator, acme/admins) is disabled
"""

WRITES = frozenset("WA")

TABLE = parse_table(NAMED_TABLE, COLUMNS)

LISTING, FETCH, UPLOAD = "listing", "fetch", "upload"
"""What an action observes. listing: `listed` / `hidden` (200 either way). fetch: 200, or 401/403 when the caller
may not read the package. upload: 200, or 401/403 when the caller may not write to it."""


def expected(cell: str, kind: str, identity: str) -> str:
    if cell == "x":
        return "401"
    if kind == LISTING:
        return "listed" if cell in READS else "hidden"
    if kind == UPLOAD:  # anonymous writes are asked to sign in first, whatever the name
        return "200" if cell in WRITES else refused(identity) if cell in READS else hidden(identity)
    return "200" if cell in READS else hidden(identity, asks=False)


# --- the world ---------------------------------------------------------------------------------------------------


def upload_name(name: str) -> str:
    return name.replace("pkg-", "upl-", 1)


@dataclass
class Target:
    """One package with its four files (version 1.0), and the bytes they were uploaded with."""

    owner: str
    name: str
    marker: str = ""
    """A sentence of the notebook's markdown: the rendered page must show it."""
    notebook: bytes = b""
    env: bytes = b""
    project_files: tuple[str, ...] = ()
    """The paths in the project archive (files only), as /api/projects/.../files must list them."""
    csv: bytes = b""

    @property
    def uploads(self) -> str:
        """The package (configured like this one) that receives the upload cases' new versions."""
        return upload_name(self.name)

    @property
    def notebook_file(self) -> str:
        return f"{self.name}.ipynb"

    @property
    def project_file(self) -> str:
        return f"{self.name}.tar.gz"

    @property
    def csv_file(self) -> str:
        return f"{self.name}.csv"


@dataclass
class NamedWorld:
    world: World
    targets: dict[str, Target] = field(default_factory=dict)
    """column ("private-user", ..., and "private-otto") -> the target."""
    org_token: str = ""
    scope_tokens: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def client(self) -> TestClient:
        return self.world.client


@pytest.fixture(scope="module")
def nw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NamedWorld]:
    data: Path = tmp_path_factory.mktemp("named-matrix") / "data"
    data.mkdir()
    settings = Settings(data=data, admin_password=ADMIN_PASSWORD, base_url="http://testserver")
    migrate.upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast_passwords(monkeypatch)
        with TestClient(create_app(settings, db=db), raise_server_exceptions=False) as client:
            named = NamedWorld(build_world(client, db))
            build_named(named)
            yield named
    db.dispose()


def build_named(nw: NamedWorld) -> None:
    from packyard.core.services.accounts import set_disabled

    world = nw.world
    # gone collaborates on the upload packages like on the targets; build_world has disabled gone already.
    set_disabled(world.db, "gone", False)
    try:
        for namespace in NAMESPACES:
            if namespace in world.problems:
                continue
            try:
                _furnish_namespace(nw, namespace)
            except AssertionError as exc:
                nw.problems[namespace] = str(exc)
        try:
            _build_otto(nw)
        except AssertionError as exc:
            nw.problems["otto"] = str(exc)
    finally:
        try:
            set_disabled(world.db, "gone", True)
        except Exception as exc:  # reported by every case of a disabled user
            nw.problems["token-disabled"] = f"setup: disabling gone again failed: {exc!r}"


def repo_post(
    client: TestClient,
    path: str,
    headers: dict[str, str],
    filetype: str,
    filename: str,
    data: bytes,
    **fields: str,
) -> httpx.Response:
    """`curl -F filetype=... -F content=@FILE [-F name=... -F version=...] .../api/repo/OWNER`."""
    return client.post(
        path,
        headers=headers,
        data={"filetype": filetype, **fields},
        files={"content": (filename, data, "application/octet-stream")},
    )


def notebook_for(owner: str, name: str, version: str) -> tuple[str, bytes]:
    marker = f"Notebook marker {owner}/{name}/{version}."
    return marker, notebook_bytes(f"# {name}\n\n{marker}")


def env_for(name: str, version: str) -> bytes:
    return env_yaml(name, f"  - python >=3.11\n  - numpy\n  # {version}\n")


def project_for(name: str, version: str) -> tuple[tuple[str, ...], bytes]:
    members = [
        Member(name, kind="dir"),
        (f"{name}/README.md", f"# {name} {version}\n".encode()),
        (f"{name}/data/values.csv", b"a,b\n1,2\n"),
    ]
    return (f"{name}/README.md", f"{name}/data/values.csv"), project_tar_gz(members)


def csv_for(owner: str, name: str, version: str) -> bytes:
    return f"owner,name,version\n{owner},{name},{version}\n".encode()


def furnish(nw: NamedWorld, owner: str, token: str, name: str) -> Target:
    """Upload a notebook, an environment, a project and a CSV file to the (existing) package, version 1.0."""
    headers = auth_header(token)
    target = Target(owner, name)
    target.marker, target.notebook = notebook_for(owner, name, "1.0")
    target.env = env_for(name, "1.0")
    target.project_files, project = project_for(name, "1.0")
    target.csv = csv_for(owner, name, "1.0")
    path = f"/api/repo/{owner}"
    for filetype, filename, data, fields in (
        ("ipynb", target.notebook_file, target.notebook, {"name": name}),
        ("env", "environment.yml", target.env, {}),  # the name comes from the file
        ("project", target.project_file, project, {"name": name}),
        ("file", target.csv_file, target.csv, {"name": name}),
    ):
        response = repo_post(nw.client, path, headers, filetype, filename, data, version="1.0", **fields)
        expect(response, 200, what=f"upload {owner}/{name}/1.0/{filename}")
    return target


def _furnish_namespace(nw: NamedWorld, namespace: str) -> None:
    world = nw.world
    token = world.user_tokens[NAMESPACE_ADMIN[namespace]]
    owner = NAMESPACE_LOGIN[namespace]
    for access in ACCESSES:
        name = target_name(access, namespace)
        nw.targets[f"{access}-{namespace}"] = furnish(nw, owner, token, name)
        world.make_package(namespace, access, upload_name(name), collaborators=("cora", "gone"))
        furnish(nw, owner, token, upload_name(name))


def _build_otto(nw: NamedWorld) -> None:
    """otto's own private package, and a token otto made for acme (`anaconda auth --create --org acme`)."""
    token = nw.world.user_tokens["otto"]
    for name in ("pkg-private-otto", "upl-private-otto"):
        expect(
            nw.client.post(f"/api/package/otto/{name}", headers=auth_header(token), json={"public": False}),
            200,
            what=f"create otto/{name}",
        )
        target = furnish(nw, "otto", token, name)
        if name.startswith("pkg-"):
            nw.targets["private-otto"] = target
    nw.org_token = create_token(nw.client, "otto", "matrix-org-token", user="acme")


def check_setup(nw: NamedWorld, *keys: str) -> None:
    for key in keys:
        problem = nw.world.problems.get(key) or nw.problems.get(key)
        if problem:
            pytest.fail(problem, pytrace=False)


# --- credentials ---------------------------------------------------------------------------------------------------

FORMS = ("path", "basic", "token")


def credential(nw: NamedWorld, identity: str, namespace: str, form: str) -> Credential:
    """The credential `identity` uses for a package in a namespace of kind `namespace`."""
    world = nw.world
    if identity == "anonymous":
        return Credential()
    if identity in USER_OF:
        return Credential(world.user_tokens[USER_OF[identity]], form=form)
    if identity == "token-disabled":
        return Credential(world.scoped_tokens[(identity, "any")], form=form)
    return Credential(world.scoped_tokens[(identity, namespace)], form=form)


# --- observing an action -----------------------------------------------------------------------------------------


class Case(Caller):
    TOKEN_BASES = ("/notebooks", "/envs", "/api/repo")

    def __init__(self, nw: NamedWorld, identity: str, target: Target, cred: Credential) -> None:
        super().__init__(nw.client, identity, target, cred)
        self.nw = nw
        self.name = target.name

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def stored(self, name: str, version: str, basename: str) -> bool:
        """Is the file in the database? (Asked there directly: one query, not one more request per case.)"""
        query = (
            select(File.id)
            .join(Release, Release.id == File.release_id)
            .join(Package, Package.id == File.package_id)
            .join(Account, Account.id == Package.owner_id)
            .where(
                Account.login == self.owner,
                Package.name == name,
                Release.version == version,
                File.basename == basename,
            )
        )
        with self.nw.world.db.read() as session:
            return session.scalar(query) is not None


def fetch_answer(response: httpx.Response, problem: Callable[[httpx.Response], str | None]) -> str:
    """The answer; a 200 must also carry the right thing (`problem` says what is wrong with it, if anything)."""
    if response.status_code == 200:
        wrong = problem(response)
        if wrong:
            return f"200 with {wrong}"
    return answer(response)


def same_bytes(data: bytes) -> Callable[[httpx.Response], str | None]:
    return lambda response: None if response.content == data else "other bytes"


# notebooks -------------------------------------------------------------------------------------------------------


def do_notebook_html(case: Case) -> str:
    response = case.get(f"/notebooks/{case.owner}/{case.name}")

    def problem(response: httpx.Response) -> str | None:
        if not response.headers.get("content-type", "").startswith("text/html"):
            return f"content-type {response.headers.get('content-type')!r}"
        if "script-src 'none'" not in response.headers.get("content-security-policy", ""):
            return "no Content-Security-Policy forbidding scripts"
        if case.target.marker not in response.text:
            return "a page that does not show the notebook"
        return None

    return fetch_answer(response, problem)


def do_notebook_raw(case: Case) -> str:
    response = case.get(f"/notebooks/{case.owner}/{case.name}/1.0", params={"download": ""})
    return fetch_answer(response, same_bytes(case.target.notebook))


# environments ----------------------------------------------------------------------------------------------------


def do_envs_listing(case: Case) -> str:
    """listed / hidden (200 either way); an environment the caller may not read must not show anywhere."""
    response = case.get(f"/envs/{case.owner}")
    if response.status_code != 200:
        leaked = case.name in response.text
        return answer(response) + (f", and {case.name!r} leaks in the body" if leaked else "")
    try:
        entries = {entry["name"]: entry for entry in response.json()}
    except (ValueError, KeyError, TypeError) as exc:
        return f"200 with a body that does not parse: {exc!r}"
    entry = entries.get(case.name)
    if entry is not None:
        if entry.get("versions") != ["1.0"] or entry.get("full_name") != f"{case.owner}/{case.name}":
            return f"listed as {entry}"
        return "listed"
    return f"hidden, but {case.name!r} leaks in the body" if case.name in response.text else "hidden"


def env_problem(case: Case) -> Callable[[httpx.Response], str | None]:
    def problem(response: httpx.Response) -> str | None:
        if not response.headers.get("content-type", "").startswith("application/yaml"):
            return f"content-type {response.headers.get('content-type')!r}"
        return same_bytes(case.target.env)(response)

    return problem


def do_env_yaml(case: Case) -> str:
    return fetch_answer(case.get(f"/envs/{case.owner}/{case.name}"), env_problem(case))


def do_env_yaml_version(case: Case) -> str:
    return fetch_answer(case.get(f"/envs/{case.owner}/{case.name}/1.0"), env_problem(case))


# projects --------------------------------------------------------------------------------------------------------


def do_project_revisions(case: Case) -> str:
    response = case.get(f"/api/projects/{case.owner}/{case.name}")

    def problem(response: httpx.Response) -> str | None:
        body = response.json()
        revisions = [
            (r.get("revision"), [f.get("basename") for f in r.get("files", [])])
            for r in body.get("revisions", [])
        ]
        if body.get("full_name") != f"{case.owner}/{case.name}" or revisions != [
            ("1.0", [case.target.project_file])
        ]:
            return f"the project {body.get('full_name')!r} with revisions {revisions}"
        return None

    return fetch_answer(response, problem)


def do_project_files(case: Case) -> str:
    response = case.get(f"/api/projects/{case.owner}/{case.name}/1.0/files")

    def problem(response: httpx.Response) -> str | None:
        paths = tuple(sorted(item.get("path") for item in response.json()))
        return None if paths == tuple(sorted(case.target.project_files)) else f"the files {paths}"

    return fetch_answer(response, problem)


# plain files -----------------------------------------------------------------------------------------------------


def do_file_download(case: Case) -> str:
    response = case.get(f"/{case.owner}/{case.name}/1.0/download/{case.target.csv_file}")
    return fetch_answer(response, same_bytes(case.target.csv))


def do_file_api_download(case: Case) -> str:
    response = case.get(f"/api/download/{case.owner}/{case.name}/1.0/{case.target.csv_file}")
    return fetch_answer(response, same_bytes(case.target.csv))


# one-request uploads ---------------------------------------------------------------------------------------------


def upload(case: Case, filetype: str, filename: str, data: bytes, version: str, **fields: str) -> str:
    """POST /api/repo/OWNER of a new version of the upload package; the answer must match what was stored."""
    name = case.target.uploads
    response = repo_request(case, filetype, filename, data, version=version, **fields)
    stored = case.stored(name, version, filename)
    if response.status_code == 200 and not stored:
        return "200 but the file is not there"
    if response.status_code != 200 and stored:
        return f"{response.status_code} but the file was stored"
    return answer(response, plain=True)


def new_version(case: Case) -> str:
    return f"2.{next(case.nw.world.counter)}"


def do_upload_notebook(case: Case) -> str:
    name, version = case.target.uploads, new_version(case)
    _, data = notebook_for(case.owner, name, version)
    return upload(case, "ipynb", f"{name}.ipynb", data, version, name=name)


def do_upload_env(case: Case) -> str:
    name, version = case.target.uploads, new_version(case)
    return upload(case, "env", "environment.yml", env_for(name, version), version)


def do_upload_project(case: Case) -> str:
    name, version = case.target.uploads, new_version(case)
    _, data = project_for(name, version)
    return upload(case, "project", f"{name}.tar.gz", data, version, name=name)


def do_upload_file(case: Case) -> str:
    name, version = case.target.uploads, new_version(case)
    data = csv_for(case.owner, name, version)
    return upload(case, "file", f"{name}-{version}.csv", data, version, name=name)


def do_file_reupload(case: Case) -> str:
    """The target's own CSV again, byte for byte, to its version 1.0: a writer gets 200 ("already uploaded"); for
    anyone else it is an upload they may not make (and must not learn that the file is there)."""
    response = repo_request(
        case, "file", case.target.csv_file, case.target.csv, name=case.name, version="1.0"
    )
    return answer(response, plain=True)


def repo_request(case: Case, filetype: str, filename: str, data: bytes, **fields: str) -> httpx.Response:
    return case.request(
        "POST",
        f"/api/repo/{case.owner}",
        data={"filetype": filetype, **fields},
        files={"content": (filename, data, "application/octet-stream")},
    )


ACTIONS: dict[str, tuple[str, Callable[[Case], str]]] = {
    "notebook-html": (FETCH, do_notebook_html),
    "notebook-raw": (FETCH, do_notebook_raw),
    "envs-listing": (LISTING, do_envs_listing),
    "env-yaml": (FETCH, do_env_yaml),
    "env-yaml-version": (FETCH, do_env_yaml_version),
    "project-revisions": (FETCH, do_project_revisions),
    "project-files": (FETCH, do_project_files),
    "file-download": (FETCH, do_file_download),
    "file-api-download": (FETCH, do_file_api_download),
    "upload-notebook": (UPLOAD, do_upload_notebook),
    "upload-env": (UPLOAD, do_upload_env),
    "upload-project": (UPLOAD, do_upload_project),
    "upload-file": (UPLOAD, do_upload_file),
    "file-reupload": (UPLOAD, do_file_reupload),
}
MATRIX = MatrixCases(tuple(ACTIONS), FORMS)
CASES = MATRIX.params()


@pytest.mark.parametrize(("identity", "column", "action"), CASES)
def test_named_matrix(nw: NamedWorld, identity: str, column: str, action: str) -> None:
    kind, do = ACTIONS[action]
    namespace = column.split("-")[1]
    check_setup(nw, namespace, identity)
    target = nw.targets[column]
    cred = credential(nw, identity, namespace, MATRIX.form(identity, column, action))
    observed = do(Case(nw, identity, target, cred))
    want = expected(TABLE[identity][column], kind, identity)
    assert observed == want, (
        f"{identity} {action} on {target.owner}/{target.name} ({cred.form}): got {observed}, want {want}"
    )


def test_the_named_matrix_is_big_enough() -> None:
    assert len(CASES) >= 800
    assert {case.id.rsplit("@", 1)[1] for case in CASES} == {*FORMS, "none"}


# --- scopes, one at a time ----------------------------------------------------------------------------------------

# What a token of olivia's with one scope may do with her own private package through these routes (she may do
# anything with it, so the scope alone decides): the REST API's column of the "Tokens" table in docs/security.md.
# Notebooks, environments, projects and files are none of conda's, PyPI's or CRAN's types: those scopes read them
# but do not upload them.
SCOPES_TABLE = """
all                        A
api                        A      the whole REST API
api:read                   R
api:write                  W
conda                      R      conda channels and the REST API; writes conda packages only
conda:download             R
pypi                       R      PyPI and the REST API; writes PyPI packages only
pypi:download              R
pypi:upload                -      PyPI upload (twine) only: nothing here, not even a notebook upload to /api/repo
cran                       R      CRAN and the REST API; writes R packages only
cran:download              R
repos                      R      reading, everywhere
repo                       R      the same as repos
"""
SCOPE_LEVELS = {line.split()[0]: line.split()[1] for line in SCOPES_TABLE.strip().splitlines()}
SCOPE_ACTIONS = (
    "notebook-html",
    "notebook-raw",
    "envs-listing",
    "env-yaml",
    "project-revisions",
    "project-files",
    "file-download",
    "upload-notebook",
    "upload-env",
    "upload-project",
    "upload-file",
)


@pytest.mark.parametrize(("scope", "action"), scope_cases(tuple(SCOPE_LEVELS), tuple(SCOPE_ACTIONS), FORMS))
def test_scopes_through_the_named_routes(
    nw: NamedWorld, scope: str, action: str, request: pytest.FixtureRequest
) -> None:
    check_setup(nw, "user")
    if scope not in nw.scope_tokens:
        nw.scope_tokens[scope] = create_token(nw.client, "olivia", f"scope={scope}", scopes=[scope])
    form = request.node.callspec.id.rsplit("@", 1)[1]
    kind, do = ACTIONS[action]
    observed = do(
        Case(nw, "scope", nw.targets["private-user"], Credential(nw.scope_tokens[scope], form=form))
    )
    cell = SCOPE_LEVELS[scope]
    if kind == UPLOAD:
        want = "200" if cell in WRITES else "403" if cell in READS else "404"
    elif kind == LISTING:
        want = "listed" if cell in READS else "hidden"
    else:
        want = "200" if cell in READS else "404"
    assert observed == want, f"a {scope} token: {action} got {observed}, want {want}"


# --- an organization's token, and a disabled user signing in with the password ------------------------------------

# The table is matrix_support.ORG_TOKEN_TABLE.


@pytest.mark.parametrize(("identity", "column", "action"), org_cases(tuple(ACTIONS), FORMS))
def test_org_token_and_disabled_user(
    nw: NamedWorld, identity: str, column: str, action: str, request: pytest.FixtureRequest
) -> None:
    check_setup(nw, "user", "org", "otto", "token-disabled")
    kind, do = ACTIONS[action]
    target = nw.targets[column]
    if identity == "org-token":
        cred = Credential(nw.org_token, form=request.node.callspec.id.rsplit("@", 1)[1])
    else:
        cred = Credential(password=("gone", PASSWORD))
    observed = do(Case(nw, identity, target, cred))
    want = expected(ORG_ROWS[identity][column], kind, identity)
    assert observed == want, (
        f"{identity} {action} on {target.owner}/{target.name}: got {observed}, want {want}"
    )


def test_otto_himself_may_use_his_private_package(nw: NamedWorld) -> None:
    """The control for the org-token row: the `-` in its last column comes from the token, not from otto."""
    check_setup(nw, "otto")
    target = nw.targets["private-otto"]
    otto = Credential(nw.world.user_tokens["otto"], form="token")
    for action in ("notebook-html", "envs-listing", "project-files", "file-download", "upload-notebook"):
        kind, do = ACTIONS[action]
        assert do(Case(nw, "org-owner", target, otto)) == expected("A", kind, "org-owner"), action
