"""``manifest.json``: which stores a registries directory holds and whom they are about.

The exchange finds an owner's provider through it (:func:`onceonly.providers.registry.
load_providers`); demos and tests find their sample citizens through it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class StoreEntry:
    """One owning agency's store."""

    owner: str
    """Agency code, e.g. ``taipei-city.land_office``."""
    kind: str
    """Store kind (:data:`onceonly.demo.registries.schema.STORE_KINDS`), which picks the adapter."""
    jurisdiction: str | None
    """The local government the agency belongs to; None for a central agency."""
    datasets: tuple[str, ...]
    url: str
    """SQLAlchemy URL relative to the manifest's directory, e.g. ``sqlite:///central.fia.sqlite``."""
    path: str
    schema_version: str
    people: int
    seed: int

    def resolve(self, directory: Path) -> Path:
        return directory / self.path


@dataclass(frozen=True)
class SampleCitizen:
    """A planted person with known circumstances; ``description_key`` is in ``demo.yaml``."""

    key: str
    national_id: str
    name: str
    jurisdiction: str
    district: str
    description_key: str
    jurisdictions: tuple[str, ...]
    """Every jurisdiction whose registers mention the person (residence first)."""


@dataclass(frozen=True)
class RegistryManifest:
    seed: int
    people: int
    reference_date: str
    """The day the data was 'extracted' (ISO); ages and validity count from it."""
    jurisdictions: tuple[str, ...]
    stores: tuple[StoreEntry, ...]
    sample_citizens: dict[str, SampleCitizen] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    def store(self, owner: str) -> StoreEntry | None:
        return next((s for s in self.stores if s.owner == owner), None)

    def sample(self, key: str) -> SampleCitizen:
        return self.sample_citizens[key]

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n"

    def write(self, directory: Path) -> Path:
        path = directory / MANIFEST_NAME
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    @classmethod
    def read(cls, directory: Path) -> RegistryManifest:
        """The manifest of a registries directory (see :func:`load_manifest`)."""
        return load_manifest(directory)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegistryManifest:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"unsupported registries manifest format: {data.get('format')!r}")
        stores = tuple(
            StoreEntry(**{**s, "datasets": tuple(s["datasets"])}) for s in data["stores"]
        )
        samples = {
            key: SampleCitizen(**{**s, "jurisdictions": tuple(s["jurisdictions"])})
            for key, s in data.get("sample_citizens", {}).items()
        }
        return cls(
            seed=data["seed"],
            people=data["people"],
            reference_date=data["reference_date"],
            jurisdictions=tuple(data["jurisdictions"]),
            stores=stores,
            sample_citizens=samples,
        )


def load_manifest(directory: Path) -> RegistryManifest:
    """The manifest of a registries directory; FileNotFoundError names what is missing."""
    path = Path(directory) / MANIFEST_NAME
    return RegistryManifest.from_dict(json.loads(path.read_text(encoding="utf-8")))
