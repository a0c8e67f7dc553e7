"""Property-based fuzzing of the REST API from its own OpenAPI schema (schemathesis, in-process over ASGI).

Why: every route promises "never a 500" — a wrong input is the caller's mistake and gets a 4xx that says what to
fix. Hand-written tests only send the inputs their authors thought of; this sends what the schema allows (and, for
a few examples, what it does not) to every operation, signed in as a user who owns a package, an organization and
a file, so the requests get past authentication into the code that handles them.

Bounded for CI: a few examples per operation, no shrinking, no stateful phase.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.python import asgi

from packyard.app import create_app
from packyard.config import Settings
from packyard.core import migrate
from packyard.core.db import Database
from packyard.core.services.accounts import create_user
from tests.builders import build_conda
from tests.conftest import ADMIN_PASSWORD
from tests.unit.api.helpers import auth, login, upload

EXAMPLES = {GenerationMode.POSITIVE: 3, GenerationMode.NEGATIVE: 2}
"""Per operation and mode: ~80 operations x 5 requests take about 45 s of CPU."""

TOKEN: dict[str, str] = {}
SESSION: list[Any] = []

PATH_VALUES = {
    "owner": "alice",
    "login": "bob",
    "name": "demo",
    "package": "demo",
    "version": "1.0",
    "org": "acme",
}
"""Valid requests name things that exist, so they reach the code behind the lookups; invalid ones name anything."""


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.Schema]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    app_settings = Settings(data=root / "data", admin_password=ADMIN_PASSWORD, base_url="http://testserver")
    app_settings.data.mkdir(parents=True)
    migrate.upgrade(app_settings.sqlalchemy_url)
    database = Database(app_settings.sqlalchemy_url)
    create_user(
        database, "alice", "password-123", is_admin=True
    )  # admin: the /api/admin routes are fuzzed too
    create_user(database, "bob", "password-123")
    app = create_app(app_settings, db=database)
    with TestClient(app, raise_server_exceptions=False) as client:
        token = login(client, "alice", "password-123", scopes=["all"])
        package = build_conda(root, name="demo", version="1.0")
        committed = upload(
            client, token, "alice", "demo", "1.0", package, "noarch/demo-1.0-0.tar.bz2", "conda"
        )
        assert committed.status_code == 200, committed.text
        created = client.post("/api/orgs/acme", headers=auth(token), json={"name": "Acme"})
        assert created.status_code in (200, 201), created.text
        TOKEN["alice"] = token
        loaded = schemathesis.openapi.from_dict(app.openapi())  # the app serves no /openapi.json
        loaded.app = app
        with asgi.get_client(
            app
        ) as session:  # one client: a client per request would restart the app each time
            SESSION.append(session)
            yield loaded
    database.dispose()


def test_no_operation_answers_5xx(api_schema: schemathesis.Schema) -> None:
    """Every operation, a few valid and a few invalid requests each; all the 5xx are reported at once."""
    headers = auth(TOKEN["alice"])
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 50, "the schema lost its operations"
    seen: set[str] = set()
    statuses: Counter[int] = Counter()
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            names = {p.name for p in operation.path_parameters}
            fixed = {k: v for k, v in PATH_VALUES.items() if k in names}
            positive = mode is GenerationMode.POSITIVE

            @given(case=operation.as_strategy(mode, path_parameters=fixed if positive else None))
            @settings(
                max_examples=examples,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                response = case.call(headers=headers, session=SESSION[0])
                statuses[response.status_code // 100] += 1
                if response.status_code >= 500 and case.operation.label not in seen:
                    seen.add(case.operation.label)
                    failures.append(
                        f"{case.operation.label} -> {response.status_code}\n{case.as_curl_command()}\n"
                        f"{response.text[:1000]}"
                    )

            try:
                run()
            except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert not failures, "\n\n".join(failures)
    assert statuses[2] > 20, f"too few requests got past authentication and validation: {statuses}"
