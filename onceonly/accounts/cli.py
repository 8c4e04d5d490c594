"""``onceonly users``: accounts and API tokens from the command line (before any admin exists,
and for scripts that provision agency systems).

Unlike the administrators' pages, the CLI may make any account and issue a token for any
account: whoever runs it holds the node's database and configuration, and could write the
same rows by hand, so a check here would only look like a boundary. It is the bootstrap path
(a tenant's first administrator, a national agency's clerk or auditor, a stand-alone node's
accounts). What keeps it honest is the record: a token it issues has no issuing account, and
every audit entry written with that token names its issuer as ``node-operator``
(:data:`~onceonly.accounts.principal.NODE_OPERATOR`), where a token a tenant's administrator
issued (for a system account only) names that administrator. A password it sets
(``create``, ``set-password``) is temporary, as one an administrator sets on the web: its
holder must change it at the first sign-in, ``password_set_by`` says ``operator``, and an
``account.password_set`` audit entry names the node's operator as the one who set it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from onceonly.accounts import api_tokens, password_changes
from onceonly.accounts.api_tokens import issue_api_token, list_api_tokens, revoke_api_token
from onceonly.accounts.models import ROLES
from onceonly.accounts.password_rules import OPERATOR, SELF
from onceonly.accounts.tenancy import hosted_tenants
from onceonly.accounts.users import UserView, check_agency_served, create_user, get_user, list_users
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction, utcnow
from onceonly.errors import Problem
from onceonly.i18n import t, taipei_time

app = typer.Typer(
    help="Accounts and roles: create users, list them, issue and revoke API tokens, set passwords.",
    no_args_is_help=True,
)


def console() -> Console:
    """A console made per command so it sees the terminal width of the moment."""
    return Console(soft_wrap=True)


@contextmanager
def _database() -> Iterator[tuple[Session, Settings]]:
    """One committed transaction on the configured database; a problem is printed in the
    configured language and exits with status 1, writing nothing."""
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as db:
            yield db, settings
    except Problem as problem:
        console().print(f"[red]{problem.title}[/red]")
        for error in problem.errors:
            console().print(f"  [bold]{error.field}[/bold]: {error.reason}")
        if problem.detail and not problem.errors:
            console().print(f"  {problem.detail}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


def _ask_password(lang: str) -> str:
    first = typer.prompt(t("accounts.field.password", lang), hide_input=True)
    second = typer.prompt(t("accounts.field.password", lang) + " (2)", hide_input=True)
    if first != second:
        console().print(f"[red]{t('accounts.cli.passwords_differ', lang)}[/red]")
        raise typer.Exit(1)
    return str(first)


def _unknown_user(username: str, lang: str) -> Problem:
    return Problem(404, "not-found", t("accounts.user.not_found", lang, user=username))


@app.command()
def create(
    username: str = typer.Argument(..., help="Login name, e.g. tpe-udd-clerk."),
    role: str = typer.Option(..., help=f"One of: {', '.join(ROLES)}."),
    agency: str = typer.Option(..., help="Agency code, e.g. taipei-city.urban_development."),
    display_name: str = typer.Option(..., "--display-name", help="Name shown to colleagues."),
    password: str | None = typer.Option(
        None, help="Prompted for when omitted (safer: not kept in shell history)."
    ),
    no_password: bool = typer.Option(
        False,
        "--no-password",
        help="A system account: an agency system's, signing in only by API token (its "
        "administrators may issue its tokens; a person's tokens only the person makes).",
    ),
) -> None:
    """Create an account. Its password is temporary: the holder must change it at the first
    sign-in."""
    lang = Settings().language
    if password is None and not no_password:
        password = _ask_password(lang)
    with _database() as (db, settings):
        check_agency_served(db, agency, hosted_tenants(settings), lang)
        user = create_user(
            db, username, password, role, agency, display_name, lang=lang, set_by=OPERATOR
        )
    console().print(
        t(
            "accounts.cli.created",
            lang,
            username=user.username,
            role=user.role,
            agency=user.agency_code,
            badge=user.badge,
        )
    )
    if user.must_change_password:
        console().print(t("accounts.cli.temporary", lang))


@app.command("list")
def list_(
    role: str | None = typer.Option(None, help="Only this role."),
    agency: str | None = typer.Option(None, help="Only this agency code."),
) -> None:
    """List accounts with role, agency, badge number, who set the password (a temporary one
    until when, or that it has expired) and whether they are active."""
    with _database() as (db, settings):
        lang = settings.language
        users = list_users(db, role=role, agency_code=agency, lang=lang)
    # a narrow terminal wraps what it cannot fit rather than cutting it ("moi-house…"): a
    # username is kept whole, to be typed back into the next command
    table = Table()
    longest = max((len(user.username) for user in users), default=0)
    table.add_column(t("accounts.field.username", lang), no_wrap=True, min_width=longest)
    for field in ("display_name", "role", "agency_code", "badge", "password_status", "status"):
        table.add_column(t(f"accounts.field.{field}", lang), overflow="fold")
    now = utcnow()
    for user in users:
        status = t("accounts.users.active" if user.active else "accounts.users.inactive", lang)
        password = _password_status(user, settings.temporary_password_days, now, lang)
        table.add_row(
            user.username,
            user.display_name,
            user.role,
            user.agency_code,
            user.badge,
            password,
            status,
        )
    console().print(table)


def _password_status(user: UserView, days: int, now: datetime, lang: str) -> str:
    """The password column of ``users list``, in the words of the administrators' page."""
    if user.system:
        return t("accounts.password.status.none", lang)
    setter = user.password_set_by
    who = t("accounts.password.operator", lang) if setter == OPERATOR else setter
    until = user.temporary_until(days)
    when = taipei_time(until, lang)
    if until is not None and until <= now:
        return t("accounts.password.status.expired", lang, who=who, when=when)
    if user.must_change_password:
        status = t("accounts.password.status.temporary", lang, who=who)
        usable = t("accounts.password.status.temporary_until", lang, when=when)
        return f"{status}\n{usable}" if until else status
    if setter == SELF:
        return t("accounts.password.status.self", lang)
    return t("accounts.password.status.unknown", lang)


