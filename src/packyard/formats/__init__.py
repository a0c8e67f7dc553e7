"""One package per ecosystem; each folder's `SPEC` (a `core.formats.FormatSpec`) says everything the rest of
Packyard needs to know about its format. Importing this package registers them all, in detection order
(anaconda-client tries conda, then pypi, then R): the app, the CLI and the migrations import it first.

Adding a format: a folder with its parser, store, routes and `SPEC`, and one entry below (docs/architecture.md).
"""

from __future__ import annotations

from packyard.core.formats import register
from packyard.formats import conda, cran, env, file, notebook, project, pypi

for _spec in (conda.SPEC, pypi.SPEC, cran.SPEC, notebook.SPEC, env.SPEC, project.SPEC, file.SPEC):
    register(_spec)
