"""The one entry point: ``onceonly <command>``.

Capabilities contribute command groups (a ``typer.Typer`` named ``app`` in their ``cli``
module); :data:`COMMAND_GROUPS` lists them so ``onceonly --help`` shows the whole tool.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from onceonly import cli_usage
from onceonly.cli_errors import explained
from onceonly.config import CONFIG_ENV, Settings
from onceonly.db import database_of
from onceonly.errors import Problem
from onceonly.i18n import both, one_line, t

app = typer.Typer(
    name="onceonly",
    help=(
        "免書證免謄本 certificate-free service platform: run the demo, serve, manage the "
        "catalog, verify transcripts and the audit log."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)

COMMAND_GROUPS: dict[str, str] = {
    "db": "onceonly.dbcli",
    "catalog": "onceonly.catalog.cli",
    "users": "onceonly.accounts.cli",
    "audit": "onceonly.audit.cli",
    "keys": "onceonly.exchange.keys_cli",
    "transcript": "onceonly.exchange.transcript_cli",
    "cases": "onceonly.cases.cli",
    "citizen": "onceonly.citizens.cli",
    "notify": "onceonly.notify.cli",
    "pki": "onceonly.pki.cli",
    "directory": "onceonly.federation.directory_cli",
    "federation": "onceonly.federation.cli",
    "backup": "onceonly.federation.backup_cli",
    "consolidate": "onceonly.consolidate.cli",
    "connector": "onceonly.connectors.cli",
    "stats": "onceonly.stats.cli",
    "gateway": "onceonly.gateway.cli",
    "open311": "onceonly.open311.cli",
}
"""Sub-command name -> module exposing a Typer ``app`` (its help text is the group's one line)."""

for _name, _module in COMMAND_GROUPS.items():
    app.add_typer(importlib.import_module(_module).app, name=_name)


COMMANDS: dict[str, str] = {"demo": "onceonly.demo.cli:demo"}
"""Top-level commands living in another package, as ``module:function``: the demo's command is
found by name so no production module imports the demo."""

for _name, _target in COMMANDS.items():
    _module, _function = _target.split(":")
    app.command(_name)(getattr(importlib.import_module(_module), _function))


@app.command()
def init(
    directory: Path = typer.Argument(..., help="The deployment's data directory (made)."),
    database_url: str | None = typer.Option(
        None,
        help="SQLAlchemy URL of the platform database, e.g. "
        "postgresql+psycopg://onceonly@/onceonly (default: SQLite in DIRECTORY).",
    ),
    node_name: str | None = typer.Option(None, help="This node's name for people."),
    admin: str = typer.Option("admin", help="Username of the first administrator."),
    admin_password_file: Path | None = typer.Option(
        None,
        help="File holding the administrator's password (else ONCEONLY_ADMIN_PASSWORD, "
        "else asked twice). It is never printed.",
    ),
    no_admin: bool = typer.Option(False, "--no-admin", help="Make no administrator."),
) -> None:
    """Make a deployment with no demo data: settings file, schema (Alembic), national
    catalog and the first administrator. Running it again changes nothing that exists."""
    import os

    from onceonly.deployment import FirstAdmin, init_deployment

    os.environ.pop(CONFIG_ENV, None)  # a new deployment is not read from another's file
    settings = Settings(
        data_dir=directory.resolve(), database_url=database_url, node_name=node_name
    )
    lang = settings.language
    first = None
    if not no_admin:
        from onceonly.accounts.password_rules import check_new_password

        first = FirstAdmin(admin, _admin_password(admin_password_file, lang))
        check_new_password(first.password, lang)  # before anything is made
    try:
        result = init_deployment(settings, first)
    except DBAPIError as exc:  # the database given here, not the environment's (main's)
        message = database_trouble(exc, settings.resolved_database_url, lang)
        if message is None:
            raise
        typer.echo(message, err=True)
        raise typer.Exit(1) from None
    typer.echo(t("deploy.init.done", lang, path=directory, settings=result.settings_file))
    if first is not None:
        key = "deploy.init.admin_created" if result.admin_created else "deploy.init.admin_exists"
        typer.echo(t(key, lang, username=first.username, agency=first.agency))
    typer.echo(t("deploy.init.next", lang, settings=result.settings_file))


def _admin_password(path: Path | None, lang: str) -> str:
    """From the file, else ``ONCEONLY_ADMIN_PASSWORD``, else asked twice without echo."""
    import os

    if path is not None:
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            reason = error.strerror or str(error)
            typer.echo(t("deploy.init.password_file", lang, path=path, reason=reason), err=True)
            raise typer.Exit(1) from None
    given = os.environ.get("ONCEONLY_ADMIN_PASSWORD")
    if given:
        return given
    from onceonly.accounts.cli import _ask_password

    return _ask_password(lang)


WORKER_START_SECONDS = 60
"""How long uvicorn's supervisor waits for a worker to answer its first health check. Its
default (5 s) is shorter than building the app on a busy machine (catalog, keys, warm-up),
and a worker killed during start-up is started again, and killed again, for ever."""


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(
        1, min=1, max=64, help="Worker processes (more than one needs PostgreSQL)."
    ),
    settings_file: Path | None = typer.Option(
        None,
        "--settings",
        help=f"The deployment's settings file (else {CONFIG_ENV}, else the environment).",
    ),
) -> None:
    """Serve the web app and API of a deployment (see `onceonly init`).

    Several workers share the listening socket (uvicorn's supervisor restarts one that
    dies); each builds its own app from the same settings. SQLite has one writer and its
    file locks are no place to queue a busy node, so more than one worker is refused there.
    Logs go to standard error, one JSON object per line with the request id (``log_format``).
    With ``PROMETHEUS_MULTIPROC_DIR`` set in the environment (before start: the unit file
    does it), the worker processes of this server add their metrics up there.
    """
    import os

    import uvicorn

    from onceonly.observability import log_config
    from onceonly.web.app import create_app
    from onceonly.web.serving import freeze_after_startup

    if settings_file is not None:
        if not settings_file.is_file():
            lang = Settings().language
            typer.echo(t("deploy.serve.no_settings", lang, path=settings_file), err=True)
            raise typer.Exit(2)
        os.environ[CONFIG_ENV] = str(settings_file.resolve())  # for worker processes too
    settings = Settings()
    if workers > 1 and settings.resolved_database_url.startswith("sqlite"):
        typer.echo(
            t("cli.serve.workers_need_postgres", settings.language, workers=workers), err=True
        )
        raise typer.Exit(2)
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_config": log_config(settings.log_format),
        "access_log": False,
        "proxy_headers": False,  # the app reads them itself, from trusted_proxies only
    }
    if workers == 1:
        uvicorn.run(freeze_after_startup(create_app(settings)), **common)
        return
    uvicorn.run(
        "onceonly.web.serving:served_app",
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=WORKER_START_SECONDS,
        **common,
    )


