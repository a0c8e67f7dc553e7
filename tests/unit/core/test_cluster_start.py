"""Several nodes starting at once on a new PostgreSQL database: each migrates and ensures the administrator, and
all of them must come up (migrations/env.py's advisory lock; `ensure_admin` accepting a lost race).

Real processes: Alembic keeps its migration context in module state, so threads of one process are not nodes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from packyard.core.db import Database
from packyard.core.models import Account

pytestmark = pytest.mark.postgres
NODES = 4
START = """
import sys, time
import packyard.formats
from packyard.core import migrate
from packyard.core.db import Database
from packyard.core.services.accounts import ensure_admin
url, at = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, at - time.time()))  # every process starts its migration at the same moment
migrate.upgrade(url)
print(ensure_admin(Database(url), "admin", None) or "")
"""


def test_nodes_starting_together_migrate_once_and_make_one_admin(pg_url: str) -> None:
    import time

    at = str(time.time() + 3)  # after every interpreter has imported packyard
    nodes = [
        subprocess.Popen(
            [sys.executable, "-c", START, pg_url, at],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ,
        )
        for _ in range(NODES)
    ]
    results = [node.communicate(timeout=120) for node in nodes]
    assert all(node.returncode == 0 for node in nodes), [err for _out, err in results]
    printed = [out.strip() for out, _err in results if out.strip()]
    assert len(printed) == 1  # one node created the administrator (and printed the password)
    db = Database(pg_url)
    try:
        with db.read() as session:
            assert session.scalar(select(func.count()).select_from(Account)) == 1
    finally:
        db.dispose()
