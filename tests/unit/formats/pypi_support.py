"""Shared by the PyPI JSON API and XML-RPC tests: an app with the PyPI routers, uploads, an in-process ServerProxy."""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import Request, Response
from fastapi.testclient import TestClient

from packyard.app import create_app
from packyard.core import auth as auth_module
from packyard.formats.pypi import json_api
from packyard.formats.pypi import xmlrpc as pypi_xmlrpc
from packyard.web.deps import services
from tests.builders import build_sdist, build_wheel
from tests.unit.api.helpers import auth, upload


def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 parameters: these tests sign in a lot and are not about password hashing."""
    monkeypatch.setattr(auth_module, "_hasher", PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


def app_client(settings, db) -> Iterator[TestClient]:
    """The real app; the PyPI routers are added only if app.py does not mount them (yet)."""
    app = create_app(settings, db=db)
    paths = {getattr(route, "path", None) for route in app.routes}
    if "/RPC2" not in paths:
        app.include_router(pypi_xmlrpc.router)
    if "/pypi/{owner}/{project}/json" not in paths:
        # Ahead of the simple API's catch-all GET /pypi/{path:path}, as app.py must mount it.
        app.include_router(json_api.router)
        added = app.router.routes[-len(json_api.router.routes) :]
        del app.router.routes[-len(json_api.router.routes) :]
        app.router.routes[0:0] = added
    if "/pypi/{owner}" not in paths:

        async def owner_rpc(owner: str, request: Request) -> Response:
            return await pypi_xmlrpc.handle(request, services(request), owner)

        app.add_api_route("/pypi/{owner}", owner_rpc, methods=["POST"])
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


class ClientTransport(xmlrpc.client.Transport):
    """Send XML-RPC through the in-process TestClient instead of a socket."""

    def __init__(self, client: TestClient, headers: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self.client = client
        self.extra = dict(headers or {})

    def request(self, host: Any, handler: str, request_body: bytes, verbose: bool = False) -> Any:
        response = self.client.post(
            handler, content=request_body, headers={"Content-Type": "text/xml", **self.extra}
        )
        if response.status_code != 200:
            raise xmlrpc.client.ProtocolError(
                f"{host}{handler}", response.status_code, response.text, dict(response.headers)
            )
        assert response.headers["content-type"].startswith("text/xml")
        parser, unmarshaller = self.getparser()
        parser.feed(response.content)
        parser.close()
        return unmarshaller.close()


def rpc(client: TestClient, path: str = "/pypi", token: str | None = None) -> xmlrpc.client.ServerProxy:
    headers = auth(token) if token else None
    return xmlrpc.client.ServerProxy(
        f"http://testserver{path}", transport=ClientTransport(client, headers), allow_none=True
    )


def put_wheel(
    client: TestClient,
    token: str,
    tmp_path: Path,
    owner: str,
    name: str,
    version: str,
    *,
    labels: list[str] | None = None,
    sdist: bool = False,
    **kw: Any,
) -> Path:
    folder = (
        tmp_path / f"{owner}-{name}-{version}-{'sdist' if sdist else 'wheel'}-{len(list(tmp_path.iterdir()))}"
    )
    folder.mkdir()
    builder = build_sdist if sdist else build_wheel
    path = builder(folder, name=name, version=version, **kw)
    response = upload(client, token, owner, name, version, path, path.name, "pypi", labels=labels)
    assert response.status_code == 200, response.text
    return path


def make_private(client: TestClient, token: str, owner: str, name: str) -> None:
    response = client.post(f"/api/package/{owner}/{name}", headers=auth(token), json={"public": False})
    assert response.status_code == 200, response.text


__all__ = ["ClientTransport", "app_client", "fast_passwords", "make_private", "put_wheel", "rpc"]