@app.command("issue-token")
def issue_token(
    username: str = typer.Argument(..., help="Account the agency system acts as."),
    name: str = typer.Option(..., help="What the token is for."),
    days: int | None = typer.Option(None, help="Validity in days (default: api_token_days)."),
) -> None:
    """Issue an API token; it is printed once and only its hash is stored.

    For a system account (made with --no-password) this is how its agency system gets one.
    For a personal account (one that signs in with a password) it makes a token that acts as
    that person: everything done with it is done in their name and shown to citizens as
    their access, recorded as issued by node-operator. On the web only the person may make
    one, signed in, from /account; administrators issue only for system accounts."""
    with _database() as (db, settings):
        lang = settings.language
        user = get_user(db, username)
        if user is None:
            raise _unknown_user(username, lang)
        plain, view = issue_api_token(
            db, user, name, settings.api_token_days if days is None else days, lang=lang
        )
    expires = view.expires_at.strftime("%Y-%m-%d %H:%M UTC")
    if view.personal:
        console().print(t("accounts.cli.token_for_person", lang, username=view.username))
    console().print(
        t(
            "accounts.cli.token_issued",
            lang,
            id=view.id,
            name=view.name,
            username=view.username,
            expires=expires,
        )
    )
    typer.echo(plain)


@app.command("revoke-token")
def revoke_token(token_id: int = typer.Argument(..., help="Token id (see `list-tokens`).")) -> None:
    """Revoke an API token from the next request on."""
    with _database() as (db, settings):
        view = revoke_api_token(db, token_id, lang=settings.language)
    console().print(t("accounts.cli.token_revoked", settings.language, id=view.id, name=view.name))


@app.command("list-tokens")
def list_tokens(
    username: str | None = typer.Option(None, help="Only this account's tokens."),
) -> None:
    """List API tokens with their status (the tokens themselves are never shown again)."""
    with _database() as (db, settings):
        lang = settings.language
        user_id = None
        if username is not None:
            user = get_user(db, username)
            if user is None:
                raise _unknown_user(username, lang)
            user_id = user.id
        tokens = list_api_tokens(db, user_id)
    table = Table(
        "id",
        t("accounts.field.token_name", lang),
        t("accounts.field.username", lang),
        t("accounts.field.prefix", lang),
        t("accounts.field.expires_at", lang),
        t("accounts.field.status", lang),
    )
    for token in tokens:
        table.add_row(
            str(token.id),
            token.name,
            token.username,
            token.prefix + "…",
            token.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
            t(f"accounts.token.status.{token.status()}", lang),
        )
    console().print(table)


@app.command("set-password")
def set_password(
    username: str = typer.Argument(...),
    password: str | None = typer.Option(None, help="Prompted for when omitted."),
) -> None:
    """Set a temporary password for an account (the holder must change it at the next
    sign-in); also unlocks it, ends its sessions and revokes all its API tokens."""
    lang = Settings().language
    if password is None:
        password = _ask_password(lang)
    with _database() as (db, _settings):
        user = password_changes.set_password(db, username, password, by=OPERATOR, lang=lang)
    console().print(t("accounts.cli.password_set", lang, username=user.username))


@app.command("require-password-change")
def require_password_change(
    usernames: list[str] | None = typer.Argument(None, help="The accounts (login names)."),
    every: bool = typer.Option(
        False, "--all", help="Every active account that signs in with a password."
    ),
) -> None:
    """Make accounts change their password at the next sign-in: run once with --all after
    upgrading, when nothing recorded who chose the passwords already in use."""
    lang = Settings().language
    if bool(usernames) == every:
        console().print(f"[red]{t('accounts.cli.name_or_all', lang)}[/red]")
        raise typer.Exit(2)
    with _database() as (db, _settings):
        marked = password_changes.require_password_change(
            db, None if every else usernames, lang=lang
        )
    console().print(t("accounts.cli.change_required", lang, count=len(marked)))


@app.command("revoke-admin-issued-tokens")
def revoke_admin_issued_tokens() -> None:
    """Revoke every API token an administrator issued for someone else's personal account
    (allowed before: such a token acts as that person). Run once after upgrading, when the
    agency systems that used them have system accounts of their own; each revocation is
    audited. Tokens of system accounts, the holders' own and the operator's stay."""
    with _database() as (db, settings):
        lang = settings.language
        revoked = api_tokens.revoke_admin_issued_tokens(db)
    for token in revoked:
        console().print(
            t(
                "accounts.cli.admin_token_revoked",
                lang,
                id=token.id,
                name=token.name,
                username=token.username,
                issuer=token.created_by or "?",
            )
        )
    console().print(t("accounts.cli.admin_tokens_revoked", lang, count=len(revoked)))
