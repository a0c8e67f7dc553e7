"""The UI's reads must hold on PostgreSQL as on SQLite: the core tests' `backend` fixtures, shared here."""

from tests.unit.core.conftest import backend, backend_client  # noqa: F401 - fixtures for this folder's tests
