"""Declarative provider connectors: a YAML file per owner's source says how it answers
datasets of the common standard (see ``docs/connectors.md``).

:func:`provider_for` turns a checked :class:`~onceonly.connectors.loader.Connector` into a
:class:`~onceonly.providers.base.Provider`, whatever the source (a SQL database through
SQLAlchemy, or an HTTP JSON API); a node, and later an owner's gateway, load the same files.
"""

from __future__ import annotations

from onceonly.connectors.engine import ConnectorProvider
from onceonly.connectors.loader import (
    SUFFIX,
    Connector,
    ConnectorInvalid,
    connector_files,
    load_connector,
    read_connector,
)


def provider_for(connector: Connector, *, timeout: float | None = None) -> ConnectorProvider:
    """The provider that runs ``connector``; ``timeout`` overrides the file's (seconds)."""
    if connector.spec.is_sql():
        from onceonly.connectors.sql import SqlConnectorProvider

        return SqlConnectorProvider(connector, timeout=timeout)
    from onceonly.connectors.http import HttpConnectorProvider

    return HttpConnectorProvider(connector, timeout=timeout)


__all__ = [
    "SUFFIX",
    "Connector",
    "ConnectorInvalid",
    "ConnectorProvider",
    "connector_files",
    "load_connector",
    "provider_for",
    "read_connector",
]
