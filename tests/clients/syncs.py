"""How the mirror tests sync: `POST /api/mirrors/NAME/sync` answers 202 and the sync's `Location`, which is polled
until a node of the live server has run it (docs/mirrors.md, "Syncing ahead of time")."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import LiveServer


def sync_and_wait(
    server: LiveServer, name: str, auth: tuple[str, str], body: dict[str, Any], timeout: float = 180
) -> dict[str, Any]:
    """Queue a sync, check the 202 and its Location, and return the sync once finished (done or failed)."""
    queued = httpx.post(f"{server.api}/mirrors/{name}/sync", auth=auth, json=body, timeout=30)
    assert queued.status_code == 202, queued.text
    sync = queued.json()
    assert sync["state"] in ("queued", "running"), sync
    location = queued.headers["location"]
    assert location.endswith(f"/api/mirrors/{name}/syncs/{sync['id']}"), location
    deadline = time.monotonic() + timeout
    while sync["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, f"sync {sync['id']} still {sync['state']} after {timeout} s"
        time.sleep(0.2)
        answer = httpx.get(location, auth=auth, timeout=30)
        assert answer.status_code == 200, answer.text
        sync = answer.json()
    return dict(sync)
