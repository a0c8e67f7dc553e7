"""The methods of `binstar_client.Binstar` (seed 000, anaconda-client 1.16 and its mixins), under the same names,
arguments, defaults and return values, so that a script written for anaconda-client runs against Packyard after
changing its import. Each sends the request anaconda-client sends and accepts the same status codes.

Differences (docs/client.md, "Binstar compatibility"): `download` returns a `Download` (a streamed answer with
requests' `status_code`, `headers`, `content`, `iter_content`, `raw`) instead of a `requests.Response`; `upload`
streams the file with an optional `callback(bytes_sent, total)` and never prints a tqdm bar; errors are this
package's classes, whose binstar names are aliases (`packyard.client.errors`).
"""

from __future__ import annotations

import platform as _platform
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any
from urllib.parse import quote

import httpx

from packyard.client import errors
from packyard.client.streams import CHUNK, Progress, ProgressReader, digests
from packyard.client.transport import Transport


def _value(kind: Any) -> str | None:
    """anaconda-client passes `PackageType` enums where a string goes; accept both."""
    if kind is None:
        return None
    return str(getattr(kind, "value", kind))


class Download:
    """A streamed download, shaped like the `requests.Response` binstar's `download` returns.

    Read it once: `content` (the whole body, in memory), `iter_content(chunk_size)`, `raw.read(n)` or `text`;
    then `close()` it (or use `with`). For a file on disk with its sha256 checked, use `Client.download_file`."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self.url = str(response.url)
        self.raw = _RawBody(response)

    def iter_content(self, chunk_size: int | None = CHUNK) -> Iterator[bytes]:
        yield from self._response.iter_bytes(chunk_size)

    @property
    def content(self) -> bytes:
        return self._response.read()

    @property
    def text(self) -> str:
        self._response.read()
        return self._response.text

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> Download:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _RawBody:
    """`response.raw`: a file-like `read(n)` over the streamed body."""

    def __init__(self, response: httpx.Response) -> None:
        self._chunks = response.iter_raw(CHUNK)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


class BinstarMethods:
    """Mixed into `Client`: everything `binstar_client.Binstar` offers that the server implements."""

    _t: Transport
    token: str | None
    domain: str

    # --- server and authentication -------------------------------------------------------------------------

    def check_server(self) -> None:
        """`HEAD /api`: raise ServerError when the URL is not a Packyard (or anaconda.org) API."""
        message = "API server is unavailable. Please check your API url configuration."
        try:
            self._t.request("HEAD", "")
        except errors.NotFound as exc:
            raise errors.ServerError(message, 404) from exc
        except errors.ServerError as exc:
            raise errors.ServerError(f"{message} ({exc.message})", exc.status) from exc

    def authentication_type(self) -> str:
        try:
            return str(self._t.json("GET", "/authentication-type")["authentication_type"])
        except errors.PackyardError:
            return "password"

    def authenticate(
        self,
        username: str,
        password: str,
        application: str | None = None,
        application_url: str | None = None,
        for_user: str | None = None,
        scopes: Sequence[str] | None = None,
        max_age: int | None = None,
        strength: str = "strong",
        fail_if_already_exists: bool = False,
        hostname: str = _platform.node(),
    ) -> str:
        """Create a token with the user's password and use it from now on; returns the token."""
        payload = {
            "scopes": list(scopes) if scopes is not None else None,
            "note": application,
            "note_url": application_url,
            "hostname": hostname,
            "user": for_user,
            "max-age": max_age,
            "strength": strength,
            "fail-if-exists": fail_if_already_exists,
        }
        answer = self._t.json("POST", "/authentications", json=payload, auth=(username, password))
        self._use_token(str(answer["token"]))
        return str(answer["token"])

    def bearer_authentication(self, *args: Any, **kwargs: Any) -> str:
        """As binstar: `bearer_authentication(application, ..., auth=API_KEY)` creates a token with another one."""
        key = kwargs.pop("auth")
        payload = {"note": args[0] if args else kwargs.get("application"), "scopes": kwargs.get("scopes")}
        answer = self._t.json(
            "POST", "/authentications", json=payload, headers={"Authorization": f"Bearer {key}"}
        )
        self._use_token(str(answer["token"]))
        return str(answer["token"])

    def _use_token(self, token: str) -> None:
        self.token = token
        self._t.set_token(token)

    def list_scopes(self) -> dict[str, str]:
        return dict(self._t.json("GET", "/scopes", anonymous=True))

    def authentication(self) -> dict[str, Any]:
        """The token this client uses."""
        return dict(self._t.json("GET", "/authentication"))

    def authentications(self) -> list[dict[str, Any]]:
        """The caller's tokens (names, scopes, expiry; never the secrets)."""
        return list(self._t.json("GET", "/authentications"))

    def remove_authentication(self, auth_name: str | None = None, organization: str | None = None) -> None:
        """Revoke the token named `auth_name` (of `organization`), or the one this client uses."""
        if auth_name:
            name = quote(auth_name, safe="")
            path = (
                f"/authentications/org/{organization}/name/{name}"
                if organization
                else f"/authentications/name/{name}"
            )
        else:
            path = "/authentications"
        self._t.request("DELETE", path, allowed=(201,))

    # --- users and packages --------------------------------------------------------------------------------

    def user(self, login: str | None = None) -> dict[str, Any]:
        """A user or organization; without `login`, the one the token belongs to."""
        if login:
            return dict(self._t.json("GET", f"/user/{login}"))
        if not self.token:
            raise errors.Unauthorized(
                "Authentication token is missing: pass token= to the client (or log in) to see your own user.",
                401,
            )
        return dict(self._t.json("GET", "/user"))

    def user_packages(
        self,
        login: str | None = None,
        platform: str | None = None,
        package_type: str | None = None,
        type_: str | None = None,
        access: str | None = None,
    ) -> list[dict[str, Any]]:
        params = {"platform": platform, "package_type": package_type, "type": type_, "access": access}
        path = f"/packages/{login}" if login else "/packages"
        return list(self._t.json("GET", path, params={k: v for k, v in params.items() if v}))

    def user_orgs(self, username: str | None = None) -> list[dict[str, Any]]:
        return list(self._t.json("GET", f"/users/{username}/orgs" if username else "/user/orgs"))

    def user_licenses(self) -> list[Any]:
        return list(self._t.json("GET", "/license"))

    def all_packages(self, modified_after: str | None = None) -> list[dict[str, Any]]:
        params = {"modified_after": modified_after} if modified_after else {}
        return list(self._t.json("GET", "/package_listing", params=params))

    def search(
        self, query: str, package_type: Any = None, platform: str | None = None
    ) -> list[dict[str, Any]]:
        params = {"name": query, "type": _value(package_type), "platform": platform}
        return list(self._t.json("GET", "/search", params={k: v for k, v in params.items() if v is not None}))

    def package(self, login: str, package_name: str) -> dict[str, Any]:
        return dict(self._t.json("GET", f"/package/{login}/{package_name}"))

    def add_package(
        self,
        login: str,
        package_name: str,
        summary: str | None = None,
        license: str | None = None,
        public: bool = True,
        license_url: str | None = None,
        license_family: str | None = None,
        attrs: Mapping[str, Any] | None = None,
        package_type: Any = None,
    ) -> dict[str, Any]:
        kind = _value(package_type)
        public_attrs = dict(attrs or {})
        public_attrs.update(
            summary=summary,
            package_types=[kind] if kind else [],
            license={"name": license, "url": license_url, "family": license_family},
        )
        payload = {"public": bool(public), "publish": False, "public_attrs": public_attrs}
        return dict(self._t.json("POST", f"/package/{login}/{package_name}", json=payload))

    def update_package(self, login: str, package_name: str, attrs: Mapping[str, Any]) -> dict[str, Any]:
        payload = {"public_attrs": dict(attrs)}
        return dict(self._t.json("PATCH", f"/package/{login}/{package_name}", json=payload))

    def remove_package(self, username: str, package_name: str) -> None:
        self._t.request("DELETE", f"/package/{username}/{package_name}", allowed=(201,))

    def release(self, login: str, package_name: str, version: str) -> dict[str, Any]:
        return dict(self._t.json("GET", f"/release/{login}/{package_name}/{version}"))

    def add_release(
        self,
        login: str,
        package_name: str,
        version: str,
        requirements: Any,
        announce: str | None,
        release_attrs: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"requirements": requirements, "announce": announce, "description": None}
        payload.update(release_attrs or {})
        return dict(self._t.json("POST", f"/release/{login}/{package_name}/{version}", json=payload))

    def update_release(
        self, login: str, package_name: str, version: str, attrs: Mapping[str, Any]
    ) -> dict[str, Any]:
        payload = {"public_attrs": dict(attrs)}
        return dict(self._t.json("PATCH", f"/release/{login}/{package_name}/{version}", json=payload))

    def remove_release(self, username: str, package_name: str, version: str) -> None:
        self._t.request("DELETE", f"/release/{username}/{package_name}/{version}", allowed=(201,))

    def distribution(
        self, login: str, package_name: str, release: str, basename: str | None = None
    ) -> dict[str, Any]:
        return dict(self._t.json("GET", f"/dist/{login}/{package_name}/{release}/{basename}"))

    def remove_dist(
        self,
        login: str,
        package_name: str,
        release: str,
        basename: str | None = None,
        _id: str | None = None,
    ) -> dict[str, Any]:
        if basename:
            path = f"/dist/{login}/{package_name}/{release}/{basename}"
        elif _id:
            path = f"/dist/{login}/{package_name}/{release}/-/{_id}"
        else:
            raise TypeError("method remove_dist expects either 'basename' or '_id' arguments")
        return dict(self._t.json("DELETE", path))

    # --- files in and out ----------------------------------------------------------------------------------

    def download(
        self, login: str, package_name: str, release: str, basename: str, md5: str | None = None
    ) -> Download | None:
        """The file as a streamed `Download`, or None when `md5` is given and the file has not changed."""
        headers = {"ETag": md5} if md5 else {}
        response = self._t.open(
            "GET",
            f"/download/{login}/{package_name}/{release}/{basename}",
            allowed=(200, 304),
            headers=headers,
        )
        if response.status_code == 304:
            response.close()
            return None
        return Download(response)

    def upload(
        self,
        login: str,
        package_name: str,
        release: str,
        basename: str,
        file: IO[bytes] | None = None,
        distribution_type: Any = None,
        description: str | None = "",
        md5: str | None = None,
        sha256: str | None = None,
        size: int | None = None,
        dependencies: Any = None,
        attrs: Mapping[str, Any] | None = None,
        channels: Sequence[str] = ("main",),
        callback: Progress | None = None,
        *,
        fd: IO[bytes] | None = None,
    ) -> dict[str, Any]:
        """Stage, send and commit one file (anaconda-client's three steps); returns the committed file.

        `file` (seed 000 names it `fd`, accepted too) is read twice in chunks, for its digests and then by the
        upload, and never held whole. `md5` is base64 as in binstar; `callback(bytes_sent, total)` reports the
        upload. The package and release must exist (`add_package`, `add_release`)."""
        stream = file if file is not None else fd
        if stream is None:
            raise TypeError("upload() needs the file object to send (file= or fd=)")
        if attrs is None:
            attrs = {}
        if not isinstance(attrs, Mapping):
            raise TypeError("argument attrs must be a dictionary")
        kind = _value(distribution_type)
        _, b64md5, computed_sha256, length = digests(stream)
        quoted = quote(basename)
        payload = {
            "distribution_type": kind,
            "description": description,
            "attrs": dict(attrs),
            "dependencies": dependencies,
            "channels": list(channels),
            "sha256": sha256 or computed_sha256,
        }
        staged = self._t.json("POST", f"/stage/{login}/{package_name}/{release}/{quoted}", json=payload)
        form = {str(k): str(v) for k, v in staged["form_data"].items()}
        form["Content-Length"] = str(size if size is not None else length)
        form["Content-MD5"] = md5 or b64md5
        reader = ProgressReader(stream, length, callback)
        self._t.request(
            "POST",
            staged["post_url"],
            allowed=(201,),
            anonymous=True,
            data=form,
            files={"file": (basename, reader)},
        )
        commit = {"dist_id": staged["dist_id"]}
        return dict(self._t.json("POST", f"/commit/{login}/{package_name}/{release}/{quoted}", json=commit))

    def copy(
        self,
        owner: str,
        package: str,
        version: str,
        basename: str | None = None,
        to_owner: str | None = None,
        from_label: str = "main",
        to_label: str = "main",
        replace: bool = False,
        update: bool = False,
    ) -> list[dict[str, Any]]:
        """Copy a release (or one file) to another owner and/or label; PUT replaces, PATCH updates."""
        path = "/copy/package/" + "/".join((owner, package, version, basename or ""))
        payload = {"to_owner": to_owner, "from_channel": from_label, "to_channel": to_label}
        method = "PUT" if replace else "PATCH" if update else "POST"
        try:
            return list(self._t.json(method, path, json=payload))
        except errors.Conflict as exc:
            raise errors.Conflict(
                f"File conflict while copying ({exc.message}): use replace=True or update=True to overwrite",
                409,
            ) from exc

    # --- collaborators -------------------------------------------------------------------------------------

    def package_collaborators(self, owner: str, package_name: str) -> list[dict[str, Any]]:
        return list(self._t.json("GET", f"/packages/{owner}/{package_name}/collaborators"))

    def package_add_collaborator(self, owner: str, package_name: str, collaborator: str) -> None:
        self._t.request(
            "PUT", f"/packages/{owner}/{package_name}/collaborators/{collaborator}", allowed=(201,)
        )

    def package_remove_collaborator(self, owner: str, package_name: str, collaborator: str) -> None:
        self._t.request(
            "DELETE", f"/packages/{owner}/{package_name}/collaborators/{collaborator}", allowed=(201,)
        )

    # --- labels ("channels" in anaconda-client) ------------------------------------------------------------

    def list_channels(self, owner: str) -> dict[str, Any]:
        return dict(self._t.json("GET", f"/channels/{owner}"))

    def show_channel(self, channel: str, owner: str) -> dict[str, Any]:
        return dict(self._t.json("GET", f"/channels/{owner}/{channel}"))

    def add_channel(
        self,
        channel: str,
        owner: str,
        package: str | None = None,
        version: str | None = None,
        filename: str | None = None,
    ) -> None:
        payload = {"package": package, "version": version, "basename": filename}
        self._t.request("POST", f"/channels/{owner}/{channel}", allowed=(201,), json=payload)

    def remove_channel(
        self,
        channel: str,
        owner: str,
        package: str | None = None,
        version: str | None = None,
        filename: str | None = None,
    ) -> None:
        payload = {"package": package, "version": version, "basename": filename}
        self._t.request("DELETE", f"/channels/{owner}/{channel}", allowed=(201,), json=payload)

    def copy_channel(self, channel: str, owner: str, to_channel: str) -> None:
        self._t.request("POST", f"/channels/{owner}/{channel}/copy/{to_channel}", allowed=(201,))

    def lock_channel(self, channel: str, owner: str) -> None:
        self._t.request("POST", f"/channels/{owner}/{channel}/lock", allowed=(201,))

    def unlock_channel(self, channel: str, owner: str) -> None:
        self._t.request("DELETE", f"/channels/{owner}/{channel}/lock", allowed=(201,))

    # --- groups of an organization -------------------------------------------------------------------------

    def groups(self, owner: str | None = None) -> list[dict[str, Any]]:
        return list(self._t.json("GET", f"/groups/{owner}" if owner else "/groups"))

    def group(self, owner: str, group_name: str) -> dict[str, Any]:
        return dict(self._t.json("GET", f"/group/{owner}/{group_name}"))

    def add_group(self, org: str, name: str, perms: str = "read") -> None:
        self._t.request("POST", f"/group/{org}/{name}", allowed=(204,), json={"perms": perms})

    def group_members(self, org: str, name: str) -> list[dict[str, Any]]:
        return list(self._t.json("GET", f"/group/{org}/{name}/members"))

    def is_group_member(self, org: str, name: str, member: str) -> bool:
        response = self._t.request("GET", f"/group/{org}/{name}/members/{member}", allowed=(204, 404))
        return response.status_code == 204

    def add_group_member(self, org: str, name: str, member: str) -> None:
        self._t.request("PUT", f"/group/{org}/{name}/members/{member}", allowed=(204,))

    def remove_group_member(self, org: str, name: str, member: str) -> None:
        self._t.request("DELETE", f"/group/{org}/{name}/members/{member}", allowed=(204,))

    def group_packages(self, org: str, name: str) -> list[dict[str, Any]]:
        return list(self._t.json("GET", f"/group/{org}/{name}/packages"))

    def add_group_package(self, org: str, name: str, package: str) -> None:
        self._t.request("PUT", f"/group/{org}/{name}/packages/{package}", allowed=(204,))

    def remove_group_package(self, org: str, name: str, package: str) -> None:
        self._t.request("DELETE", f"/group/{org}/{name}/packages/{package}", allowed=(204,))
