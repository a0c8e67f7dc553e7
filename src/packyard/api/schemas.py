"""The JSON request bodies of the REST API, one model per body, with anaconda-client's field names.

Field names and shapes follow what anaconda-client 1.16 sends (binstar_client/__init__.py and mixins); values
whose meaning a service checks (access levels, group permissions, label names, scopes) stay strings here so the
service's message, which lists the valid values, is the one the caller reads.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, ConfigDict, Field, field_validator

from packyard.api.body import JsonBody
from packyard.core import formats
from packyard.core.services.tokens import MAX_TOKEN_AGE_SECONDS

Text = str | None


def _check_package_types(types: list[str] | None) -> list[str] | None:
    known = formats.distribution_types()
    unknown = [t for t in types or () if t not in known]
    if unknown:
        raise ValueError(f"unknown package type(s) {unknown}; use {', '.join(known)}")
    return types


# --- tokens and users -----------------------------------------------------------------------------------------


class TokenRequest(JsonBody):
    """`POST /api/authentications`: log in, or `anaconda auth --create`."""

    note: Text = Field(None, description="the token's name")
    scopes: list[str] | str | None = Field(None, description="none means `all`; see GET /api/scopes")
    max_age: Annotated[int, Field(gt=0, le=MAX_TOKEN_AGE_SECONDS)] | None = Field(
        None,
        validation_alias=AliasChoices("max-age", "max_age"),
        serialization_alias="max-age",
        description="lifetime in seconds",
    )
    user: Text = Field(None, description="an organization to create the token for")
    channel: Text = Field(
        None,
        description="limit the token to one channel: the login of the user or organization whose packages it may "
        "act on (for an organization token, only that organization)",
    )
    fail_if_exists: bool | None = Field(
        None,
        validation_alias=AliasChoices("fail-if-exists", "fail_if_exists"),
        serialization_alias="fail-if-exists",
    )
    hostname: Text = None
    note_url: Text = None
    strength: Text = Field(None, description="strong or weak (both give the same token)")


class SignUp(JsonBody):
    """`POST /api/users`."""

    login: str
    password: str
    email: Text = None
    name: Text = None


class ProfileUpdate(JsonBody):
    """`PATCH /api/user`: only the fields given change."""

    name: Text = None
    email: Text = None
    company: Text = None
    location: Text = None
    url: Text = Field(None, description="a web address starting with http:// or https://")
    description: Text = None


class PasswordChange(JsonBody):
    """`POST /api/user/password`."""

    current_password: str = Field(description="your current password")
    new_password: str = Field(description="at least 8 characters")
    revoke_tokens: bool = Field(False, description="also remove every token of yours")


class OrgCreate(JsonBody):
    """`POST /api/orgs/ORG`."""

    name: Text = Field(None, description="the organization's display name")
    email: Text = Field(None, description="the organization's contact e-mail address")


class OrgProfile(JsonBody):
    """`PATCH /api/orgs/ORG`: the fields given change, the others stay."""

    name: Text = Field(None, description="display name")
    email: Text = Field(None, description="contact e-mail address")
    company: Text = None
    location: Text = None
    url: Text = Field(None, description="a web address (http or https)")
    description: Text = Field(None, description="plain text, at most 10,000 characters")


class GroupCreate(JsonBody):
    """`POST /api/group/ORG/GROUP`."""

    perms: Text = Field(None, description="read (the default), write or admin")


class GroupUpdate(JsonBody):
    """`PATCH /api/group/ORG/GROUP`: change the group's permission level."""

    permission: str = Field(
        validation_alias=AliasChoices("permission", "perms"), description="read, write or admin"
    )


# --- packages and releases ------------------------------------------------------------------------------------


class License(JsonBody):
    """anaconda-client's `add_package` sends the licence as an object."""

    name: Text = None
    url: Text = None
    family: Text = None


