"""Finding an owner's provider: the directory of stores a registries manifest describes.

The exchange asks ``directory.for_owner("taipei-city.land_office")`` and talks to whatever
adapter comes back; which store, schema or technology sits behind it is the owner's business.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from onceonly.demo.registries.manifest import RegistryManifest, load_manifest
from onceonly.providers.base import Provider
from onceonly.providers.sql import PROVIDER_KINDS, SqlProvider


class ProviderDirectory:
    """Providers by owning agency, built from one registries directory."""

    def __init__(self, manifest: RegistryManifest, providers: dict[str, SqlProvider]) -> None:
        self.manifest = manifest
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
        """Release every store's connections; the directory can still be used afterwards."""
        for provider in self._providers.values():
            provider.close()

    def __enter__(self) -> ProviderDirectory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_providers(registries_dir: Path, *, timeout: float = 2.0) -> ProviderDirectory:
    """A directory of providers over the stores listed in ``registries_dir/manifest.json``.

    Stores are opened lazily, on first use, so a missing store makes only its own owner
    unavailable. ``timeout``: seconds a provider waits for a locked store.
    """
    registries_dir = Path(registries_dir)
    manifest = load_manifest(registries_dir)
    providers: dict[str, SqlProvider] = {}
    for store in manifest.stores:
        kind = PROVIDER_KINDS.get(store.kind)
        if kind is None:
            raise ValueError(f"{store.owner}: no adapter for store kind {store.kind!r}")
        providers[store.owner] = kind(
            owner=store.owner,
            path=store.resolve(registries_dir),
            served=frozenset(store.datasets),
            jurisdiction=store.jurisdiction,
            timeout=timeout,
        )
    return ProviderDirectory(manifest, providers)
