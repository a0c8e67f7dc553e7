"""Changes to several files of one package at once: the Files tab's ticked files (docs/manage/filesets.md).

Each action is the existing one-file service run once per file (`packages.remove_file_in`,
`labels.add_label_in`, `labels.remove_label_in`), so the permission checks, the lock checks and the events are
exactly those of `DELETE /api/dist/...` and `POST/DELETE /api/channels/...`; what this module adds is that the
whole batch is one write transaction: if one file may not be changed (a locked label, a missing file, a token
whose scopes do not cover one of the types), nothing is.

- `delete`: the files are removed (their blobs stay while another file names them).
- `add_label` / `copy`: the files gain the label and keep the ones they had. Within one owner this is what
  `anaconda copy --to-label L` does (core.services.copy: "within one owner a copy is a label change").
- `remove_label`: the files lose the label; files that do not carry it are left alone, but if none does the batch
  is refused (nothing would happen, which is a mistake worth saying).
- `move`: the files gain the label and lose every other one (`anaconda move --to-label L` without
  `--from-label`: the file ends up in exactly that label).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from packyard.core import permissions, queries
from packyard.core.auth import Identity
from packyard.core.db import Database
from packyard.core.errors import BadRequest, NotFound
from packyard.core.models import File, Package
from packyard.core.services import labels as label_service
from packyard.core.services.packages import remove_file_in, validate_label

ACTIONS = ("delete", "add_label", "remove_label", "copy", "move")
MAX_FILES = 500


@dataclass(frozen=True)
class FileRef:
    """A file of the package by version and basename, as URLs and the REST API name it."""

    version: str
    basename: str


@dataclass(frozen=True)
class Changed:
    action: str
    files: int
    """Files the action changed (a file that already had the label is not counted)."""
    label: str = ""


def _resolve(
    session: Session, identity: Identity, owner: str, name: str, refs: Sequence[FileRef]
) -> tuple[Package, list[File]]:
    """The package (the same 404 as the API when the caller may not read it) and the named files, each once."""
    pkg = queries.package(session, owner, name)
    if not permissions.can_see(identity, pkg):
        raise NotFound(f"package {owner}/{name} not found")
    seen: dict[int, File] = {}
    for ref in refs:
        f = queries.file(queries.release(pkg, ref.version), ref.basename)
        seen.setdefault(f.id, f)
    return pkg, list(seen.values())


def change_files(
    db: Database,
    identity: Identity,
    owner: str,
    name: str,
    refs: Sequence[FileRef],
    action: str,
    label: str = "",
) -> Changed:
    """Apply `action` to every file in `refs`, all in one transaction (see the module docstring)."""
    if action not in ACTIONS:
        raise BadRequest(f"action must be one of {', '.join(ACTIONS)}")
    if not refs:
        raise BadRequest("choose at least one file")
    if len(refs) > MAX_FILES:
        raise BadRequest(f"at most {MAX_FILES} files at once")
    label = label.strip()
    if action != "delete":
        if not label:
            raise BadRequest("choose or type a label")
        validate_label(label)
    with db.write() as session:
        pkg, files = _resolve(session, identity, owner, name, refs)
        account = pkg.owner
        done = 0
        for f in files:
            version, basename = f.release.version, f.basename
            if action == "delete":
                remove_file_in(session, identity, f.id, basename)
                done += 1
            elif action in ("add_label", "copy"):
                done += label_service.add_label_in(
                    session, identity, account, label, pkg.name, version, basename
                )
            elif action == "remove_label":
                done += label_service.remove_label_in(
                    session, identity, account, label, pkg.name, version, basename
                )
            else:  # move
                others = sorted(lab.name for lab in f.labels if lab.name != label)
                added = label_service.add_label_in(
                    session, identity, account, label, pkg.name, version, basename
                )
                for other in others:
                    label_service.remove_label_in(
                        session, identity, account, other, pkg.name, version, basename
                    )
                done += 1 if added or others else 0
        if action == "remove_label" and not done:
            raise BadRequest(f"none of the chosen files carries the label {label!r}")
        return Changed(action, done, label)
