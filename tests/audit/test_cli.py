"""``onceonly audit``: verify the configured database or an export, export, tail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from onceonly.audit.log import AuditEntryView
from onceonly.cli import app

runner = CliRunner()
Attacker = Callable[..., None]


@pytest.fixture(autouse=True)
def configured(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(tmp_path / "data"))


def test_verify_reports_count_and_head(filled: Callable[[int], list[AuditEntryView]]) -> None:
    entries = filled(3)
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert f"OK: 3 entries verified, head {entries[-1].entry_hash}" in result.output
    assert "已驗證 3 筆" in result.output


def test_verify_names_the_altered_entry_and_fails(
    filled: Callable[[int], list[AuditEntryView]], attacker: Attacker
) -> None:
    filled(4)
    attacker("UPDATE audit_entries SET legal_basis = 'none' WHERE seq = 2")
    result = runner.invoke(app, ["audit", "verify"])
    assert result.exit_code == 1
    assert "Entry 2 was altered" in result.output
    assert "req-0002" in result.output


def test_export_then_verify_the_file_without_the_database(
    tmp_path: Path,
    filled: Callable[[int], list[AuditEntryView]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entries = filled(3)
    export = tmp_path / "audit.jsonl"
    assert runner.invoke(app, ["audit", "export", str(export)]).exit_code == 0
    assert len(export.read_text("utf-8").splitlines()) == 3
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    ok = runner.invoke(app, ["audit", "verify", "--file", str(export)])
    assert ok.exit_code == 0 and "OK: 3 entries verified" in ok.output
    lines = export.read_text("utf-8").splitlines()
    export.write_text("\n".join([lines[0], lines[2]]) + "\n", "utf-8")
    anchor = f"3:{entries[-1].entry_hash}"
    broken = runner.invoke(app, ["audit", "verify", "--file", str(export), "--anchor", anchor])
    assert broken.exit_code == 1
    assert "Entry 2 was removed" in broken.output


def test_an_empty_export_is_not_reported_as_verified(tmp_path: Path) -> None:
    """An emptied export proves nothing; an auditor must not read "OK" for it."""
    export = tmp_path / "audit.jsonl"
    export.write_text("", "utf-8")
    result = runner.invoke(app, ["audit", "verify", "--file", str(export)])
    assert result.exit_code == 1
    assert "holds no audit entries, so nothing was verified" in result.output
    assert "OK" not in result.output


def test_verify_refuses_a_malformed_anchor(tmp_path: Path) -> None:
    export = tmp_path / "audit.jsonl"
    export.write_text("", "utf-8")
    result = runner.invoke(app, ["audit", "verify", "--file", str(export), "--anchor", "x"])
    assert result.exit_code == 2


def test_tail_shows_the_newest_entries_masked(
    filled: Callable[[int], list[AuditEntryView]],
) -> None:
    filled(5)
    result = runner.invoke(app, ["audit", "tail", "-n", "2"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "A12345****" in result.output and "A123456789" not in result.output
    assert " 5 " in result.output and " 4 " in result.output and " 3 " not in result.output
