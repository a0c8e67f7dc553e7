"""A hostile-upload corpus, built by the tests from small sources, sent through the real upload API.

Every case is a package an attacker (or a broken build tool) could upload: path traversal, absolute names, links
leaving the package, hard links, devices and FIFOs, NUL and control characters in names, bombs, a zip in a zip,
missing or wrong metadata, markup in every text field. Each is refused with a 4xx whose message names the member
and the rule, or (markup in free text) stored and shown inert. After the corpus the server still answers and a
valid package of every format still uploads.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import zstandard

from packyard.core.artifacts import InvalidPackage
from packyard.formats import base
from packyard.formats.conda import parse as conda_parse
from packyard.formats.cran import parse as cran_parse
from packyard.formats.pypi import parse as pypi_parse
from tests.builders import (
    Member,
    build_conda,
    build_conda_bomb,
    build_r_binary,
    build_r_source,
    build_sdist,
    build_wheel,
    build_wheel_bomb,
    core_metadata,
    rewrite_zip,
    tar_bytes,
)
from tests.unit.api.helpers import auth, ensure_package, post_form, stage
from tests.unit.formats.named_support import (
    Server,
    assert_no_script,
    notebook_bytes,
    repo_upload,
    server_fixture,
    stored,
)

assert server_fixture  # the module-scoped app, as the fixture `server`

XSS = '<script>alert(1)</script><img src=x onerror=alert(2)><a href="javascript:alert(3)">x</a>'
"""Markup for free-text fields: stored as text, never live on a page."""


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    """conda, wheel, sdist, r, r-binary or notebook: which upload route takes it."""
    build: Callable[[Path], Path]
    message: str | None
    """A part of the 4xx answer; None: accepted, and its text must be inert where it is shown."""


# --- builders for what tests/builders.py does not make ------------------------------------------------------


def _conda_members(fmt: str, *members: Member, **kw: object) -> Callable[[Path], Path]:
    return lambda tmp: build_conda(tmp, fmt=fmt, extra_members=list(members), **kw)  # type: ignore[arg-type]


def _dot_conda(change: Callable[[Path], None]) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = build_conda(tmp, fmt="conda")
        change(path)
        return path

    return build


def _replace(path: Path, name: str, data: bytes) -> None:
    rewrite_zip(path, drop=[name], add=[(name, data)])


def _recompressed(path: Path) -> None:
    with zipfile.ZipFile(path) as source:
        members = [(info.filename, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)


def _zst_tar(*members: Member) -> bytes:
    return zstandard.ZstdCompressor().compress(tar_bytes(members))


def _paths_json(*paths: str) -> Member:
    entries = [{"_path": p, "path_type": "hardlink", "size_in_bytes": 0} for p in paths]
    return Member("info/paths.json", json.dumps({"paths": entries, "paths_version": 1}).encode())


def _sdist(
    *extra: Member, metadata: dict[str, str | list[str] | None] | None = None
) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        stem = "demo_pkg-1.0"
        members = [
            *extra,
            Member(f"{stem}/PKG-INFO", core_metadata("demo-pkg", "1.0", "2.2", overrides=metadata)),
            Member(f"{stem}/demo_pkg/__init__.py", b"VALUE = 1\n"),
        ]
        path = tmp / f"{stem}.tar.gz"
        path.write_bytes(gzip.compress(tar_bytes(members), mtime=0))
        return path

    return build


def _wheel_with(*extra: Member) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = build_wheel(tmp)
        return rewrite_zip(path, add=extra)

    return build


def _renamed(build: Callable[[Path], Path], name: str) -> Callable[[Path], Path]:
    return lambda tmp: build(tmp).rename(tmp / name)


def _r_with(*extra: Member) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = build_r_source(tmp)
        members = [*extra, *_tar_members(gzip.decompress(path.read_bytes()))]
        path.write_bytes(gzip.compress(tar_bytes(members), mtime=0))
        return path

    return build


def _tar_members(data: bytes) -> list[Member]:
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [Member(i.name, tar.extractfile(i).read()) for i in tar.getmembers() if i.isreg()]  # type: ignore[union-attr]


def _notebook(data: bytes) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        path = tmp / "analysis.ipynb"
        path.write_bytes(data)
        return path

    return build


# --- the corpus -------------------------------------------------------------------------------------------------

LONG_NUL = "lib/" + "x" * 120 + "\x00.so"
"""Longer than a ustar name, so the pax header carries it whole, NUL included."""


def _conda_cases(fmt: str) -> list[Case]:
    def case(id: str, build: Callable[[Path], Path], message: str | None) -> Case:
        return Case(f"conda-{fmt}-{id}", "conda", build, message)

    return [
        case("absolute", _conda_members(fmt, Member("/etc/evil", b"x")), "absolute member name"),
        case("traversal", _conda_members(fmt, Member("../evil", b"x")), "member name with '..'"),
        case("deep-traversal", _conda_members(fmt, Member("lib/../../evil", b"x")), "member name with '..'"),
        case("backslash-traversal", _conda_members(fmt, Member("lib\\..\\..\\evil", b"x")), "with '..'"),
        case(
            "symlink-absolute",
            _conda_members(fmt, Member("bin/sh", kind="symlink", target="/bin/sh")),
            "bin/sh in the .",
        ),
        case(
            "symlink-escape",
            _conda_members(fmt, Member("lib/x", kind="symlink", target="../../etc/passwd")),
            "lib/x in the ",
        ),
        case(
            "symlink-chain",
            _conda_members(
                fmt,
                Member("lib/up", kind="symlink", target=".."),
                Member("lib/out", kind="symlink", target="up/../x"),
            ),
            "lib/out in the ",
        ),
        case(
            "symlink-through-a-linked-folder",
            _conda_members(
                fmt,
                Member("share/docs", kind="symlink", target="../lib"),
                Member("lib/peek", kind="symlink", target="../share/docs/../../etc"),
            ),
            "which resolves outside the package",
        ),
        case(
            "symlink-loop",
            _conda_members(
                fmt, Member("lib/a", kind="symlink", target="b"), Member("lib/b", kind="symlink", target="a")
            ),
            "symbolic link that loops",
        ),
        case(
            "hardlink-outside",
            _conda_members(fmt, Member("lib/h", kind="hardlink", target="../../etc/shadow")),
            "lib/h in the ",
        ),
        case(
            "hardlink-missing",
            _conda_members(fmt, Member("lib/h", kind="hardlink", target="lib/nothing")),
            "which is not a regular file earlier in the archive",
        ),
        case("fifo", _conda_members(fmt, Member("lib/pipe", kind="fifo")), "lib/pipe in the "),
        case("chardev", _conda_members(fmt, Member("dev/null", kind="chardev")), "is a device node"),
        case("blockdev", _conda_members(fmt, Member("dev/sda", kind="blockdev")), "is a device node"),
        case("nul-in-name", _conda_members(fmt, Member(LONG_NUL, b"x")), "member name containing NUL"),
        case("newline-in-name", _conda_members(fmt, Member("lib/a\nb", b"x")), "control character"),
        case("escape-in-name", _conda_members(fmt, Member("bin/\x1b[2Jls", b"x")), "control character"),
        case(
            "paths-json-traversal",
            _conda_members(fmt, _paths_json("../../etc/passwd")),
            "info/paths.json lists ../../etc/passwd, with '..'",
        ),
        case(
            "paths-json-absolute",
            _conda_members(fmt, _paths_json("/etc/passwd")),
            "info/paths.json lists the absolute path /etc/passwd",
        ),
        case(
            "paths-json-missing-member",
            _conda_members(fmt, _paths_json("bin/not-shipped")),
            "info/paths.json lists bin/not-shipped, which is not in the package",
        ),
        case(
            "files-missing-member",
            _conda_members(fmt, Member("info/files", b"lib/ghost.so\n")),
            "info/files lists lib/ghost.so, which is not in the package",
        ),
        case("upper-case-name", lambda tmp: build_conda(tmp, name="Demo", fmt=fmt), "lower-case"),
        case("markup-in-name", lambda tmp: build_conda(tmp, name="de$mo", fmt=fmt), "invalid name"),
        case(
            "no-index", lambda tmp: build_conda(tmp, fmt=fmt, omit=["info/index.json"]), "no info/index.json"
        ),
        case(
            "index-not-object",
            _conda_members(fmt, Member("info/index.json", b"[1, 2]")),
            "must hold a JSON object",
        ),
        case(
            "overlong-version",
            lambda tmp: build_conda(tmp, fmt=fmt, index_overrides={"version": "1" * 600}),
            "info/index.json says version 1111",
        ),
        case(
            "markup-in-every-text-field",
            lambda tmp: build_conda(
                tmp,
                name=f"inert-{fmt.replace('.', '')}",
                fmt=fmt,
                about={"summary": XSS, "description": XSS, "home": "javascript:alert(1)", "license": XSS},
            ),
            None,
        ),
    ]


def _dot_conda_cases() -> list[Case]:
    stem = "demo-1.0-0"

    def case(id: str, change: Callable[[Path], None], message: str) -> Case:
        return Case(f"dot-conda-{id}", "conda", _dot_conda(change), message)

    return [
        case("no-metadata-json", lambda p: rewrite_zip(p, drop=["metadata.json"]), "has no metadata.json"),
        case(
            "metadata-json-version-1",
            lambda p: _replace(p, "metadata.json", b'{"conda_pkg_format_version": 1}'),
            "must say conda_pkg_format_version 2, not 1",
        ),
        case("metadata-json-not-json", lambda p: _replace(p, "metadata.json", b"{"), "is not valid JSON"),
        case(
            "zip-in-zip",
            lambda p: _replace(p, f"pkg-{stem}.tar.zst", _zip_of(("lib/x", b"x"))),
            f"pkg-{stem}.tar.zst in the .conda archive is a zip archive",
        ),
        case(
            "extra-member",
            lambda p: rewrite_zip(p, add=[("payload.zip", _zip_of(("x", b"x")))]),
            "holds payload.zip; a .conda holds only",
        ),
        case(
            "info-in-pkg-tarball",
            lambda p: _replace(p, f"pkg-{stem}.tar.zst", _zst_tar(Member("info/index.json", b"{}"))),
            "which must hold nothing under info/",
        ),
        case(
            "payload-in-info-tarball",
            lambda p: _replace(p, f"info-{stem}.tar.zst", _zst_tar(Member("lib/evil.so", b"x"))),
            "which must hold only info/",
        ),
        case("compressed-members", _recompressed, "is compressed inside the .conda zip"),
        case(
            "info-tarball-is-a-link",
            lambda p: _add_zip_symlink(
                rewrite_zip(p, drop=[f"info-{stem}.tar.zst"]), f"info-{stem}.tar.zst", "/x"
            ),
            "is a symbolic link",
        ),
    ]


def _zip_of(*members: tuple[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def _wheel_cases() -> list[Case]:
    def case(id: str, build: Callable[[Path], Path], message: str | None) -> Case:
        return Case(f"wheel-{id}", "wheel", build, message)

    def meta(**overrides: str | list[str] | None) -> Callable[[Path], Path]:
        return lambda tmp: build_wheel(tmp, metadata_overrides=overrides)

    return [
        case("metadata-version-3", meta(**{"Metadata-Version": "3.0"}), "Metadata-Version 3.0, which is not"),
        case(
            "metadata-version-1.3", meta(**{"Metadata-Version": "1.3"}), "Metadata-Version 1.3, which is not"
        ),
        case("no-metadata-version", meta(**{"Metadata-Version": None}), "no single valid Metadata-Version"),
        case(
            "requires-python-markup",
            meta(**{"Requires-Python": ">=3.8<script>alert(1)</script>"}),
            "which is not a PEP 440 specifier set",
        ),
        case("requires-python-quotes", meta(**{"Requires-Python": "'>=3.8'"}), "not a PEP 440 specifier set"),
        case(
            "requires-dist-markup",
            meta(**{"Requires-Dist": ["<script>alert(1)</script>"]}),
            "which is not a PEP 508 requirement",
        ),
        case(
            "requires-dist-marker-markup",
            meta(**{"Requires-Dist": ['demo; extra == "<img src=x onerror=alert(1)>"']}),
            "marker values may not hold markup",
        ),
        case(
            "requires-dist-javascript-url",
            meta(**{"Requires-Dist": ["demo @ javascript:alert(1)"]}),
            "whose URL is not an http(s), file or VCS URL",
        ),
        case("provides-extra-markup", meta(**{"Provides-Extra": ["<b>x</b>"]}), "Provides-Extra <b>x</b>"),
        case("name-mismatch", meta(Name="other-pkg"), "says Name other-pkg but the file name says demo-pkg"),
        case("name-markup", meta(Name="<script>"), "METADATA: "),
        case("version-mismatch", meta(Version="2.0"), "says Version 2.0 but the file name says 1.0"),
        case(
            "dist-info-version-mismatch",
            _renamed(build_wheel, "demo_pkg-2.0-py3-none-any.whl"),
            "folder is not for version 2.0",
        ),
        case(
            "no-metadata",
            lambda tmp: build_wheel(tmp, omit=["METADATA"]),
            "has no demo_pkg-1.0.dist-info/METADATA",
        ),
        case("traversal", _wheel_with(Member("../../evil.py", b"x")), "member name with '..'"),
        case("absolute", _wheel_with(Member("/usr/lib/evil.py", b"x")), "absolute member name"),
        case("control-in-name", _wheel_with(Member("demo_pkg/\x1b[31m.py", b"x")), "control character"),
        case("bomb", lambda tmp: build_wheel_bomb(tmp, size=32 << 20), "larger than"),
        case(
            "markup-in-every-text-field",
            lambda tmp: build_wheel(
                tmp,
                name="inert-wheel",
                metadata_overrides={
                    "Summary": XSS,
                    "Home-page": "javascript:alert(1)",
                    "Author": XSS,
                    "License": XSS,
                    "Keywords": XSS,
                    "Project-URL": ["Docs, javascript:alert(1)"],
                },
            ),
            None,
        ),
        case(
            "overlong-summary",
            lambda tmp: build_wheel(tmp, name="long-wheel", metadata_overrides={"Summary": "A" * 100_000}),
            None,
        ),
    ]


def _sdist_cases() -> list[Case]:
    stem = "demo_pkg-1.0"

    def case(id: str, build: Callable[[Path], Path], message: str) -> Case:
        return Case(f"sdist-{id}", "sdist", build, message)

    return [
        case(
            "symlink-escape",
            _sdist(Member(f"{stem}/link", kind="symlink", target="../../etc/passwd")),
            "which resolves outside the package",
        ),
        case(
            "symlink-absolute",
            _sdist(Member(f"{stem}/link", kind="symlink", target="/etc/passwd")),
            "to an absolute path",
        ),
        case("fifo", _sdist(Member(f"{stem}/pipe", kind="fifo")), "is a FIFO"),
        case("device", _sdist(Member(f"{stem}/tty", kind="chardev")), "is a device node"),
        case(
            "hardlink-missing",
            _sdist(Member(f"{stem}/h", kind="hardlink", target="/etc/shadow")),
            "hard link to an absolute path",
        ),
        case("traversal", _sdist(Member("../evil", b"x")), "member name with '..'"),
        case(
            "metadata-version",
            _sdist(metadata={"Metadata-Version": "9.9"}),
            "Metadata-Version 9.9, which is not",
        ),
        case(
            "requires-python-markup",
            _sdist(metadata={"Requires-Python": '>="3"<b>'}),
            "not a PEP 440 specifier set",
        ),
        case("no-pkg-info", lambda tmp: build_sdist(tmp, omit_pkg_info=True), "has no demo_pkg-1.0/PKG-INFO"),
    ]


def _r_cases() -> list[Case]:
    def case(id: str, build: Callable[[Path], Path], message: str | None, kind: str = "r") -> Case:
        return Case(f"r-{id}", kind, build, message)

    def fields(**overrides: str | None) -> Callable[[Path], Path]:
        return lambda tmp: build_r_source(tmp, description_overrides=overrides)

    return [
        case(
            "symlink",
            _r_with(Member("demoR/R/link.R", kind="symlink", target="hello.R")),
            "demoR/R/link.R in the .tar.gz R package archive is a symbolic link; none are allowed",
        ),
        case(
            "hardlink",
            _r_with(Member("demoR/inst/h", kind="hardlink", target="demoR/NAMESPACE")),
            "is a hard link; none are allowed",
        ),
        case("fifo", _r_with(Member("demoR/pipe", kind="fifo")), "is a FIFO"),
        case("device", _r_with(Member("demoR/dev", kind="blockdev")), "is a device node"),
        case("traversal", _r_with(Member("demoR/../../evil", b"x")), "member name with '..'"),
        case("control-in-name", _r_with(Member("demoR/\x07bell", b"x")), "control character"),
        case(
            "depends-markup",
            fields(Depends="<script>alert(1)</script>"),
            "DESCRIPTION's Depends has <script>alert(1)</script>, which is not NAME or NAME (OP VERSION)",
        ),
        case("imports-shell", fields(Imports="utils (>= 1.0); rm -rf /"), "DESCRIPTION's Imports has"),
        case("version-mismatch", fields(Version="2.0"), "says Version 2.0 but the file name says 1.0"),
        case(
            "no-description", lambda tmp: build_r_source(tmp, omit_description=True), "no demoR/DESCRIPTION"
        ),
        case(
            "zip-symlink",
            lambda tmp: (
                rewrite_zip(build_r_binary(tmp), drop=["demoR/MD5"])
                and _add_zip_symlink(tmp / "demoR_1.0.zip", "demoR/MD5", "../../etc/passwd")
            ),
            "demoR/MD5 in the .zip R package archive is a symbolic link",
            kind="r-binary",
        ),
        case(
            "markup-in-every-text-field",
            lambda tmp: build_r_source(
                tmp,
                name="inertR",
                description_overrides={"Title": XSS, "Description": XSS, "URL": "javascript:alert(1)"},
                author=XSS,
            ),
            None,
        ),
    ]


def _add_zip_symlink(path: Path, name: str, target: str) -> Path:
    with zipfile.ZipFile(path, "a") as archive:
        info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
        info.external_attr = 0o120777 << 16
        archive.writestr(info, target)
    return path


def _notebook_cases() -> list[Case]:
    def case(id: str, data: bytes, message: str | None) -> Case:
        return Case(f"notebook-{id}", "notebook", _notebook(data), message)

    return [
        case("not-json", b'{"nbformat": 4, "cells": [', "not valid JSON"),
        case("not-utf8", b"\xff\xfe{}", "not UTF-8"),
        case("deep-nesting", b"[" * 100_000, "not valid JSON"),
        case(
            "wrong-nbformat",
            b'{"nbformat": 99, "nbformat_minor": 0, "metadata": {}, "cells": []}',
            "nbformat",
        ),
        case("markup-everywhere", notebook_bytes(xss=True, title=XSS), None),
        case(
            "css-expression",
            notebook_bytes('<div style="width: expression(alert(1))">x</div>\n\n<p style="color:red">y</p>'),
            None,
        ),
    ]


CASES = [
    *_conda_cases("tar.bz2"),
    *_conda_cases("conda"),
    *_dot_conda_cases(),
    *_wheel_cases(),
    *_sdist_cases(),
    *_r_cases(),
    *_notebook_cases(),
]


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert {case.kind for case in CASES} >= {"conda", "wheel", "sdist", "r", "notebook"}
    assert len({case.id for case in CASES}) == len(CASES)


# --- sending -----------------------------------------------------------------------------------------------------


def send(server: Server, kind: str, path: Path) -> httpx.Response:
    client, token, data = server.client, server.alice, path.read_bytes()
    if kind == "conda":
        return send_conda(server, path)
    filetype = {
        "wheel": "bdist_wheel",
        "sdist": "sdist",
        "r": "cran_source_package",
        "r-binary": "cran_binary_package",
        "notebook": "ipynb",
    }[kind]
    fields = (
        {"name": "analysis-" + hashlib.sha256(data).hexdigest()[:8], "version": "1"}
        if kind == "notebook"
        else {}
    )
    return repo_upload(client, token, "alice", filetype, path.name, data, **fields)


def send_conda(server: Server, path: Path) -> httpx.Response:
    """anaconda-client's flow (stage, POST the file, commit); the first answer that is not a success."""
    client, token, data = server.client, server.alice, path.read_bytes()
    name, version, _build = path.name.removesuffix(".tar.bz2").removesuffix(".conda").rsplit("-", 2)
    name = name.lower() if name.lower().replace("-", "").isalnum() else "demo"
    ensure_package(client, token, "alice", name)
    basename = f"noarch/{path.name}"
    sha256 = hashlib.sha256(data).hexdigest()
    staged = stage(client, token, "alice", name, version[:64], basename, "conda", sha256)
    if staged.status_code != 200:
        return staged
    posted = post_form(client, staged.json(), data, basename)
    if posted.status_code != 201:
        return posted
    return client.post(
        f"/api/commit/alice/{name}/{version[:64]}/{quote(basename)}",
        headers=auth(token),
        json={"dist_id": staged.json()["dist_id"]},
    )


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_hostile_upload(server: Server, case: Case, tmp_path: Path) -> None:
    path = case.build(tmp_path)
    files_before = stored(server.db)[1]
    response = send(server, case.kind, path)
    if case.message is not None:
        assert 400 <= response.status_code < 500, response.text
        assert case.message in response.text, response.text
        assert stored(server.db)[1] == files_before
        return
    assert response.status_code in (200, 201), response.text
    assert_inert(server, case)


