"""Settings read from the environment (prefix ``ONCEONLY_``), with defaults that run the demo.

Everything lives under one data directory so that a second ``onceonly demo`` finds what the
first one made, and a test can point the whole system at a temporary folder.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONCEONLY_", extra="ignore")

    data_dir: Path = Path("onceonly-data")
    database_url: str | None = None
    """The platform's own database. Defaults to SQLite inside ``data_dir``."""
    secret_key: str | None = None
    """Signs session cookies. Generated once and kept in ``data_dir`` when not given."""
    session_minutes: int = 8 * 60
    api_token_days: int = 90
    provider_timeout_seconds: float = 2.0
    """How long an owner's source may take before the request fails with 503 and a retry hint."""
    transcript_valid_days: int = 30
    language: str = "zh-TW"
    smtp_host: str = "127.0.0.1"
    """Mail relay that delivers citizen updates (plain SMTP, no auth: a local relay)."""
    smtp_port: int = 8025
    smtp_from: str = "noreply@onceonly.example"
    audit_origin: str | None = None
    """The audit log's checkpoint origin (``onceonly.audit.checkpoint``); drawn once and kept
    in the data directory when not given."""
    audit_publish_seconds: float = 30.0
    """How often the web app signs a checkpoint of a grown log and pushes it to its witnesses
    (``onceonly audit witness add``; none: nothing is signed or sent); 0: only when
    ``onceonly audit publish`` is run."""
    max_body_bytes: int = 1024 * 1024
    """Largest request body accepted (413 beyond it); the scan upload allows its own limit."""

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'onceonly.sqlite').resolve()}"

    @property
    def registries_dir(self) -> Path:
        """Each owning agency's source data lives in its own store below this folder."""
        return self.data_dir / "registries"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.registries_dir, self.keys_dir):
            path.mkdir(parents=True, exist_ok=True)
