"""``onceonly db``: bring the platform database schema up to date."""

from __future__ import annotations

import typer
from alembic.util.exc import CommandError
from rich.console import Console

from onceonly import migrations
from onceonly.config import Settings
from onceonly.i18n import t

app = typer.Typer(help="Database schema: apply Alembic migrations, show the current revision.")


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    settings = Settings()
    settings.ensure_dirs()
    try:
        migrations.upgrade(settings.resolved_database_url, revision)
    except CommandError as exc:  # Alembic's: a revision it does not know, or cannot reach
        said = t("cli.db.bad_revision", settings.language, revision=revision)
        raise typer.BadParameter(said, param_hint="REVISION") from exc
    revision_now = migrations.current_revision(settings.resolved_database_url)
    Console().print(f"[green]database at {revision_now}")


@app.command()
def current() -> None:
    """Print the revision the database is at."""
    settings = Settings()
    Console().print(migrations.current_revision(settings.resolved_database_url) or "(empty)")
