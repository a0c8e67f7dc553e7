"""REST /api/mirrors (core/mirrors/service.py): validation says what to fix, every route asks permissions."""

from __future__ import annotations

import socket
import time

import pytest
from fastapi.testclient import TestClient

from packyard.app import attach_scheduler, create_app

GOOD = {"format": "pypi", "upstream": "https://user:secret@pypi.example/simple/", "exclude": ["bad-*"]}


@pytest.fixture
def users(make_user):
    make_user("alice", "password-123")
    make_user("bob", "password-123")


def _alice():
    return ("alice", "password-123")


def _bob():
    return ("bob", "password-123")


def test_create_show_edit_delete(client, users):
    created = client.post("/api/mirrors/pm", auth=_alice(), json=GOOD)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "pm" and body["ttl"] == 600 and body["public"] is True
    assert body["upstream"] == GOOD["upstream"]  # the administrator sees the credentials
    # The organization exists, owned by its creator.
    assert client.get("/api/user/pm").json()["login"] == "pm"
    shown = client.get("/api/mirrors/pm")  # anyone, for a public mirror, without the credentials
    assert shown.status_code == 200
    assert shown.json()["upstream"] == "https://pypi.example/simple/"
    assert [m["name"] for m in client.get("/api/mirrors").json()] == ["pm"]
    assert client.patch("/api/mirrors/pm", auth=_bob(), json={"ttl": 5}).status_code == 403
    edited = client.patch("/api/mirrors/pm", auth=_alice(), json={"ttl": 5, "include": ["good"]})
    assert edited.status_code == 200, edited.text
    assert edited.json()["ttl"] == 5 and edited.json()["include"] == ["good"]
    assert client.delete("/api/mirrors/pm", auth=_bob()).status_code == 403
    assert client.delete("/api/mirrors/pm", auth=_alice()).status_code == 204
    assert client.get("/api/mirrors/pm").status_code == 404
    # Only the configuration went: the organization stays, and takes uploads again.
    assert client.get("/api/user/pm").status_code == 200


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({**GOOD, "format": "npm"}, "format must be one of conda, pypi, cran"),
        ({**GOOD, "format": "cran", "include": ["subdir:linux-64"]}, "cran mirrors allow name patterns"),
        ({**GOOD, "format": "conda", "include": ["type:wheel"]}, "the qualifiers 'subdir:...'"),
        ({**GOOD, "upstream": "ftp://x/simple"}, "must be an http:// or https:// URL"),
        ({**GOOD, "upstream": 3}, "upstream must be the upstream index's URL"),
        ({**GOOD, "upstream": "https://x/simple?a=1"}, "must not have a query"),
        ({**GOOD, "ttl": -1}, "ttl must be a whole number"),
        ({**GOOD, "ttl": "60"}, "ttl must be a whole number"),
        ({**GOOD, "public": "yes"}, "public must be true or false"),
        ({**GOOD, "include": ["type:egg"]}, "type must be one of sdist, wheel"),
        ({**GOOD, "exclude": "bad"}, "exclude must be a list"),
        ({**GOOD, "colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_bad_bodies_are_400s_saying_what_to_fix(client, users, body, says):
    response = client.post("/api/mirrors/pm", auth=_alice(), json=body)
    assert response.status_code == 400, response.text
    assert says in response.json()["error"]
    assert client.get("/api/user/pm").status_code == 404  # nothing was created


def test_anonymous_may_not_create_and_taken_names_conflict(client, users):
    assert client.post("/api/mirrors/pm", json=GOOD).status_code == 401
    assert client.post("/api/mirrors/bob", auth=_alice(), json=GOOD).status_code == 409
    assert client.post("/api/mirrors/pm", auth=_alice(), json=GOOD).status_code == 201
    again = client.post("/api/mirrors/pm", auth=_alice(), json=GOOD)
    assert again.status_code == 409 and "already mirrors pypi" in again.json()["error"]
    assert client.post("/api/mirrors/pm", auth=_bob(), json={**GOOD}).status_code in (403, 409)


def test_private_mirror_is_unseen_by_others(client, users):
    assert client.post("/api/mirrors/pp", auth=_alice(), json={**GOOD, "public": False}).status_code == 201
    assert client.get("/api/mirrors/pp").status_code == 404
    assert client.get("/api/mirrors/pp", auth=_bob()).status_code == 404
    assert client.patch("/api/mirrors/pp", auth=_bob(), json={"ttl": 1}).status_code == 404
    assert client.get("/api/mirrors/pp", auth=_alice()).status_code == 200
    assert client.get("/api/mirrors").json() == []
    assert [m["name"] for m in client.get("/api/mirrors", auth=_alice()).json()] == ["pp"]
    anonymous_page = client.get("/pypi/pp/simple/anything/")
    assert anonymous_page.status_code == 401


def test_first_party_writes_into_a_mirror_are_refused(client, users):
    assert client.post("/api/mirrors/pm", auth=_alice(), json=GOOD).status_code == 201
    response = client.post("/api/package/pm/mine", auth=_alice(), json={"public": True})
    assert response.status_code == 403
    assert response.json()["error"].startswith("pm is a mirror of https://pypi.example/simple/ (pypi)")
    assert "secret" not in response.text


def test_excluded_project_page_says_which_rule(client, users):
    assert client.post("/api/mirrors/pm", auth=_alice(), json=GOOD).status_code == 201
    response = client.get("/pypi/pm/simple/bad-thing/")
    assert response.status_code == 403
    assert response.json()["error"] == "bad-thing is excluded by mirror pm's rule 'bad-*'"


def test_sync_validates_its_body(client, users):
    """What is wrong with the request is still the call's 4xx; nothing is queued for it."""
    assert client.post("/api/mirrors/pm", auth=_alice(), json=GOOD).status_code == 201
    assert client.post("/api/mirrors/pm/sync", json={"packages": ["x"]}).status_code == 401
    bad = client.post("/api/mirrors/pm/sync", auth=_alice(), json={"packages": []})
    assert bad.status_code == 400 and "non-empty list" in bad.json()["error"]
    bad = client.post("/api/mirrors/pm/sync", auth=_alice(), json={"packages": ["x"], "deps": "no"})
    assert bad.status_code == 400 and "deps must be true or false" in bad.json()["error"]
    bad = client.post(
        "/api/mirrors/pm/sync", auth=_alice(), json={"packages": ["x"], "subdirs": ["linux-64"]}
    )
    assert bad.status_code == 400 and "subdirs are for conda mirrors" in bad.json()["error"]
    bad = client.post("/api/mirrors/pm/sync", auth=_alice(), json={"packages": ["x"], "colour": 1})
    assert bad.status_code == 400 and "unknown field 'colour'" in bad.json()["error"]
    assert client.post("/api/mirrors/nobody/sync", auth=_alice(), json={"packages": ["x"]}).status_code == 404
    assert client.get("/api/mirrors/pm/syncs").json() == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(settings, db, users):
    """The app as `packyard serve` builds it: with the runner of queued syncs (started by the lifespan)."""
    with TestClient(attach_scheduler(create_app(settings, db=db)), raise_server_exceptions=False) as client:
        yield client


def _wait(client, location: str, auth=None) -> dict:
    deadline = time.monotonic() + 30
    while True:
        sync = client.get(location, auth=auth).json()
        if sync["state"] in ("done", "failed") or time.monotonic() > deadline:
            return sync
        time.sleep(0.05)


def test_sync_is_queued_202_with_a_location_and_run_in_the_background(served):
    upstream = f"http://127.0.0.1:{_closed_port()}/simple/"
    body = {**GOOD, "upstream": upstream, "public": False}
    assert served.post("/api/mirrors/pm", auth=_alice(), json=body).status_code == 201
    queued = served.post("/api/mirrors/pm/sync", auth=_alice(), json={"packages": ["bad-one", "x<2"]})
    assert queued.status_code == 202, queued.text
    sync = queued.json()
    assert sync["state"] in ("queued", "running") and sync["mirror"] == "pm" and sync["format"] == "pypi"
    assert sync["packages"] == ["bad-one", "x<2"] and sync["deps"] is True and sync["requested_by"] == "alice"
    location = queued.headers["location"]
    assert location == f"http://testserver/api/mirrors/pm/syncs/{sync['id']}"
    # The format's refusal of a named package is the sync's failure, with the message and status it had.
    failed = _wait(served, location, _alice())
    assert failed["state"] == "failed" and failed["error_status"] == 403
    assert failed["error"] == "bad-one is excluded by mirror pm's rule 'bad-*'"
    assert failed["finished_at"] and failed["fetched"] == []
    # An unreachable upstream: failed with the 502 the request answered.
    other = served.post("/api/mirrors/pm/sync", auth=_alice(), json={"packages": ["x"], "deps": False}).json()
    unreachable = _wait(served, f"/api/mirrors/pm/syncs/{other['id']}", _alice())
    assert unreachable["state"] == "failed" and unreachable["error_status"] == 502
    assert "x is not cached by mirror pm and its upstream is unreachable" in unreachable["error"]
    listed = served.get("/api/mirrors/pm/syncs", auth=_alice()).json()
    assert [s["id"] for s in listed] == [other["id"], sync["id"]]  # newest first
    assert [s["id"] for s in served.get("/api/mirrors/pm/syncs?limit=1", auth=_alice()).json()] == [
        other["id"]
    ]
    assert served.get("/api/mirrors/pm/syncs?limit=0", auth=_alice()).status_code == 400
    # Reading is for whoever may use the mirror: a private mirror's syncs are unseen by others.
    assert served.get(location, auth=_bob()).status_code == 404
    assert served.get(location).status_code == 404  # as GET /api/mirrors/pm answers them
    assert served.get("/api/mirrors/pm/syncs", auth=_bob()).status_code == 404
    assert served.get("/api/mirrors/pm/syncs/99999", auth=_alice()).status_code == 404
    assert served.get(f"/api/mirrors/bob/syncs/{sync['id']}", auth=_bob()).status_code == 404
    # Creating is as before: bob may not sync a private mirror he cannot see.
    assert served.post("/api/mirrors/pm/sync", auth=_bob(), json={"packages": ["x"]}).status_code == 404
