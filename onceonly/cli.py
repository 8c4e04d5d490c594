"""The one entry point: ``onceonly <command>``.

Capabilities contribute command groups (a ``typer.Typer`` named ``app`` in their ``cli``
module); :data:`COMMAND_GROUPS` lists them so ``onceonly --help`` shows the whole tool.
"""

from __future__ import annotations

import importlib

import typer

from onceonly.config import Settings

app = typer.Typer(
    name="onceonly",
    help="免書證免謄本 certificate-free service platform: run the demo, serve, manage the catalog, verify transcripts and the audit log.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)

COMMAND_GROUPS: dict[str, str] = {
    "db": "onceonly.dbcli",
}
"""Sub-command name -> module exposing a Typer ``app`` (its help text is the group's one line)."""

for _name, _module in COMMAND_GROUPS.items():
    app.add_typer(importlib.import_module(_module).app, name=_name)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Serve the web app and API on an existing data directory (see `onceonly demo`)."""
    import uvicorn

    from onceonly.web.app import create_app

    settings = Settings()
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
