"""`backend`: the same migrated database + app on SQLite and on PostgreSQL, for tests that must hold on both."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import migrate
from packyard.core.db import Database
from tests.conftest import ADMIN_PASSWORD


@dataclass
class Backend:
    name: str
    url: str
    settings: Settings
    db: Database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    data = tmp_path / "data"
    data.mkdir()
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    settings = Settings(
        data=data, database_url=url, admin_password=ADMIN_PASSWORD, base_url="http://testserver"
    )
    migrate.upgrade(settings.sqlalchemy_url)
    db = Database(settings.sqlalchemy_url)
    yield Backend(request.param, settings.sqlalchemy_url, settings, db)
    db.dispose()  # before pg_url's teardown drops the database


@pytest.fixture
def backend_client(backend: Backend) -> Iterator[TestClient]:
    with TestClient(create_app(backend.settings, db=backend.db), raise_server_exceptions=False) as client:
        yield client