def assert_inert(server: Server, case: Case) -> None:
    """The package's pages show the markup as text: nothing runs, no style, no javascript: link."""
    client = server.client
    names = {
        "conda": f"inert-{case.id.split('-')[1]}".replace(".", ""),
        "wheel": "long-wheel" if "overlong" in case.id else "inert-wheel",
        "r": "inertR",
    }
    if case.kind == "notebook":
        listing = client.get("/api/packages/alice", headers={"Authorization": f"token {server.alice}"}).json()
        pages = [
            client.get(f"/notebooks/alice/{pkg['name']}").text
            for pkg in listing
            if pkg["name"].startswith("analysis-")
        ]
    else:
        name = names[case.kind]
        pages = [client.get(f"/alice/{name}").text, client.get(f"/alice/{name}/files").text]
    assert pages
    for page in pages:
        if case.kind == "notebook":
            assert_no_script(page)  # the standalone page has no script of its own
        audit = _UserMarkup()
        audit.feed(page)
        audit.close()
        assert not audit.problems, audit.problems


class _UserMarkup(HTMLParser):
    """What the uploaded markup would have made live in a page that has scripts and forms of its own."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            url = re.sub(r"[\x00-\x20\x7f]+", "", value or "").lower()
            if name.startswith("on") or name == "style" or url.startswith(("javascript:", "vbscript:")):
                self.problems.append(f"<{tag} {name}={value!r}>")
        if tag == "script" and not dict(attrs).get("src", "").startswith("/"):
            self.problems.append("<script> without a site src")

    def handle_data(self, data: str) -> None:
        if "alert(1)" in data and self.lasttag == "script":
            self.problems.append("the uploaded script runs")


def test_a_bomb_inside_a_dot_conda(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pkg tarball is streamed within the expansion budget (here lowered: the real one is 1 GiB)."""
    monkeypatch.setattr(base, "MIN_EXPANSION_BYTES", 1 << 20)
    for fmt in ("conda", "tar.bz2"):
        path = build_conda(tmp_path, fmt=fmt, files={"zeros.bin": bytes(8 << 20)})
        response = send(server, "conda", path)
        assert response.status_code == 400 and "archive expands to more than" in response.text, response.text


