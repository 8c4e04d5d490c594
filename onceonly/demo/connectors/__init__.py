"""The demo agencies' connector files, written next to their stores when the demo builds.

Each store kind has a template here (``<kind>.connector.yaml``) describing its legacy schema
in the connector format (:mod:`onceonly.connectors`); the generator fills in the owner, the
jurisdiction and the store's file, so the node finds every demo owner the way it would find
a real one: by its connector file. The templates double as examples for real agencies.
"""

from __future__ import annotations

from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from onceonly.connectors import SUFFIX

if TYPE_CHECKING:
    from onceonly.demo.registries.manifest import RegistryManifest

TEMPLATES = Path(__file__).parent

_CHILD_TITLES = "\n".join(f"    {order}{sex}: child" for order in "長次三四五" for sex in "男女")


def connector_text(
    kind: str, owner: str, jurisdiction: str | None, store: str, system: str, cadastral_map: bool
) -> str:
    """The connector file of one demo store."""
    from onceonly.demo.registries.gazetteer import JURISDICTIONS

    county = "\n".join(f'    "{j.county_code}": {j.code}' for j in JURISDICTIONS)
    cadastral = ""
    if kind == "land_office" and cadastral_map:
        piece = Template((TEMPLATES / "land_office.cadastral.yaml").read_text("utf-8"))
        cadastral = piece.substitute(jurisdiction=jurisdiction).rstrip("\n")
    template = Template((TEMPLATES / f"{kind}{SUFFIX}").read_text("utf-8"))
    return template.substitute(
        owner=owner,
        jurisdiction=jurisdiction or "null",
        store=store,
        system=f'"{system}"',
        county_codes=county,
        child_titles=_CHILD_TITLES,
        cadastral_map=cadastral,
    )


def write_connector(
    directory: Path,
    kind: str,
    owner: str,
    jurisdiction: str | None,
    store: str,
    system: str,
    cadastral_map: bool = True,
) -> Path:
    """Write ``owner``'s connector file into ``directory`` (beside its store)."""
    path = directory / f"{owner}{SUFFIX}"
    text = connector_text(kind, owner, jurisdiction, store, system, cadastral_map)
    path.write_text(text, encoding="utf-8")
    return path


def ensure_connectors(directory: Path, manifest: RegistryManifest) -> list[Path]:
    """Write the connector file of every store of ``manifest`` that has none (a registries
    directory made before stores were described by connectors); returns those written."""
    written = []
    for store in manifest.stores:
        if not (directory / f"{store.owner}{SUFFIX}").exists():
            written.append(
                write_connector(
                    directory,
                    store.kind,
                    store.owner,
                    store.jurisdiction,
                    store.path,
                    store.schema_version,
                    cadastral_map="cadastral_map" in store.datasets,
                )
            )
    return written
