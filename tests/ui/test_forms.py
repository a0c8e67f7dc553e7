"""ui/forms.py: the typed confirmation and the signed flash message every management form relies on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from starlette.datastructures import FormData

from packyard.core.errors import BadRequest
from packyard.ui import forms


def _request(cookies: dict[str, str] | None = None) -> Any:
    settings = SimpleNamespace(signing_key=b"k" * 32, base_url="")
    services = SimpleNamespace(settings=settings)
    app = SimpleNamespace(state=SimpleNamespace(services=services))
    return SimpleNamespace(cookies=cookies or {}, app=app, url=SimpleNamespace(scheme="http"))


def test_a_missing_word_asks_again_and_a_wrong_word_is_refused() -> None:
    assert forms.confirmed(FormData([("confirm", "  alice ")]), "alice") is True
    assert forms.confirmed(FormData([]), "alice") is False
    assert forms.confirmed(FormData([("confirm", "   ")]), "alice") is False
    with pytest.raises(BadRequest, match="type 'alice' exactly"):
        forms.confirmed(FormData([("confirm", "Alice")]), "alice")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("/alice/pkg", "/alice/pkg"), ("//evil.example/x", "/"), ("/\\evil.example", "/"),
     ("https://evil.example/", "/"), ("alice", "/")],
)  # fmt: skip
def test_only_paths_on_this_site_are_places_to_return_to(value: str, expected: str) -> None:
    assert forms.safe_next(value) == expected


def test_the_flash_message_is_signed_and_a_forged_one_is_ignored() -> None:
    request = _request()
    response = forms.done(request, None, "/alice", "Package deleted.")  # type: ignore[arg-type]
    assert response.status_code == 303 and response.headers["location"] == "/alice"
    cookie = response.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]
    assert forms.take_flash(_request({forms.FLASH_COOKIE: cookie})) == {
        "kind": "ok",
        "message": "Package deleted.",
    }
    forged_payload = b'["ok","<b>Your account is locked: call +1 555</b>"]'.hex()
    forged = forged_payload + "." + cookie.rsplit(".", 1)[1]
    assert forms.take_flash(_request({forms.FLASH_COOKIE: forged})) is None
    assert forms.take_flash(_request({forms.FLASH_COOKIE: "zz.yy"})) is None
