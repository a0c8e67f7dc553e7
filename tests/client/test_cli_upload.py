"""`packyard upload`: every type in one call (detected from the file), in parallel, with rich bars on a terminal
and plain lines when piped, a summary with each package's page, and one line per failed file."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import httpx
import pytest

from packyard.cli.detect import detect
from packyard.formats.naming import name_from_basename
from tests.builders import build_conda, build_r_source, build_sdist, build_wheel
from tests.client.cli import CONTROL, Shell, on_terminal, one_error
from tests.client.conftest import Account, new_account
from tests.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("client-library")

NOTEBOOK = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
ENVIRONMENT = "name: analysis-env\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.11\n"


@pytest.fixture
def shell(tmp_path: Path, live_server: LiveServer, account: Account) -> Shell:
    home = tmp_path / "home"
    home.mkdir()
    return Shell(home, {"PACKYARD_URL": live_server.url, "PACKYARD_TOKEN": account.token})


def every_type(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "analysis.ipynb").write_text(NOTEBOOK)
    (folder / "environment.yml").write_text(ENVIRONMENT)
    project = folder / "survey"
    project.mkdir()
    (project / "run.py").write_text("print('hi')\n")
    (folder / "answers.csv").write_bytes(b"a,b\n" * 200_000)  # 800 kB: several chunks
    return [
        build_conda(folder, name="cli-conda", version="1.0", subdir="linux-64"),
        build_conda(folder, name="cli-conda-v2", version="2.0", build="py_1", fmt="conda"),
        build_wheel(folder, name="cli-wheel", version="2.0"),
        build_sdist(folder, name="cli-sdist", version="3.0"),
        build_r_source(folder, name="cliR", version="0.5"),
        folder / "analysis.ipynb",
        folder / "environment.yml",
        project,
        folder / "answers.csv",
    ]


def test_detects_each_type_client_side(tmp_path: Path) -> None:
    found = {path.name: detect(path, version="7") for path in every_type(tmp_path)}
    kinds = {name: (d.kind, d.name, d.version) for name, d in found.items()}
    assert kinds["cli-conda-1.0-0.tar.bz2"] == ("conda", "cli-conda", "1.0")
    assert kinds["cli-conda-v2-2.0-py_1.conda"] == ("conda", "cli-conda-v2", "2.0")
    assert kinds["survey"] == ("project", "survey", "7")
    assert kinds["environment.yml"] == ("env", "analysis-env", "7")
    assert kinds["answers.csv"] == ("file", "answers", "7")
    assert kinds["analysis.ipynb"][0] == "notebook"
    assert {d.kind for d in found.values()} == {
        "conda",
        "wheel",
        "sdist",
        "r",
        "notebook",
        "env",
        "project",
        "file",
    }
    (tmp_path / "My Análisis (v2).ipynb").write_text(NOTEBOOK)
    (tmp_path / "Field Survey").mkdir()
    spaced = [detect(tmp_path / "My Análisis (v2).ipynb"), detect(tmp_path / "Field Survey")]
    # the names the server gives them (anaconda-client's), not ones it refuses
    assert [(d.kind, d.name) for d in spaced] == [("notebook", "my-analisis-v2"), ("project", "field-survey")]
    assert spaced[0].name == name_from_basename("My Análisis (v2).ipynb", (".ipynb",))
    (tmp_path / "fake.tar.bz2").write_bytes(b"not an archive")  # an extension is not enough
    assert detect(tmp_path / "fake.tar.bz2", version="1").kind == "file"


def test_upload_every_type_in_one_call(
    tmp_path: Path, live_server: LiveServer, account: Account, shell: Shell
) -> None:
    files = every_type(tmp_path / "files")
    done = shell.run("upload", "--version", "1", "-l", "main", "-l", "dev", *map(str, files))
    assert done.returncode == 0, done.stderr
    assert not CONTROL.search(done.stdout + done.stderr)  # piped: plain lines, no bars
    assert "uploading" in done.stderr and "sent" in done.stderr
    for name in (
        "cli-conda",
        "cli-wheel",
        "cli-sdist",
        "cliR",
        "analysis",
        "analysis-env",
        "survey",
        "answers",
    ):
        assert f"{live_server.url}/{account.login}/{name}" in done.stdout, name
        package = httpx.get(
            f"{live_server.api}/package/{account.login}/{name}",
            headers={"Authorization": f"token {account.token}"},
        )
        assert package.status_code == 200, name
        assert any("dev" in f.get("labels", []) for f in package.json()["files"]), (
            name,
            package.json()["files"],
        )

    again = shell.run("upload", "--json", str(files[0]), str(files[2]))  # conda, wheel
    assert again.returncode == 1
    assert sorted(o["status"] for o in json.loads(again.stdout)) == ["exists (identical)", "failed"]
    error = [line for line in again.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "cli-conda-1.0-0.tar.bz2" in error[0] and "Traceback" not in again.stderr
    skipped = shell.run("upload", "--skip-existing", "--json", str(files[0]))
    assert skipped.returncode == 0 and json.loads(skipped.stdout)[0]["status"] == "skipped (exists)"
    replaced = shell.run("upload", "--force", "--json", str(files[0]))
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(replaced.stdout)[0]["status"] == "replaced"

    changed = tmp_path / "changed"
    changed.mkdir()
    wheel = build_wheel(
        changed, name="cli-wheel", version="2.0", modules={"cli_wheel/__init__.py": b"x = 2\n"}
    )
    conflict = shell.run("upload", str(wheel))
    assert conflict.returncode == 1 and "already exists" in conflict.stderr.lower()
    forced = shell.run("upload", "--force", "--json", str(wheel))
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)[0]["status"] == "replaced"
    files_now = httpx.get(
        f"{live_server.api}/package/{account.login}/cli-wheel",
        headers={"Authorization": f"token {account.token}"},
    ).json()["files"]
    assert [f["sha256"] for f in files_now] == [hashlib.sha256(wheel.read_bytes()).hexdigest()]


def test_private_and_the_failures(
    tmp_path: Path, live_server: LiveServer, account: Account, shell: Shell
) -> None:
    wheel = build_wheel(tmp_path, name="cli-secret", version="1.0")
    done = shell.run("upload", "--private", str(wheel))
    assert done.returncode == 0, done.stderr
    anonymous = httpx.get(f"{live_server.api}/package/{account.login}/cli-secret")
    assert anonymous.status_code == 404  # private from its first file
    mine = httpx.get(
        f"{live_server.api}/package/{account.login}/cli-secret",
        headers={"Authorization": f"token {account.token}"},
    )
    assert mine.status_code == 200 and mine.json()["files"], mine.text

    other = new_account(live_server, "ot")
    (tmp_path / "o").mkdir()
    refused = shell.run("upload", "-u", other.login, str(build_wheel(tmp_path / "o", name="cli-theirs")))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "write to" in errors[0] and other.login in errors[0], refused.stderr
    one_error(shell.run("upload", str(wheel), PACKYARD_TOKEN="wrong"), "token")
    one_error(shell.run("upload", str(tmp_path / "missing.whl")), "missing.whl")
    (tmp_path / "notes.txt").write_text("x")
    one_error(shell.run("upload", str(tmp_path / "notes.txt")), "--version")
    one_error(shell.run("upload", "--force", "--skip-existing", str(wheel)), "not both")


def test_progress_bars_on_a_terminal(tmp_path: Path, account: Account, shell: Shell) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    (tmp_path / "small.bin").write_bytes(b"x" * 300_000)
    text = on_terminal(shell, "upload", "-v", "1", str(big), str(tmp_path / "small.bin"))
    assert "\x1b[" in text and "━" in text  # rich's bars, drawn with cursor moves
    assert "big.bin (file)" in text and "small.bin (file)" in text
    assert "MB" in text  # bytes done / total, and the speed

    fetched = on_terminal(shell, "download", f"{account.login}/big/1/big.bin", "-o", str(tmp_path / "out"))
    assert "━" in fetched and "6.3 MB" in fetched and "sha256 checked" in fetched
    assert (tmp_path / "out" / "big.bin").read_bytes() == big.read_bytes()
    piped = shell.run("download", f"{account.login}/big/1/big.bin", "-o", str(tmp_path / "piped"))
    assert piped.returncode == 0 and not CONTROL.search(piped.stdout + piped.stderr)
    assert "downloading big.bin (6,291,456 bytes)" in piped.stderr and "received big.bin" in piped.stderr


def four_named(folder: Path, marker: str) -> list[Path]:
    """A notebook whose file name has a space, an environment, a project and a plain file; their bytes carry
    `marker`, so that writing them again with another marker changes every one."""
    folder.mkdir(parents=True, exist_ok=True)
    notebook = json.loads(NOTEBOOK)
    notebook["cells"] = [{"cell_type": "markdown", "metadata": {}, "source": f"run {marker}"}]
    (folder / "Sales Report.ipynb").write_text(json.dumps(notebook))
    (folder / "environment.yml").write_text(f"name: force-env\n# {marker}\ndependencies:\n  - python\n")
    (folder / "survey").mkdir(exist_ok=True)
    (folder / "survey" / "run.py").write_text(f"print({marker!r})\n")
    (folder / "answers.csv").write_text(f"run,{marker}\n")
    return [
        folder / "Sales Report.ipynb",
        folder / "environment.yml",
        folder / "survey",
        folder / "answers.csv",
    ]


FOUR = [
    ("sales-report", "Sales Report.ipynb"),
    ("force-env", "environment.yml"),
    ("survey", "survey.tar.gz"),
    ("answers", "answers.csv"),
]


def stored(server: LiveServer, account: Account, name: str) -> list[tuple[str, str]]:
    """(version, basename) of every file of the package."""
    files = httpx.get(
        f"{server.api}/package/{account.login}/{name}", headers={"Authorization": f"token {account.token}"}
    ).json()["files"]
    return sorted((f["version"], f["basename"]) for f in files)


def served(server: LiveServer, account: Account, name: str, version: str, basename: str) -> bytes:
    """The file's bytes as the server serves them; a project's archive gives its run.py."""
    answer = httpx.get(
        f"{server.api}/download/{account.login}/{name}/{version}/{basename}",
        headers={"Authorization": f"token {account.token}"},
        follow_redirects=True,
    )
    assert answer.status_code == 200, (name, answer.text)
    if not basename.endswith(".tar.gz"):
        return answer.content
    with tarfile.open(fileobj=io.BytesIO(answer.content)) as tar:
        member = tar.extractfile("survey/run.py")
        assert member is not None
        return member.read()


def source_bytes(path: Path) -> bytes:
    return (path / "run.py").read_bytes() if path.is_dir() else path.read_bytes()


def test_force_replaces_notebooks_environments_projects_and_plain_files(
    tmp_path: Path, live_server: LiveServer, account: Account, shell: Shell
) -> None:
    folder = tmp_path / "four"
    files = four_named(folder, "first")
    first = shell.run("upload", "--json", "-v", "1", *map(str, files))
    assert first.returncode == 0, first.stderr
    assert [(o["status"], o["name"], o["version"]) for o in json.loads(first.stdout)] == [
        ("uploaded", name, "1") for name, _ in FOUR
    ]
    old = [source_bytes(path) for path in files]

    four_named(folder, "second")
    conflict = shell.run("upload", "--json", "-v", "1", *map(str, files))
    assert conflict.returncode == 1 and "Traceback" not in conflict.stderr
    assert [o["status"] for o in json.loads(conflict.stdout)] == ["failed"] * 4
    errors = [line for line in conflict.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 4, conflict.stderr
    for line, (name, basename) in zip(errors, FOUR, strict=True):
        assert f"{account.login}/{name}/1/{basename} already exists" in line and "--force" in line, line

    skipped = shell.run("upload", "--json", "--skip-existing", "-v", "1", *map(str, files))
    assert skipped.returncode == 0, skipped.stderr
    assert [o["status"] for o in json.loads(skipped.stdout)] == ["skipped (exists)"] * 4
    for (name, basename), before in zip(FOUR, old, strict=True):
        assert served(live_server, account, name, "1", basename) == before, name

    forced = shell.run("upload", "--json", "--force", "-v", "1", *map(str, files))
    assert forced.returncode == 0, forced.stderr
    assert [(o["status"], o["name"], o["version"]) for o in json.loads(forced.stdout)] == [
        ("replaced", name, "1") for name, _ in FOUR
    ]
    for (name, basename), path in zip(FOUR, files, strict=True):
        assert stored(live_server, account, name) == [("1", basename)], name
        assert served(live_server, account, name, "1", basename) == source_bytes(path), name


def test_force_removes_the_file_in_the_version_the_server_names(
    tmp_path: Path, live_server: LiveServer, account: Account, shell: Shell
) -> None:
    """A plain file's name is unique in its package, so version 2 of answers.csv conflicts with version 1's; a
    project named with -p is archived under that name. --force removes the file the server's 409 names."""
    folder = tmp_path / "v"
    notebook, _env, project, plain = four_named(folder, "one")
    assert shell.run("upload", "-v", "1", str(plain)).returncode == 0
    plain.write_text("run,two\n")
    conflict = shell.run("upload", "-v", "2", str(plain))
    assert conflict.returncode == 1
    assert f"{account.login}/answers/1/answers.csv already exists" in conflict.stderr, conflict.stderr
    forced = shell.run("upload", "--json", "--force", "-v", "2", str(plain))
    assert forced.returncode == 0, forced.stderr
    assert [(o["status"], o["version"]) for o in json.loads(forced.stdout)] == [("replaced", "2")]
    assert stored(live_server, account, "answers") == [("2", "answers.csv")]
    assert served(live_server, account, "answers", "2", "answers.csv") == b"run,two\n"

    assert shell.run("upload", "-p", "fieldwork", "-v", "3", str(project)).returncode == 0
    (project / "run.py").write_text("print('three')\n")
    forced = shell.run("upload", "--json", "--force", "-p", "fieldwork", "-v", "3", str(project))
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)[0]["status"] == "replaced"
    assert stored(live_server, account, "fieldwork") == [("3", "fieldwork.tar.gz")]

    # Without --version the server gives changed bytes a version of their own (the next revision, a timestamp):
    # nothing is in the way. Only a notebook sent twice within one second meets its own timestamp, which --force
    # replaces in place; either way the new bytes are served under the version the summary reports.
    assert shell.run("upload", str(notebook), str(project)).returncode == 0
    four_named(folder, "two")
    again = shell.run("upload", "--json", "--force", str(notebook), str(project))
    assert again.returncode == 0, again.stderr
    nb, survey = json.loads(again.stdout)
    assert (survey["status"], survey["version"]) == ("uploaded", "2")  # revision 1 came from the first call
    assert nb["status"] in ("uploaded", "replaced") and nb["version"] != "1", nb
    assert served(live_server, account, "survey", "2", "survey.tar.gz") == b"print('two')\n"
    notebook_bytes = served(live_server, account, "sales-report", nb["version"], "Sales Report.ipynb")
    assert notebook_bytes == notebook.read_bytes()


