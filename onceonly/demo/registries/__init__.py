"""Synthetic registries of the demo jurisdictions, each owning agency in its own store.

``generate_registries(target_dir)`` writes one SQLite file per owning agency (the Ministry of
the Interior's household register, the Fiscal Information Agency's income data, the
Veterans Affairs Council, and each jurisdiction's land office, tax office, social welfare
department, economic development department and household office), each in that agency's
own legacy schema, and ``manifest.json`` listing them with the planted sample citizens.
The providers, run from the connector files written beside them
(:mod:`onceonly.demo.connectors`), are the only readers of these stores.
"""

from onceonly.demo.registries.gazetteer import DEMO_JURISDICTIONS
from onceonly.demo.registries.generate import generate_registries
from onceonly.demo.registries.manifest import (
    RegistryManifest,
    SampleCitizen,
    StoreEntry,
    load_manifest,
)
from onceonly.demo.registries.population import REFERENCE_DATE

__all__ = [
    "DEMO_JURISDICTIONS",
    "REFERENCE_DATE",
    "RegistryManifest",
    "SampleCitizen",
    "StoreEntry",
    "generate_registries",
    "load_manifest",
]
