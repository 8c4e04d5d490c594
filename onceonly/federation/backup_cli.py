"""``onceonly backup``: ship encrypted, signed backups to a partner node; prove they restore."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from onceonly.config import Settings
from onceonly.federation.backup import (
    SUFFIX,
    BackupInvalid,
    DrillReport,
    backups_dir,
    latest_backup,
    open_envelope,
    restore_drill,
    ship_backup,
)
from onceonly.federation.tenant_backup import (
    TENANT_FORMAT,
    TenantDrillReport,
    tenant_restore_drill,
)
from onceonly.i18n import t

app = typer.Typer(
    help="Off-site backup (異地備援): ship to a partner node, restore drill.",
    no_args_is_help=True,
)
console = Console()
DATA_DIR = typer.Option(Path("onceonly-data"), "--data-dir", help="The node's data directory.")


@app.command()
def ship(
    to: str | None = typer.Option(None, "--to", help="Partner node (default: the configured)."),
    every: int = typer.Option(0, help="Repeat every this many seconds (0: once)."),
    tenant: str | None = typer.Option(
        None, "--tenant", help="Only this hosted jurisdiction's data (e.g. yilan-county)."
    ),
    data_dir: Path = DATA_DIR,
) -> None:
    """Encrypt this node's database (or one tenant's share) for the partner, sign it, and
    send it there."""
    settings = Settings(data_dir=data_dir)
    if tenant:
        console.print(t("tenancy.backup_scope", None, tenant=tenant))
    while True:
        try:
            receipt = ship_backup(settings, to, tenant)
        except BackupInvalid as exc:
            console.print(f"[red]{t('backup.ship_failed', None, reason=str(exc))}[/red]")
            if not every:
                raise typer.Exit(1) from exc
        else:
            console.print(
                t(
                    "backup.shipped",
                    None,
                    node=receipt["node"],
                    file=receipt["stored"],
                    rows=receipt["rows"],
                    size=receipt["bytes"],
                )
            )
        if not every:
            return
        time.sleep(every)


def print_report(report: DrillReport) -> None:
    table = Table(title=t("backup.drill_title", None, source=report.source, at=report.created_at))
    for column in ("table", "expected", "restored", ""):
        table.add_column(column)
    for name, (expected, restored) in sorted(report.tables.items()):
        table.add_row(name, str(expected), str(restored), "✓" if expected == restored else "✗")
    console.print(table)
    console.print(
        t(
            "backup.drill_audit",
            None,
            ok="✓" if report.audit_ok else "✗",
            reason=report.audit_reason,
        )
    )
    console.print(
        t(
            "backup.drill_head",
            None,
            expected=report.head_expected,
            restored=report.head_restored,
            ok="✓" if report.head_expected == report.head_restored else "✗",
        )
    )
    if report.tree_expected is not None or report.tree_restored is not None:
        console.print(
            t(
                "backup.drill_tree",
                None,
                expected=report.tree_expected,
                restored=report.tree_restored,
                ok="✓" if report.tree_expected == report.tree_restored else "✗",
            )
        )
    console.print(t("backup.drill_passed" if report.ok else "backup.drill_failed", None))


def print_tenant_report(report: TenantDrillReport) -> None:
    table = Table(title=t("backup.drill_title", None, source=report.source, at=report.created_at))
    for column in ("table", "expected", "restored", ""):
        table.add_column(column)
    for name, (expected, restored) in sorted(report.tables.items()):
        table.add_row(name, str(expected), str(restored), "✓" if expected == restored else "✗")
    for path, ok in sorted(report.stores.items()):
        table.add_row(path, "sha256", "", "✓" if ok else "✗")
    console.print(table)
    console.print(t("tenancy.backup_scope", None, tenant=report.tenant))
    console.print(
        t(
            "tenancy.drill_audit",
            None,
            entries=report.entries_checked,
            size=report.tree_size,
            root="✓" if report.root_ok else "✗",
            signature="✓" if report.signature_ok else "✗",
        )
    )
    for problem in report.audit_problems:
        console.print(f"[red]{problem}[/red]")
    console.print(t("backup.drill_passed" if report.ok else "backup.drill_failed", None))


def newest_of_tenant(settings: Settings, source: str | None, tenant: str) -> Path | None:
    """The newest backup received here holding ``tenant``'s share (the manifest travels in
    the envelope's clear header)."""
    root = backups_dir(settings)
    for path in sorted(root.glob(f"{source or '*'}/*{SUFFIX}"), key=lambda p: p.name, reverse=True):
        try:
            manifest = json.loads(path.read_bytes())["header"]["manifest"]
        except (ValueError, KeyError):
            continue
        if manifest.get("tenant") == tenant:
            return path
    return None


@app.command("restore-drill")
def restore_drill_command(
    source: str | None = typer.Option(None, "--from", help="Whose backup (default: newest)."),
    file: Path | None = typer.Option(None, help="A backup file instead of the newest."),
    tenant: str | None = typer.Option(
        None, "--tenant", help="Drill the newest backup of this jurisdiction's share."
    ),
    data_dir: Path = DATA_DIR,
) -> None:
    """Restore the newest backup a partner shipped here into a scratch database and prove it
    complete: row counts per table, the audit log verifies, the latest head matches."""
    from onceonly.federation.node import NodeConfig, SnapshotCache

    settings = Settings(data_dir=data_dir)
    config = NodeConfig.read(settings)
    if file is None and tenant:
        file = newest_of_tenant(settings, source, tenant)
    path = file or latest_backup(settings, source)
    if config is None or path is None:
        console.print(f"[red]{t('backup.none', None)}[/red]")
        raise typer.Exit(1)
    try:
        trust = SnapshotCache(settings, config).trust()
        opened = open_envelope(path.read_bytes(), Path(config.key).read_bytes(), trust)
        if opened.manifest.get("format") == TENANT_FORMAT:
            report: DrillReport | TenantDrillReport = tenant_restore_drill(opened)
        else:
            report = restore_drill(opened)
    except BackupInvalid as exc:
        console.print(f"[red]{t('backup.drill_unreadable', None, reason=str(exc))}[/red]")
        raise typer.Exit(1) from exc
    console.print(t("backup.drill_file", None, path=str(path), signer=opened.signer))
    if isinstance(report, TenantDrillReport):
        print_tenant_report(report)
    else:
        print_report(report)
    if not report.ok:
        raise typer.Exit(1)
