"""Argon2 password hashing: right password accepted, wrong refused, old parameters upgraded."""

from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy.orm import Session

from onceonly.accounts.models import User
from onceonly.accounts.passwords import (
    DEFAULT_HASHER,
    Verification,
    current_hasher,
    hash_password,
    verify_password,
)
from onceonly.accounts.signin import authenticate
from onceonly.accounts.users import create_user


def test_production_parameters_are_argon2id_rfc9106() -> None:
    stored = hash_password("onceonly-demo", DEFAULT_HASHER)
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(stored, "onceonly-demo", DEFAULT_HASHER) == Verification(True)
    assert not verify_password(stored, "onceonly-demO", DEFAULT_HASHER).ok


def test_hash_is_argon2id_and_salted() -> None:
    first, second = hash_password("onceonly-demo"), hash_password("onceonly-demo")
    assert first.startswith("$argon2id$")
    assert first != second
    assert "onceonly-demo" not in first


def test_right_password_accepted_wrong_refused() -> None:
    stored = hash_password("正確的密碼 password")
    assert verify_password(stored, "正確的密碼 password").ok
    assert not verify_password(stored, "正確的密碼 Password").ok
    assert not verify_password(stored, "").ok
    assert not verify_password("not a hash", "anything").ok
    assert not verify_password(None, "anything").ok


def test_current_hash_needs_no_rehash() -> None:
    assert verify_password(hash_password("pw-12345678"), "pw-12345678").new_hash is None


def test_outdated_parameters_are_upgraded_at_sign_in(db: Session) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    user = create_user(
        db,
        "old-hash",
        None,
        "clerk",
        "taipei-city.land_office",
        "舊雜湊",
        password_hash=weak.hash("old-password-1"),
    )
    before = db.get(User, user.id)
    assert before is not None and current_hasher().check_needs_rehash(before.password_hash or "")

    authenticate(db, "old-hash", "old-password-1")

    after = db.get(User, user.id)
    assert after is not None and after.password_hash is not None
    assert not current_hasher().check_needs_rehash(after.password_hash)
    assert verify_password(after.password_hash, "old-password-1").ok
