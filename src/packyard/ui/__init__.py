"""The web UI: server-rendered pages at the site root (docs/ui.md), on top of core.permissions and the queries.

`install(app)` is called by `create_app` after every other route: it mounts the static files, adds the pages
(the `/OWNER` and `/OWNER/PACKAGE` catch-alls last) and wraps the error handlers so browsers get HTML pages.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Mount

from packyard.core.services import sessions as _sessions  # noqa: F401 - registers web_sessions on Base.metadata
from packyard.ui.assets import PREFIX, StaticAssets
from packyard.ui.errors import install_error_pages


def install(app: FastAPI) -> None:
    # Imported here, not at the top: the page URL pattern leaves out every reserved first segment, the formats'
    # URL prefixes included, and those are known once the formats have registered (create_app sees to that).
    from packyard.ui import (
        access_tokens,
        account_settings,
        badges,
        catalog,
        channels,
        file_actions,
        files,
        label_actions,
        mirrors,
        org_groups,
        org_settings,
        package_bulk,
        package_settings,
        site_admin,
        upload,
    )
    from packyard.ui.apidocs import router as apidocs
    from packyard.ui.dashboard import router as dashboards
    from packyard.ui.routes import pages, router

    app.router.routes.append(Mount(PREFIX, app=StaticAssets(), name="static"))
    app.include_router(apidocs)
    app.include_router(router)
    app.include_router(channels.router)  # before the catch-alls: /OWNER/labels is not a package named labels
    app.include_router(catalog.router)
    app.include_router(files.router)  # the Files tab and the browser's downloads
    app.include_router(file_actions.router)  # the Files tab's POSTs: ticked files, remove a version
    app.include_router(label_actions.router)  # /OWNER/labels POSTs: create, copy, rename, lock, remove
    app.include_router(badges.router)
    app.include_router(dashboards)
    app.include_router(account_settings.router)  # /settings, /settings/password: your account
    app.include_router(access_tokens.router)  # /settings/access and /organization/ORG/settings/access: tokens
    app.include_router(org_settings.router)  # /organizations and /organization/ORG/... (docs/manage/orgs.md)
    app.include_router(
        mirrors.router
    )  # /organizations/mirror, /organization/ORG/settings/mirror (docs/mirrors.md)
    app.include_router(
        org_groups.router
    )  # before the catch-alls: /ORG/groups/ is the groups page, not a package
    app.include_router(upload.router)  # /upload: the browser's upload form (a reserved login)
    app.include_router(site_admin.router)  # /site-admin: site administration (a reserved login)
    app.include_router(
        package_bulk.router
    )  # /OWNER/packages/delete, /OWNER/packages/access (owner page's bulk forms)
    app.include_router(package_settings.router)  # /OWNER/PACKAGE/settings...: before the catch-alls
    app.include_router(pages)
    install_error_pages(app)
