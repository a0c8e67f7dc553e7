"""Helpers shared by the notebook, environment and project tests: sample files and one-request uploads."""

from __future__ import annotations

import gzip
import io
import random
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

import nbformat
import pytest
from fastapi.testclient import TestClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from sqlalchemy import func, select

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import migrate
from packyard.core.db import Database
from packyard.core.models import File, Package
from packyard.core.services.accounts import create_user
from tests.builders import Member, MemberLike, tar_bytes
from tests.conftest import ADMIN_PASSWORD
from tests.unit.api.helpers import auth, login


@dataclass
class Server:
    """One in-process app for a whole test module (migrating and hashing passwords per test is slow)."""

    client: TestClient
    db: Database
    settings: Settings
    alice: str
    """A token of alice (all scopes); bob is a second user with his own token."""
    bob: str


@pytest.fixture(scope="module", name="server")
def server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The fixture `server`: import `server_fixture` into a test module to use it. Tests use names of their own."""
    data = tmp_path_factory.mktemp("named") / "data"
    settings = Settings(data=data, admin_password=ADMIN_PASSWORD, base_url="http://testserver")
    data.mkdir(parents=True)
    migrate.upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    for login_name in ("alice", "bob"):
        create_user(db, login_name, "password-123")
    with TestClient(create_app(settings, db=db), raise_server_exceptions=False) as client:
        yield Server(
            client, db, settings, login(client, "alice", "password-123"), login(client, "bob", "password-123")
        )
    db.dispose()


XSS_MARKDOWN = (
    "# Hello\n\nSome *text*, a [link](https://example.com) and a [bad one](javascript:alert(1)).\n\n"
    "<script>alert('markdown')</script>\n\n<img src=x onerror=\"alert('img')\">\n\n"
    "<a href=\"JaVaScRiPt:alert('a')\" onclick=\"alert('click')\">click</a>\n"
)


def notebook_bytes(markdown: str = "# Hello\n\nA notebook.", *, xss: bool = False, **metadata: Any) -> bytes:
    """A valid nbformat 4 notebook; with `xss`, every way a script could hide in one."""
    nb = new_notebook()
    nb.metadata.update(metadata)
    cells = [new_markdown_cell(XSS_MARKDOWN if xss else markdown)]
    outputs = [new_output("stream", name="stdout", text="42\n")]
    if xss:
        outputs += [
            new_output("display_data", data={"application/javascript": "alert('js')", "text/plain": "js"}),
            new_output(
                "display_data",
                data={
                    "text/html": "<b>bold</b><script>alert('html')</script><img src=y onerror=alert(2)>"
                    "<iframe src='javascript:alert(3)'></iframe><svg onload=alert(4)></svg>"
                    '<div style="background:url(javascript:alert(5))" onmouseover="alert(6)">d</div>'
                },
            ),
            new_output(
                "display_data", data={"image/svg+xml": "<svg onload='alert(7)'><script>x</script></svg>"}
            ),
            new_output("display_data", data={"text/markdown": "[m](javascript:alert(8)) <script>y</script>"}),
        ]
    cells.append(new_code_cell("print(6 * 7)", execution_count=1, outputs=outputs))
    nb.cells = cells
    return nbformat.writes(nb).encode()


def env_yaml(name: str = "analysis", dependencies: str = "  - python >=3.11\n  - numpy\n") -> bytes:
    return f"name: {name}\nchannels:\n  - conda-forge\ndependencies:\n{dependencies}".encode()


PROJECT_MEMBERS: list[MemberLike] = [
    Member("proj", kind="dir"),
    ("proj/README.md", b"# A project\n"),
    ("proj/analysis.ipynb", notebook_bytes()),
    ("proj/data/values.csv", b"a,b\n1,2\n"),
]


def project_tar_gz(members: list[MemberLike] | None = None) -> bytes:
    return gzip.compress(tar_bytes(PROJECT_MEMBERS if members is None else members), mtime=0)


def project_zip(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def repo_upload(
    client: TestClient, token: str, owner: str, filetype: str, filename: str, data: bytes, **fields: str
):
    """`curl -F filetype=... -F content=@file ... /api/repo/OWNER`: the one-request upload."""
    return client.post(
        f"/api/repo/{owner}",
        headers=auth(token),
        data={"filetype": filetype, **fields},
        files={"content": (filename, data)},
    )


def stored(db: Database) -> tuple[int, int]:
    """(packages, files) in the database: a refused upload must change neither."""
    with db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(Package)) or 0,
            session.scalar(select(func.count()).select_from(File)) or 0,
        )


FUZZ_TOKENS = [
    b"\x00",
    b"\xff",
    b"{",
    b"}",
    b"[",
    b"]",
    b'"',
    b":",
    b",",
    b"\n",
    b"- ",
    b"&a ",
    b"*a",
    b"!!",
    b"..",
    b"/",
]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random edits: flip a byte, insert a token, delete or duplicate a slice."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(out) + 1)
        choice = rng.randrange(4)
        if choice == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1:
            out[at:at] = rng.choice(FUZZ_TOKENS)
        elif choice == 2:
            del out[at : at + rng.randint(1, 16)]
        else:
            out[at:at] = out[at : at + rng.randint(1, 32)]
    return bytes(out)


class _Audit(HTMLParser):
    """Every tag and attribute of a page, as a browser's tokenizer sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "iframe", "object", "embed", "form", "base", "link", "frame", "applet"):
            self.problems.append(f"<{tag}>")
        if tag == "meta" and any(name == "http-equiv" for name, _ in attrs):
            self.problems.append("<meta http-equiv>")
        for name, value in attrs:
            url = re.sub(r"[\x00-\x20\x7f]+", "", value or "").lower()
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=>")
            elif url.startswith(("javascript:", "vbscript:", "data:text/html")):
                self.problems.append(f"<{tag} {name}={value!r}>")


def assert_no_script(page: str) -> None:
    """No <script>, no on*= event handler, no javascript: URL: nothing in the page can run."""
    assert "<script" not in page.lower()
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", page, re.IGNORECASE)
    audit = _Audit()
    audit.feed(page)
    audit.close()
    assert not audit.problems, audit.problems
