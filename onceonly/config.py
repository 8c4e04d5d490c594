"""Settings read from the environment (prefix ``ONCEONLY_``) and from a deployment's settings
file, with defaults that run the demo.

Everything lives under one data directory so that a second ``onceonly demo`` finds what the
first one made, and a test can point the whole system at a temporary folder. ``onceonly init``
writes the settings file (TOML, :data:`SETTINGS_FILE` in the data directory); the variable
``ONCEONLY_CONFIG`` names it for every command and worker process. The environment wins over
the file, so a secret such as the database password can come from a service manager's
credentials instead of the file.
"""

from __future__ import annotations

import errno
import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SETTINGS_FILE = "onceonly.toml"
"""The settings file ``onceonly init`` writes into a deployment's data directory."""
CONFIG_ENV = "ONCEONLY_CONFIG"
"""Names the settings file; unset, only the environment and the defaults count."""
TEMPORARY_PASSWORD_DAYS = 3
"""The default of :attr:`Settings.temporary_password_days`."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONCEONLY_", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the settings file ``ONCEONLY_CONFIG`` names."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config = os.environ.get(CONFIG_ENV)
        if config:
            path = Path(config)
            if not path.is_file():
                missing = f"{CONFIG_ENV} names no settings file"
                raise FileNotFoundError(errno.ENOENT, missing, config)
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    data_dir: Path = Path("onceonly-data")
    database_url: str | None = None
    """The platform's own database. Defaults to SQLite inside ``data_dir``."""
    secret_key: str | None = None
    """Signs session cookies. Generated once and kept in ``data_dir`` when not given."""
    session_minutes: int = 8 * 60
    api_token_days: int = 90
    temporary_password_days: int = Field(default=TEMPORARY_PASSWORD_DAYS, ge=1)
    """How many days a password someone else set (an administrator on ``/admin/users``, the
    operator's ``onceonly users create`` or ``set-password``) signs in, counted from when it
    was set: one handed over on paper and never used must not stay a way in for ever. After
    that its holder is refused with the reason and asks for a new one; a session signed in
    with it ends. At least 1 (0 would refuse every temporary password before it is used)."""
    provider_timeout_seconds: float = 2.0
    """How long an owner's source may take before the request fails with 503 and a retry hint."""
    transcript_valid_days: int = 30
    language: str = "zh-TW"
    smtp_host: str = "127.0.0.1"
    """Mail relay that delivers citizen updates (plain SMTP, no auth: a local relay)."""
    smtp_port: int = 8025
    smtp_from: str = "noreply@onceonly.example"
    mail_sink_dir: Path | None = None
    """A Maildir that the SMTP server at ``smtp_host``:``smtp_port`` stores every message in
    instead of delivering it (``onceonly demo``'s mail sink, or a test deployment's); set,
    administrators read the mail of their tenant at ``/admin/mail``. Never set where real
    citizens' mail is delivered."""
    audit_origin: str | None = None
    """The audit log's checkpoint origin (``onceonly.audit.checkpoint``); drawn once and kept
    in the data directory when not given."""
    node_name: str | None = None
    """This node's name for people (the settings file's node identity; the audit origin and,
    on a federation node, ``federation/node.json`` identify it to machines)."""
    connectors_dir: Path | None = None
    """Where the owners' connectors live; defaults to ``data_dir/registries``."""
    signing_keys_dir: Path | None = None
    """Where the owners' and the audit log's private keys live; defaults to ``data_dir/keys``."""
    sms_mode: Literal["outbox"] = "outbox"
    """How text messages to citizens leave: only the outbox administrators read
    (``/admin/sms``) is built; a carrier gateway plugs in at ``app.state.sms``."""
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]
    """Peers whose ``X-Request-ID`` is taken as the request id (the reverse proxy); from any
    other peer the header is ignored and an id is generated."""
    metrics_token: str | None = None
    """Bearer token that may read ``/metrics``; unset, only loopback peers without a
    forwarding proxy's headers may (see docs/deploy.md)."""
    log_format: Literal["json", "text"] = "json"
    """``onceonly serve``'s log lines: one JSON object per line, or plain text."""
    audit_publish_seconds: float = 30.0
    """How often the web app signs a checkpoint of a grown log and pushes it to its witnesses
    (``onceonly audit witness add``; none: nothing is signed or sent); 0: only when
    ``onceonly audit publish`` is run."""
    ready_timeout_seconds: float = 2.0
    """How long ``/readyz`` waits for any one check; a load balancer's probe is short, a
    loaded test machine's first answer is not."""
    max_body_bytes: int = 1024 * 1024
    """Largest request body accepted (413 beyond it); the scan upload allows its own limit."""
    max_backup_bytes: int = 256 * 1024 * 1024
    """Largest backup a partner node may send this node's federation listener (413 beyond
    it): the listener writes it to disk as it arrives, and refuses a sender it keeps no
    backups for before reading any of it."""
    stats_settle_days: int = 7
    """The public statistics (``/stats/public``, its API, ``onceonly stats export``) stop at
    the last whole week (Monday to Sunday, Taipei time) that ended at least this many days
    ago: a week still running, or just ended while its cases' evidence is still arriving,
    would change between two readings minutes apart and show what one citizen just did.
    It also sets each week's cut-off: a published week counts only what happened before its
    end plus this many days, so changing it moves the figures of weeks already published.
    Below 0 counts as 0 (a week is never published before it ends)."""

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'onceonly.sqlite').resolve()}"

    @property
    def registries_dir(self) -> Path:
        """Each owning agency's source data lives in its own store below this folder."""
        return self.connectors_dir or self.data_dir / "registries"

    @property
    def keys_dir(self) -> Path:
        return self.signing_keys_dir or self.data_dir / "keys"

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.registries_dir, self.keys_dir):
            path.mkdir(parents=True, exist_ok=True)


def settings_for(data_dir: Path | None) -> Settings:
    """The settings a command runs with: ``--data-dir`` when given, else the environment's and
    the settings file's. A command's own default directory would override the file's
    ``data_dir``, so it would act on a ``./onceonly-data`` beside the real deployment."""
    return Settings(data_dir=data_dir) if data_dir is not None else Settings()
