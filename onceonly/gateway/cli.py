"""``onceonly gateway``: run an owner's gateway next to its data (see ``docs/gateway.md``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from onceonly.config import Settings, settings_for
from onceonly.gateway.token import PIN_ENV
from onceonly.i18n import both, one_line

if TYPE_CHECKING:
    from onceonly.connectors import Connector
    from onceonly.gateway.token import TokenKey

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
    pkcs11_module: Path | None = typer.Option(
        None, help="The PKCS#11 library of the token holding the owner's signing key."
    ),
    token_label: str | None = typer.Option(None, help="The token's label."),
    key_label: str | None = typer.Option(None, help="The signing key's label in the token."),
    pin_file: Path | None = typer.Option(
        None, help=f"A file holding the token's user PIN (else ${PIN_ENV})."
    ),
) -> None:
    """Serve the owner's evidence over mutual TLS to the platform node only."""
    from onceonly.exchange import keys
    from onceonly.federation.listener import new_event_loop
    from onceonly.gateway.server import GatewayConfig, create_gateway_app, gateway_listener
    from onceonly.gateway.setup import prepare_gateway
    from onceonly.web.serving import freeze_after_startup

    settings = Settings(data_dir=data_dir)
    loaded = [_connector(path) for path in connector]
    owners = [c.owner for c in loaded]
    datasets = {c.owner: list(c.spec.datasets) for c in loaded}
    token_keys = None
    if pkcs11_module is not None:
        token = _open_token(pkcs11_module, token_label, key_label, pin_file, owners)
        keys.register_signer(keys.install_kid(token.public_jwk), token.sign, token.seal)
        token_keys = {owners[0]: token.public_jwk}
    jwks = prepare_gateway(settings, owners, token_keys, datasets)
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
    served = freeze_after_startup(create_gateway_app(settings, config))
    listener = gateway_listener(served, config, host, port)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(listener.serve())


def _connector(path: Path) -> Connector:
    """The checked connector in ``path``; every error in it, in both languages, and exit 2
    otherwise (a traceback is no answer for the agency's IT team)."""
    from onceonly.connectors import read_connector

    found, errors = read_connector(path)
    if found is None:
        for error in errors:
            typer.echo(f"{error.file}: {error.path}: {error.reason_zh} / {error.reason}", err=True)
        raise typer.Exit(2)
    return found


def _open_token(
    module: Path, token_label: str | None, key_label: str | None, pin_file: Path | None,
    owners: list[str],
) -> TokenKey:  # fmt: skip
    from onceonly.gateway.token import TokenError, TokenKey, read_pin

    if not token_label or not key_label:
        raise typer.BadParameter(one_line(both("gateway.token.labels_needed")))
    if len(set(owners)) != 1:
        raise typer.BadParameter(one_line(both("gateway.token.one_owner")))
    try:
        return TokenKey.open(module, token_label, key_label, read_pin(pin_file))
    except TokenError as exc:
        raise typer.BadParameter(str(exc), param_hint="--pkcs11-module") from exc


@app.command("token-keygen")
def token_keygen(
    pkcs11_module: Path = typer.Option(..., help="The token's PKCS#11 library."),
    token_label: str = typer.Option(..., help="The token's label."),
    key_label: str = typer.Option(..., help="A label for the new key (unused in the token)."),
    pin_file: Path | None = typer.Option(
        None, help=f"A file holding the token's user PIN (else ${PIN_ENV})."
    ),
) -> None:
    """Make the owner's Ed25519 signing key inside the token (sensitive, never extractable);
    prints its public JWK."""
    from onceonly.gateway.token import TokenError, generate_key, read_pin

    try:
        public = generate_key(pkcs11_module, token_label, key_label, read_pin(pin_file))
    except TokenError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(public))


@app.command("rules-export")
def rules_export(
    owner: str = typer.Option(..., help="The owning agency."),
    out: Path = typer.Option(..., help="Where to write the rules (JSON)."),
    data_dir: Path | None = typer.Option(
        None, help="The platform's data directory (default: the settings file's, ONCEONLY_CONFIG)."
    ),
) -> None:
    """On the platform: the owner's rules, as a file for its gateway."""
    from onceonly.db import make_engine, make_session_factory
    from onceonly.gateway.setup import export_rules

    engine = make_engine(settings_for(data_dir).resolved_database_url)
    with make_session_factory(engine)() as session:
        rows = export_rules(session, owner)
    engine.dispose()
    out.write_text(json.dumps(rows, ensure_ascii=False, indent=2), "utf-8")
    typer.echo(f"{len(rows)} -> {out}")


