"""``onceonly pki``: the federation's root CA, node and agency certificates, revocation, CRL."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from onceonly.i18n import t
from onceonly.pki import ca

app = typer.Typer(
    help="Federation PKI: root CA, node/agency certificates, revocation and the CRL.",
    no_args_is_help=True,
)
console = Console()
CA_DIR = typer.Option(Path("onceonly-ca"), "--ca-dir", help="Folder holding the CA.")


def _fail(exc: ca.PkiError) -> None:
    console.print(f"[red]{t('pki.failed', None, reason=str(exc))}[/red]")
    raise typer.Exit(1)


@app.command("init-ca")
def init_ca(
    ca_dir: Path = CA_DIR,
    crl_url: str = typer.Option(
        ca.DEFAULT_CRL_URL,
        help="Where relying parties fetch the CRL (the directory's /v1/crl), "
        "written into every certificate.",
    ),
) -> None:
    """Create the root CA (once)."""
    try:
        path = ca.init_ca(ca_dir, crl_url=crl_url)
    except ca.PkiError as exc:
        _fail(exc)
        return
    console.print(t("pki.ca_created", None, path=str(path)))


@app.command("issue-node")
def issue_node(
    node: str,
    ca_dir: Path = CA_DIR,
    out: Path = typer.Option(Path("."), help="Folder for <node>.pem and <node>.key."),
    host: list[str] = typer.Option([], help="Extra host name or IP for the SAN."),
) -> None:
    """Issue a node certificate (mutual TLS and request signing)."""
    try:
        issued = ca.issue_node(ca_dir, node, out, host)
    except ca.PkiError as exc:
        _fail(exc)
        return
    console.print(t("pki.issued", None, name=node, serial=issued.serial, path=issued.cert_path))


@app.command("issue-agency")
def issue_agency(
    agency: str,
    ca_dir: Path = CA_DIR,
    out: Path = typer.Option(Path("."), help="Folder for <agency>.pem and <agency>.key."),
) -> None:
    """Issue an agency certificate."""
    try:
        issued = ca.issue_agency(ca_dir, agency, out)
    except ca.PkiError as exc:
        _fail(exc)
        return
    console.print(t("pki.issued", None, name=agency, serial=issued.serial, path=issued.cert_path))


@app.command()
def revoke(
    serial: str,
    reason: str = typer.Option("unspecified", help=", ".join(ca.REVOCATION_REASONS)),
    ca_dir: Path = CA_DIR,
) -> None:
    """Revoke a certificate; the directory publishes the new CRL with its next snapshot."""
    try:
        row = ca.revoke(ca_dir, serial, reason)
    except ca.PkiError as exc:
        _fail(exc)
        return
    console.print(t("pki.revoked", None, name=row.name, serial=row.serial, reason=reason))


@app.command()
def crl(
    ca_dir: Path = CA_DIR,
    out: Path | None = typer.Option(None, help="Write the PEM here instead of printing it."),
) -> None:
    """Print (or write) the current CRL."""
    try:
        pem = ca.build_crl(ca_dir)
    except ca.PkiError as exc:
        _fail(exc)
        return
    if out:
        out.write_bytes(pem)
        console.print(t("pki.crl_written", None, path=str(out)))
    else:
        typer.echo(pem.decode())


@app.command("list")
def list_certs(ca_dir: Path = CA_DIR) -> None:
    """Every certificate this CA issued, with revocations."""
    for row in ca.list_issued(ca_dir):
        state = f"revoked {row.revoked_at} ({row.reason})" if row.revoked_at else "valid"
        typer.echo(f"{row.serial}\t{row.kind}\t{row.name}\t{row.not_after}\t{state}")
