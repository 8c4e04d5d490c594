"""``onceonly citizen``: the demo certificate authority and cards, and signing a sign-in
challenge with a card from the command line (what the sign-in page does in the browser)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from onceonly.config import Settings
from onceonly.i18n import t

app = typer.Typer(help="Citizens: demo CA and cards, sign a sign-in challenge, revoke a card.")


@app.command("demo-ca")
def demo_ca() -> None:
    """Make (or reuse) the demo CA and a card for every sample citizen of the demo."""
    from onceonly.citizens.cards import cards_dir, ensure_demo_pki

    settings = Settings()
    pki = ensure_demo_pki(settings)
    typer.echo(
        t(
            "citizens.cli.ca",
            settings.language,
            path=pki.ca.cert_path,
            cards=len(pki.cards),
            new=sum(c.created for c in pki.cards),
            cards_dir=cards_dir(settings),
        )
    )
    for card in pki.cards:
        typer.echo(f"  {card.national_id}  {card.name}  {card.card_file}")


@app.command("issue-card")
def issue_card(
    national_id: str = typer.Argument(..., help="National ID of the card holder."),
    name: str = typer.Option(..., "--name", help="Holder's name, as on the card."),
    replace: bool = typer.Option(False, "--replace", help="Replace an existing card."),
) -> None:
    """Issue a demo card for any national ID."""
    from onceonly.citizens.cards import issue_demo_card

    settings = Settings()
    if not 1 <= len(name.strip()) <= 64:  # the certificate's common name
        said = t("citizens.cli.card_name", settings.language)
        raise typer.BadParameter(said, param_hint="--name")
    card = issue_demo_card(settings, national_id, name.strip(), replace=replace)
    typer.echo(t("citizens.cli.card", settings.language, path=card.card_file, serial=card.serial))


@app.command("revoke-card")
def revoke_card_command(
    card: Path = typer.Option(..., "--card", help="The card folder (or its card.pem)."),
    reason: str = typer.Option("", "--reason", help="Why (lost, stolen, ...)."),
) -> None:
    """Revoke a card's certificate: it can no longer sign in."""
    from onceonly.citizens.identity import revoke_card
    from onceonly.db import make_engine, make_session_factory, transaction

    settings = Settings()
    certificate, _key = _read(card, settings.language)
    serial = format(certificate.serial_number, "x")
    holder = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    engine = make_engine(settings.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            revoke_card(session, serial, str(holder[0].value) if holder else "", reason)
    finally:
        engine.dispose()
    typer.echo(t("citizens.cli.revoked", settings.language, serial=serial))


def _read(card: Path, lang: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    from onceonly.citizens.cards import read_card

    try:
        return read_card(card)
    except FileNotFoundError as error:
        typer.echo(t("citizens.cli.no_card", lang, path=card), err=True)
        raise typer.Exit(2) from error
    except OSError as error:
        said = t("citizens.cli.card_unreadable", lang, path=card, reason=error.strerror or error)
        typer.echo(said, err=True)
        raise typer.Exit(2) from error
    except ValueError as error:  # not PEM, no certificate or no key in it, not a card's key
        typer.echo(t("citizens.cli.not_a_card", lang, path=card), err=True)
        raise typer.Exit(2) from error


@app.command("sign-challenge")
def sign_challenge_command(
    card: Path = typer.Option(..., "--card", help="The card folder (or its card.pem)."),
    challenge: str = typer.Option(
        ..., "--challenge", help="The challenge text from POST /api/v1/citizen/sign-in/begin."
    ),
    challenge_id: str = typer.Option(
        "", "--challenge-id", help="Its challenge_id, copied into the output for convenience."
    ),
) -> None:
    """Sign CHALLENGE with the card and print the JSON body of
    POST /api/v1/citizen/sign-in/complete."""
    from cryptography.hazmat.primitives import serialization

    from onceonly.citizens.identity import sign_challenge

    settings = Settings()
    certificate, key = _read(card, settings.language)
    parts = challenge.split("|")
    body = {
        "challenge_id": challenge_id or (parts[2] if len(parts) == 4 else ""),
        "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "signature": sign_challenge(key, challenge),
    }
    typer.echo(json.dumps(body, ensure_ascii=False))
