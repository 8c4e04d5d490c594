"""Witnessing across the federation: every node's audit checkpoints are cosigned by the
directory and by the other nodes (C2SP tlog-witness), so a node that rewrites its history is
caught by whoever holds an earlier checkpoint.

Each node's log is named ``onceonly.federation/<node id>/audit``; its web app serves the
witness endpoints (``/witness/add-checkpoint``) and pushes its own checkpoints to its witnesses
every ``audit_publish_seconds``. The directory, which has no audit log of its own, serves only
the witness endpoints, from a small database of its own below its home
(:func:`mount_directory_witness`). :func:`configure_witnesses` introduces everyone to
everyone when a federation is built.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from onceonly.audit import models as _audit_models  # noqa: F401 - registers the tables
from onceonly.audit.checkpoint import log_vkey, set_log_identity
from onceonly.audit.publish import add_witness
from onceonly.audit.witness import trust_log, witness_vkey
from onceonly.config import Settings
from onceonly.db import Base, make_engine, make_session_factory, transaction
from onceonly.exchange import keys as _keys  # noqa: F401 - registers signing_keys

WITNESS_HOME = "witness"
ORIGIN_PREFIX = "onceonly.federation"


def node_origin(node_id: str) -> str:
    return f"{ORIGIN_PREFIX}/{node_id}/audit"


def directory_witness_settings(directory_home: Path) -> Settings:
    """The directory's witness: its key store and database below ``<home>/witness``, made
    (tables, name) on first use."""
    home = Path(directory_home) / WITNESS_HOME
    url = f"sqlite:///{(home / 'witness.sqlite').resolve()}"
    settings = Settings(data_dir=home, database_url=url)
    settings.ensure_dirs()
    engine = make_engine(url)
    try:
        names = ("witness_logs", "signing_keys", "audit_entries", "audit_head", "audit_tree_nodes")
        tables = [Base.metadata.tables[name] for name in names]
        Base.metadata.create_all(engine, tables=tables)  # its audit log keeps refusals
    finally:
        engine.dispose()
    if not (home / "audit-log.json").exists():
        set_log_identity(settings, f"{ORIGIN_PREFIX}/directory/audit")
    return settings


def mount_directory_witness(app: FastAPI, directory_home: Path) -> None:
    """Serve the witness endpoints on the directory's app."""
    from onceonly.audit.tlog_routes import witness_router

    settings = directory_witness_settings(directory_home)
    engine = make_engine(settings.resolved_database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = make_session_factory(engine)
    app.include_router(witness_router)


def configure_witnesses(
    directory_home: Path, directory_url: str, nodes: list[tuple[str, Settings, str]]
) -> None:
    """Name each node's log, and make the directory and every other node a witness of it.

    ``nodes``: (node id, its settings, the base URL of its web app).
    """
    directory = directory_witness_settings(directory_home)
    logs: dict[str, str] = {}
    cosigners: dict[str, str] = {}
    for node_id, settings, _url in nodes:
        set_log_identity(settings, node_origin(node_id))
        engine = make_engine(settings.resolved_database_url)
        try:
            with transaction(make_session_factory(engine)) as session:
                logs[node_id] = log_vkey(session, settings)
                cosigners[node_id] = witness_vkey(session, settings)
        finally:
            engine.dispose()
    engine = make_engine(directory.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as session:
            directory_key = witness_vkey(session, directory)
            for vkey in logs.values():
                trust_log(session, vkey)
    finally:
        engine.dispose()
    for node_id, settings, _url in nodes:
        engine = make_engine(settings.resolved_database_url)
        try:
            with transaction(make_session_factory(engine)) as session:
                add_witness(session, directory_key, directory_url.rstrip("/") + "/witness")
                for other, _settings, other_url in nodes:
                    if other == node_id:
                        continue
                    trust_log(session, logs[other])
                    add_witness(session, cosigners[other], other_url.rstrip("/") + "/witness")
        finally:
            engine.dispose()