@app.command("rules-import")
def rules_import(
    file: Path = typer.Argument(..., help="Rules written by rules-export."),
    owner: list[str] = typer.Option(..., help="Only this owner's rules are taken."),
    data_dir: Path = typer.Option(Path("onceonly-gateway"), help="The gateway's data directory."),
) -> None:
    """At the gateway: take the owner's rules into the gateway's own database."""
    from onceonly.db import make_engine, make_session_factory, transaction
    from onceonly.gateway.setup import import_rules, prepare_gateway

    rules = json.loads(file.read_text("utf-8"))  # first: a file not there makes no gateway
    settings = Settings(data_dir=data_dir)
    prepare_gateway(settings, owner)
    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as session:
        added = import_rules(session, rules, owner)
    engine.dispose()
    typer.echo(str(added))


@app.command()
def link(
    gateway_id: str = typer.Option(..., "--id", help="The gateway's id (its certificate's)."),
    endpoint: str = typer.Option(..., help="https://host:port of the gateway."),
    jwks: Path = typer.Option(..., help="The gateway's jwks.json."),
    node: str = typer.Option(..., help="This node's id (its certificate's)."),
    cert: Path = typer.Option(..., help="This node's TLS certificate."),
    key: Path = typer.Option(..., help="This node's TLS key."),
    ca: Path = typer.Option(..., help="The CA certificate."),
    crl: Path = typer.Option(..., help="The CRL file in force."),
    data_dir: Path | None = typer.Option(
        None, help="The platform's data directory (default: the settings file's, ONCEONLY_CONFIG)."
    ),
    owner: list[str] = typer.Option(
        ...,
        "--owner",
        help="An owner you agree this gateway answers and signs for (repeatable); the "
        "jwks.json may name no other agency.",
    ),
) -> None:
    """On the platform: send the owners named by ``--owner`` to their gateway and hand their
    keys over (the node's own keys for them are retired and their private files deleted).

    The gateway's ``jwks.json`` is the gateway's word, not the operator's: a key in it for an
    agency the operator did not name (another owner, or the node's own audit key) would hand
    that agency over too, so such a file is refused whole."""
    from onceonly.db import make_engine, make_session_factory, transaction
    from onceonly.exchange import keys
    from onceonly.gateway.links import GatewayLink, GatewayLinks
    from onceonly.gateway.setup import DATASETS

    def refuse(key: str, **params: object) -> None:
        text = both(key, **params)
        typer.echo(f"{text['zh-TW']}\n{text['en']}", err=True)
        raise typer.Exit(2)

    settings = settings_for(data_dir)
    members = json.loads(jwks.read_text("utf-8"))
    owners = tuple(sorted(set(owner)))
    reserved = [o for o in owners if keys.reserved_agency(o)]
    if reserved:
        refuse("gateway.link.reserved", agency=", ".join(reserved))
    named = {str(m.get("agency")) for m in members.get("keys", []) if isinstance(m, dict)}
    if unlisted := sorted(named - set(owners)):
        refuse("gateway.link.unlisted", agency=", ".join(unlisted), file=jwks)
    if keyless := sorted(set(owners) - named):
        refuse("gateway.link.no_key", agency=", ".join(keyless), file=jwks)
    answered = members.get(DATASETS)
    members = {
        "keys": [m for m in members["keys"] if m.get("agency") in owners],
        **({DATASETS: answered} if isinstance(answered, dict) else {}),
    }
    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as session:
        for agency in owners:
            keys.hand_over(session, settings, agency, members["keys"])
    engine.dispose()
    existing = GatewayLinks.read(settings)
    others = tuple(g for g in (existing.gateways if existing else ()) if g.id != gateway_id)
    GatewayLinks(
        node=node,
        cert=str(cert.resolve()),
        key=str(key.resolve()),
        ca=str(ca.resolve()),
        crl=str(crl.resolve()),
        gateways=(*others, GatewayLink(gateway_id, endpoint, owners, members)),
    ).write(settings)
    typer.echo(", ".join(owners))
