"""`GET /api/serial`: the newest event serial, which a CI job pins in a snapshot URL (docs/mirrors.md, Snapshots).

Public, like PyPI's X-PyPI-Last-Serial: a serial says that something changed, never what or whose. A credential
sent along is still checked (`Caller`): a wrong token is a 401 here as on every route, so a CI job finds out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Response

from packyard.core import snapshots
from packyard.web.deps import Caller, Svc

router = APIRouter()


@router.get("/serial")
def serial(svc: Svc, response: Response, _caller: Caller) -> dict[str, Any]:
    with svc.db.read() as session:
        newest = snapshots.current_serial(session)
        at = snapshots.serial_time(session, newest)
        oldest = snapshots.horizon(session)
    response.headers["Cache-Control"] = "no-cache"
    return {
        "serial": newest,
        "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if at is not None else None,
        "oldest_snapshot": oldest,
    }
