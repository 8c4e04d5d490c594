"""A household register in its own legacy schema on a real PostgreSQL server, answered
through a connector file exactly as the SQLite store is (skipped without a server:
``./run-tests`` starts one and sets ``ONCEONLY_TEST_PG_URL``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from onceonly.cli import app
from onceonly.connectors import load_connector, provider_for
from onceonly.connectors.engine import ConnectorProvider
from onceonly.demo.registries import RegistryManifest
from onceonly.demo.registries.schema import metadata_for
from onceonly.providers.base import ProviderUnavailable
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="no PostgreSQL configured")

HR = "household_registration"
FIELDS = [
    "national_id", "name", "sex", "birth_date", "household_id", "relationship_to_head",
    "address", "jurisdiction", "district", "village", "neighbourhood", "moved_in_on",
    "marital_status", "spouse_national_id", "indigenous_status", "is_alive", "death_date",
    "household_office", "former_jurisdiction",
]  # fmt: skip


@pytest.fixture(scope="module")
def ris_schema(shared_registries: tuple[Path, RegistryManifest]) -> Iterator[str]:
    """The household register's legacy tables and rows, copied into a schema of their own;
    ``public`` gets a decoy ``persons`` table the connector must not read."""
    assert PG_URL
    schema = f"ris_{uuid.uuid4().hex[:10]}"
    source = create_engine(f"sqlite:///{shared_registries[0] / 'central.moi_household.sqlite'}")
    target = create_engine(PG_URL)
    metadata = metadata_for("household_registry")
    with target.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        mapped = connection.execution_options(schema_translate_map={None: schema})
        metadata.create_all(mapped)
        with source.connect() as reader:
            for table in metadata.sorted_tables:
                rows = [dict(r._mapping) for r in reader.execute(table.select())]
                if rows:
                    mapped.execute(insert(table), rows)
    try:
        yield schema
    finally:
        with target.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        source.dispose()
        target.dispose()


def _pg_connector(
    tmp_path: Path, shared_registries: tuple[Path, RegistryManifest], schema: str, **source: object
) -> Path:
    assert PG_URL
    data = yaml.safe_load(
        (shared_registries[0] / "central.moi_household.connector.yaml").read_text("utf-8")
    )
    url = make_url(PG_URL).set(query={})
    data["source"].update(
        {"url": url.render_as_string(hide_password=False), "schema": schema, **source}
    )
    path = tmp_path / "moi.connector.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return path


@pytest.fixture
def both(
    tmp_path: Path, shared_registries: tuple[Path, RegistryManifest], ris_schema: str
) -> Iterator[tuple[ConnectorProvider, ConnectorProvider]]:
    pg = provider_for(load_connector(_pg_connector(tmp_path, shared_registries, ris_schema)))
    lite = provider_for(
        load_connector(shared_registries[0] / "central.moi_household.connector.yaml")
    )
    try:
        yield pg, lite
    finally:
        pg.close()
        lite.close()


def test_postgres_answers_like_the_sqlite_store(
    both: tuple[ConnectorProvider, ConnectorProvider],
    shared_registries: tuple[Path, RegistryManifest],
) -> None:
    pg, lite = both
    manifest = shared_registries[1]
    for citizen in manifest.sample_citizens.values():
        nid = citizen.national_id
        a, b = pg.fetch(HR, nid, FIELDS), lite.fetch(HR, nid, FIELDS)
        assert a is not None and b is not None
        assert a.fields == b.fields and a.source_updated_at == b.source_updated_at
        for jurisdiction in ("taipei-city", "tainan-city"):
            params = {"jurisdiction": jurisdiction}
            assert pg.evaluate(HR, "is_registered_resident_of", nid, params) == lite.evaluate(
                HR, "is_registered_resident_of", nid, params
            )
    assert pg.fetch(HR, "A123456789", ["name"]) is None
    assert pg.fetch(HR, "x' OR '1'='1", ["name"]) is None


def test_the_connector_reads_only_its_schema_and_never_writes(
    both: tuple[ConnectorProvider, ConnectorProvider],
) -> None:
    assert PG_URL
    decoy = create_engine(PG_URL)
    with decoy.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS public.meta (key TEXT, value TEXT)"))
        connection.execute(text("DELETE FROM public.meta"))
        connection.execute(text("INSERT INTO public.meta VALUES ('extract_ymd', '0010101')"))
    try:
        pg, lite = both
        assert pg._as_of() == lite._as_of() != "1912-01-01"
        with pytest.raises(ProviderUnavailable) as raised:
            pg._run("DELETE FROM persons", {})  # type: ignore[attr-defined]
        assert "read-only" in raised.value.reason_in("en")
        assert pg.fetch(HR, pg.sample(HR, 1)[0], ["name"]) is not None
    finally:
        with decoy.begin() as connection:
            connection.execute(text("DROP TABLE public.meta"))
        decoy.dispose()


def test_an_unreachable_server_is_unavailable(
    tmp_path: Path, shared_registries: tuple[Path, RegistryManifest], ris_schema: str
) -> None:
    path = _pg_connector(tmp_path, shared_registries, ris_schema, timeout=1)
    data = yaml.safe_load(path.read_text("utf-8"))
    data["source"]["url"] = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    provider = provider_for(load_connector(path))
    with pytest.raises(ProviderUnavailable):
        provider.fetch(HR, "A123456789", ["name"])
    provider.close()


def test_check_runs_against_postgres(
    tmp_path: Path, shared_registries: tuple[Path, RegistryManifest], ris_schema: str
) -> None:
    path = _pg_connector(tmp_path, shared_registries, ris_schema)
    result = CliRunner().invoke(
        app, ["connector", "check", str(path), "--limit", "40", "--on", "2026-06-30"]
    )
    assert result.exit_code == 0, result.output
