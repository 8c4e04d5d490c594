"""``onceonly audit``: verify the log (database, export file or export folder), export it,
prove an entry is in it (online or from an export, offline), show the newest entries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from onceonly.audit.log import AuditEntryView, latest
from onceonly.audit.verify import (
    VerifyResult,
    export_log,
    iter_entries,
    recorded_head,
    verify_chain,
    verify_file,
)
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.i18n import t

app = typer.Typer(
    help="Audit log: verify the chain and Merkle tree, export it, prove entries, show the newest."
)


@contextmanager
def _database(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _parse_anchor(value: str | None, lang: str) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise typer.BadParameter(t("audit.cli.bad_anchor", lang), param_hint="--anchor")
    return int(seq), digest.lower()


def _report(result: VerifyResult) -> None:
    if result.ok:
        typer.echo(result.reason_zh)
        typer.echo(result.reason_en)
        if result.redacted:
            for lang in ("zh-TW", "en"):
                typer.echo(t("audit.verify.redacted", lang, count=result.redacted))
        return
    typer.echo(f"{t('audit.cli.failed', 'zh-TW')} {t('audit.cli.failed', 'en')}", err=True)
    typer.echo(result.reason_zh, err=True)
    typer.echo(result.reason_en, err=True)
    raise typer.Exit(1)


@app.command()
def verify(
    file: Path | None = typer.Option(
        None,
        "--file",
        help="Verify an export (JSON Lines) instead of the database; no server needed.",
    ),
    anchor: str | None = typer.Option(
        None,
        "--anchor",
        help="SEQ:HASH of an entry recorded earlier (e.g. a published head); the log must hold it.",
    ),
    bundle: Path | None = typer.Option(
        None,
        "--bundle",
        help="Verify an export folder (export-bundle): chain, signed tree heads, Merkle roots.",
    ),
) -> None:
    """Check every entry's hash and link; exit 1 naming the first entry altered, removed,
    reordered or inserted."""
    settings = Settings()
    known = _parse_anchor(anchor, settings.language)
    if bundle is not None:
        _report_bundle(bundle, settings.language)
        return
    if file is not None:
        if not file.is_file():
            typer.echo(t("audit.cli.no_file", settings.language, path=file), err=True)
            raise typer.Exit(2)
        _report(verify_file(file, known))
        return
    with _database(settings) as session:
        _report(verify_chain(iter_entries(session), known or recorded_head(session)))
        _report_tree(session)


@app.command()
def export(file: Path = typer.Argument(..., help="Where to write the JSON Lines export.")) -> None:
    """Write the whole log to FILE (JSON Lines) for auditors to verify elsewhere."""
    settings = Settings()
    with _database(settings) as session:
        count = export_log(session, file)
    typer.echo(t("audit.cli.exported", settings.language, count=count, path=file))


def _what(entry: AuditEntryView) -> str:
    if entry.predicate:
        return entry.predicate
    return ", ".join(entry.fields or [])


@app.command()
def tail(count: int = typer.Option(20, "-n", "--count", min=1, help="How many entries.")) -> None:
    """Show the newest entries (subjects masked)."""
    from onceonly.domain.national_id import mask_national_id

    settings = Settings()
    lang = settings.language
    with _database(settings) as session:
        entries = latest(session, count)
    table = Table(title=t("audit.page.title", lang))
    for key in ("seq", "time", "event", "actor", "agency", "subject", "dataset", "fields"):
        table.add_column(t(f"audit.col.{key}", lang))
    table.add_column(t("audit.col.decision", lang))
    table.add_column(t("audit.col.hash", lang), no_wrap=True)
    for entry in entries:
        table.add_row(
            str(entry.seq),
            entry.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
            entry.event,
            entry.actor_badge or entry.actor_username,
            entry.actor_agency or "",
            mask_national_id(entry.subject) if entry.subject else "",
            entry.dataset or "",
            _what(entry),
            t(f"audit.decision.{entry.decision}", lang),
            entry.entry_hash[:12],
        )
    Console().print(table)


def _echo_both(zh: str, en: str, err: bool = False) -> None:
    typer.echo(zh, err=err)
    typer.echo(en, err=err)


def _report_tree(session: Session) -> None:
    from onceonly.audit.tree_heads import list_tree_heads
    from onceonly.audit.tree_store import check_tree, root_hash, tree_size

    wrong = check_tree(session)
    if wrong:
        params = {"count": len(wrong), "first": wrong[0]}
        _echo_both(
            t("audit.cli.tree_bad", "zh-TW", **params),
            t("audit.cli.tree_bad", "en", **params),
            True,
        )
        raise typer.Exit(1)
    size = tree_size(session)
    failed = False
    for head in list_tree_heads(session):
        if head.tree_size > size:
            why = "audit.cli.head_past_end"
        elif root_hash(session, head.tree_size).hex() != head.root_hash:
            why = "audit.cli.head_root_mismatch"
        else:
            continue
        failed = True
        for lang in ("zh-TW", "en"):
            typer.echo(
                t("audit.cli.head_bad", lang, size=head.tree_size, why=t(why, lang)), err=True
            )
    if failed:
        raise typer.Exit(1)


def _report_bundle(directory: Path, lang: str) -> None:
    from onceonly.audit.bundle import is_bundle, verify_bundle

    if not is_bundle(directory):
        typer.echo(t("audit.cli.no_bundle", lang, path=directory), err=True)
        raise typer.Exit(2)
    check = verify_bundle(directory)
    for size, ok, zh, en in check.heads:
        if ok:
            _echo_both(zh, en)
        else:
            for line_lang, why in (("zh-TW", zh), ("en", en)):
                typer.echo(t("audit.cli.head_bad", line_lang, size=size, why=why), err=True)
    _report(check.chain)
    if not check.ok:
        raise typer.Exit(1)


@app.command("export-bundle")
def export_bundle_command(
    directory: Path = typer.Argument(
        ..., help="Folder to write entries.jsonl, tree-heads.jsonl, jwks.json."
    ),
) -> None:
    """Sign a tree head for the log as it stands and export everything needed to verify it and
    prove its entries offline."""
    from onceonly.audit.bundle import export_bundle

    settings = Settings()
    with _database(settings) as session:
        summary = export_bundle(session, settings, directory)
    typer.echo(
        t(
            "audit.cli.bundle_written",
            settings.language,
            count=summary.entries,
            heads=summary.heads,
            path=directory,
            size=summary.newest.tree_size,
            root=summary.newest.root_hash,
        )
    )


@app.command()
def prove(
    entry: str | None = typer.Argument(
        None, help="Entry: sequence number, entry hash or request id."
    ),
    bundle: Path | None = typer.Option(
        None, "--bundle", help="Prove from an export folder, offline (default: the database)."
    ),
    tree_size: int | None = typer.Option(
        None, "--tree-size", min=1, help="Against the head of this size (default: the newest)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Also write the proof document here."),
    check: Path | None = typer.Option(
        None, "--verify", help="Check a proof document (e.g. downloaded from the citizen portal)."
    ),
    jwks: Path | None = typer.Option(
        None, "--jwks", help="The published key set (/.well-known/jwks.json) to trust."
    ),
) -> None:
    """Make and check the inclusion proof of ENTRY, or check a proof file with --verify.

    Exit 1 when the proof does not hold, naming why."""

    from onceonly.audit.proofs import check_proof

    settings = Settings()
    lang = settings.language
    if check is not None:
        document = _read_file(check)
    elif entry is None:
        typer.echo(t("audit.cli.need_entry", lang), err=True)
        raise typer.Exit(2)
    elif bundle is not None:
        from onceonly.audit.bundle import is_bundle, prove_from_bundle

        if not is_bundle(bundle):
            typer.echo(t("audit.cli.no_bundle", lang, path=bundle), err=True)
            raise typer.Exit(2)
        try:
            document = prove_from_bundle(bundle, entry, tree_size)
        except LookupError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(1) from error
    else:
        document = _prove_online(settings, entry, tree_size)
    keys = _read_file(jwks) if jwks is not None else None
    if check is None:
        text = json.dumps(document, ensure_ascii=False, indent=2)
        if out is not None:
            out.write_text(text + "\n", encoding="utf-8")
            typer.echo(t("audit.cli.proof_written", lang, path=out))
        else:
            typer.echo(text)
    result = check_proof(document, keys)
    _echo_both(result.reason_zh, result.reason_en, err=not result.ok)
    if result.ok and result.redacted:
        _echo_both(t("audit.proof.redacted", "zh-TW"), t("audit.proof.redacted", "en"))
    if not result.ok:
        raise typer.Exit(1)


def _read_file(path: Path) -> Any:
    """A JSON file the user named, or exit 1 saying which file and why it cannot be read."""
    from onceonly.audit.proofs import read_json

    try:
        return read_json(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        _echo_both(
            t("audit.cli.unreadable", "zh-TW", path=path, reason=reason),
            t("audit.cli.unreadable", "en", path=path, reason=reason),
            err=True,
        )
        raise typer.Exit(1) from None


def _prove_online(settings: Settings, entry: str, tree_size: int | None) -> dict[str, object]:
    from onceonly.audit.proofs import build_proof

    lang = settings.language
    if not entry.isdigit():
        typer.echo(t("audit.cli.no_entry", lang, entry=entry), err=True)
        raise typer.Exit(1)
    with _database(settings) as session:
        try:
            document = build_proof(session, settings, int(entry), tree_size, redact=False)
        except LookupError as error:
            typer.echo(str(error), err=True)
            raise typer.Exit(1) from error
    if document is None:
        typer.echo(t("audit.cli.no_entry", lang, entry=entry), err=True)
        raise typer.Exit(1)
    return document


@app.command("rebuild-tree")
def rebuild_tree_command() -> None:
    """Fill in missing Merkle subtree hashes (a log written before the tree existed)."""
    from onceonly.audit.tree_store import rebuild_tree

    settings = Settings()
    with _database(settings) as session:
        count = rebuild_tree(session)
    typer.echo(t("audit.cli.rebuilt", settings.language, count=count))


@app.command("sign-head")
def sign_head_command() -> None:
    """Sign (publish) a tree head for the log as it stands and print it as JSON."""

    from onceonly.audit.tree_heads import publish_tree_head

    settings = Settings()
    with _database(settings) as session:
        head = publish_tree_head(session, settings)
    typer.echo(json.dumps(head.as_document(), indent=2))
