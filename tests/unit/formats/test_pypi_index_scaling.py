"""The first build of a PyPI index page costs a constant number of statements and work linear in the rows.

The owner's root page (/simple/) once joined the owner's events to every file: one statement, but SQLite could
match `lower(package)` only on the index's `owner` prefix, so each file scanned all of the owner's events. 1,000
projects x 20 wheels took 99-122 s to build, and concurrent first requests held their connections that long.

The rows are inserted in bulk, as add_file and pypi's on_event would write them (thousands of uploads would take
minutes). Each page is fetched from a fresh app, so its document is built, not taken from a cache. What is
measured is not time: the number of SQL statements, and the work SQLite does (virtual machine instructions,
counted with a progress handler), which must grow no faster than the number of files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, insert, select

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import indexes
from packyard.core.db import Database
from packyard.core.models import Account, Event, File, FileLabel, Label, Package, Release
from packyard.core.services.accounts import create_user
from packyard.formats.pypi import store
from packyard.formats.pypi.models import PypiFile

OWNER = "scaler"
PER_PROJECT = 20
JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}
HTML = {"Accept": "text/html"}
STEP = 10
"""SQLite calls the progress handler every STEP virtual machine instructions."""


def add_projects(db: Database, first: int, count: int) -> None:
    """Projects first .. first+count-1 with PER_PROJECT wheels each, in label main, with their events."""
    with db.write() as session:
        owner_id = session.scalar(select(Account.id).where(Account.login_key == OWNER))
        label_id = session.scalar(select(Label.id).where(Label.owner_id == owner_id, Label.name == "main"))
        if label_id is None:
            label = Label(owner_id=owner_id, name="main")
            session.add(label)
            session.flush()
            label_id = label.id
        next_pkg = (session.scalar(select(func.max(Package.id))) or 0) + 1
        next_rel = (session.scalar(select(func.max(Release.id))) or 0) + 1
        next_file = (session.scalar(select(func.max(File.id))) or 0) + 1
        rows: dict[type, list[dict[str, Any]]] = {
            m: [] for m in (Package, Release, File, FileLabel, Event, PypiFile)
        }
        at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        for p in range(count):
            name = f"proj-{first + p:05d}"
            pkg_id = next_pkg + p
            ev = {"actor_id": owner_id, "owner": OWNER, "package": name, "at": at, "data": {}}
            rows[Package].append(
                {
                    "id": pkg_id,
                    "owner_id": owner_id,
                    "name": name,
                    "name_key": name,
                    "package_types": ["pypi"],
                }
            )
            rows[Event].append({**ev, "kind": "package.created", "version": None, "basename": None})
            for v in range(PER_PROJECT):
                n = p * PER_PROJECT + v
                rel_id, file_id, version = next_rel + n, next_file + n, f"1.{v}.0"
                filename = f"proj_{first + p:05d}-{version}-py3-none-any.whl"
                sha = hashlib.sha256(filename.encode()).hexdigest()
                rows[Release].append({"id": rel_id, "package_id": pkg_id, "version": version})
                rows[File].append(
                    {
                        "id": file_id,
                        "package_id": pkg_id,
                        "release_id": rel_id,
                        "basename": filename,
                        "package_type": "pypi",
                        "size": 100,
                        "md5": sha[:32],
                        "sha256": sha,
                        "uploader_id": owner_id,
                    }
                )
                rows[FileLabel].append({"file_id": file_id, "label_id": label_id})
                rows[Event].append({**ev, "kind": "release.created", "version": version, "basename": None})
                rows[Event].append(
                    {**ev, "kind": "file.added", "version": version, "basename": filename,
                     "data": {"labels": ["main"], "package_type": "pypi"}}
                )  # fmt: skip
                rows[PypiFile].append(
                    {
                        "file_id": file_id,
                        "owner_id": owner_id,
                        "package_id": pkg_id,
                        "project": name,
                        "filename": filename,
                        "version": version,
                        "packagetype": "bdist_wheel",
                        "python_version": "py3",
                        "upload_time": at,
                    }
                )
        for model, values in rows.items():
            session.execute(insert(model), values)
        indexes.bump(session, store.FORMAT, owner_id, "main", store.ROOT_KEY)
        for p in range(count):
            indexes.bump(session, store.FORMAT, owner_id, "main", f"proj-{first + p:05d}")


@dataclass
class Cost:
    statements: int = 0
    steps: int = 0


class Meter:
    """Statements and SQLite VM instructions run through the read pool while `measure` fetches a page."""

    def __init__(self, db: Database) -> None:
        self.cost = Cost()
        self.on = False
        event.listen(db.engine, "before_cursor_execute", self._statement)
        event.listen(db.engine, "checkout", self._checkout)

    def _statement(self, *_args: Any) -> None:
        if self.on:
            self.cost.statements += 1

    def _checkout(self, dbapi: Any, _record: Any, _proxy: Any) -> None:
        dbapi.set_progress_handler(self._step, STEP)

    def _step(self) -> int:
        if self.on:
            self.cost.steps += 1
        return 0  # go on

    def measure(self, settings: Settings, db: Database, path: str, headers: dict[str, str]) -> Cost:
        with TestClient(create_app(settings, db=db)) as client:  # a fresh app: an empty index cache
            self.cost, self.on = Cost(), True
            try:
                response = client.get(path, headers=headers)
            finally:
                self.on = False
        assert response.status_code == 200, response.text
        return self.cost


@pytest.fixture
def meter(db: Database) -> Meter:
    create_user(db, OWNER, "password-123")
    return Meter(db)


@pytest.mark.parametrize("headers", [JSON, HTML], ids=["json", "html"])
def test_root_page_build_is_constant_in_statements_and_linear_in_work(
    settings: Settings, db: Database, meter: Meter, headers: dict[str, str]
) -> None:
    path = f"/pypi/{OWNER}/simple/"
    add_projects(db, 0, 1)  # 20 files
    small = meter.measure(settings, db, path, headers)
    add_projects(db, 1, 99)  # 2,000 files, 100 times as many
    large = meter.measure(settings, db, path, headers)
    assert large.statements == small.statements
    # Linear: 100x the files, about 85x the work (fixed costs weigh on the small page); quadratic is thousands
    # of times (joining every file to every event of the owner did about 4,600x).
    assert large.steps <= 200 * small.steps, (small, large)
    body = TestClient(create_app(settings, db=db)).get(path, headers=JSON).json()
    assert len(body["projects"]) == 100
    assert all(p["_last-serial"] > 0 for p in body["projects"])


def test_project_page_build_does_not_grow_with_the_other_projects(
    settings: Settings, db: Database, meter: Meter
) -> None:
    path = f"/pypi/{OWNER}/simple/proj-00000/"
    add_projects(db, 0, 1)
    small = meter.measure(settings, db, path, JSON)
    add_projects(db, 1, 99)
    large = meter.measure(settings, db, path, JSON)
    assert large.statements == small.statements
    assert large.steps <= 2 * small.steps, (small, large)