def test_a_metadata_bomb_in_a_tar_bz2(server: Server, tmp_path: Path) -> None:
    response = send(server, "conda", build_conda_bomb(tmp_path, size=64 << 20))
    assert response.status_code == 400 and "is larger than" in response.text, response.text


def test_the_server_is_healthy_after_the_corpus(server: Server, tmp_path: Path) -> None:
    """Runs last in the module: every format still uploads, and the server answers."""
    assert server.client.get("/health").status_code == 200
    for kind, path in [
        ("conda", build_conda(tmp_path, name="after", fmt="tar.bz2")),
        ("conda", build_conda(tmp_path, name="after", fmt="conda")),
        ("wheel", build_wheel(tmp_path, name="after-wheel")),
        ("sdist", build_sdist(tmp_path, name="after-wheel")),
        ("r", build_r_source(tmp_path, name="afterR")),
        ("r-binary", build_r_binary(tmp_path, name="afterR")),
        ("notebook", _notebook(notebook_bytes())(tmp_path)),
    ]:
        response = send(server, kind, path)
        assert response.status_code in (200, 201), (kind, response.text)


# --- every package the test suite builds still passes ------------------------------------------------------------


BUILT: list[tuple[str, Callable[[Path], Path]]] = [
    ("conda", lambda tmp: build_conda(tmp)),
    ("conda", lambda tmp: build_conda(tmp, fmt="conda")),
    ("conda", lambda tmp: build_conda(tmp, subdir="linux-64", depends=["python >=3.11"], run_exports=["x"])),
    ("conda", lambda tmp: build_conda(tmp, fmt="conda", noarch="python", run_exports={"weak": ["y"]})),
    (
        "conda",
        lambda tmp: build_conda(
            tmp, extra_members=[Member("lib/libdemo.so", kind="symlink", target="libdemo.so.1")]
        ),
    ),
    (
        "pypi",
        lambda tmp: build_wheel(tmp, requires_python=">=3.9", requires_dist=['x>=1; python_version<"3.12"']),
    ),
    ("pypi", lambda tmp: build_wheel(tmp, metadata_version="2.4", tag="cp312-cp312-manylinux_2_17_x86_64")),
    ("pypi", lambda tmp: build_sdist(tmp)),
    ("pypi", lambda tmp: build_wheel(tmp, metadata_version="2.0")),  # what `wheel` wrote until 2018
    ("pypi", lambda tmp: build_sdist(tmp, fmt="zip", metadata_version="2.1")),
    ("pypi", lambda tmp: build_sdist(tmp, requires_dist=["demo[extra] @ https://example.org/demo.whl"])),
    ("r", lambda tmp: build_r_source(tmp, depends=["R (>= 4.1)"], imports=["utils", "stats (>= 4.0-1)"])),
    ("r", lambda tmp: build_r_source(tmp, with_src=True, encoding="latin1")),
    ("r", lambda tmp: build_r_binary(tmp)),
    ("r", lambda tmp: build_r_binary(tmp, platform="macos", arch="aarch64-apple-darwin20")),
]


