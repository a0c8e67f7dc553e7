"""The user's commands for organizations, groups and tokens, through the server's API (packyard.client).

`org` and `token` also hold the operator's commands of cli/main.py, which work on this installation's database:
`packyard org create LOGIN --owner USER` and `packyard token create --user USER ...` stay the operator's (they
name the user to act as); without `--owner`/`--user`, `create` goes through the server as you
(docs/client.md, "The packyard command").
"""

from __future__ import annotations

from collections.abc import Callable

import typer

from packyard.cli import session
from packyard.cli.packages import table
from packyard.cli.session import JSON, TOKEN, URL
from packyard.client.extensions import PERMISSIONS

groups_app = typer.Typer(
    help="An organization's groups: create, perms, members, packages, remove.", no_args_is_help=True
)


# --- organizations (registered on cli/main.py's `org` group) ---------------------------------------------------


def org_create_remote(
    login: str, name: str | None, email: str | None, url: str | None, token: str | None
) -> None:
    """Create an organization through the server; you become its first owner."""
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        made = api.create_org(login, name or None, email or None)
    typer.echo(f"created organization {made.get('login', login)}; you are its owner")


def org_show(login: str, as_json: bool = JSON, url: str | None = URL, token: str | None = TOKEN) -> None:
    """An organization's profile and its packages you may see."""
    with session.reporting(), session.connect(url, token) as api:
        profile = api.org(login)
        packages = api.user_packages(login)
    if not as_json:
        typer.echo(
            f"{profile['login']} ({profile['user_type']}){': ' + profile['name'] if profile.get('name') else ''}"
        )
    table(
        [{**p, "package": p["name"]} for p in packages],
        ["package", "latest_version", "access", "summary"],
        as_json,
        {**profile, "packages": packages},
    )


def org_delete(
    login: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Delete an organization with all its packages (owners only)."""
    session.confirm(f"Delete the organization {login} and all its packages?", yes)
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        api.delete_org(login)
    typer.echo(f"deleted organization {login}")


def org_members(login: str, as_json: bool = JSON, url: str | None = URL, token: str | None = TOKEN) -> None:
    """An organization's members and their groups (members only)."""
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        found = api.org_members(login)
    table(found, ["login", "name", "groups"], as_json)


def org_owners(
    login: str,
    add: list[str] = typer.Option([], "--add", help="Make LOGIN an owner (repeat for several)."),
    remove: list[str] = typer.Option([], "--remove", help="Take LOGIN off the owners."),
    as_json: bool = JSON,
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """List an organization's owners, or add and remove them."""
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        for member in add:
            api.add_org_owner(login, member)
        for member in remove:
            api.remove_org_owner(login, member)
        found = api.org_owners(login)
    table(found, ["login", "name"], as_json)


ORG_COMMANDS: dict[str, Callable[..., None]] = {
    "show": org_show,
    "delete": org_delete,
    "members": org_members,
    "owners": org_owners,
}


# --- groups ----------------------------------------------------------------------------------------------------

_PERMISSION_HELP = f"What the group may do to its packages: {', '.join(PERMISSIONS)}."


@groups_app.command("list")
def groups_list(org: str, as_json: bool = JSON, url: str | None = URL, token: str | None = TOKEN) -> None:
    """An organization's groups."""
    with session.reporting(), session.connect(url, token) as api:
        found = api.groups(org)
    table(found, ["name", "perms", "members", "packages"], as_json)


@groups_app.command("create")
def groups_create(
    org: str,
    name: str,
    permission: str = typer.Option("read", "--permission", help=_PERMISSION_HELP),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Create a group."""
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        api.create_group(org, name, permission)
    typer.echo(f"created group {org}/{name} ({permission})")


@groups_app.command("perms")
def groups_perms(
    org: str,
    name: str,
    permission: str = typer.Argument(..., help=_PERMISSION_HELP),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Change what a group may do to its packages."""
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        api.set_group_permission(org, name, permission)
    typer.echo(f"group {org}/{name} now has {permission}")


@groups_app.command("members")
def groups_members(
    org: str,
    name: str,
    add: list[str] = typer.Option([], "--add", help="Add LOGIN (repeat for several)."),
    remove: list[str] = typer.Option([], "--remove", help="Remove LOGIN."),
    as_json: bool = JSON,
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """List a group's members, or add and remove them."""
    with session.reporting(), session.connect(url, token, need_token=bool(add or remove)) as api:
        for login in add:
            api.add_group_member(org, name, login)
        for login in remove:
            api.remove_group_member(org, name, login)
        found = api.group_members(org, name)
    table(found, ["login", "name"], as_json)


@groups_app.command("packages")
def groups_packages(
    org: str,
    name: str,
    add: list[str] = typer.Option([], "--add", help="Give the group PACKAGE (repeat for several)."),
    remove: list[str] = typer.Option([], "--remove", help="Take PACKAGE from the group."),
    as_json: bool = JSON,
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """List the packages a group's permission applies to, or add and remove them."""
    with session.reporting(), session.connect(url, token, need_token=bool(add or remove)) as api:
        for package in add:
            api.add_group_package(org, name, package)
        for package in remove:
            api.remove_group_package(org, name, package)
        found = api.group_packages(org, name)
    table(found, ["full_name", "access", "summary"], as_json)


@groups_app.command("remove")
def groups_remove(
    org: str,
    name: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Delete a group (its members stay in the organization)."""
    session.confirm(f"Delete the group {org}/{name}?", yes)
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        api.remove_group(org, name)
    typer.echo(f"deleted group {org}/{name}")


# --- tokens (registered on cli/main.py's `token` group) --------------------------------------------------------


def token_create_remote(
    name: str,
    scopes: list[str],
    max_age: int | None,
    org: str | None,
    as_json: bool,
    url: str | None,
    token: str | None,
) -> None:
    """Create a token with yours (which must allow at least as much) and print it: it is shown only once."""
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        made = api.create_token(name, [s for item in scopes for s in item.split()], max_age=max_age, org=org)
    if as_json:
        session.print_json(made)
        return
    typer.echo(str(made["token"]))
    session.say(
        f"token {name!r}: scopes {', '.join(made.get('scopes') or [])}; expires {made.get('expires') or 'never'}"
    )


def token_list(as_json: bool = JSON, url: str | None = URL, token: str | None = TOKEN) -> None:
    """Your tokens (never their secrets)."""
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        found = api.tokens()
    table(found, ["id", "name", "scopes", "expires", "hostname"], as_json)


def token_revoke(
    name: str = typer.Argument(..., help="The token's name (or id)."),
    org: str | None = typer.Option(None, "--org", help="A token of this organization."),
    url: str | None = URL,
    token: str | None = TOKEN,
) -> None:
    """Revoke a token: it stops working at once."""
    with session.reporting(), session.connect(url, token, need_token=True) as api:
        api.revoke_token(name, org)
    typer.echo(f"revoked token {name!r}")


TOKEN_COMMANDS: dict[str, Callable[..., None]] = {"list": token_list, "revoke": token_revoke}
