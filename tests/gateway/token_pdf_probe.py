"""Run as a script (its own process, its own ``SOFTHSM2_CONF``): a PDF transcript sealed in
the token. The owner's Ed25519 key and its P-256 seal key are both in the token; the key is
registered with its seal as the gateway does, a transcript is signed and its PDF made, and
the PDF is written to the path given. No key file is ever written."""

from __future__ import annotations

import sys
from pathlib import Path

import onceonly.models  # noqa: F401 - every table
from onceonly.config import Settings
from onceonly.db import Base, make_engine, make_session_factory, transaction
from onceonly.exchange import keys, pdf
from onceonly.exchange.transcript import inspect_transcript, sign_transcript
from onceonly.gateway.token import TokenKey
from tests.exchange.test_transcript import OWNER, household_claims


def main(module: str, token_label: str, key_label: str, pin: str, out: str) -> None:
    folder = Path(out).parent
    settings = Settings(data_dir=folder / "data", database_url=f"sqlite:///{folder}/p.sqlite")
    settings.ensure_dirs()
    engine = make_engine(settings.resolved_database_url)
    Base.metadata.create_all(engine)
    token = TokenKey.open(Path(module), token_label, key_label, pin)
    try:
        with transaction(make_session_factory(engine)) as db:
            kid = keys.install_public_key(db, OWNER, token.public_jwk)
            keys.register_signer(kid, token.sign, token.seal)
            key = keys.active_key(db, settings, OWNER)
            assert key is not None
            jws = sign_transcript(key, household_claims(issued_at=None))
            verified = inspect_transcript(jws, keys.published_jwks(db))
            Path(out).write_bytes(pdf.transcript_pdf(db, settings, verified, "https://x.test"))
    finally:
        token.close()
        engine.dispose()


if __name__ == "__main__":
    main(*sys.argv[1:6])
