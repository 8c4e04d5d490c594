"""Owners' signing keys: made on demand, rotated without breaking what they signed, published
as a JWK Set that anyone can fetch, private halves kept in 0600 files."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from onceonly.cli import app as cli
from onceonly.config import Settings
from onceonly.db import make_engine, make_session_factory, transaction, utcnow
from onceonly.exchange.keys import (
    SigningKeyRecord,
    active_key,
    ensure_key,
    list_keys,
    published_jwks,
    rotate_key,
)
from onceonly.models import Base
from onceonly.web.app import create_app

AGENCY = "taipei-city.household_office.zhongshan"


@pytest.fixture
def key_settings(tmp_path: Path, empty_database_url: str) -> Iterator[Settings]:
    """Settings whose database holds only the signing-key table (quick on both backends)."""
    engine = make_engine(empty_database_url)
    Base.metadata.create_all(engine, tables=[SigningKeyRecord.__table__])
    engine.dispose()
    settings = Settings(data_dir=tmp_path / "data", database_url=empty_database_url)
    settings.ensure_dirs()
    yield settings


@pytest.fixture
def key_sessions(key_settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(key_settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def rfc7638_thumbprint(jwk: dict[str, str]) -> str:
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def test_first_key_is_made_once_with_a_thumbprint_id_and_a_private_file(
    key_settings: Settings, key_sessions: sessionmaker[Session]
) -> None:
    with transaction(key_sessions) as session:
        key = ensure_key(session, key_settings, AGENCY)
        again = ensure_key(session, key_settings, AGENCY)
    assert again.kid == key.kid and key.active
    assert key.kid == rfc7638_thumbprint(key.public_jwk)
    pem = key_settings.keys_dir / AGENCY / f"{key.kid}.pem"
    assert pem == key.pem_path and pem.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert "d" not in key.public_jwk


def test_rotation_retires_the_old_key_but_keeps_it_published(
    key_settings: Settings, key_sessions: sessionmaker[Session]
) -> None:
    with transaction(key_sessions) as session:
        old = ensure_key(session, key_settings, AGENCY)
        new = rotate_key(session, key_settings, AGENCY)
    with transaction(key_sessions) as session:
        current = active_key(session, key_settings, AGENCY)
        keys = {k.kid: k for k in list_keys(session, key_settings, AGENCY)}
        jwks = published_jwks(session)
    assert current is not None and current.kid == new.kid != old.kid
    assert keys[old.kid].status == "retired" and keys[old.kid].retired_at is not None
    assert {member["kid"] for member in jwks["keys"]} == {old.kid, new.kid}


def test_published_set_holds_public_members_only(
    key_settings: Settings, key_sessions: sessionmaker[Session]
) -> None:
    with transaction(key_sessions) as session:
        key = ensure_key(session, key_settings, AGENCY)
        ensure_key(session, key_settings, "central.fia_income")
        jwks = published_jwks(session)
    member = next(m for m in jwks["keys"] if m["kid"] == key.kid)
    assert member == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": key.public_jwk["x"],
        "kid": key.kid,
        "alg": "EdDSA",
        "use": "sig",
        "agency": AGENCY,
        "x-onceonly-custody": "node",
    }
    assert len(jwks["keys"]) == 2


def test_an_agency_never_has_two_active_keys(
    key_settings: Settings, key_sessions: sessionmaker[Session]
) -> None:
    with transaction(key_sessions) as session:
        key = ensure_key(session, key_settings, AGENCY)
    with pytest.raises(IntegrityError), transaction(key_sessions) as session:
        session.add(
            SigningKeyRecord(
                kid="another",
                agency_code=AGENCY,
                public_jwk=key.public_jwk,
                status="active",
                created_at=utcnow(),
            )
        )


def test_concurrent_first_requests_share_one_key(
    key_settings: Settings, key_sessions: sessionmaker[Session]
) -> None:
    start = threading.Barrier(4)
    kids: list[str] = []

    def first_request() -> None:
        start.wait()
        with transaction(key_sessions) as session:
            kids.append(ensure_key(session, key_settings, AGENCY).kid)

    threads = [threading.Thread(target=first_request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(kids) == 4 and len(set(kids)) == 1
    with transaction(key_sessions) as session:
        assert [k.kid for k in list_keys(session, key_settings)] == kids[:1]


@pytest.mark.parametrize("code", ["../escape", "", ".hidden", "a/b"])
def test_agency_codes_that_could_leave_the_keys_folder_are_refused(
    key_settings: Settings, key_sessions: sessionmaker[Session], code: str
) -> None:
    with pytest.raises(ValueError), transaction(key_sessions) as session:
        ensure_key(session, key_settings, code)


def test_well_known_jwks_is_public(settings: Settings) -> None:
    engine = make_engine(settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as session:
        ensure_key(session, settings, AGENCY)
    with TestClient(create_app(settings)) as client:
        response = client.get("/.well-known/jwks.json")
    with transaction(make_session_factory(engine)) as session:
        expected = published_jwks(session)
    engine.dispose()
    assert response.status_code == 200
    assert response.json() == expected
    # the platform audit key is published from start-up, before it signs anything
    assert {k["agency"] for k in expected["keys"]} == {AGENCY, "platform.audit"}
    assert "max-age" in response.headers["cache-control"]


def test_cli_rotate_list_and_save_jwks(
    key_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(key_settings.data_dir))
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", key_settings.resolved_database_url)
    _catalog_listing(key_settings, AGENCY)
    runner = CliRunner()
    first = runner.invoke(cli, ["keys", "rotate", AGENCY])
    assert first.exit_code == 0, first.output
    second = runner.invoke(cli, ["keys", "rotate", AGENCY])
    assert second.exit_code == 0 and "仍公布" in second.output
    listing = runner.invoke(cli, ["keys", "list"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0
    assert "使用中" in listing.output and "已停用" in listing.output
    saved = tmp_path / "jwks.json"
    assert runner.invoke(cli, ["keys", "jwks", str(saved)]).exit_code == 0
    assert len(json.loads(saved.read_text("utf-8"))["keys"]) == 2
    bad = runner.invoke(cli, ["keys", "rotate", "../x"])
    assert bad.exit_code == 2


def _catalog_listing(settings: Settings, agency: str) -> None:
    from onceonly.catalog import models as catalog

    engine = make_engine(settings.resolved_database_url)
    tables = [catalog.Jurisdiction.__table__, catalog.Agency.__table__]
    Base.metadata.create_all(engine, tables=tables)
    with transaction(make_session_factory(engine)) as session:
        place = {"name_zh": "臺北市", "name_en": "Taipei", "kind": "city", "districts": []}
        session.add(catalog.Jurisdiction(code="taipei-city", position=1, **place))
        session.flush()  # the agency's jurisdiction first (no relationship orders them)
        office = {"kind": "household_office", "name_zh": "中山", "name_en": "Zhongshan"}
        session.add(catalog.Agency(code=agency, position=1, jurisdiction="taipei-city", **office))
    engine.dispose()


def test_a_key_is_rotated_only_for_an_agency_the_catalog_lists(
    key_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mistyped code made a key for nobody and left the real agency's key (perhaps the one
    that leaked) signing; the platform's own keys are not in the catalog and still rotate."""
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(key_settings.data_dir))
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", key_settings.resolved_database_url)
    monkeypatch.setenv("ONCEONLY_LANGUAGE", "en")
    _catalog_listing(key_settings, AGENCY)
    runner = CliRunner()
    typo = runner.invoke(cli, ["keys", "rotate", AGENCY.replace("zhongshan", "zhongshn")])
    said = " ".join(typo.output.split())
    assert typo.exit_code == 2 and "The catalog lists no agency" in said, said
    assert f"(did you mean {AGENCY}?)" in said
    assert runner.invoke(cli, ["keys", "list"]).output.strip() != ""
    engine = make_engine(key_settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as session:
        assert list_keys(session, key_settings) == []
    engine.dispose()
    platform = runner.invoke(cli, ["keys", "rotate", "platform.audit"])
    assert platform.exit_code == 0, platform.output
