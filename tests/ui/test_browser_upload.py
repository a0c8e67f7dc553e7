"""Uploading in the browser (`/upload`, ui/upload.py; seed 004 "Upload R packages through the UI"): several files
at once with progress bars, a notebook with its name, the form without JavaScript; then the real clients install
what was uploaded (pip, Rscript). A bad file shows its error next to the file; a forged upload stores nothing.
Logins are prefixed `admin-` (this module belongs to the admin area; the live server is shared)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.builders import build_conda, build_r_source, build_wheel
from tests.ui.conftest import PASSWORD, Site, api_token, axe_problems, csrf_from, http_sign_in, shoot, sign_in
from tests.ui.test_install_lines_real import client_env, rscript, shell
from tests.unit.api.helpers import auth
from tests.unit.formats.named_support import notebook_bytes

OWNER = "admin-uploader"


@pytest.fixture(scope="module")
def uploader(site: Site) -> str:
    site.server.create_user(OWNER, PASSWORD)
    site.server.create_user("admin-mallory", PASSWORD)
    with site.client() as client:
        token = api_token(client, OWNER)
        assert (
            client.post("/api/orgs/admin-lab", headers=auth(token), json={"name": "Admin Lab"}).status_code
            == 201
        )
    return token


def _package(site: Site, owner: str, name: str, token: str | None = None) -> httpx.Response:
    with site.client() as client:
        return client.get(f"/api/package/{owner}/{name}", headers=auth(token) if token else None)


def _blob_exists(site: Site, data: bytes) -> bool:
    sha = hashlib.sha256(data).hexdigest()
    return (site.server.data / "blobs" / sha[:2] / sha[2:4] / sha).exists()


def _temp_files(site: Site) -> list[Path]:
    return list((site.server.data / "blobs" / "tmp").iterdir())


def _db_rows(site: Site, sha256: str) -> int:
    db = next(site.server.data.glob("*.db"))
    with sqlite3.connect(db) as conn:
        return conn.execute("select count(*) from files where sha256 = ?", (sha256,)).fetchone()[0]


def test_several_files_with_progress_then_pip_and_r_install(
    site: Site, uploader: str, page, tmp_path: Path
) -> None:
    wheel = build_wheel(tmp_path, name="admin-wheel", version="1.0")
    rpkg = build_r_source(tmp_path, name="adminR", version="1.0")
    conda = build_conda(tmp_path, name="admin-conda", version="2.0", subdir="noarch")
    sign_in(page, site, OWNER)
    page.click(".account-menu summary")
    page.click(".account-menu a[href='/upload']")
    assert page.locator("#up-owner option").all_inner_texts() == [f"{OWNER} (you)", "admin-lab"]
    assert axe_problems(page) == []
    shoot(page, "admin-upload", tmp_path)
    page.set_input_files("#up-file", [str(wheel), str(rpkg), str(conda)])
    page.click("form[data-upload] button[type=submit]")
    rows = page.locator(".upload-list li")
    expect(page.locator(".upload-list li.done, .upload-list li.failed")).to_have_count(3, timeout=60000)
    texts = rows.all_inner_texts()
    assert all("Uploaded" in t for t in texts), texts
    assert [
        int(v) for v in page.locator(".upload-list progress").evaluate_all("els => els.map(e => e.value)")
    ] == [
        100,
        100,
        100,
    ]
    assert axe_problems(page) == []
    shoot(page, "admin-upload-progress", tmp_path)
    for name in ("admin-wheel", "adminR", "admin-conda"):
        assert _package(site, OWNER, name).status_code == 200, name

    # the real clients install what the browser uploaded
    target = tmp_path / "target"
    env = client_env(tmp_path, PIP_TARGET=str(target))
    shell(f"pip install --index-url {site.url}/pypi/{OWNER}/simple/ admin-wheel", tmp_path, env)
    assert (target / "admin_wheel-1.0.dist-info").is_dir()
    lib = tmp_path / "rlib"
    lib.mkdir()
    renv = client_env(tmp_path, R_LIBS_USER=str(lib))
    rscript(f'install.packages("adminR", repos = "{site.url}/cran/{OWNER}", lib = "{lib}")', tmp_path, renv)
    out = rscript(f'library(adminR, lib.loc = "{lib}"); cat(hello())', tmp_path, renv)
    assert "hello from the demo R package" in out


def test_a_notebook_with_its_name_into_an_organization_and_label(
    site: Site, uploader: str, page, tmp_path: Path
) -> None:
    notebook = tmp_path / "analysis.ipynb"
    notebook.write_bytes(notebook_bytes())
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/admin-lab")
    page.click("a:text-is('Upload to admin-lab')")
    assert page.input_value("#up-owner") == "admin-lab"
    page.fill("#up-label", "dev")
    page.click(".upload-named summary")
    page.fill("#up-name", "admin-analysis")
    page.fill("#up-version", "3")
    page.fill("#up-summary", "The lab's analysis")
    page.set_input_files("#up-file", str(notebook))
    page.click("form[data-upload] button[type=submit]")
    page.wait_for_selector(".upload-list li.done")
    assert (
        "Uploaded analysis.ipynb to admin-lab/admin-analysis 3"
        in page.locator(".upload-list li").inner_text()
    )
    found = _package(site, "admin-lab", "admin-analysis", uploader)
    assert found.status_code == 200, found.text
    assert [f["labels"] for f in found.json()["files"]] == [["dev"]]


def test_without_javascript_the_form_posts_and_shows_a_result_page(
    site: Site, uploader: str, browser, tmp_path: Path
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        wheel = build_wheel(tmp_path, name="admin-nojs", version="0.5")
        sign_in(page, site, OWNER)
        page.goto(f"{site.url}/upload")
        assert page.get_attribute("#up-file", "multiple") is None  # one file per request without the script
        page.set_input_files("#up-file", str(wheel))
        page.click("form[data-upload] button[type=submit]")
        assert "Uploaded admin_nojs-0.5-py3-none-any.whl" in page.locator(".upload-result").inner_text()
        page.click(".upload-result a")
        assert page.url.endswith(f"/{OWNER}/admin-nojs")
        # a bad file: the pipeline's message next to the file, status 400, nothing stored
        bad = tmp_path / "broken-1.0-py3-none-any.whl"
        bad.write_bytes(b"this is not a zip file")
        page.goto(f"{site.url}/upload")
        page.set_input_files("#up-file", str(bad))
        with page.expect_response(
            lambda r: r.url.endswith("/upload") and r.request.method == "POST"
        ) as answer:
            page.click("form[data-upload] button[type=submit]")
        assert answer.value.status == 400
        error = page.locator("#up-file-error").inner_text()
        assert error.startswith("Invalid distribution file."), error
        assert page.get_attribute("#up-file", "aria-invalid") == "true"
    finally:
        context.close()
    assert not _blob_exists(site, b"this is not a zip file")
    assert _package(site, OWNER, "broken", uploader).status_code == 404


def test_a_bad_file_shows_its_error_next_to_it(site: Site, uploader: str, page, tmp_path: Path) -> None:
    good = build_conda(tmp_path, name="admin-fine", version="1.0", subdir="noarch")
    bad = tmp_path / "admin-bad-1.0-0.tar.bz2"
    bad.write_bytes(b"BZh not really a conda package")
    sign_in(page, site, OWNER)
    page.goto(f"{site.url}/upload")
    page.set_input_files("#up-file", [str(bad), str(good)])
    page.click("form[data-upload] button[type=submit]")
    expect(page.locator(".upload-list li.done, .upload-list li.failed")).to_have_count(2, timeout=60000)
    failed = page.locator(".upload-list li.failed")
    assert failed.count() == 1
    assert "admin-bad-1.0-0.tar.bz2" in failed.locator(".upload-name").inner_text()
    assert failed.locator("[role=alert]").inner_text().startswith("Invalid distribution file.")
    assert page.locator(".upload-list li.done").count() == 1
    assert axe_problems(page) == []
    shoot(page, "admin-upload-error", tmp_path)
    assert not _blob_exists(site, bad.read_bytes())


def test_uploading_to_an_owner_you_may_not_write_is_refused_before_storing(
    site: Site, uploader: str, tmp_path: Path
) -> None:
    wheel = build_wheel(tmp_path, name="admin-intruder", version="1.0")
    data = wheel.read_bytes()
    with site.client() as client:
        assert http_sign_in(client, "admin-mallory").status_code == 303
        token = csrf_from(client.get("/upload").text)
        answer = client.post(
            "/upload",
            data={"csrf_token": token, "owner": OWNER, "label": "main"},
            files={"content": (wheel.name, data)},
            headers={"Accept": "application/json"},
        )
    assert answer.status_code == 403, answer.text
    assert answer.json()["ok"] is False
    assert not _blob_exists(site, data)
    assert _db_rows(site, hashlib.sha256(data).hexdigest()) == 0


def test_a_forged_upload_stores_nothing(site: Site, uploader: str, tmp_path: Path) -> None:
    """No CSRF token; another session's token; the token after the file: each a 403 before a byte is stored."""
    wheel = build_wheel(tmp_path, name="admin-forged", version="6.6")
    data = wheel.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    with site.client() as victim, site.client() as attacker:
        assert http_sign_in(victim, OWNER).status_code == 303
        assert http_sign_in(attacker, "admin-mallory").status_code == 303
        victim_token = csrf_from(victim.get("/upload").text)
        attacker_token = csrf_from(attacker.get("/upload").text)
        no_token = victim.post("/upload", data={"owner": OWNER}, files={"content": (wheel.name, data)})
        assert no_token.status_code == 403
        other_session = victim.post(
            "/upload",
            data={"csrf_token": attacker_token, "owner": OWNER},
            files={"content": (wheel.name, data)},
        )
        assert other_session.status_code == 403
        # the right token, but after the file part: the file would be stored before the check, so it is refused
        boundary = "xyzzy"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{wheel.name}"\r\n\r\n'.encode()
            + data
            + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{victim_token}'
            f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="owner"\r\n\r\n{OWNER}\r\n--{boundary}--\r\n'.encode()
        )
        late = victim.post(
            "/upload", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        assert late.status_code == 403
        anonymous = httpx.post(
            f"{site.url}/upload",
            data={"csrf_token": victim_token, "owner": OWNER},
            files={"content": (wheel.name, data)},
        )
        assert anonymous.status_code == 401
    assert not _blob_exists(site, data)
    assert _db_rows(site, sha) == 0
    assert _package(site, OWNER, "admin-forged", uploader).status_code == 404
    assert [p for p in _temp_files(site) if p.name.endswith(".part")] == []


def test_the_upload_page_needs_a_sign_in(site: Site) -> None:
    answer = httpx.get(f"{site.url}/upload", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/upload"


def test_an_environment_and_a_plain_file_with_name_version_and_summary(
    site: Site, uploader: str, tmp_path: Path
) -> None:
    """The same form as packyard.js sends it (fields first, the file last, asking for JSON)."""
    env = b"name: admin-env\nchannels:\n  - conda-forge\ndependencies:\n  - python\n"
    csv = b"sample,value\n1,2\n"
    with site.client() as client:
        assert http_sign_in(client, OWNER).status_code == 303
        token = csrf_from(client.get("/upload").text)
        sent = client.post(
            "/upload",
            data={"csrf_token": token, "owner": OWNER, "label": "main", "filetype": ""},
            files={"content": ("environment.yml", env)},
            headers={"Accept": "application/json"},
        )
        assert sent.status_code == 200, sent.text
        answer = sent.json()
        assert answer["ok"] is True and answer["url"] == f"/{OWNER}/admin-env"
        assert answer["message"].startswith(
            f"Uploaded environment.yml to {OWNER}/admin-env "
        )  # a dated version
        sent = client.post(
            "/upload",
            data={
                "csrf_token": token,
                "owner": OWNER,
                "label": "main",
                "filetype": "file",
                "name": "admin-names",
                "version": "2024.1",
                "summary": "Baby names",
            },
            files={"content": ("names.csv", csv)},
            headers={"Accept": "application/json"},
        )
        assert sent.status_code == 200, sent.text
        again = client.post(
            "/upload",
            data={
                "csrf_token": token,
                "owner": OWNER,
                "filetype": "file",
                "name": "admin-names",
                "version": "2024.1",
            },
            files={"content": ("names.csv", csv)},
            headers={"Accept": "application/json"},
        )
        assert again.json()["message"] == "names.csv was already there (the same file): nothing changed."
        unnamed = client.post(
            "/upload",
            data={"csrf_token": token, "owner": "no-such-owner-here"},
            files={"content": ("names.csv", csv)},
            headers={"Accept": "application/json"},
        )
        assert unnamed.status_code == 404
    found = _package(site, OWNER, "admin-names").json()
    assert found["summary"] == "Baby names"
    assert [f["version"] for f in found["files"]] == ["2024.1"]
    assert _package(site, OWNER, "admin-env").status_code == 200