@pytest.mark.parametrize(("fmt", "build"), BUILT)
def test_packages_the_suite_builds_pass_validation(
    fmt: str, build: Callable[[Path], Path], tmp_path: Path
) -> None:
    path = build(tmp_path)
    parser = {"conda": conda_parse, "pypi": pypi_parse, "r": cran_parse}[fmt]
    assert parser.parse(path, path.name).name


INSIDE_LINKS = [
    [Member("bin/python", kind="symlink", target="python3.12")],
    [Member("lib/libz.so", kind="symlink", target="./libz.so.1")],
    [Member("share/a", kind="symlink", target="../lib/../share/b")],
    [Member("lib/here", kind="symlink", target=".")],
    [Member("lib/up", kind="symlink", target=".."), Member("lib/via", kind="symlink", target="up/bin/tool")],
    [
        Member("etc/x", kind="symlink", target="../etc/../etc/../etc/y"),
        Member("etc/y", kind="symlink", target="z"),
    ],
    [Member("lib/data.bin", b"x"), Member("lib/same.bin", kind="hardlink", target="lib/data.bin")],
]


@pytest.mark.parametrize("fmt", ["tar.bz2", "conda"])
@pytest.mark.parametrize("members", INSIDE_LINKS, ids=lambda members: members[-1].name)
def test_links_that_stay_inside_are_fine(fmt: str, members: list[Member], tmp_path: Path) -> None:
    path = build_conda(tmp_path, fmt=fmt, extra_members=members)  # type: ignore[arg-type]
    assert conda_parse.parse(path, path.name).name == "demo"


