"""``onceonly audit``: verify the log (database, export file or export folder), export it,
prove an entry is in it (online or from an export, offline), show the newest entries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

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
    jwks: str | None = typer.Option(
        None,
        "--jwks",
        help="Key set to check the signed heads with (a file or URL kept outside the node); "
        "default: the node's keys whose private half is on its disk.",
    ),
    held: list[Path] = typer.Option(
        [],
        "--checkpoint",
        help="A checkpoint kept outside the node (from a witness, an earlier download): the "
        "log must still hold exactly that tree. Repeatable.",
    ),
    witness_key: list[str] = typer.Option(
        [], "--witness-key", help="A witness's vkey whose cosignatures to check. Repeatable."
    ),
) -> None:
    """Check every entry's hash and link, the Merkle tree, every signed tree head and
    checkpoint (signature and consistency), and checkpoints held outside; exit 1 naming the
    first entry altered, removed, reordered or inserted, or the head that no longer holds."""
    settings = Settings()
    known = _parse_anchor(anchor, settings.language)
    if bundle is not None:
        _report_bundle(bundle, settings.language)
        return
    if file is not None:
        if not file.is_file():
            typer.echo(t("audit.cli.no_file", settings.language, path=file), err=True)
            raise typer.Exit(2)
        result = verify_file(file, known)
        if result.ok and result.checked == 0:  # not "OK": nothing was shown to hold
            _refuse("audit.cli.file_empty", path=file)
        _report(result)
        return
    trusted = _read_jwks(jwks, settings.language) if jwks is not None else None
    outside = [(str(path), _read_text(path, settings.language)) for path in held]
    with _database(settings) as session:
        _report(verify_chain(iter_entries(session), known or recorded_head(session)))
        _report_tree(session)
        _report_heads(session, settings, trusted, outside, witness_key)


def _read_text(path: Path, lang: str) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        _echo_both(
            t("audit.cli.unreadable", "zh-TW", path=path, reason=reason),
            t("audit.cli.unreadable", "en", path=path, reason=reason),
            err=True,
        )
        raise typer.Exit(1) from None


def _report_heads(
    session: Session,
    settings: Settings,
    jwks: dict[str, Any] | None,
    held: list[tuple[str, str]],
    witness_keys: list[str],
) -> None:
    from onceonly.audit.heads_check import check_heads
    from onceonly.audit.note import NoteError

    try:
        check = check_heads(session, settings, jwks, held, witness_keys)
    except NoteError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None
    for finding in check.findings:
        _echo_both(finding.text("zh-TW"), finding.text("en"), err=not finding.ok)
    if not check.ok:
        raise typer.Exit(1)


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
    jwks: str | None = typer.Option(
        None,
        "--jwks",
        help="The published key set to trust: a file saved from /.well-known/jwks.json, or "
        "its https:// URL. Without it --verify never calls a proof verified.",
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
    keys = _read_jwks(jwks, settings.language) if jwks is not None else None
    if keys is None and check is None:
        # A proof made here is checked with the keys this side trusts: the export folder's
        # key set, or the node's own keys (those whose private half is on its disk).
        keys = _read_file(bundle / "jwks.json") if bundle is not None else _local_jwks(settings)
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


def _local_jwks(settings: Settings) -> dict[str, Any]:
    from onceonly.audit.heads_check import local_jwks

    with _database(settings) as session:
        return local_jwks(session, settings)


def _read_jwks(source: str, lang: str) -> Any:
    """A JWK Set from a file or an http(s) URL, or exit 1 saying why it cannot be had."""
    if not source.startswith(("https://", "http://")):
        return _read_file(Path(source))
    import httpx

    try:
        response = httpx.get(source, timeout=10.0, follow_redirects=False)
        response.raise_for_status()
        return response.json()
    except (httpx.HTTPError, ValueError) as error:
        _echo_both(
            t("audit.cli.jwks_unreadable", "zh-TW", source=source, reason=error),
            t("audit.cli.jwks_unreadable", "en", source=source, reason=error),
            err=True,
        )
        raise typer.Exit(1) from None


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
    from onceonly.audit.log import seqs_named
    from onceonly.audit.proofs import build_proof
    from onceonly.audit.tree_store import tree_size as log_size

    with _database(settings) as session:
        seq = _one_entry(seqs_named(session, entry), entry, settings.language)
        size = log_size(session)
        if tree_size is not None and tree_size > size:
            _refuse("audit.cli.size_past_end", count=size, size=tree_size)
        if tree_size is not None and tree_size < seq:
            _refuse("audit.cli.entry_after_size", seq=seq, size=tree_size)
        try:
            document = build_proof(session, settings, seq, tree_size, redact=False)
        except LookupError as error:  # the tree behind the log (TreeIncomplete), say
            typer.echo(str(error), err=True)
            raise typer.Exit(1) from error
    assert document is not None  # the entry was just found, and entries are never removed
    return document


def _one_entry(seqs: list[int], entry: str, lang: str | None) -> int:
    """The single entry a name designates; a request id of several pieces must be narrowed."""
    if not seqs:
        _refuse("audit.cli.no_entry_in_log", entry=entry)
    if len(seqs) > 1:
        _refuse("audit.cli.entry_ambiguous", entry=entry, seqs=", ".join(map(str, seqs)))
    return seqs[0]


def _refuse(key: str, **params: object) -> NoReturn:
    _echo_both(t(key, "zh-TW", **params), t(key, "en", **params), err=True)
    raise typer.Exit(1)


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


@app.command("publish")
def publish_command() -> None:
    """Sign a tree head and checkpoint of the log as it stands and push it to every witness."""
    from onceonly.audit.publish import publish

    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        head, results = publish(make_session_factory(engine), settings)
    finally:
        engine.dispose()
    _echo_both(
        t("audit.cli.published", "zh-TW", size=head.tree_size),
        t("audit.cli.published", "en", size=head.tree_size),
    )
    for result in results:
        status = "OK" if result.ok else f"{result.status}: {result.detail.strip()}"
        typer.echo(t("audit.cli.pushed", settings.language, witness=result.witness, status=status))
    if not all(r.ok for r in results):
        raise typer.Exit(1)


witness_app = typer.Typer(
    help="Witnessing (C2SP tlog-witness): this log's witnesses, the logs "
    "this node witnesses, the keys to give each other."
)
app.add_typer(witness_app, name="witness")


@witness_app.command("keys")
def witness_keys_command() -> None:
    """Print this log's checkpoint key and this node's witness key (C2SP vkeys)."""
    from onceonly.audit.checkpoint import log_vkey
    from onceonly.audit.witness import witness_vkey

    settings = Settings()
    with _database(settings) as session:
        typer.echo(f"log {log_vkey(session, settings)}")
        typer.echo(f"witness {witness_vkey(session, settings)}")


@witness_app.command("trust")
def witness_trust_command(
    vkey: str = typer.Argument(..., help="The log's checkpoint key (its `witness keys` log line)."),
) -> None:
    """Witness the log that signs with VKEY: cosign its checkpoints while they stay consistent."""
    from onceonly.audit.witness import trust_log

    settings = Settings()
    with _database(settings) as session:
        row = trust_log(session, vkey)
        typer.echo(row.origin)


@witness_app.command("add")
def witness_add_command(
    vkey: str = typer.Argument(..., help="The witness's key (its `witness keys` witness line)."),
    url: str = typer.Argument(..., help="Its submission prefix, e.g. https://node/witness."),
) -> None:
    """Push this log's checkpoints to the witness with VKEY at URL."""
    from onceonly.audit.publish import add_witness

    settings = Settings()
    with _database(settings) as session:
        typer.echo(add_witness(session, vkey, url).name)
