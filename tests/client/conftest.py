"""Fixtures for the client library's tests: one live server for the session, a fresh user (and token) per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from packyard.client import Client
from tests.conftest import ADMIN_PASSWORD, LiveServer

PASSWORD = "client-pass-123"


@dataclass
class Account:
    login: str
    password: str
    token: str
    server: LiveServer

    def client(self, **kw: object) -> Client:
        return Client(self.server.url, self.token, **kw)  # type: ignore[arg-type]


def new_account(server: LiveServer, prefix: str = "cl") -> Account:
    """A new user made by the site administrator through the REST API (quicker than `packyard user create`)."""
    login = f"{prefix}{uuid.uuid4().hex[:8]}"
    made = httpx.post(
        f"{server.api}/users",
        auth=("admin", ADMIN_PASSWORD),
        json={"login": login, "password": PASSWORD, "email": f"{login}@example.org"},
        timeout=30,
    )
    made.raise_for_status()
    answer = httpx.post(
        f"{server.api}/authentications", auth=(login, PASSWORD), json={"note": "tests"}, timeout=30
    )
    answer.raise_for_status()
    return Account(login, PASSWORD, answer.json()["token"], server)


@pytest.fixture
def account(live_server: LiveServer) -> Account:
    return new_account(live_server)


@pytest.fixture
def other(live_server: LiveServer) -> Account:
    return new_account(live_server, "ot")


@pytest.fixture
def api(account: Account) -> Iterator[Client]:
    with account.client() as client:
        yield client
