"""What Packyard offers beyond anaconda-client's API: organizations, access, transfer, labels by owner, tokens with
scopes and expiry, notebooks, environments and projects (uploaded in one request to `POST /api/repo/OWNER`, as
anaconda-client 1.14+ refuses to send them), checked downloads to disk, and yanking.

Every method is one REST endpoint of docs/api.md (a few are two: a lookup, then the file) and returns its JSON.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from packyard.client import errors
from packyard.client.binstar import BinstarMethods
from packyard.client.streams import CHUNK, Progress, ProgressReader, save

# The values the server accepts (a command line offers them as choices; the server checks them either way).
ACCESS_LEVELS = ("public", "authenticated", "private")
PERMISSIONS = ("read", "write", "admin")


class PackyardMethods(BinstarMethods):
    """Mixed into `Client` after the Binstar methods it builds on."""

    # --- you -----------------------------------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        """The user the token belongs to (`user()` without a login)."""
        return self.user()

    def update_user(self, **fields: str) -> dict[str, Any]:
        """Change your profile: any of name, email, company, location, url, description."""
        return dict(self._t.json("PATCH", "/user", json=fields))

    # --- tokens --------------------------------------------------------------------------------------------

    def create_token(
        self,
        name: str,
        scopes: Sequence[str] | None = None,
        *,
        max_age: int | None = None,
        org: str | None = None,
        channel: str | None = None,
        fail_if_exists: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> dict[str, Any]:
        """A new token (the answer holds its secret as `token`, its `expires` and `scopes`); this client keeps
        using its own. `max_age` is its lifetime in seconds, `org` makes an organization's token, `channel` limits
        it to one user's or organization's packages. With `username`/`password` it is made with the password;
        otherwise with this client's token, which must be at least as powerful as the new one."""
        payload = {
            "note": name,
            "scopes": list(scopes) if scopes is not None else None,
            "max-age": max_age,
            "user": org,
            "channel": channel,
            "fail-if-exists": fail_if_exists,
        }
        auth = (username, password or "") if username else None
        return dict(self._t.json("POST", "/authentications", json=payload, auth=auth))

    def tokens(self) -> list[dict[str, Any]]:
        """Your tokens (never their secrets)."""
        return self.authentications()

    def revoke_token(self, name: str, org: str | None = None) -> None:
        """Remove the token called `name` (or with that public id); of organization `org` when given."""
        self.remove_authentication(name, org)

    def scopes(self) -> dict[str, str]:
        """Every scope a token may have, with what it allows."""
        return self.list_scopes()

    # --- organizations -------------------------------------------------------------------------------------

    def create_org(self, login: str, name: str | None = None, email: str | None = None) -> dict[str, Any]:
        """A new organization; you become its first owner."""
        return dict(
            self._t.json("POST", f"/orgs/{login}", allowed=(201,), json={"name": name, "email": email})
        )

    def org(self, login: str) -> dict[str, Any]:
        """An organization's profile (`user_type` is "org")."""
        return self.user(login)

    def update_org(self, login: str, **fields: str) -> dict[str, Any]:
        """Change any of name, email, company, location, url, description (owners only)."""
        return dict(self._t.json("PATCH", f"/orgs/{login}", json=fields))

    def delete_org(self, login: str) -> None:
        """Delete the organization and everything it holds (owners, with a password or an `all` token)."""
        self._t.request("DELETE", f"/orgs/{login}", allowed=(201,))

    def org_members(self, login: str) -> list[dict[str, Any]]:
        """`[{login, name, groups}]` of the organization (members only)."""
        return list(self._t.json("GET", f"/orgs/{login}/members"))

    def org_owners(self, login: str) -> list[dict[str, Any]]:
        """The members of the organization's `owners` group."""
        return self.group_members(login, "owners")

    def add_org_owner(self, org: str, login: str) -> None:
        self.add_group_member(org, "owners", login)

    def remove_org_owner(self, org: str, login: str) -> None:
        """Refused (Conflict) for the last owner: add another owner first."""
        self.remove_group_member(org, "owners", login)

    # --- groups beyond anaconda-client's -------------------------------------------------------------------

    def create_group(self, org: str, name: str, permission: str = "read") -> None:
        """A group whose `permission` (read, write or admin) applies to the packages it lists."""
        self.add_group(org, name, permission)

    def set_group_permission(self, org: str, name: str, permission: str) -> dict[str, Any]:
        return dict(self._t.json("PATCH", f"/group/{org}/{name}", json={"permission": permission}))

    def remove_group(self, org: str, name: str) -> None:
        self._t.request("DELETE", f"/group/{org}/{name}", allowed=(204,))

    # --- packages: collaborators, access, transfer, bulk delete, yank --------------------------------------

    def add_collaborator(self, owner: str, package: str, login: str, permission: str | None = None) -> None:
        """Make `login` a collaborator: `write` (the default, as anaconda-client's) or `read`; again to change."""
        params = {"permission": permission} if permission else {}
        self._t.request(
            "PUT", f"/packages/{owner}/{package}/collaborators/{login}", allowed=(201,), params=params
        )

    def collaborators(self, owner: str, package: str) -> list[dict[str, Any]]:
        """`[{login, name, permission}]`."""
        return self.package_collaborators(owner, package)

    def remove_collaborator(self, owner: str, package: str, login: str) -> None:
        self.package_remove_collaborator(owner, package, login)

    def set_access(self, owner: str, packages: str | Iterable[str], access: str) -> list[dict[str, Any]]:
        """Make packages public, authenticated (any signed-in user) or private, all or none of them; returns
        the packages as they are now."""
        names = [packages] if isinstance(packages, str) else list(packages)
        body = {"packages": names, "access": access}
        return list(self._t.json("POST", f"/packages/{owner}/access", json=body))

    def transfer(self, owner: str, package: str, to_owner: str) -> dict[str, Any]:
        """Give the package to another user or organization (admin on both sides); returns it at its new home."""
        return dict(self._t.json("POST", f"/package/{owner}/{package}/transfer", json={"to_owner": to_owner}))

    def remove_packages(self, owner: str, packages: Iterable[str]) -> list[str]:
        """Delete several packages, all or none; returns their names."""
        answer = self._t.json("POST", f"/packages/{owner}/delete", json={"packages": list(packages)})
        return [str(name) for name in answer["deleted"]]

    def yank(self, owner: str, package: str, version: str, basename: str, reason: str | None = None) -> Any:
        """Mark a file yanked (PEP 592): installers skip it unless pinned."""
        return self._t.json("POST", f"/yank/{owner}/{package}/{version}/{basename}", json={"reason": reason})

    def unyank(self, owner: str, package: str, version: str, basename: str) -> Any:
        return self._t.json("DELETE", f"/yank/{owner}/{package}/{version}/{basename}")

    # --- mirrors (docs/mirrors.md) -------------------------------------------------------------------------

    def create_mirror(
        self,
        name: str,
        format: str,
        upstream: str,
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        ttl: int | None = None,
        public: bool = True,
    ) -> dict[str, Any]:
        """Create organization `name` (you its owner) whose `format` channel proxies `upstream`."""
        body: dict[str, Any] = {
            "format": format,
            "upstream": upstream,
            "include": list(include),
            "exclude": list(exclude),
            "public": public,
        }
        if ttl is not None:
            body["ttl"] = ttl
        return dict(self._t.json("POST", f"/mirrors/{name}", json=body, allowed=(201,)))

    def mirror(self, name: str, format: str | None = None) -> dict[str, Any]:
        """A mirror's configuration and state (last_ok_at, last_error)."""
        return dict(self._t.json("GET", f"/mirrors/{name}", params=_fmt(format)))

    def mirrors(self) -> list[dict[str, Any]]:
        """Every mirror you may use."""
        return list(self._t.json("GET", "/mirrors"))

    def update_mirror(self, name: str, format: str | None = None, **fields: Any) -> dict[str, Any]:
        """Change any of upstream, include, exclude, ttl, public (the organization's owners)."""
        return dict(self._t.json("PATCH", f"/mirrors/{name}", json=fields, params=_fmt(format)))

    def delete_mirror(self, name: str, format: str | None = None) -> None:
        """Remove the mirror's configuration; its cached packages stay in the organization."""
        self._t.request("DELETE", f"/mirrors/{name}", params=_fmt(format), allowed=(204,))

    def sync_mirror(
        self,
        name: str,
        packages: Sequence[str],
        *,
        deps: bool = True,
        subdirs: Sequence[str] = (),
        format: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
        on_wait: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Pre-fetch packages (with their dependencies unless `deps` is false; conda: solved for `subdirs`).

        The server queues the sync and a node runs it; with `wait` (the default) this polls it until it ends
        and returns it finished (`fetched` lists the files, as the synchronous call answered), or raises what
        the server reported (`errors.Forbidden` for a refused name, `errors.BadRequest` for a spec that cannot be
        solved, `errors.ServerError` when the upstream is unreachable, ...). With `wait=False`: the queued sync
        (its `id`; `mirror_sync` reads it later). `on_wait` is called with the sync each time it is polled
        unfinished; `timeout` (seconds) raises `TimeoutError` and leaves the sync running."""
        body: dict[str, Any] = {"packages": list(packages), "deps": deps}
        if subdirs:
            body["subdirs"] = list(subdirs)
        answer = self._t.request(
            "POST", f"/mirrors/{name}/sync", json=body, params=_fmt(format), allowed=(200, 202)
        )
        sync = dict(answer.json())
        if answer.status_code == 200 or not wait:  # 200: a server that synced inside the request
            return sync
        return self.wait_for_mirror_sync(name, int(sync["id"]), timeout=timeout, on_wait=on_wait)

    def mirror_sync(self, name: str, sync_id: int) -> dict[str, Any]:
        """One sync of mirror `name`: `state` (queued, running, done, failed), `fetched`, `error`."""
        return dict(self._t.json("GET", f"/mirrors/{name}/syncs/{sync_id}"))

    def mirror_syncs(self, name: str, format: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The latest syncs of mirror `name`, newest first."""
        params = {**_fmt(format), "limit": limit}
        return list(self._t.json("GET", f"/mirrors/{name}/syncs", params=params))

    def wait_for_mirror_sync(
        self,
        name: str,
        sync_id: int,
        *,
        timeout: float | None = None,
        on_wait: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Poll sync `sync_id` (every 0.5 s, slowing to 5 s) until it ends: the finished sync, or its error raised
        as the error class of the status the server recorded."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.5
        while True:
            sync = self.mirror_sync(name, sync_id)
            if sync["state"] == "done":
                return sync
            if sync["state"] == "failed":
                status = int(sync.get("error_status") or 500)
                raise errors.class_for_status(status)(str(sync.get("error") or "the sync failed"), status)
            if on_wait is not None:
                on_wait(sync)
            if deadline is not None and time.monotonic() + pause > deadline:
                raise TimeoutError(
                    f"sync {sync_id} of mirror {name} is still {sync['state']} after {timeout} s; it goes on: "
                    f"read it with mirror_sync({name!r}, {sync_id})"
                )
            time.sleep(pause)
            pause = min(pause * 1.5, 5.0)

    # --- labels, owner first -------------------------------------------------------------------------------

    def labels(self, owner: str) -> dict[str, Any]:
        """`{label: {is_locked, num_files}}`."""
        return self.list_channels(owner)

    def label(self, owner: str, label: str) -> dict[str, Any]:
        """The label and its files."""
        return self.show_channel(label, owner)

    def add_label(
        self,
        owner: str,
        label: str,
        package: str | None = None,
        version: str | None = None,
        basename: str | None = None,
    ) -> None:
        """Put `label` on the files of a package (or one version, or one file); this is how a label is made."""
        self.add_channel(label, owner, package, version, basename)

    def copy_label(self, owner: str, label: str, to_label: str) -> None:
        self.copy_channel(label, owner, to_label)

    def rename_label(self, owner: str, label: str, to_label: str) -> None:
        self._t.request("POST", f"/channels/{owner}/{label}/rename/{to_label}", allowed=(201,))

    def lock_label(self, owner: str, label: str) -> None:
        self.lock_channel(label, owner)

    def unlock_label(self, owner: str, label: str) -> None:
        self.unlock_channel(label, owner)

    def remove_label(
        self,
        owner: str,
        label: str,
        package: str | None = None,
        version: str | None = None,
        basename: str | None = None,
    ) -> None:
        """Take `label` off the given files; with none given, remove the label entirely."""
        self.remove_channel(label, owner, package, version, basename)

    # --- files: checked download to disk, one-request upload -----------------------------------------------

    def download_file(
        self,
        owner: str,
        package: str,
        version: str,
        basename: str,
        dest: str | os.PathLike[str],
        *,
        callback: Progress | None = None,
    ) -> Path:
        """Stream the file to `dest` (a file path, or an existing folder to put it in under its basename without
        the subdir), checking its sha256 against the server's record: a mismatch raises ChecksumMismatch and
        leaves nothing behind. `callback(bytes_received, total)` reports progress."""
        record = self.distribution(owner, package, version, basename)
        target = Path(dest)
        if target.is_dir():
            target = target / basename.rsplit("/", 1)[-1]
        total = int(record.get("size") or 0)
        with self._t.stream("GET", f"/download/{owner}/{package}/{version}/{basename}") as response:
            save(
                response.iter_bytes(CHUNK),
                target,
                sha256=record.get("sha256"),
                total=total,
                callback=callback,
            )
        return target

    def upload_repo(
        self,
        owner: str,
        path: str | os.PathLike[str],
        filetype: str,
        *,
        name: str | None = None,
        version: str | None = None,
        summary: str | None = None,
        labels: Sequence[str] | None = None,
        callback: Progress | None = None,
    ) -> str:
        """One-request upload (`POST /api/repo/OWNER`) of a notebook (`ipynb`), environment (`env`), project
        archive (`project`) or any `file` (the server also takes the filetypes twine and R send); the server
        checks and parses it, and its message is returned (or raised, for a file it refuses)."""
        fields = {"filetype": filetype, "name": name, "version": version, "summary": summary}
        if labels:
            fields["label"] = ",".join(labels)
        source = Path(path)
        with source.open("rb") as fh:
            total = source.stat().st_size
            answer = self._t.request(
                "POST",
                f"/repo/{owner}",
                data={k: v for k, v in fields.items() if v is not None},
                files={"content": (source.name, ProgressReader(fh, total, callback))},
            )
        return answer.text.strip()

    # --- notebooks, environments, projects -----------------------------------------------------------------

    def upload_notebook(self, owner: str, path: str | os.PathLike[str], **options: Any) -> str:
        """Upload a .ipynb; name defaults to the file's stem, version to a UTC timestamp."""
        return self.upload_repo(owner, path, "ipynb", **options)

    def notebook_html(self, owner: str, name: str, version: str | None = None) -> str:
        """The notebook rendered as (script-free) HTML."""
        suffix = f"/{version}" if version else ""
        return self._t.request("GET", f"/notebooks/{owner}/{name}{suffix}", site=True).text

    def download_notebook(
        self, owner: str, name: str, dest: str | os.PathLike[str], version: str | None = None, **options: Any
    ) -> Path:
        """The .ipynb as uploaded (the latest version, or `version`), checked."""
        return self._download_latest(owner, name, "ipynb", version, dest, **options)

    def upload_environment(self, owner: str, path: str | os.PathLike[str], **options: Any) -> str:
        """Upload an environment.yml; name defaults to its `name:`, version to a UTC timestamp."""
        return self.upload_repo(owner, path, "env", **options)

    def environments(self, owner: str) -> list[dict[str, Any]]:
        """`[{name, versions, latest_version, url}]` of the owner's environments you may read."""
        return list(self._t.json("GET", f"/envs/{owner}", site=True))

    def environment(self, owner: str, name: str, version: str | None = None) -> str:
        """The environment.yml text (the latest version, or `version`)."""
        suffix = f"/{version}" if version else ""
        return self._t.request("GET", f"/envs/{owner}/{name}{suffix}", site=True).text

    def download_environment(
        self, owner: str, name: str, dest: str | os.PathLike[str], version: str | None = None, **options: Any
    ) -> Path:
        return self._download_latest(owner, name, "env", version, dest, **options)

    def upload_project(
        self,
        owner: str,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        version: str | None = None,
        **options: Any,
    ) -> str:
        """Upload a project: a folder (packed into a .tar.gz on disk first) or an archive of one. `version` is
        the revision (default: the next integer); `name` defaults to the folder's name."""
        source = Path(path)
        if not source.is_dir():
            return self.upload_repo(owner, source, "project", name=name, version=version, **options)
        project = name or source.resolve().name
        with tempfile.TemporaryDirectory(prefix="packyard-project-") as tmp:
            archive = Path(tmp) / f"{project}.tar.gz"
            with tarfile.open(archive, "w:gz") as tar:
                tar.add(source, arcname=project, filter=_plain_members)
            return self.upload_repo(owner, archive, "project", name=project, version=version, **options)

    def project(self, owner: str, name: str) -> dict[str, Any]:
        """The project and its revisions, each with its archive(s)."""
        return dict(self._t.json("GET", f"/projects/{owner}/{name}"))

    def project_files(self, owner: str, name: str, revision: str) -> list[dict[str, Any]]:
        """`[{path, size}]` in the revision's archive."""
        return list(self._t.json("GET", f"/projects/{owner}/{name}/{revision}/files"))

    def download_project(
        self, owner: str, name: str, dest: str | os.PathLike[str], revision: str | None = None, **options: Any
    ) -> Path:
        """The project's archive (the latest revision, or `revision`), checked."""
        return self._download_latest(owner, name, "project", revision, dest, **options)

    def _download_latest(
        self,
        owner: str,
        name: str,
        kind: str,
        version: str | None,
        dest: str | os.PathLike[str],
        callback: Progress | None = None,
    ) -> Path:
        files = [f for f in self.package(owner, name).get("files", []) if f.get("type") == kind]
        if version is not None:
            files = [f for f in files if f.get("version") == version]
        if not files:
            which = f"version {version} of " if version else ""
            raise errors.NotFound(f"{owner}/{name}: {which}no {kind} file to download", 404)
        newest = max(files, key=lambda f: str(f.get("upload_time") or ""))
        return self.download_file(
            owner, name, str(newest["version"]), str(newest["basename"]), dest, callback=callback
        )


def _plain_members(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """The server accepts only files and folders in a project archive: leave links and devices out."""
    return member if member.isfile() or member.isdir() else None


def _fmt(format: str | None) -> dict[str, str]:
    return {"format": format} if format else {}
