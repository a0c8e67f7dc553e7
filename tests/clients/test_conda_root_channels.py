"""The conda channels at the site root, with py-rattler: the channel URLs are copied from the package page.

`http://HOST/OWNER`, `http://HOST/OWNER/label/dev` and `http://HOST/t/TOKEN/OWNER` are what the package page's
install lines name (docs/ui.md); rattler solves and installs from each of them.
"""

from __future__ import annotations

import html
import re
import uuid
from pathlib import Path

import httpx
import pytest

from tests.clients.test_conda_rattler import publish, solve_and_install
from tests.conftest import LiveServer
from tests.unit.api.helpers import auth

pytestmark = [pytest.mark.clients, pytest.mark.xdist_group("conda")]
PASSWORD = "secret-pass-1"
BROWSER = {"Accept": "text/html"}


def _channels_on_page(page: str, name: str) -> list[str]:
    """The channel URLs of the page's `conda install --channel URL NAME` lines, in order."""
    lines = [html.unescape(line) for line in re.findall(r"<code[^>]*>(conda install [^<]*)</code>", page)]
    return [
        m.group(1) for line in lines if (m := re.fullmatch(rf"conda install --channel (\S+) {name}", line))
    ]


def test_rattler_installs_from_the_channels_the_package_page_shows(
    live_server: LiveServer, tmp_path: Path
) -> None:
    login = f"root{uuid.uuid4().hex[:6]}"
    live_server.create_user(login, PASSWORD)
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        made = client.post("/api/authentications", auth=(login, PASSWORD), json={"note": "root channels"})
        token = made.json()["token"]

        def put(name: str, version: str, labels: list[str]) -> None:
            publish(client, token, login, tmp_path, name, version, labels)

        put("rootpkg", "1.0", ["main"])
        put("rootpkg", "2.0", ["dev"])
        put("rootpriv", "1.0", ["main"])
        private = client.patch(
            f"/api/package/{login}/rootpriv", headers=auth(token), json={"access": "private"}
        )
        assert private.status_code == 200, private.text
        public_page = client.get(f"/{login}/rootpkg", headers=BROWSER).text
        private_page = client.get(f"/{login}/rootpriv", headers=BROWSER)
        assert private_page.status_code == 404  # anonymous visitors do not learn of it
        private_page = client.get(f"/t/{token}/{login}/rootpriv", headers=BROWSER)
        assert private_page.status_code == 200

    main, dev = _channels_on_page(public_page, "rootpkg")
    assert (main, dev) == (f"{live_server.url}/{login}", f"{live_server.url}/{login}/label/dev")
    for channel, version in ((main, "1.0"), (dev, "2.0")):
        prefix = tmp_path / f"env-{version}"
        installed = solve_and_install(
            channel, ["rootpkg"], prefix, tmp_path / f"cache-{version}", sharded=False
        )
        assert installed == [f"rootpkg={version}"]
        assert (prefix / f"share/rootpkg/{version}.txt").read_text() == f"rootpkg {version} noarch\n"
    sharded = solve_and_install(main, ["rootpkg"], tmp_path / "env-sharded", tmp_path / "cache-sharded")
    assert sharded == ["rootpkg=1.0"]  # the sharded index and shards answer at the root too

    (shown,) = _channels_on_page(private_page.text, "rootpriv")
    assert shown == f"{live_server.url}/t/<TOKEN>/{login}"
    with pytest.raises(Exception):  # noqa: B017 - rattler reports the 401 in its own words
        solve_and_install(main, ["rootpriv"], tmp_path / "env-denied", tmp_path / "cache-denied")
    prefix = tmp_path / "env-private"
    installed = solve_and_install(shown.replace("<TOKEN>", token), ["rootpriv"], prefix, tmp_path / "cache-p")
    assert installed == ["rootpriv=1.0"]
    assert (prefix / "share/rootpriv/1.0.txt").exists()
