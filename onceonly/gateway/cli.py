"""``onceonly gateway``: run an owner's gateway next to its data (see ``docs/gateway.md``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from onceonly.config import Settings

app = typer.Typer(help="The owner gateway: answer, sign and audit at the owning agency.")


@app.command()
def serve(
    connector: list[Path] = typer.Option(..., help="The owner's connector file(s)."),
    gateway_id: str = typer.Option(..., "--id", help="The id the gateway's certificate names."),
    platform: list[str] = typer.Option(..., help="Node id(s) of the platform it answers."),
    cert: Path = typer.Option(..., help="The gateway's TLS certificate (PEM)."),
    key: Path = typer.Option(..., help="The gateway's TLS key (PEM)."),
    ca: Path = typer.Option(..., help="The federation CA certificate (PEM)."),
    crl: Path = typer.Option(..., help="The CRL file in force (re-read every few seconds)."),
    data_dir: Path = typer.Option(Path("onceonly-gateway"), help="Its database, keys, audit."),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8443),
) -> None:
    """Serve the owner's evidence over mutual TLS to the platform node only."""
    from onceonly.connectors import load_connector
    from onceonly.federation.listener import new_event_loop
    from onceonly.gateway.server import GatewayConfig, create_gateway_app, gateway_listener
    from onceonly.gateway.setup import prepare_gateway

    settings = Settings(data_dir=data_dir)
    owners = [load_connector(path).owner for path in connector]
    jwks = prepare_gateway(settings, owners)
    (settings.data_dir / "jwks.json").write_text(json.dumps(jwks, indent=2), "utf-8")
    config = GatewayConfig(
        id=gateway_id,
        platforms=tuple(platform),
        cert=str(cert.resolve()),
        key=str(key.resolve()),
        ca=str(ca.resolve()),
        crl=str(crl.resolve()),
        connectors=tuple(str(p.resolve()) for p in connector),
    )
    config.write(settings)
    listener = gateway_listener(create_gateway_app(settings, config), config, host, port)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(listener.serve())
