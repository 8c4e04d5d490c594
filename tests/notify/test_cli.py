"""``onceonly notify receiver`` and ``record-death`` refusing what the operator gave: which
option, why, in words, exit code 2, never a traceback (and the receiver serves nothing)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner, Result

from onceonly.catalog.loader import load_catalog
from onceonly.cli import app
from onceonly.config import CONFIG_ENV
from onceonly.db import transaction
from onceonly.notify.receiver import app_from_env, parse_secrets
from onceonly.notify.webhook import signed_headers

runner = CliRunner()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[Any]:
    """What ``uvicorn.run`` was asked to serve (nothing is served: a test must not block)."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(tmp_path / "data"))
    calls: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: calls.append(app))
    return calls


def receiver(db: Path | str, lang: str = "zh-TW") -> Result:
    return runner.invoke(
        app,
        ["notify", "receiver", "--secret", "s3cret", "--db", str(db)],
        env={"ONCEONLY_LANGUAGE": lang},
    )


def refused(result: Result) -> str:
    """What the operator read, once it is sure the command stopped in words."""
    said = result.stderr
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and "Error" not in said, said
    return said


@pytest.mark.parametrize(
    ("where", "words_zh", "words_en"),
    [
        ("folder", "是一個資料夾", "is a folder"),
        ("missing/receiver.sqlite", "資料夾 {tmp}/missing 不存在", "{tmp}/missing"),
        ("text", "不是 SQLite 資料庫檔案", "is not an SQLite database file"),
        ("text/receiver.sqlite", "是檔案而不是資料夾", "is a file, not a folder"),
    ],
)
def test_an_unusable_receiver_db_is_named_before_serving(
    served: list[Any], tmp_path: Path, where: str, words_zh: str, words_en: str
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "text").write_text("not a database\n", "utf-8")
    db = tmp_path / where
    zh = refused(receiver(db))
    assert zh.startswith("--db：") and str(db) in zh and words_zh.format(tmp=tmp_path) in zh, zh
    en = refused(receiver(db, "en"))
    assert en.startswith("--db: ") and str(db) in en and words_en.format(tmp=tmp_path) in en, en
    assert served == []
    assert (tmp_path / "text").read_text("utf-8") == "not a database\n"  # left as it was
    assert not (tmp_path / "missing").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any folder")
def test_a_receiver_db_in_a_folder_without_permission_is_named(
    served: list[Any], tmp_path: Path
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        said = refused(receiver(locked / "receiver.sqlite", "en"))
    finally:
        locked.chmod(0o755)
    assert said.startswith("--db: no permission to write files in the folder"), said
    assert served == []


def test_a_usable_receiver_db_is_served(served: list[Any], tmp_path: Path) -> None:
    result = receiver(tmp_path / "receiver.sqlite")
    assert result.exit_code == 0, result.output
    assert len(served) == 1 and (tmp_path / "receiver.sqlite").is_file()


def test_the_receiver_factory_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``uvicorn --factory onceonly.notify.receiver:app_from_env`` stops in words too."""
    monkeypatch.setenv("ONCEONLY_RECEIVER_SECRET", "s3cret")
    monkeypatch.setenv("ONCEONLY_RECEIVER_DB", str(tmp_path))
    with pytest.raises(SystemExit) as stopped:
        app_from_env()
    assert stopped.value.code == 2
    zh, en = capsys.readouterr().err.splitlines()
    assert zh.startswith(f"ONCEONLY_RECEIVER_DB：{tmp_path} 是一個資料夾"), zh
    assert en.startswith(f"ONCEONLY_RECEIVER_DB: {tmp_path} is a folder"), en


@pytest.mark.parametrize(
    ("secret", "ack", "variable", "words"),
    [
        (None, "inline", "ONCEONLY_RECEIVER_SECRET", "No HMAC secret may be empty"),
        ("s3cret,", "inline", "ONCEONLY_RECEIVER_SECRET", "No HMAC secret may be empty"),
        ("s3cret", "later", "ONCEONLY_RECEIVER_ACK", "Unknown way to answer 'later'"),
    ],
)
def test_the_receiver_factory_says_which_variable_is_missing_or_wrong(
    secret: str | None, ack: str, variable: str, words: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:  # fmt: skip
    """A missing secret was an English RuntimeError's traceback, an unknown ack a ValueError's."""
    if secret is None:
        monkeypatch.delenv("ONCEONLY_RECEIVER_SECRET", raising=False)
    else:
        monkeypatch.setenv("ONCEONLY_RECEIVER_SECRET", secret)
    monkeypatch.setenv("ONCEONLY_RECEIVER_ACK", ack)
    monkeypatch.setenv("ONCEONLY_RECEIVER_DB", str(tmp_path / "r.sqlite"))
    with pytest.raises(SystemExit) as stopped:
        app_from_env()
    assert stopped.value.code == 2
    zh, en = capsys.readouterr().err.splitlines()
    assert zh.startswith(f"{variable}: ") and en == f"{variable}: " + en.split(": ", 1)[1]
    assert words in en
    assert not (tmp_path / "r.sqlite").exists()


@pytest.fixture
def platform(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as session:
        load_catalog(session)
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", database_url)


def record_death(jurisdiction: str, lang: str) -> Result:
    return runner.invoke(
        app,
        ["notify", "record-death", "A123456789", "--jurisdiction", jurisdiction],
        env={"ONCEONLY_LANGUAGE": lang},
    )


@pytest.mark.usefixtures("platform")
def test_an_unknown_jurisdiction_is_named_as_unknown_not_as_forbidden() -> None:
    zh = refused(record_death("nowhere", "zh-TW"))
    assert zh.startswith("--jurisdiction：目錄中沒有「nowhere」這個縣市（可用：taipei-city, "), zh
    assert "lienchiang-county）" in zh and "權限" not in zh and "household_office" not in zh
    en = refused(record_death("nowhere", "en"))
    assert en.startswith("--jurisdiction: the catalog has no jurisdiction 'nowhere' (known: ")
    assert "taipei-city" in en and "permission" not in en.lower() and "may not" not in en
    merged = refused(record_death("taipei-county", "en"))
    assert merged.startswith("--jurisdiction: 'taipei-county' was merged into new-taipei-city")
    assert "use --jurisdiction new-taipei-city" in merged
    central = refused(record_death("central", "en"))
    assert central.startswith("--jurisdiction: 'central' has no household registration office")


def test_secrets_written_with_spaces_after_the_commas_are_each_usable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``old, new``: a push signed with ``new`` is accepted (the space was part of the key)."""
    monkeypatch.setenv("ONCEONLY_RECEIVER_SECRET", "old-secret , new-secret")
    monkeypatch.setenv("ONCEONLY_RECEIVER_DB", str(tmp_path / "r.sqlite"))
    body = b'{"id": "e1", "type": "death"}'
    with TestClient(app_from_env()) as client:
        for secret, accepted in (
            ("new-secret", True),
            (" new-secret", False),
            ("old-secret", True),
        ):
            answer = client.post(
                "/webhook", content=body, headers=signed_headers(secret, body, "e1", 1)
            )
            assert (answer.status_code != 401) is accepted, (secret, answer.text)
    assert parse_secrets("a,,b") is None and parse_secrets(" ") is None