class PackageAttrs(JsonBody):
    """`public_attrs` of a package: what anaconda-client read from the file's metadata."""

    summary: Text = None
    description: Text = None
    license: License | str | None = None
    license_url: Text = None
    license_family: Text = None
    home: Text = None
    home_page: Text = None
    dev_url: Text = None
    doc_url: Text = None
    source_git_url: Text = None
    package_types: list[str] | None = None

    @field_validator("package_types")
    @classmethod
    def known_package_types(cls, types: list[str] | None) -> list[str] | None:
        return _check_package_types(types)


class PackageUpdate(JsonBody):
    """`PATCH /api/package/OWNER/NAME` (`anaconda update`)."""

    public_attrs: PackageAttrs | None = None
    access: Text = Field(None, description="public, authenticated or private")
    public: bool | None = Field(None, description="true: public; false: private (when access is not given)")


class PackageCreate(PackageUpdate):
    """`POST /api/package/OWNER/NAME`."""

    publish: bool | None = None
    package_types: list[str] | None = None

    @field_validator("package_types")
    @classmethod
    def known_package_types(cls, types: list[str] | None) -> list[str] | None:
        return _check_package_types(types)


class ReleaseAttrs(JsonBody):
    """A release's attributes: the named ones are typed, any other is kept as given."""

    model_config = ConfigDict(extra="allow")

    summary: Text = None
    description: Text = None
    announce: Text = None
    home: Text = None
    home_page: Text = None


class ReleaseCreate(ReleaseAttrs):
    """`POST /api/release/OWNER/NAME/VERSION`."""

    requirements: Any = None
    version: Text = None


class ReleaseUpdate(ReleaseAttrs):
    """`PATCH /api/release/OWNER/NAME/VERSION`: the attributes under `public_attrs`, or at the top level."""

    public_attrs: ReleaseAttrs | None = None


class Transfer(JsonBody):
    """`POST /api/package/OWNER/NAME/transfer`."""

    to_owner: str = Field(min_length=1)


class SetAccess(JsonBody):
    """`POST /api/packages/OWNER/access`."""

    packages: list[str] = Field(min_length=1)
    access: str = Field(description="public, authenticated or private")


class DeletePackages(JsonBody):
    """`POST /api/packages/OWNER/delete`."""

    packages: list[str] = Field(min_length=1, max_length=1000, description="the names of OWNER's packages")


# --- files --------------------------------------------------------------------------------------------------------


class StageRequest(JsonBody):
    """`POST /api/stage/OWNER/NAME/VERSION/BASENAME`."""

    distribution_type: Text = None
    description: Text = None
    attrs: Any = Field(
        None, description="a JSON object, kept beside the server's parse of the file (never in its place)"
    )
    dependencies: Any = None
    channels: list[str] | None = Field(None, description="labels; none means main")
    sha256: Text = None


class CommitRequest(JsonBody):
    """`POST /api/commit/OWNER/NAME/VERSION/BASENAME`."""

    dist_id: str = Field(description="from the stage response")


class CopyRequest(JsonBody):
    """`POST/PUT/PATCH /api/copy/package/OWNER/NAME/VERSION/[BASENAME]`."""

    to_owner: Text = Field(None, description="default: the caller")
    from_channel: Text = Field(None, description="default: main")
    to_channel: Text = Field(None, description="default: main")


class FileSpec(JsonBody):
    version: str = Field(description="the file's version")
    basename: str = Field(description="the file's basename, e.g. `noarch/pkg-1.0-0.tar.bz2`")


class FileBatch(JsonBody):
    """`POST /api/files/OWNER/NAME`: one action on several files of a package, all or nothing."""

    action: str = Field(description="delete, add_label, remove_label, copy (= add_label) or move")
    files: list[FileSpec] = Field(description="the files, at most 500")
    label: Text = Field(None, description="the label (every action but delete)")


class YankRequest(JsonBody):
    """`POST /api/yank/OWNER/NAME/VERSION/BASENAME`."""

    reason: Text = None


class LabelFiles(JsonBody):
    """`POST/DELETE /api/channels/OWNER/LABEL`: which files; all null means every file of the owner."""

    package: Text = None
    version: Text = None
    basename: Text = None
