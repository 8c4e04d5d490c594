"""``onceonly open311 keys issue|list|revoke`` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from onceonly.cli import app

runner = CliRunner()


def test_issue_list_revoke(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> None:
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", database_url)
    monkeypatch.setenv("ONCEONLY_LANGUAGE", "zh-TW")
    issued = runner.invoke(
        app, ["open311", "keys", "issue", "--jurisdiction", "taipei-city", "--app", "街道通",
              "--writes", "3"],
    )  # fmt: skip
    assert issued.exit_code == 0, issued.output
    plain = issued.output.strip().splitlines()[-1]
    assert plain.startswith("o311_") and "已核發" in issued.output
    listed = runner.invoke(app, ["open311", "keys", "list"], env={"COLUMNS": "200"})
    assert "街道通" in listed.output and plain not in listed.output and plain[:12] in listed.output
    revoked = runner.invoke(app, ["open311", "keys", "revoke", "1", "--by", "ops"])
    assert revoked.exit_code == 0 and "已撤銷" in revoked.output
    assert "ops" in runner.invoke(app, ["open311", "keys", "list"], env={"COLUMNS": "200"}).output
    unknown = runner.invoke(app, ["open311", "keys", "revoke", "99"])
    assert unknown.exit_code == 1 and "99" in unknown.output
    nowhere = runner.invoke(
        app, ["open311", "keys", "issue", "--jurisdiction", "atlantis", "--app", "x"]
    )
    assert nowhere.exit_code == 1 and "atlantis" in nowhere.output
