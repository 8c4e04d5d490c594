"""``onceonly backup``: ship encrypted, signed backups to a partner node; prove they restore."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from onceonly.config import Settings, settings_for
from onceonly.federation.backup import (
    SUFFIX,
    BackupInvalid,
    DrillReport,
    PartnerNotAgreed,
    backups_dir,
    latest_backup,
    open_envelope,
    restore_drill,
    ship_backup,
)
from onceonly.federation.snapshot import SnapshotRefused
from onceonly.federation.tenant_backup import (
    TENANT_FORMAT,
    TenantDrillReport,
    TenantRefused,
    jurisdiction_name,
    tenant_restore_drill,
)
from onceonly.i18n import LANGUAGES, both, t

app = typer.Typer(
    help="Off-site backup (異地備援): ship to a partner node, restore drill.",
    no_args_is_help=True,
)
console = Console(soft_wrap=True)  # a message on one line, whatever the terminal
errors = Console(stderr=True, soft_wrap=True)
DATA_DIR = typer.Option(
    None,
    "--data-dir",
    help="The node's data directory (default: the settings file's, ONCEONLY_CONFIG).",
)


def say(key: str, style: str = "", out: Console = console, **params: object) -> None:
    """One message, Traditional Chinese first, then English (operators read either)."""
    told({lang: t(key, lang, **params) for lang in LANGUAGES}, style, out)


def told(words: Mapping[str, str], style: str = "", out: Console = console) -> None:
    """A message already in every language (:func:`~onceonly.i18n.both`), Traditional
    Chinese first."""
    for lang in LANGUAGES:
        text = words[lang]
        out.print(f"[{style}]{escape(text)}[/{style}]" if style else escape(text))


def refuse(exc: TenantRefused) -> typer.Exit:
    """A ``--tenant`` that cannot work is a usage error (exit 2), named on stderr."""
    errors.print(f"[red]{escape(exc.zh)}[/red]")
    errors.print(f"[red]{escape(exc.en)}[/red]")
    return typer.Exit(2)


@app.command()
def ship(
    to: str | None = typer.Option(None, "--to", help="Partner node (default: the configured)."),
    every: int = typer.Option(0, help="Repeat every this many seconds (0: once)."),
    tenant: str | None = typer.Option(
        None, "--tenant", help="Only this hosted jurisdiction's data (e.g. yilan-county)."
    ),
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Encrypt this node's database (or one tenant's share) for the partner, sign it, and
    send it there."""
    if every < 0:
        raise typer.BadParameter(t("cli.at_least", None, least=0), param_hint="--every")
    settings = settings_for(data_dir)
    while True:
        try:
            receipt = ship_backup(settings, to, tenant)
        except TenantRefused as exc:  # retrying will not make the node host it
            raise refuse(exc) from exc
        except BackupInvalid as exc:
            if isinstance(exc, PartnerNotAgreed):  # in words, each language in its own
                told(both("backup.ship_failed", reason=exc.words), "red", errors)
            else:
                say("backup.ship_failed", "red", errors, reason=str(exc))
            if not every:
                raise typer.Exit(1) from exc
        else:
            if tenant:
                say("tenancy.backup_scope", tenant=tenant)
            say(
                "backup.shipped",
                node=receipt["node"],
                file=receipt["stored"],
                rows=receipt["rows"],
                size=receipt["bytes"],
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
    say(
        "backup.drill_audit",
        ok="✓" if report.audit_ok else "✗",
        reason=report.audit_reason,
    )
    say(
        "backup.drill_head",
        expected=report.head_expected,
        restored=report.head_restored,
        ok="✓" if report.head_expected == report.head_restored else "✗",
    )
    if report.tree_expected is not None or report.tree_restored is not None:
        say(
            "backup.drill_tree",
            expected=report.tree_expected,
            restored=report.tree_restored,
            ok="✓" if report.tree_expected == report.tree_restored else "✗",
        )
    say("backup.drill_passed" if report.ok else "backup.drill_failed", "" if report.ok else "red")


def print_tenant_report(report: TenantDrillReport) -> None:
    table = Table(title=t("backup.drill_title", None, source=report.source, at=report.created_at))
    for column in ("table", "expected", "restored", ""):
        table.add_column(column)
    for name, (expected, restored) in sorted(report.tables.items()):
        table.add_row(name, str(expected), str(restored), "✓" if expected == restored else "✗")
    for path, ok in sorted(report.stores.items()):
        table.add_row(path, "sha256", "", "✓" if ok else "✗")
    console.print(table)
    say("tenancy.backup_scope", tenant=report.tenant)
    say(
        "tenancy.drill_audit",
        entries=report.entries_checked,
        size=report.tree_size,
        root="✓" if report.root_ok else "✗",
        signature="✓" if report.signature_ok else "✗",
    )
    for problem in report.audit_problems:
        console.print(f"[red]{problem}[/red]")
    say("backup.drill_passed" if report.ok else "backup.drill_failed", "" if report.ok else "red")


def newest_of_tenant(settings: Settings, source: str | None, tenant: str) -> Path:
    """The newest backup received here holding ``tenant``'s share (the manifest travels in
    the envelope's clear header). Never another tenant's or a whole node's: a drill of the
    wrong backup would pass and prove nothing about this one."""
    received: set[str] = set()
    root = backups_dir(settings)
    for path in sorted(root.glob(f"{source or '*'}/*{SUFFIX}"), key=lambda p: p.name, reverse=True):
        try:
            manifest = json.loads(path.read_bytes())["header"]["manifest"]
        except (ValueError, KeyError):
            continue
        if manifest.get("tenant") == tenant:
            return path
        if manifest.get("tenant"):
            received.add(f"{path.parent.name}: {manifest['tenant']}")
    name = jurisdiction_name(settings, tenant)
    if name is None:
        raise TenantRefused("backup.tenant_unknown_here", tenant=tenant)
    raise TenantRefused(
        "backup.tenant_no_backup",
        tenant=tenant,
        name=name,
        received=", ".join(sorted(received)) or "—",
    )


@app.command("restore-drill")
def restore_drill_command(
    source: str | None = typer.Option(None, "--from", help="Whose backup (default: newest)."),
    file: Path | None = typer.Option(None, help="A backup file instead of the newest."),
    tenant: str | None = typer.Option(
        None, "--tenant", help="Drill the newest backup of this jurisdiction's share."
    ),
    data_dir: Path | None = DATA_DIR,
) -> None:
    """Restore the newest backup a partner shipped here into a scratch database and prove it
    complete: row counts per table, the audit log verifies, the latest head matches."""
    from onceonly.federation.node import NodeConfig, SnapshotCache

    settings = settings_for(data_dir)
    config = NodeConfig.read(settings)
    try:
        if config is not None and file is None and tenant:
            file = newest_of_tenant(settings, source, tenant)
    except TenantRefused as exc:
        raise refuse(exc) from exc
    path = file or latest_backup(settings, source)
    if config is None or path is None:
        say("backup.none", "red", errors)
        raise typer.Exit(1)
    try:
        trust = SnapshotCache(settings, config).trust()
        opened = open_envelope(path.read_bytes(), Path(config.key).read_bytes(), trust)
        actual = opened.manifest.get("tenant")
        if tenant and actual != tenant:
            raise TenantRefused(
                "backup.tenant_other_file", tenant=tenant, path=str(path), actual=actual or "*"
            )
        if opened.manifest.get("format") == TENANT_FORMAT:
            report: DrillReport | TenantDrillReport = tenant_restore_drill(opened)
        else:
            report = restore_drill(opened)
    except TenantRefused as exc:
        raise refuse(exc) from exc
    except (BackupInvalid, SnapshotRefused) as exc:
        say("backup.drill_unreadable", "red", errors, reason=str(exc))
        raise typer.Exit(1) from exc
    say("backup.drill_file", path=str(path), signer=opened.signer)
    if isinstance(report, TenantDrillReport):
        print_tenant_report(report)
    else:
        print_report(report)
    if not report.ok:
        raise typer.Exit(1)