def database_trouble(exc: DBAPIError, url: str, lang: str) -> str | None:
    """What to tell an operator whose command could not use the configured database, or
    ``None`` for an error that is not about reaching it (that one keeps its traceback)."""
    text = str(exc.orig).lower()
    where = make_url(url).render_as_string(hide_password=True)
    if "unable to open database file" in text:
        return t("cli.database.cannot_open", lang, url=where)
    if "no such table" in text or ("does not exist" in text and "relation" in text):
        return t("cli.database.no_schema", lang, url=where)
    if "connection refused" in text or "could not connect" in text or "connection failed" in text:
        return t("cli.database.unreachable", lang, url=where)
    return None


def main() -> None:
    """The ``onceonly`` command: the Typer app, where a refused input prints its fields and
    reasons, a database it cannot use is explained (which database, what to do), and so is a
    file or folder it cannot use or settings it cannot read (:mod:`onceonly.cli_errors`),
    instead of a traceback."""
    try:
        returned = app(standalone_mode=False)  # Click's own errors are worded below
    except cli_usage.errors.NoArgsIsHelpError as help_shown:
        help_shown.show()
        raise SystemExit(help_shown.exit_code) from None
    except cli_usage.errors.UsageError as usage:
        typer.echo(cli_usage.explained(usage), err=True)
        raise SystemExit(usage.exit_code) from None
    except cli_usage.errors.ClickException as other:
        other.show()
        raise SystemExit(other.exit_code) from None
    except typer.Abort:
        typer.echo(one_line(both("cli.usage.aborted")), err=True)
        raise SystemExit(1) from None
    except Problem as problem:
        typer.echo(problem.title, err=True)
        for error in problem.errors:
            typer.echo(f"  {error.field}: {error.reason}", err=True)
        if problem.detail and not problem.errors:
            typer.echo(f"  {problem.detail}", err=True)
        raise SystemExit(1) from None
    except (OSError, ValueError, ArgumentError) as exc:  # what is told in words; else re-raised
        message = explained(exc)
        if message is None:
            raise
        typer.echo(message, err=True)
        raise SystemExit(2) from None
    except DBAPIError as exc:
        settings = Settings()
        url = database_of(exc) or settings.resolved_database_url
        message = database_trouble(exc, url, settings.language)
        if message is None:
            raise
        typer.echo(message, err=True)
        raise SystemExit(1) from None
    raise SystemExit(returned if isinstance(returned, int) else 0)  # an int: typer.Exit's code


if __name__ == "__main__":
    main()
