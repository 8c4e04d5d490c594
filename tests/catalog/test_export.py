"""The repository's YAML files are the exporter's canonical output: load, export, same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from onceonly.catalog.export import export_catalog
from onceonly.catalog.loader import DATA_DIR, catalog_files, load_catalog, validate_catalog

FILES = [p.relative_to(DATA_DIR).as_posix() for p in catalog_files(DATA_DIR)]


@pytest.fixture(scope="module")
def exported(
    shared_sessions: sessionmaker[Session], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    target = tmp_path_factory.mktemp("exported")
    with shared_sessions() as session:
        export_catalog(session, target)
    return target


@pytest.mark.parametrize("relative", FILES)
def test_export_reproduces_the_repository_file(exported: Path, relative: str) -> None:
    assert (exported / relative).read_bytes() == (DATA_DIR / relative).read_bytes()


def test_export_writes_nothing_else(exported: Path) -> None:
    written = sorted(p.relative_to(exported).as_posix() for p in exported.rglob("*.yaml"))
    assert written == sorted(FILES)


def test_an_edit_survives_export_and_reload(db: Session, tmp_path: Path) -> None:
    """A hand edit in a non-canonical style is loaded, exported canonically, and that output
    loads again to the same content."""
    source = tmp_path / "edited"
    export_catalog(db, source)
    items = source / "application_items.yaml"
    text = items.read_text("utf-8")
    items.write_text(text.replace("name_zh: 改名", "name_zh:    '改名（含更改姓氏）'", 1), "utf-8")
    assert validate_catalog(source) == []
    load_catalog(db, source)
    again = tmp_path / "again"
    export_catalog(db, again)
    assert "name_zh: 改名（含更改姓氏）\n" in (again / "application_items.yaml").read_text("utf-8")
    load_catalog(db, again)
    third = tmp_path / "third"
    export_catalog(db, third)
    assert (third / "application_items.yaml").read_bytes() == (
        again / "application_items.yaml"
    ).read_bytes()
