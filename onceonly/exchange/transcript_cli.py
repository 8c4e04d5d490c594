"""``onceonly transcript``: check a signed transcript offline and show it to a person."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from onceonly.config import Settings
from onceonly.domain import subjects
from onceonly.exchange.keys import published_jwks
from onceonly.exchange.keys_cli import settings_session
from onceonly.exchange.transcript import (
    TranscriptInvalid,
    VerifiedTranscript,
    display_text,
    format_value,
    inspect_transcript,
    predicate_sentence,
    render_transcript_html,
)
from onceonly.i18n import t, taipei_time

app = typer.Typer(help="Signed electronic transcripts: verify offline against the published keys.")

JWKS_HELP = (
    "Published keys: a saved jwks.json, or a URL such as "
    "https://node.example/.well-known/jwks.json. Default: this node's own database."
)


def _fail(key: str, **params: Any) -> typer.Exit:
    lang = Settings().language
    typer.echo(t(key, lang, **params), err=True)
    return typer.Exit(2)


def _read_token(file: Path) -> str:
    """The JWS in ``file``: the file itself, or the one a PDF transcript carries (its owner's
    signature is what is checked here; the PDF's own seal is checked at ``/verify``)."""
    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as error:
        raise _fail("transcript.cli.no_file", path=file, error=error) from error
    if data.lstrip()[:5] == b"%PDF-":
        from onceonly.exchange.verify import pdf_transcript_jws

        inside = pdf_transcript_jws(data)
        if inside is None:
            raise _fail("transcript.cli.pdf_without_jws", path=file)
        typer.echo(t("transcript.cli.pdf_inside", Settings().language), err=True)
        return inside
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _fail("transcript.cli.not_a_transcript", path=file) from error


def load_jwks(source: str | None) -> dict[str, Any]:
    """The JWK Set from a file, a URL, or (no source) this node's database."""
    try:
        if source is None:
            with settings_session() as (_settings, session):
                return published_jwks(session)
        if source.startswith(("http://", "https://")):
            response = httpx.get(source, timeout=10, follow_redirects=True)
            response.raise_for_status()
            document = response.json()
        else:
            document = json.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, ValueError, httpx.HTTPError) as error:
        raise _fail("transcript.cli.bad_jwks", source=source or "-", error=error) from error
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise _fail("transcript.cli.bad_jwks", source=source, error="no 'keys' list")
    return document


def _label(key: str) -> str:
    return f"{t(key, 'zh-TW')} {t(key, 'en')}"


def _status_line(problem: TranscriptInvalid | None) -> str:
    """「有效 / valid」, or 「無效 / INVALID reason / reason」 (the reason in words, not the
    verifier's code)."""
    head = _label("transcript.status.label")
    status = "transcript.status.valid" if problem is None else "transcript.status.invalid"
    verdict = f"{t(status, 'zh-TW')} / {t(status, 'en')}"
    if problem is None:
        return f"{head}: {verdict}"
    return f"{head}: {verdict} {problem.reason_zh} / {problem.reason_en}"


def _summary(verified: VerifiedTranscript, lang: str) -> list[tuple[str, str]]:

    claims = verified.claims
    rows = [
        ("transcript.label.issuer", f"{display_text(claims, 'issuer', lang)} ({claims.issuer})"),
        ("transcript.label.subject", subjects.shown(claims.subject)),
        ("transcript.label.dataset", f"{display_text(claims, 'dataset', lang)} ({claims.dataset})"),
    ]
    if claims.predicate is not None:
        rows.append(("transcript.label.predicate", predicate_sentence(claims, lang)))
        if claims.predicate.get("as_of"):
            rows.append(("transcript.label.as_of", str(claims.predicate["as_of"])))
    else:
        record = "; ".join(
            f"{display_text(claims, 'fields', lang, name)}: {format_value(value, lang)}"
            for name, value in (claims.fields or {}).items()
        )
        rows.append(("transcript.label.fields", record))
    rows += [
        ("transcript.label.purpose", f"{claims.application_item} / {claims.legal_basis}"),
        ("transcript.label.requester", f"{claims.requester_agency} / {claims.requester_badge}"),
        ("transcript.label.expires_at", taipei_time(claims.expires_at, lang)),
        ("transcript.label.key", verified.kid),
    ]
    return rows


def _inspect(file: Path, jwks: str | None) -> VerifiedTranscript:
    token = _read_token(file)
    keys = load_jwks(jwks)
    try:
        return inspect_transcript(token, keys)
    except TranscriptInvalid as problem:
        typer.echo(_status_line(problem))
        raise typer.Exit(1) from problem


def _valid(file: Path, jwks: str | None) -> VerifiedTranscript:
    """The transcript in ``file`` if its signature holds; else only why not, and exit 1."""
    verified = _inspect(file, jwks)
    if not verified.valid:
        typer.echo(_status_line(verified.problem))
        raise typer.Exit(1)
    return verified


@app.command()
def verify(
    file: Path = typer.Argument(
        ..., help="File holding the transcript (compact JWS); - for stdin."
    ),
    jwks: str | None = typer.Option(None, "--jwks", help=JWKS_HELP),
) -> None:
    """Verify FILE: prints what it attests and 「有效 / valid」, or exactly why it is not
    (exit 1) and nothing it claims: a forged or altered file's issuer, person and record are
    whatever its maker wrote."""
    lang = Settings().language
    verified = _valid(file, jwks)
    for key, value in _summary(verified, lang):
        typer.echo(f"{_label(key)}: {value}")
    typer.echo(_status_line(verified.problem))


@app.command()
def show(
    file: Path = typer.Argument(
        ..., help="File holding the transcript (compact JWS); - for stdin."
    ),
    jwks: str | None = typer.Option(None, "--jwks", help=JWKS_HELP),
    html: Path | None = typer.Option(None, "--html", help="Also write a printable HTML page here."),
) -> None:
    """Show FILE readably: every field with its label, and the signature status."""
    lang = Settings().language
    verified = _valid(file, jwks)
    console = Console()
    table = Table(
        title=f"{t('transcript.title', lang)} · {display_text(verified.claims, 'dataset', lang)}"
    )
    table.add_column(t("transcript.label.field", lang))
    table.add_column(t("transcript.label.value", lang))
    for key, value in _summary(verified, lang):
        if key == "transcript.label.fields":
            for name, item in (verified.claims.fields or {}).items():
                label = display_text(verified.claims, "fields", lang, name)
                table.add_row(label, format_value(item, lang))
        else:
            table.add_row(t(key, lang), value)
    console.print(table)
    style = "green" if verified.valid else "bold red"
    console.print(_status_line(verified.problem), style=style, markup=False, highlight=False)
    if html is not None:
        html.write_text(render_transcript_html(verified), encoding="utf-8")
