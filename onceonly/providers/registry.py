"""Finding an owner's provider: the directory of connectors a node serves.

The exchange asks ``directory.for_owner("taipei-city.land_office")`` and talks to whatever
adapter comes back; which store, schema or technology sits behind it is the owner's
business, written down in the owner's connector file (:mod:`onceonly.connectors`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from onceonly.connectors import (
    ConnectorInvalid,
    ConnectorProvider,
    connector_files,
    provider_for,
    read_connector,
)
from onceonly.providers.base import Provider


class ProviderDirectory:
    """Providers by owning agency, built from connector files."""

    def __init__(self, providers: dict[str, ConnectorProvider]) -> None:
        self._providers = providers

    def for_owner(self, agency_code: str) -> Provider | None:
        return self._providers.get(agency_code)

    def owners_of(self, dataset: str) -> list[str]:
        """Agency codes of every provider serving ``dataset``, sorted."""
        return sorted(o for o, p in self._providers.items() if dataset in p.datasets())

    def owners(self) -> list[str]:
        return sorted(self._providers)

    def __iter__(self) -> Iterator[Provider]:
        return iter(self._providers[o] for o in sorted(self._providers))

    def __len__(self) -> int:
        return len(self._providers)

    def close(self) -> None:
        """Release every source's connections; the directory can still be used afterwards."""
        for provider in self._providers.values():
            provider.close()

    def __enter__(self) -> ProviderDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def providers_from(files: Sequence[Path], *, timeout: float | None = None) -> ProviderDirectory:
    """A directory of the providers of ``files`` (connector files); every error of every
    file is raised at once as :class:`ConnectorInvalid`, and two files for one owner are
    an error too."""
    providers: dict[str, ConnectorProvider] = {}
    errors = []
    for path in files:
        connector, found = read_connector(path)
        errors.extend(found)
        if connector is None:
            continue
        if connector.owner in providers:
            from onceonly.catalog.loader import _error

            errors.append(_error(str(path), "owner", "connectors.error.duplicate_owner",
                                 owner=connector.owner))  # fmt: skip
            continue
        providers[connector.owner] = provider_for(connector, timeout=timeout)
    if errors:
        raise ConnectorInvalid(errors)
    return ProviderDirectory(providers)


def load_providers(directory: Path, *, timeout: float | None = 2.0) -> ProviderDirectory:
    """A directory of providers over every connector file (``*.connector.yaml``) in
    ``directory``.

    Sources are opened lazily, on first use, so a missing store makes only its own owner
    unavailable. ``timeout``: seconds a provider waits for a source (None: each file's own).
    """
    return providers_from(connector_files(Path(directory)), timeout=timeout)
