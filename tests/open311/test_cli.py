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
    assert unknown.exit_code == 2 and unknown.stdout == "" and "99" in unknown.stderr
    nobody = runner.invoke(app, ["open311", "keys", "revoke", "1", "--by", "x" * 65])
    assert nobody.exit_code == 2 and nobody.stderr.startswith("--by"), nobody.output
    nowhere = runner.invoke(
        app, ["open311", "keys", "issue", "--jurisdiction", "atlantis", "--app", "x"]
    )
    assert nowhere.exit_code == 2 and nowhere.stdout == ""
    assert nowhere.stderr.startswith(
        "--jurisdiction：目錄中沒有縣市 atlantis（現有縣市：taipei-city"
    )


LONG = "長" * 201


@pytest.mark.parametrize(
    ("given", "zh", "en"),
    [
        (["--app", "  "], "--app 必填", "--app is required"),
        (["--app", LONG], "--app 超過 200 字", "--app is longer than 200 characters"),
        (["--app", "x", "--writes", "-1"], "--writes 不得為負數", "--writes may not be negative"),
        (["--app", "x", "--reads", "-1"], "--reads 不得為負數", "--reads may not be negative"),
        (["--app", "x", "--reads", "99999999999"], "--reads 不得超過 10000000",
         "--reads may not be more than 10000000"),
        (["--app", "x", "--contact", "@" * 255], "--contact 超過 254 字",
         "--contact is longer than 254 characters"),
        (["--app", "x", "--by", " "], "--by 必填", "--by is required"),
        (["--app", "x", "--by", "b" * 65], "--by 超過 64 字", "--by is longer than 64 characters"),
    ],
)  # fmt: skip
def test_issue_names_the_option_the_operator_typed(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    given: list[str],
    zh: str,
    en: str,
) -> None:
    """Not the service's field (``app_name``, ``daily_writes``), and not another option."""
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", database_url)
    command = ["open311", "keys", "issue", "--jurisdiction", "taipei-city", *given]
    for lang, words in (("zh-TW", zh), ("en", en)):
        refused = runner.invoke(app, command, env={"ONCEONLY_LANGUAGE": lang})
        assert refused.exit_code == 2, (refused.output, refused.exception)
        assert refused.exception is None or isinstance(refused.exception, SystemExit)
        assert refused.stderr == words + "\n" and refused.stdout == ""
    listed = runner.invoke(app, ["open311", "keys", "list"], env={"COLUMNS": "200"})
    assert "o311_" not in listed.output  # nothing was issued