@pytest.mark.parametrize("field", ["md5_digest", "sha256_digest"])
def test_digest_mismatches_are_refused(server: Server, tmp_path: Path, field: str) -> None:
    wheel = build_wheel(tmp_path, name="digest-check")
    response = repo_upload(
        server.client,
        server.alice,
        "alice",
        "bdist_wheel",
        wheel.name,
        wheel.read_bytes(),
        **{field: "0" * 32},
    )
    assert response.status_code == 400 and "digest" in response.text.lower(), response.text


def test_a_length_mismatch_is_refused(server: Server, tmp_path: Path) -> None:
    path = build_conda(tmp_path, name="length-check")
    data = path.read_bytes()
    ensure_package(server.client, server.alice, "alice", "length-check")
    basename = f"noarch/{path.name}"
    staged = stage(server.client, server.alice, "alice", "length-check", "1.0", basename, "conda")
    assert staged.status_code == 200, staged.text
    posted = post_form(server.client, staged.json(), data, basename, size=len(data) + 1)
    assert 400 <= posted.status_code < 500, posted.text
    wrong_md5 = post_form(server.client, staged.json(), data, basename, md5=b"0" * 16)
    assert 400 <= wrong_md5.status_code < 500, wrong_md5.text


def test_link_resolution_work_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Long chains of long targets cost a bounded number of steps, then a refusal, never minutes."""
    monkeypatch.setattr(base, "MAX_LINK_STEPS", 10_000)
    target = "/".join(["."] * 2000) + "/next"
    members = [
        Member(f"lib/l{i}", kind="symlink", target=target.replace("next", f"l{i + 1}")) for i in range(30)
    ]
    path = build_conda(tmp_path, extra_members=members)
    with pytest.raises(InvalidPackage, match="symbolic links take more than 10000 steps"):
        conda_parse.parse(path, path.name)
    too_long = build_conda(
        tmp_path, fmt="conda", extra_members=[Member("lib/x", kind="symlink", target="a/" * 2100)]
    )
    with pytest.raises(
        InvalidPackage, match=r"lib/x in the \.conda archive is a symbolic link with an invalid target"
    ):
        conda_parse.parse(too_long, too_long.name)
