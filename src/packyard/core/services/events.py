"""Append an event in the caller's transaction, so the change and its event commit (or vanish) together.

Formats listen to events (`FormatSpec.on_event`, read from core/formats.py) to keep their index records and
generations up to date in that same transaction: an index can never disagree with the data it describes, and
nothing is left for a background task. The snapshot history (core.snapshots) is kept the same way, for every
owner and format.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from packyard.core import formats, snapshots
from packyard.core.auth import Identity
from packyard.core.models import Event


def emit(
    session: Session,
    kind: str,
    identity: Identity | None,
    owner: str,
    package: str | None = None,
    version: str | None = None,
    basename: str | None = None,
    **data: Any,
) -> None:
    actor = identity.account.id if identity is not None and identity.account is not None else None
    event = Event(
        kind=kind, actor_id=actor, owner=owner, package=package, version=version, basename=basename, data=data
    )
    session.add(event)
    session.flush()
    snapshots.record(session, event)
    for listener in formats.listeners():
        listener(session, event)
