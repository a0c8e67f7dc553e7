"""Notebooks: the pure parser and renderer, and the REST and /notebooks routes in-process."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from packyard.app import create_app
from packyard.core import formats as registry
from packyard.core.artifacts import InvalidPackage
from packyard.formats.notebook import parse as notebook
from packyard.formats.notebook.render import CONTENT_SECURITY_POLICY, clean_html
from tests.unit.api.helpers import auth, upload
from tests.unit.formats.named_support import (
    Server,
    assert_no_script,
    mutate,
    notebook_bytes,
    repo_upload,
    server_fixture,
    stored,
)

assert server_fixture  # the module-scoped app the tests share, as the fixture `server`

# --- the parser -------------------------------------------------------------------------------------------------


def write(tmp_path: Path, data: bytes, name: str = "My Analysis.ipynb") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_parse_renders_and_names_from_the_file(tmp_path: Path) -> None:
    data = notebook_bytes(
        "# Results\n\nThe *answer* is 42.",
        summary="Answers",
        kernelspec={"name": "python3", "display_name": "Python 3"},
    )
    artifact = notebook.parse(write(tmp_path, data), "My Analysis.ipynb")
    assert artifact.package_type == "ipynb" and artifact.name == "my-analysis"
    assert re.fullmatch(r"\d{4}\.\d{2}\.\d{2}\.\d{6}", artifact.version)
    assert artifact.basename == "My Analysis.ipynb" and artifact.summary == "Answers"
    assert artifact.attrs["nbformat"] == 4 and artifact.attrs["kernel"] == "python3"
    page = artifact.extra_files["html"].decode()
    assert page.startswith("<!DOCTYPE html>") and "<title>my-analysis</title>" in page
    assert '<h1 id="Results">' in page and "<em>answer</em>" in page and "print" in page
    assert "42" in page and 'href="?download"' in page
    assert "cdn" not in page.lower() and "require" not in page.lower() and "mathjax" not in page.lower()


def test_parse_takes_the_uploaders_name_version_and_summary(tmp_path: Path) -> None:
    artifact = notebook.parse(
        write(tmp_path, notebook_bytes()), "nb.ipynb", name="Report", version="3", summary=" Q1  report "
    )
    assert (artifact.name, artifact.version, artifact.summary) == ("Report", "3", "Q1 report")
    assert "version 3" in artifact.extra_files["html"].decode()


def test_rendering_is_a_function_of_the_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, notebook_bytes(xss=True))
    first = notebook.parse(path, "a.ipynb", version="1").extra_files["html"]
    assert notebook.parse(path, "a.ipynb", version="1").extra_files["html"] == first


def test_hostile_notebook_renders_without_any_script(tmp_path: Path) -> None:
    artifact = notebook.parse(write(tmp_path, notebook_bytes(xss=True)), "xss.ipynb", version="1")
    page = artifact.extra_files["html"].decode()
    assert_no_script(page)
    assert "<b>bold</b>" in page and 'href="https://example.com"' in page and "data:image/svg+xml" in page


@pytest.mark.parametrize(
    "html",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=//evil/x.js></SCRIPT>",
        "<img src=x onerror=alert(1)>",
        "<svg><script>alert(1)</script></svg>",
        "<a href='jav&#x09;ascript:alert(1)'>x</a>",
        "<a href=' javascript:alert(1)'>x</a>",
        "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
        "<object data='javascript:alert(1)'></object>",
        "<body onload=alert(1)>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<form action=javascript:alert(1)><button>x</button></form>",
        "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
        "<a href='data:text/html,<script>alert(1)</script>'>x</a>",
        "<div style='background-image:url(javascript:alert(1))'>x</div>",
        "<!--<script>--><img src=x onerror=alert(1)>",
    ],
)
def test_clean_html_removes_every_script_vector(html: str) -> None:
    cleaned = clean_html(html)
    assert_no_script(cleaned)
    assert "data:text/html" not in cleaned


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"nbformat": 4, "cells": [', "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2, 3]", "not a Jupyter notebook"),
        (b'{"cells": []}', "not a Jupyter notebook"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "not a valid Jupyter notebook"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code"}]}', "valid"),
        (b'{"nbformat": 99, "nbformat_minor": 0, "metadata": {}, "cells": []}', "not a valid Jupyter"),
        (b'{"nbformat": "4", "nbformat_minor": 0, "metadata": {}, "cells": []}', "not a valid Jupyter"),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_bad_notebooks_are_refused(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(InvalidPackage, match=message):
        notebook.parse(write(tmp_path, data), "bad.ipynb", version="1")


def test_old_notebooks_are_converted(tmp_path: Path) -> None:
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": "old"},
        "worksheets": [{"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Old times"}]}],
    }
    artifact = notebook.parse(write(tmp_path, json.dumps(v3).encode()), "old.ipynb", version="1")
    assert artifact.attrs["nbformat"] == 4 and "Old times" in artifact.extra_files["html"].decode()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"name": "bad name"}, "invalid notebook name"),
        ({"name": "../x"}, "invalid notebook name"),
        ({"version": "1/2"}, "invalid notebook version"),
        ({"version": "1?x"}, "invalid notebook version"),
    ],
)
def test_bad_names_and_versions(tmp_path: Path, kw: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidPackage, match=re.escape(message)):
        notebook.parse(write(tmp_path, notebook_bytes()), "nb.ipynb", **kw)


def test_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notebook, "MAX_NOTEBOOK_BYTES", 100)
    with pytest.raises(InvalidPackage, match="larger than 100 bytes"):
        notebook.parse(write(tmp_path, notebook_bytes()), "nb.ipynb", version="1")


def test_registered_and_detected(tmp_path: Path) -> None:
    assert registry.parser_for("ipynb") is notebook.parse
    assert registry.detect(write(tmp_path, b"{}", "x.IPYNB"), "x.IPYNB") == "ipynb"


def test_mutated_notebooks_only_raise_invalid_package(tmp_path: Path) -> None:
    rng = random.Random(20240701)
    original = notebook_bytes(xss=True)
    path = tmp_path / "fuzz.ipynb"
    refused = 0
    for iteration in range(150):
        path.write_bytes(mutate(original, rng))
        try:
            artifact = notebook.parse(path, "fuzz.ipynb", version="1")
        except InvalidPackage:
            refused += 1
            continue
        except Exception as exc:
            pytest.fail(f"iteration {iteration}: {type(exc).__name__}: {exc}")
        assert_no_script(artifact.extra_files["html"].decode())
    assert refused > 30


# --- over HTTP ----------------------------------------------------------------------------------------------------


def test_upload_render_and_download(server: Server) -> None:
    client, data = server.client, notebook_bytes(xss=True)
    response = repo_upload(
        client, server.alice, "alice", "ipynb", "report.ipynb", data, name="report", version="1"
    )
    assert response.status_code == 200, response.text
    page = client.get("/notebooks/alice/report")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert_no_script(page.text)
    assert client.get("/notebooks/alice/report/1").content == page.content
    again = client.get("/notebooks/alice/report", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304
    assert client.head("/notebooks/alice/report").status_code == 200
    raw = client.get("/notebooks/alice/report?download")
    assert raw.status_code == 200 and raw.content == data
    assert client.get("/alice/report/1/download/report.ipynb").content == data
    files = client.get("/api/package/alice/report").json()["files"]
    assert [(f["type"], f["basename"], f["version"]) for f in files] == [("ipynb", "report.ipynb", "1")]


def test_versions_share_the_basename_and_the_latest_is_shown(server: Server) -> None:
    client = server.client
    for version, text in (("1", "first"), ("2", "second"), ("10", "tenth")):
        data = notebook_bytes(f"# {text}")
        response = repo_upload(
            client, server.alice, "alice", "ipynb", "nb.ipynb", data, name="nb", version=version
        )
        assert response.status_code == 200, response.text
    assert "tenth" in client.get("/notebooks/alice/nb").text
    assert "second" in client.get("/notebooks/alice/nb/2").text
    assert client.get("/notebooks/alice/nb/3").status_code == 404
    data = notebook_bytes("# x")
    again = repo_upload(client, server.alice, "alice", "ipynb", "nb.ipynb", data, name="nb", version="2")
    assert again.status_code == 409


def test_default_name_and_version(server: Server) -> None:
    data = notebook_bytes()
    response = repo_upload(server.client, server.alice, "alice", "ipynb", "Sales Q1.ipynb", data)
    assert response.status_code == 200, response.text
    pkg = server.client.get("/api/package/alice/sales-q1").json()
    assert re.fullmatch(r"\d{4}\.\d{2}\.\d{2}\.\d{6}", pkg["latest_version"])
    same = repo_upload(server.client, server.alice, "alice", "ipynb", "Sales Q1.ipynb", data)
    assert same.status_code == 200 and "identical" in same.text


def test_stage_commit_flow_with_distribution_type_ipynb(server: Server, tmp_path: Path) -> None:
    """What binstar_client.Binstar.upload(..., distribution_type='ipynb') does."""
    client = server.client
    path = write(tmp_path, notebook_bytes("# staged"), "staged.ipynb")
    committed = upload(client, server.alice, "alice", "staged", "2024.1", path, "staged.ipynb", "ipynb")
    assert committed.status_code == 200, committed.text
    assert committed.json()["type"] == "ipynb"
    assert "staged" in client.get("/notebooks/alice/staged/2024.1").text
    bad = write(tmp_path, b'{"nbformat": 4}', "broken.ipynb")
    refused = upload(client, server.alice, "alice", "staged", "2024.2", bad, "broken.ipynb", "ipynb")
    assert refused.status_code == 400 and "not a valid Jupyter notebook" in refused.json()["error"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "cells": "nope", "metadata": {}}', "not a valid Jupyter"),
    ],
)
def test_bad_notebook_upload_stores_nothing(server: Server, data: bytes, message: str) -> None:
    before = stored(server.db)
    response = repo_upload(
        server.client, server.alice, "alice", "ipynb", "bad.ipynb", data, name="bad", version="1"
    )
    assert response.status_code == 400 and message in response.text
    assert stored(server.db) == before
    assert server.client.get("/notebooks/alice/bad").status_code == 404


def test_private_notebook_needs_credentials(server: Server) -> None:
    client, alice = server.client, server.alice
    data = notebook_bytes()
    assert (
        repo_upload(client, alice, "alice", "ipynb", "s.ipynb", data, name="secret", version="1").status_code
        == 200
    )
    assert (
        client.patch("/api/package/alice/secret", headers=auth(alice), json={"public": False}).status_code
        == 200
    )
    anonymous = client.get("/notebooks/alice/secret")
    assert anonymous.status_code == 404  # private: answered as a missing name
    assert client.get("/notebooks/alice/secret?download").status_code == 404
    assert client.get("/notebooks/alice/secret", headers=auth(alice)).status_code == 200
    assert client.get(f"/t/{alice}/notebooks/alice/secret").status_code == 200
    assert client.get("/notebooks/alice/secret", auth=(alice, "x-auth-token")).status_code == 200
    assert client.get("/notebooks/alice/secret?download", headers=auth(alice)).content == data
    page = client.get("/notebooks/alice/secret", headers=auth(alice))
    assert page.headers["cache-control"].startswith("private")
    assert client.get("/notebooks/alice/secret", headers=auth(server.bob)).status_code == 404
    assert client.get("/notebooks/alice/nothing", headers=auth(alice)).status_code == 404


def test_notebooks_host(server: Server) -> None:
    data = notebook_bytes("# hosted")
    repo_upload(server.client, server.alice, "alice", "ipynb", "hosted.ipynb", data, name="hosted")
    app = create_app(server.settings.model_copy(update={"domain": "repo.test"}), db=server.db)
    with TestClient(app) as hosted:
        page = hosted.get("/alice/hosted", headers={"Host": "notebooks.repo.test"})
        assert page.status_code == 200 and "hosted" in page.text
        assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert hosted.get("/alice/hosted/nope", headers={"Host": "notebooks.repo.test"}).status_code == 404


def test_file_names_beyond_ascii_download(server: Server) -> None:
    client, alice = server.client, server.alice
    data = notebook_bytes()
    assert repo_upload(client, alice, "alice", "ipynb", "Análisis.ipynb", data).status_code == 200
    raw = client.get("/notebooks/alice/analisis?download")
    assert raw.status_code == 200 and raw.content == data
    assert raw.headers["content-disposition"] == (
        "attachment; filename=\"An_lisis.ipynb\"; filename*=UTF-8''An%C3%A1lisis.ipynb"
    )
    csv = b"a,b\n1,2\n"
    assert (
        repo_upload(client, alice, "alice", "file", "数据.csv", csv, name="data", version="1").status_code
        == 200
    )
    assert client.get("/alice/data/1/download/数据.csv").content == csv
