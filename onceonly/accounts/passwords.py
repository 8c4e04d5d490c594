"""Password hashing with Argon2id (argon2-cffi), upgrading old hashes as people sign in."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

DEFAULT_HASHER = PasswordHasher()
"""The production parameters (argon2-cffi's default, RFC 9106 low-memory profile: Argon2id,
t=3, 64 MiB, p=4). Changing them upgrades every hash at its owner's next sign-in."""

_current = DEFAULT_HASHER


def current_hasher() -> PasswordHasher:
    return _current


def set_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Use other Argon2 parameters from now on and return the previous hasher. Test suites use
    cheap parameters so that hundreds of sign-ins take seconds, not minutes."""
    global _current
    previous, _current = _current, hasher
    return previous


@lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("onceonly: no such user")


@dataclass(frozen=True)
class Verification:
    ok: bool
    new_hash: str | None = None
    """A fresh hash to store when the stored one was made with outdated parameters."""


def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    return (hasher or _current).hash(password)


def verify_password(
    stored_hash: str | None, password: str, hasher: PasswordHasher | None = None
) -> Verification:
    """Check ``password``; a missing hash still costs one verification, so timing does not
    tell whether an account exists."""
    hasher = hasher or _current
    if stored_hash is None:
        with suppress(VerificationError):
            hasher.verify(_dummy_hash(hasher), password)
        return Verification(False)
    try:
        hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Verification(False)
    if hasher.check_needs_rehash(stored_hash):
        return Verification(True, hasher.hash(password))
    return Verification(True)
