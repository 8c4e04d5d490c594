"""Loading the catalog: the packaged set is complete and valid; broken sets are refused with
the file, the path and the reason, and the database is left exactly as it was."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from onceonly.catalog import models as m
from onceonly.catalog.export import catalog_models, dump_yaml
from onceonly.catalog.loader import (
    DATA_DIR,
    CatalogError,
    CatalogInvalid,
    load_catalog,
    validate_catalog,
)
from onceonly.catalog.schema import JurisdictionsFile, JurisdictionSpec

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _yaml(path: Path) -> Any:
    return yaml.load(path.read_text("utf-8"), Loader=_LOADER)


def _write(path: Path, data: Any) -> None:
    path.write_text(yaml.dump(data, Dumper=_DUMPER, allow_unicode=True, sort_keys=False), "utf-8")


def _snapshot(session: Session) -> dict[str, Any]:
    """Everything the catalog tables hold, as the files they would be exported to."""
    return catalog_models(session)


def test_packaged_catalog_is_valid() -> None:
    assert validate_catalog() == []


def test_packaged_catalog_contents(db: Session) -> None:
    jurisdictions = db.scalars(select(m.Jurisdiction)).all()
    current = [j for j in jurisdictions if j.merged_into is None and j.kind != "central"]
    assert len(current) == 22
    kinds = sorted(j.kind for j in current)
    assert kinds.count("special_municipality") == 6
    assert kinds.count("county") == 13
    assert kinds.count("city") == 3
    lineage = {
        j.code: (j.merged_into, j.merged_on.isoformat()) for j in jurisdictions if j.merged_into
    }
    assert lineage["taipei-county"] == ("new-taipei-city", "2010-12-25")
    assert lineage["tainan-county"] == ("tainan-city", "2010-12-25")
    assert lineage["former-tainan-city"] == ("tainan-city", "2010-12-25")
    assert lineage["taoyuan-county"] == ("taoyuan-city", "2014-12-25")
    assert len(lineage) == 8

    items = db.scalars(select(m.ApplicationItem)).all()
    assert len(items) >= 30
    assert len({i.agency_kind for i in items}) >= 8
    evidence = db.scalars(select(m.RequiredEvidence)).all()
    bases = set(db.scalars(select(m.LegalBasis.code)))
    assert evidence and all(e.legal_basis in bases for e in evidence)
    assert {e.item for e in evidence} == {i.code for i in items}


def test_reload_is_idempotent(loaded: sessionmaker[Session]) -> None:
    with loaded() as session:
        before = _snapshot(session)
        summary = load_catalog(session)
    with loaded() as session:
        assert _snapshot(session) == before
        versions = session.scalars(select(m.CatalogVersion).order_by(m.CatalogVersion.id)).all()
    assert [v.sha256 for v in versions] == [summary.sha256, summary.sha256]
    assert summary.counts["items"] >= 30


Mutation = Callable[[Path], None]


def _edit(relative: str, change: Callable[[Any], None]) -> Mutation:
    def mutate(directory: Path) -> None:
        data = _yaml(directory / relative)
        change(data)
        _write(directory / relative, data)

    return mutate


def _evidence(data: Any, item: int, index: int) -> dict[str, Any]:
    evidence: dict[str, Any] = data["application_items"][item]["required_evidence"][index]
    return evidence


def _set_type(data: Any) -> None:
    data["fields"][11]["type"] = "integr"


BROKEN: dict[str, tuple[Mutation, str, str, str]] = {
    "unknown legal basis": (
        _edit(
            "application_items.yaml", lambda d: _evidence(d, 0, 1).update(legal_basis="no-such-law")
        ),
        "application_items.yaml",
        "application_items[0].required_evidence[1].legal_basis",
        "unknown legal basis no-such-law",
    ),
    "unknown field": (
        _edit("application_items.yaml", lambda d: _evidence(d, 0, 0)["fields"].append("salary")),
        "application_items.yaml",
        "application_items[0].required_evidence[0].fields[6]",
        "dataset household_registration has no field salary",
    ),
    "unknown predicate": (
        _edit(
            "application_items.yaml",
            lambda d: _evidence(d, 0, 1)["predicate"].update(code="is_rich"),
        ),
        "application_items.yaml",
        "application_items[0].required_evidence[1].predicate.code",
        "dataset welfare_status has no predicate is_rich",
    ),
    "predicate parameter of the wrong type": (
        _edit(
            "application_items.yaml",
            lambda d: _evidence(d, 0, 2)["predicate"]["params"].update(threshold="many"),
        ),
        "application_items.yaml",
        "application_items[0].required_evidence[2].predicate.params.threshold",
        "bad type: expected integer, got str",
    ),
    "unknown jurisdiction of an agency": (
        _edit("agencies.yaml", lambda d: d["agencies"][8].update(jurisdiction="atlantis")),
        "agencies.yaml",
        "agencies[8].jurisdiction",
        "unknown jurisdiction atlantis",
    ),
    "unknown owner agency": (
        _edit("datasets/income.yaml", lambda d: d["owner"].update(owner_agency="central.nobody")),
        "datasets/income.yaml",
        "owner.owner_agency",
        "unknown agency central.nobody",
    ),
    "duplicate code": (
        _edit(
            "jurisdictions.yaml", lambda d: d["jurisdictions"].append(dict(d["jurisdictions"][1]))
        ),
        "jurisdictions.yaml",
        "jurisdictions[31].code",
        "duplicate code taipei-city (first at jurisdictions[1])",
    ),
    "one body under two codes (the relay list showed it twice)": (
        _edit(
            "agencies.yaml",
            lambda d: d["agencies"].append(
                {
                    **next(a for a in d["agencies"] if a["code"] == "tainan-city.tax_office"),
                    "code": "tainan-city.finance",
                    "kind": "finance",
                }
            ),
        ),
        "agencies.yaml",
        "agencies[",
        'already has an agency named "臺南市政府財政稅務局" (tainan-city.tax_office)',
    ),
    "bad field type": (
        _edit("datasets/household_registration.yaml", _set_type),
        "datasets/household_registration.yaml",
        "fields[11].type",
        "value not allowed",
    ),
    "bad boolean": (
        _edit("datasets/veteran_status.yaml", lambda d: d["fields"][1].update(personal="yes")),
        "datasets/veteran_status.yaml",
        "fields[1].personal",
        "bad type: expected boolean, got str",
    ),
    "bad date": (
        _edit(
            "jurisdictions.yaml", lambda d: d["jurisdictions"][-1].update(merged_on="2014-13-45")
        ),
        "jurisdictions.yaml",
        "jurisdictions[30].merged_on",
        "bad type: expected date",
    ),
    "missing legal basis": (
        _edit("application_items.yaml", lambda d: _evidence(d, 3, 0).pop("legal_basis")),
        "application_items.yaml",
        "application_items[3].required_evidence[0].legal_basis",
        "missing legal basis: evidence without a legal basis is refused",
    ),
    "predicate code used by two datasets": (
        _edit(
            "datasets/welfare_status.yaml",
            lambda d: d["predicates"][0].update(code="household_income_below"),
        ),
        "datasets/welfare_status.yaml",
        "predicates[0].code",
        "duplicate code household_income_below (first at datasets/income.yaml)",
    ),
    "evidence listed twice": (
        _edit(
            "application_items.yaml",
            lambda d: d["application_items"][0]["required_evidence"].append(
                dict(_evidence(d, 0, 0))
            ),
        ),
        "application_items.yaml",
        "application_items[0].required_evidence[4]",
        "lists the evidence household_registration twice",
    ),
    "misspelt key": (
        _edit("legal_bases.yaml", lambda d: d["legal_bases"][0].update(summery_zh="x")),
        "legal_bases.yaml",
        "legal_bases[0].summery_zh",
        "unknown key",
    ),
    "former jurisdiction without successor": (
        _edit("jurisdictions.yaml", lambda d: d["jurisdictions"][-1].update(merged_into=None)),
        "jurisdictions.yaml",
        "jurisdictions[30].merged_into",
        "a former jurisdiction needs merged_into",
    ),
    "malformed YAML": (
        lambda directory: (directory / "legal_bases.yaml").write_text(
            "legal_bases:\n  - code: [unclosed\n", "utf-8"
        ),
        "legal_bases.yaml",
        "line 3",
        "not valid YAML",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_catalog_is_refused(case: str, catalog_copy: Path) -> None:
    mutate, file, path, reason = BROKEN[case]
    mutate(catalog_copy)
    errors = validate_catalog(catalog_copy)
    matching = [e for e in errors if e.file == file and e.path.startswith(path)]
    assert matching, errors
    assert any(reason in e.reason for e in matching), matching
    assert all(e.reason_zh and e.reason_zh != e.reason for e in errors)


def test_a_refused_catalog_changes_nothing_in_the_database(
    tmp_path: Path, loaded: sessionmaker[Session]
) -> None:
    with loaded() as session:
        before = _snapshot(session)
    for case, (mutate, _, _, _) in BROKEN.items():
        directory = tmp_path / case.replace(" ", "-")
        shutil.copytree(DATA_DIR, directory)
        mutate(directory)
        with loaded() as session:
            with pytest.raises(CatalogInvalid) as raised:
                load_catalog(session, directory)
            assert raised.value.errors == validate_catalog(directory), case
        with loaded() as session:
            assert _snapshot(session) == before, case
            assert session.scalar(select(func.count()).select_from(m.CatalogVersion)) == 1


def test_every_error_is_reported_at_once(catalog_copy: Path) -> None:
    for case in ("unknown legal basis", "bad boolean", "unknown jurisdiction of an agency"):
        BROKEN[case][0](catalog_copy)
    files = {e.file for e in validate_catalog(catalog_copy)}
    assert files == {"application_items.yaml", "datasets/veteran_status.yaml", "agencies.yaml"}


def test_missing_legal_basis_reason_in_chinese(catalog_copy: Path) -> None:
    BROKEN["missing legal basis"][0](catalog_copy)
    (error,) = validate_catalog(catalog_copy)
    assert error == CatalogError(
        "application_items.yaml",
        "application_items[3].required_evidence[0].legal_basis",
        "missing legal basis: evidence without a legal basis is refused",
        "缺少法源依據：沒有法源依據的證明資料不得調閱",
    )


def test_a_crash_mid_write_leaves_the_old_catalog(
    catalog_copy: Path, loaded: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    _edit(
        "application_items.yaml", lambda d: d["application_items"][0].update(name_zh="改過的名稱")
    )(catalog_copy)
    with loaded() as session:
        before = _snapshot(session)
        real_flush = session.flush
        calls = []

        def failing_flush(*args: Any, **kwargs: Any) -> None:
            calls.append(1)
            if len(calls) == 4:  # jurisdictions, agencies, datasets are in; fields are not
                raise OSError("disk full")
            real_flush(*args, **kwargs)

        monkeypatch.setattr(session, "flush", failing_flush)
        with pytest.raises(OSError, match="disk full"):
            load_catalog(session, catalog_copy)
    assert len(calls) == 4
    with loaded() as session:
        assert _snapshot(session) == before
        item = session.get(m.ApplicationItem, "public-housing-low-income")
        assert item is not None and item.name_zh == "低收入戶申請等候承租國宅"


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    (error,) = validate_catalog(tmp_path / "nowhere")
    assert "no such directory" in error.reason


def test_a_file_given_for_the_catalog_is_told_so(tmp_path: Path) -> None:
    """Naming one of its files (``catalog validate agencies.yaml``) said "no such directory"."""
    one = tmp_path / "agencies.yaml"
    one.write_text("agencies: []\n", "utf-8")
    (error,) = validate_catalog(one)
    assert "this is a file; a catalog is a folder holding jurisdictions.yaml" in error.reason
    assert "這是一個檔案" in error.reason_zh


def test_default_directory_is_the_packaged_one() -> None:
    assert (DATA_DIR / "jurisdictions.yaml").is_file()
    assert (DATA_DIR / "datasets" / "household_registration.yaml").is_file()


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
).filter(lambda s: s.strip() == s and s.strip())


@given(name_zh=_TEXT, name_en=_TEXT, districts=st.lists(_TEXT, max_size=5, unique=True))
def test_written_yaml_reads_back_the_same(name_zh: str, name_en: str, districts: list[str]) -> None:
    """Whatever a name holds (colons, quotes, 'yes', '#', digits), the canonical writer's
    output parses back to the same value and rewrites to the same bytes."""
    spec = JurisdictionsFile(
        jurisdictions=[
            JurisdictionSpec(
                code="x", name_zh=name_zh, name_en=name_en, kind="county", districts=districts
            )
        ]
    )
    text = dump_yaml(spec)
    again = JurisdictionsFile.model_validate(yaml.safe_load(text))
    assert again == spec
    assert dump_yaml(again) == text
