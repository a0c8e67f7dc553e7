"""The anaconda.org-compatible REST API, mounted at /api."""

from __future__ import annotations

from fastapi import APIRouter

from packyard.api import admin, filesets, labels, mirrors, orgs, packages, snapshots, uploads, users


def build_router() -> APIRouter:
    """All REST routes, to be mounted under /api (HEAD /api itself is `users.head_root`)."""
    router = APIRouter()
    # admin first (only /admin/...); orgs before users: /user/orgs must win over /user/{login}
    for module in (admin, orgs, users, packages, uploads, labels, filesets, snapshots, mirrors):
        router.include_router(module.router)
    return router


ROOT_ROUTES = (("HEAD", users.head_root), ("GET", users.root))
