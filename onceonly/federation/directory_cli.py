"""``onceonly directory``: run the central directory and manage its member nodes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import typer
from rich.console import Console

from onceonly.federation.directory import Directory, RegistrationInvalid, create_directory_app
from onceonly.i18n import LANGUAGES as LANGS
from onceonly.i18n import one_line, t

app = typer.Typer(
    help="Central directory: member nodes, datasets, cross-node rules, signed snapshots.",
    no_args_is_help=True,
)
console = Console()
HOME = typer.Option(Path("onceonly-directory"), "--home", help="The directory's own folder.")
CA_DIR = typer.Option(Path("onceonly-ca"), "--ca-dir", help="The CA whose CRL is published.")


def _existing(home: Path, ca_dir: Path, valid: timedelta | None = None) -> Directory:
    """The directory kept in ``home``. A folder that holds none is refused, not made: a
    mistyped ``--home`` would otherwise start a second directory with a key of its own, or
    register a node where no node will ever look."""
    if not Directory.exists_at(home):
        message = {lang: t("federation.directory.none_at", lang, home=home) for lang in LANGS}
        raise typer.BadParameter(one_line(message), param_hint="--home")
    return Directory(home, ca_dir) if valid is None else Directory(home, ca_dir, valid)


@app.command()
def init(home: Path = HOME, ca_dir: Path = CA_DIR) -> None:
    """Make a new directory in HOME: its database and its signing key, whose public half
    (printed) every node pins."""
    existed = Directory.exists_at(home)
    directory = Directory(home, ca_dir)
    said = "federation.directory.exists" if existed else "federation.directory.made"
    for lang in LANGS:
        typer.echo(t(said, lang, home=home))
    typer.echo(json.dumps(directory.public_jwk()))


@app.command()
def serve(
    home: Path = HOME,
    ca_dir: Path = CA_DIR,
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8600),
    valid_seconds: int = typer.Option(86400, help="How long each snapshot stays valid."),
) -> None:
    """Serve signed snapshots (GET /v1/snapshot) and the CRL (GET /v1/crl DER, /v1/crl.pem)."""
    import uvicorn

    if valid_seconds < 60:  # a snapshot nodes must refetch sooner than they can is no use
        said = t("cli.at_least", None, least=60)
        raise typer.BadParameter(said, param_hint="--valid-seconds")
    directory = _existing(home, ca_dir, timedelta(seconds=valid_seconds))
    uvicorn.run(create_directory_app(directory), host=host, port=port, log_level="warning")


@app.command("add-node")
def add_node(document: Path, home: Path = HOME, ca_dir: Path = CA_DIR) -> None:
    """Register a node from the document `onceonly federation registration` wrote."""
    registration = json.loads(document.read_text("utf-8"))
    directory = _existing(home, ca_dir)
    try:
        directory.add_node(registration)
    except (RegistrationInvalid, ValueError) as exc:
        console.print(f"[red]{t('federation.registration_invalid', None, reason=str(exc))}[/red]")
        raise typer.Exit(1) from exc
    console.print(t("federation.node_registered", None, path=str(document)))


@app.command("remove-node")
def remove_node(node: str, home: Path = HOME, ca_dir: Path = CA_DIR) -> None:
    """Take a node out of the next snapshot."""
    if not _existing(home, ca_dir).remove_node(node):
        console.print(f"[red]{t('federation.no_such_node', None, node=node)}[/red]")
        raise typer.Exit(1)
    console.print(t("federation.node_removed", None, node=node))


@app.command()
def nodes(home: Path = HOME, ca_dir: Path = CA_DIR) -> None:
    """List the member nodes and the jurisdictions each serves."""
    for node in _existing(home, ca_dir).nodes():
        typer.echo(f"{node['id']}\t{','.join(node['jurisdictions'])}\t{node['endpoint']}")


@app.command()
def key(home: Path = HOME, ca_dir: Path = CA_DIR) -> None:
    """Print the directory's public key (JWK) that nodes pin."""
    typer.echo(json.dumps(_existing(home, ca_dir).public_jwk()))
