"""README badges (ui/badges.py): well-formed SVG whatever the text, the right numbers, the package page's access
check, and headers that let caches keep public badges but never private ones."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from packyard.ui.badges import BADGE_CSP, clean, compact, svg, text_width
from tests.builders import build_conda, build_wheel
from tests.unit.api.helpers import auth, login, upload

PASSWORD = "password-123"
SVG = "{http://www.w3.org/2000/svg}"
PAYLOAD = "<script>x()</script>\"' onload=y &amp; ]]>"
BADGE_NAMES = ("version", "latest_release_date", "downloads", "platforms", "license")


def _texts(body: str) -> list[str]:
    root = ET.fromstring(body)
    assert root.tag == f"{SVG}svg"
    return [el.text or "" for el in root.iter(f"{SVG}text")]


def test_the_svg_is_well_formed_and_shows_hostile_text_as_text() -> None:
    body = svg(PAYLOAD, "ok\x00\x1b\ufffe" + PAYLOAD, "#1f5c45")
    root = ET.fromstring(body)  # raises on anything that is not well-formed XML
    assert _texts(body) == [PAYLOAD, "ok" + PAYLOAD]
    assert root.find(f"{SVG}title").text == f"{PAYLOAD}: ok{PAYLOAD}"
    assert root.get("aria-label") == f"{PAYLOAD}: ok{PAYLOAD}"
    tags = {el.tag.removeprefix(SVG) for el in root.iter()}
    assert tags <= {
        "svg",
        "title",
        "clipPath",
        "rect",
        "g",
        "text",
    }  # no script, style, link or foreignObject
    assert not any(name.startswith("on") for el in root.iter() for name in el.attrib)
    assert "<script" not in body


def test_the_colour_cannot_carry_markup() -> None:
    with pytest.raises(ValueError, match="not a colour"):
        svg("a", "b", '#000" onload="alert(1)')


def test_widths_follow_the_text() -> None:
    assert text_width("") == 0
    assert text_width("iiii") < text_width("mmmm")
    assert text_width("1.2.0") == pytest.approx(3 * 7.0 + 2 * 3.9)
    assert text_width("数据") == 22.0  # CJK and the like: a full em each
    assert text_width("é") == text_width("0")  # other letters: about a digit
    root = ET.fromstring(svg("version", "1.2.0", "#1f5c45"))
    label_width = text_width("version") + 12
    assert float(root.get("width")) == pytest.approx(label_width + text_width("1.2.0") + 12)
    rects = list(root.iter(f"{SVG}rect"))
    assert float(rects[1].get("width")) == pytest.approx(label_width)
    assert float(rects[2].get("x")) == pytest.approx(label_width)


def test_long_text_is_shortened_to_one_line() -> None:
    assert clean("MIT\nor\t Apache") == "MIT or Apache"
    long = clean("x" * 500)
    assert len(long) == 48 and long.endswith("…")


@pytest.mark.parametrize(
    ("n", "shown"),
    [(0, "0"), (7, "7"), (999, "999"), (1000, "1k"), (1999, "1.9k"), (12_345, "12k"), (999_999, "999k"),
     (1_000_000, "1M"), (2_560_000, "2.5M"), (3_000_000_000, "3G")],
)  # fmt: skip
def test_download_counts_are_compact_and_never_rounded_up(n: int, shown: str) -> None:
    assert compact(n) == shown


# --- the routes ------------------------------------------------------------------------------------------------


@pytest.fixture
def world(client: TestClient, make_user: Any, tmp_path: Path) -> dict[str, str]:
    """alice/tool (public: a conda file for linux-64 and a wheel), alice/hidden (private), bob with no access."""
    make_user("alice", PASSWORD)
    make_user("bob", PASSWORD)
    alice, bob = login(client, "alice", PASSWORD), login(client, "bob", PASSWORD)
    created = client.post(
        "/api/package/alice/tool",
        headers=auth(alice),
        json={"public": True, "public_attrs": {"summary": "a tool", "license": f"MIT {PAYLOAD}"}},
    )
    assert created.status_code == 200, created.text
    for version in ("0.9", "1.10.0"):
        conda = build_conda(tmp_path, name="tool", version=version, subdir="linux-64")
        done = upload(
            client, alice, "alice", "tool", version, conda, f"linux-64/{conda.name}", "conda", create=False
        )
        assert done.status_code == 200, done.text
    wheel = build_wheel(tmp_path, name="tool", version="1.10.0")
    assert upload(client, alice, "alice", "tool", "1.10.0", wheel, wheel.name, "pypi").status_code == 200
    created = client.post("/api/package/alice/hidden", headers=auth(alice), json={"public": False})
    assert created.status_code == 200, created.text
    conda = build_conda(tmp_path, name="hidden", version="2.0", subdir="noarch")
    done = upload(
        client, alice, "alice", "hidden", "2.0", conda, f"noarch/{conda.name}", "conda", create=False
    )
    assert done.status_code == 200, done.text
    return {"alice": alice, "bob": bob, "wheel": wheel.name}


def _badge(client: TestClient, path: str, **headers: str) -> tuple[Any, list[str]]:
    response = client.get(path, headers=headers)
    return response, (_texts(response.text) if response.status_code == 200 else [])


def test_each_badge_tells_the_truth(client: TestClient, world: dict[str, str]) -> None:
    assert _badge(client, "/alice/tool/badges/version.svg")[1] == [
        "version",
        "1.10.0",
    ]  # not "0.9": versions sort
    assert _badge(client, "/alice/tool/badges/platforms.svg")[1] == ["platforms", "any | linux-64"]
    assert _badge(client, "/alice/tool/badges/license.svg")[1] == ["license", clean(f"MIT {PAYLOAD}")]
    (date,) = _badge(client, "/alice/tool/badges/latest_release_date.svg")[1][1:]
    files = client.get("/api/package/alice/tool").json()["files"]
    uploaded = max(f["upload_time"] for f in files if f["version"] == "1.10.0")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", date) and uploaded.startswith(date)
    assert _badge(client, "/alice/tool/badges/downloads.svg")[1] == ["downloads", "0"]
    for _ in range(3):
        assert client.get(f"/alice/tool/1.10.0/download/{world['wheel']}").status_code == 200
    client.app.state.services.downloads.flush()
    assert _badge(client, "/alice/tool/badges/downloads.svg")[1] == ["downloads", "3"]


def test_public_badges_are_cacheable_images_that_run_nothing(
    client: TestClient, world: dict[str, str]
) -> None:
    for name in BADGE_NAMES:
        response = client.get(f"/alice/tool/badges/{name}.svg")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == "image/svg+xml"
        assert response.headers["content-security-policy"] == BADGE_CSP
        assert "script-src" not in BADGE_CSP and "default-src 'none'" in BADGE_CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "public, max-age=60"
        assert "cookie" not in response.headers.get("vary", "").lower()
        assert "set-cookie" not in response.headers
        etag = response.headers["etag"]
        again = client.get(f"/alice/tool/badges/{name}.svg", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag


def test_a_private_package_has_badges_only_for_those_who_may_see_it(
    client: TestClient, world: dict[str, str]
) -> None:
    def answer(path: str, token: str | None) -> tuple[int, str]:
        response = client.get(path, headers=auth(token) if token else {})
        return response.status_code, response.text.replace("hidden", "NAME").replace("missing", "NAME")

    for token in (None, world["bob"]):
        for name in BADGE_NAMES:
            private = answer(f"/alice/hidden/badges/{name}.svg", token)
            assert private[0] == 404 and private == answer(f"/alice/missing/badges/{name}.svg", token)
    response, texts = _badge(client, "/alice/hidden/badges/version.svg", **auth(world["alice"]))
    assert response.status_code == 200 and texts == ["version", "2.0"]
    assert response.headers["cache-control"] == "private, max-age=0, must-revalidate"
    assert response.headers["vary"] == "Cookie, Authorization"


def test_an_unknown_badge_or_owner_is_not_found(client: TestClient, world: dict[str, str]) -> None:
    assert client.get("/alice/tool/badges/stars.svg").status_code == 404
    assert client.get("/nobody/tool/badges/version.svg").status_code == 404
    assert client.get("/api/tool/badges/version.svg").status_code == 404  # a reserved name is never an owner


def test_the_badges_tab_shows_each_badge_with_its_snippets(client: TestClient, world: dict[str, str]) -> None:
    page = client.get("/alice/tool/badges", headers={"Accept": "text/html"})
    assert page.status_code == 200
    for name in BADGE_NAMES:
        assert f'src="/alice/tool/badges/{name}.svg"' in page.text
        snippet = f"](http://testserver/alice/tool/badges/{name}.svg)](http://testserver/alice/tool)"
        assert snippet in page.text
    assert 'aria-current="page">Badges' in page.text
    assert client.get("/alice/hidden/badges", headers={"Accept": "text/html"}).status_code == 404
    private = client.get("/alice/hidden/badges", headers={"Accept": "text/html", **auth(world["alice"])})
    assert private.status_code == 200 and "not public" in private.text


def test_the_version_badge_of_one_label(client: TestClient, world: dict[str, str], tmp_path: Path) -> None:
    conda = build_conda(tmp_path, name="tool", version="2.0rc1", subdir="linux-64")
    done = upload(
        client, world["alice"], "alice", "tool", "2.0rc1", conda, f"linux-64/{conda.name}", "conda",
        create=False, labels=["dev"],
    )  # fmt: skip
    assert done.status_code == 200, done.text
    assert _badge(client, "/alice/tool/badges/version.svg?label=dev")[1] == ["dev version", "2.0rc1"]
    assert _badge(client, "/alice/tool/badges/version.svg?label=main")[1] == ["main version", "1.10.0"]
    assert _badge(client, "/alice/tool/badges/version.svg?label=nothing")[1] == ["nothing version", "none"]
    assert client.get("/alice/tool/badges/version.svg?label=a%20b").status_code == 400
    assert client.get("/alice/tool/badges/license.svg?label=dev").status_code == 400
    hidden = client.get("/alice/hidden/badges/version.svg?label=main")
    assert hidden.status_code == 404 and hidden.text == client.get(
        "/alice/nope/badges/version.svg?label=main"
    ).text.replace("nope", "hidden")
