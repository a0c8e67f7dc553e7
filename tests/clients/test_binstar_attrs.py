"""binstar_client's `upload(..., attrs=...)` and `add_release(..., requirements, ...)` against a live server.

The client's attrs are kept beside what the server parsed (and shown with the file), never in its place; a
release keeps the requirements `add_release` sent (issue #14 item 6).
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import uuid
from pathlib import Path

import httpx
import pytest

from tests.builders import build_conda
from tests.clients.anaconda import clients_bin
from tests.conftest import LiveServer

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("binstar-attrs")]
PASSWORD = "secret-pass-1"

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from binstar_client import Binstar
    api_url, token, owner, conda_path, text_path = sys.argv[1:]
    api = Binstar(token=token, domain=api_url)
    api.add_package(owner, "attrs-demo", summary="attrs and requirements")
    release = api.add_release(owner, "attrs-demo", "1.0", ["numpy >=1.20"], None, {"summary": "one"})
    with open(conda_path, "rb") as fh:
        conda = api.upload(
            owner, "attrs-demo", "1.0", "linux-64/attrs-demo-1.0-0.tar.bz2", fh,
            distribution_type="conda", attrs={"build": "1", "os": "osx", "note": "from CI"},
        )
    with open(text_path, "rb") as fh:
        plain = api.upload(owner, "attrs-demo", "1.0", "notes.txt", fh, distribution_type="file", attrs={"note": "x"})
    print(json.dumps({
        "release": release,
        "shown": api.release(owner, "attrs-demo", "1.0"),
        "conda": api.distribution(owner, "attrs-demo", "1.0", "linux-64/attrs-demo-1.0-0.tar.bz2"),
        "plain": api.distribution(owner, "attrs-demo", "1.0", "notes.txt"),
    }))
    """
)


def test_binstar_attrs_and_requirements(live_server: LiveServer, tmp_path: Path) -> None:
    owner = f"attrs{uuid.uuid4().hex[:6]}"
    live_server.create_user(owner, PASSWORD)
    token = httpx.post(
        f"{live_server.api}/authentications", auth=(owner, PASSWORD), json={"note": "attrs"}, timeout=30
    ).json()["token"]
    conda = build_conda(tmp_path, name="attrs-demo", version="1.0", subdir="linux-64", fmt="tar.bz2")
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    done = subprocess.run(
        [str(clients_bin() / "python"), "-c", SCRIPT, live_server.api, token, owner, str(conda), str(text)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["release"]["requirements"] == ["numpy >=1.20"]
    assert out["shown"]["requirements"] == ["numpy >=1.20"] and out["shown"]["summary"] == "one"
    conda_attrs = out["conda"]["attrs"]
    assert conda_attrs["build"] == "0" and conda_attrs["subdir"] == "linux-64"  # the parse wins
    assert conda_attrs["os"] == "osx" and conda_attrs["note"] == "from CI"  # the rest is kept
    assert out["plain"]["attrs"]["note"] == "x"
    record = httpx.get(f"{live_server.url}/conda/{owner}/linux-64/repodata.json", timeout=30).json()[
        "packages"
    ]
    assert record[conda.name]["build"] == "0" and "note" not in record[conda.name]