def test_builds_of_one_new_release_in_one_call(tmp_path: Path, account: Account, shell: Shell) -> None:
    """Four conda builds of a package and version that do not exist yet go at once: each thread finds no package
    and no release, and all but the first to create them find them made (a 409 that is no failure)."""
    builds = [
        build_conda(tmp_path, name="cli-twins", version="1.0", build=f"py_{i}", subdir="linux-64")
        for i in range(4)
    ]
    done = shell.run("upload", "--json", *map(str, builds))
    assert done.returncode == 0, done.stderr
    assert [o["status"] for o in json.loads(done.stdout)] == ["uploaded"] * 4


def test_a_locked_label_is_neither_skipped_nor_forced(
    tmp_path: Path, live_server: LiveServer, account: Account, shell: Shell
) -> None:
    """A 409 that names no stored file (a locked label) is a failure whatever the flags: nothing exists to skip,
    and removing a file would not let the upload in."""
    (tmp_path / "data.csv").write_text("one\n")
    assert shell.run("upload", "-v", "1", "-l", "frozen", str(tmp_path / "data.csv")).returncode == 0
    with account.client() as api:
        api.lock_label(account.login, "frozen")
    (tmp_path / "other.csv").write_text("new\n")
    skipped = shell.run("upload", "--skip-existing", "-v", "1", "-l", "frozen", str(tmp_path / "other.csv"))
    assert skipped.returncode == 1 and "locked" in skipped.stderr, skipped.stderr
    (tmp_path / "data.csv").write_text("two\n")
    forced = shell.run("upload", "--force", "-v", "1", "-l", "frozen", str(tmp_path / "data.csv"))
    assert forced.returncode == 1 and "locked" in forced.stderr, forced.stderr
    assert served(live_server, account, "data", "1", "data.csv") == b"one\n"
