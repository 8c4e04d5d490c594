"""``onceonly federation``: make this deployment a node, serve it, run the federated demo."""

from __future__ import annotations

import asyncio
import importlib
import json
from pathlib import Path

import typer
from rich.console import Console

from onceonly.config import settings_for
from onceonly.i18n import LANGUAGES, t

app = typer.Typer(
    help="Federation: node identity, registration, serving with mutual TLS, the demo.",
    no_args_is_help=True,
)
console = Console()
InitProblem = tuple[tuple[str, str], str]
"""What ``init`` was given wrong: ((the option, the value given), the message key saying why)."""
DATA_DIR = typer.Option(
    None,
    "--data-dir",
    help="The node's data directory (default: the settings file's, ONCEONLY_CONFIG).",
)


@app.command()
def init(
    node: str,
    jurisdiction: list[str] = typer.Option(..., help="Jurisdiction code served (repeat)."),
    endpoint: str = typer.Option(..., help="https://host:port other nodes reach this one at."),
    cert: Path = typer.Option(..., help="Node certificate (onceonly pki issue-node)."),
    key: Path = typer.Option(..., help="Its private key."),
    ca: Path = typer.Option(..., help="The federation CA certificate."),
    directory_url: str = typer.Option(..., help="The directory's base URL."),
    directory_key: Path = typer.Option(..., help="The directory's public JWK (JSON file)."),
    name: str = typer.Option("", help="Name people read."),
    accept_backups_from: list[str] | None = typer.Option(
        None,
        "--accept-backups-from",
        help="A node whose off-site backups this node agreed to keep (repeat, or separate "
        "with commas); any other node's are refused. None given: it keeps no one's.",
    ),
    backup_partner: str | None = typer.Option(
        None,
        "--backup-partner",
        help="The node this one ships its off-site backups to (onceonly backup ship); that "
        "node must list this one in its own --accept-backups-from.",
    ),
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Write this node's federation configuration."""
    from onceonly.federation.node import NodeConfig
    from onceonly.outbound import OutboundPolicy

    refused = OutboundPolicy.from_env().refusal(directory_url)
    if refused:
        console.print(f"--directory-url: {refused}", style="red", markup=False)
        raise typer.Exit(2)
    senders, wrong_senders = backup_senders(accept_backups_from or [], node)
    partner, wrong_partner = backup_senders(
        [backup_partner] if backup_partner is not None else [], node, "--backup-partner"
    )
    if len(partner) > 1:
        wrong_partner.append(
            (("--backup-partner", backup_partner or ""), "federation.init.one_partner")
        )
    problems = _credential_problems(endpoint, cert, key, ca) + wrong_senders + wrong_partner
    for (option, given), problem in problems:
        for lang in LANGUAGES:
            console.print(f"{option}: {t(problem, lang, path=given)}", style="red", markup=False)
    if problems:
        raise typer.Exit(2)

    config = NodeConfig(
        id=node,
        name=name or node,
        jurisdictions=tuple(jurisdiction),
        endpoint=endpoint,
        cert=str(cert.resolve()),
        key=str(key.resolve()),
        ca=str(ca.resolve()),
        directory_url=directory_url,
        directory_jwk=json.loads(directory_key.read_text()),
        accept_backups_from=senders,
        backup_partner=partner[0] if partner else None,
    )
    path = config.write(settings_for(data_dir))
    console.print(t("federation.node_configured", None, path=str(path)))


def backup_senders(
    given: list[str], node: str, option: str = "--accept-backups-from"
) -> tuple[tuple[str, ...], list[InitProblem]]:
    """The nodes ``option`` names (repeated or comma-separated; each once, in the order
    given) and what is wrong with them, as :func:`_credential_problems` tells it: a value
    that is no node id (nothing, or what no certificate could name) or this node's own id (a
    backup kept by its own node is no off-site backup). Whether the directory lists them is
    not asked: a node is initialised before it, or its partner, is registered."""
    from onceonly.pki.ca import NAME_RE

    senders: list[str] = []
    found: list[InitProblem] = []
    for value in given:
        for sender in (part.strip() for part in value.split(",")):
            why = None
            if not NAME_RE.fullmatch(sender):
                why = "federation.init.bad_backup_sender"
            elif sender == node:
                why = "federation.init.own_backup_sender"
            if why:
                found.append(((option, sender), why))
            elif sender not in senders:
                senders.append(sender)
    return tuple(senders), found


def _credential_problems(endpoint: str, cert: Path, key: Path, ca: Path) -> list[InitProblem]:
    """What is wrong with the node's own endpoint, certificate, key and CA, each as ((option,
    what was given), message key); checked at ``init``, not found at ``serve`` (a missing
    file is the CLI's own "not found"). A key or certificate of a kind a node cannot sign
    with is refused in the words ``serve`` uses (:func:`node_key_refusal`); their mismatch is
    then not told too, as that pair is to be replaced anyway."""
    from urllib.parse import urlsplit

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from onceonly.federation.signing import node_key_refusal

    found: list[InitProblem] = []
    parts = urlsplit(endpoint)
    if parts.scheme != "https" or not parts.hostname:
        found.append((("--endpoint", endpoint), "federation.init.bad_endpoint"))
    certificates: dict[str, x509.Certificate] = {}
    for option, path in (("--cert", cert), ("--ca", ca)):
        try:
            certificates[option] = x509.load_pem_x509_certificate(path.read_bytes())
        except ValueError:
            found.append(((option, str(path)), "federation.init.not_a_certificate"))
    own = certificates.get("--cert")
    wrong_cert = node_key_refusal(own.public_key(), certificate=True) if own else None
    if wrong_cert:
        found.append((("--cert", str(cert)), wrong_cert))
    try:
        private = serialization.load_pem_private_key(key.read_bytes(), None)
    except (ValueError, TypeError):
        found.append((("--key", str(key)), "federation.init.not_a_key"))
    else:
        raw = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        mine = private.public_key().public_bytes(*raw)
        if wrong_key := node_key_refusal(private):
            found.append((("--key", str(key)), wrong_key))
        elif own is not None and not wrong_cert and mine != own.public_key().public_bytes(*raw):
            found.append((("--key", str(key)), "federation.init.key_mismatch"))
    return found


@app.command()
def registration(
    data_dir: Path | None = DATA_DIR, out: Path = typer.Option(Path("registration.json"))
) -> None:
    """Write the document the directory registers this node from (`directory add-node`)."""
    from onceonly.db import make_engine, make_session_factory
    from onceonly.federation.node import NodeConfig
    from onceonly.federation.node import registration as build
    from onceonly.providers.registry import load_providers

    settings = settings_for(data_dir)
    config = NodeConfig.read(settings)
    if config is None:
        console.print(f"[red]{t('federation.not_a_node', None)}[/red]")
        raise typer.Exit(1)
    engine = make_engine(settings.resolved_database_url)
    with (
        load_providers(settings.registries_dir) as providers,
        make_session_factory(engine)() as session,
    ):
        document = build(session, settings, config, providers)
    engine.dispose()
    out.write_text(json.dumps(document, ensure_ascii=False, indent=2), "utf-8")
    console.print(t("federation.registration_written", None, path=str(out)))


@app.command()
def serve(
    data_dir: Path | None = DATA_DIR,
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000, help="Clerks' web app and API (plain HTTP)."),
    peer_port: int = typer.Option(8443, help="Federation listener (mutual TLS)."),
    peer_host: str | None = typer.Option(
        None, help="Address of the federation listener (default: --host)."
    ),
) -> None:
    """Serve the node: the web app for clerks and, on its own port, the mutual-TLS listener
    other nodes call (client certificate required, revocation checked in the handshake)."""
    import uvicorn

    from onceonly.federation.listener import PeerListener, new_event_loop
    from onceonly.federation.node import NodeConfig
    from onceonly.federation.peer import create_peer_app
    from onceonly.federation.signing import NodeCredentials
    from onceonly.web.app import create_app
    from onceonly.web.serving import freeze_after_startup

    settings = settings_for(data_dir)
    config = NodeConfig.read(settings)
    if config is None:
        console.print(f"[red]{t('federation.not_a_node', None)}[/red]")
        raise typer.Exit(1)
    # Loaded now so a key the node cannot sign with stops it here, in both languages (main
    # explains the DomainValueError): else it served, and the first clerk asking another
    # node for evidence met it.
    NodeCredentials.load(config.id, config.cert, config.key)
    web_app = freeze_after_startup(create_app(settings))
    web = uvicorn.Server(uvicorn.Config(web_app, host, port, log_level="warning"))
    listener = PeerListener(config, create_peer_app(settings, config), peer_host or host, peer_port)
    servers = [web, listener.server]

    async def run() -> None:
        tasks = [asyncio.create_task(web.serve()), asyncio.create_task(listener.serve())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(run())


@app.command()
def demo(
    root: Path = typer.Option(Path("onceonly-federation"), help="Where everything lives."),
    people: int = typer.Option(1000, min=200),
    seed: int = typer.Option(20101225),
    serve_nodes: bool = typer.Option(True, "--serve/--no-serve"),
    host: str = typer.Option("127.0.0.1", help="Address the nodes' web apps listen on."),
    port: int = typer.Option(8000, help="First node's web port; every other port follows it."),
) -> None:
    """A directory and three nodes (臺北市; 新北市; 基隆市+宜蘭縣) on this machine."""
    # found by name: production modules never import the demo
    demo_run = importlib.import_module("onceonly.demo.federated.run")
    demo_run.run_federated_demo(
        root, people=people, seed=seed, serve=serve_nodes, host=host, port=port
    )
