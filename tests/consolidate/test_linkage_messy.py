"""Linkage on registers messier than the demo: twins with two valid IDs stay apart, a
transposed ID is still compared, held-back rows are linked on what they have."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from random import Random

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from onceonly.consolidate.linkage import prepare, score_pairs
from onceonly.consolidate.plan import LinkageSpec
from onceonly.domain.names import given_name, surname
from onceonly.domain.national_id import make_national_id
from onceonly.domain.variants import fold_for_matching

GIVEN_SWAP = {"明": "銘", "華": "樺", "玲": "鈴", "志": "智", "偉": "瑋", "婷": "庭"}


def _transpose(value: str, i: int) -> str:
    return value[:i] + value[i + 1] + value[i] + value[i + 2 :]


def _people(count: int = 300, seed: int = 7) -> list[dict[str, object]]:
    rng = Random(seed)
    people = []
    for key in range(count):
        sex = "M" if rng.random() < 0.5 else "F"
        birth = date(1940, 1, 1) + timedelta(days=int(rng.random() * 25_000))
        people.append(
            {
                "national_id": make_national_id("R", 1 if sex == "M" else 2, key * 7919 + 11),
                "name": surname(rng.random) + given_name(rng.random, sex, birth.year),
                "birth_date": birth,
                "sex": sex,
                "address": f"臺南市永康區中正路{key + 1}號",
                "district": "永康區",
            }
        )
    return people


def _frame(rows: list[tuple[str, str, dict[str, object]]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"_source": s, "_record_id": r, **values} for s, r, values in rows],
        schema={
            "_source": pl.String,
            "_record_id": pl.String,
            "national_id": pl.String,
            "name": pl.String,
            "birth_date": pl.Date,
            "sex": pl.String,
            "address": pl.String,
            "district": pl.String,
        },
    )


def _scored(frame: pl.DataFrame) -> dict[tuple[str, str], float]:
    pairs = score_pairs(prepare(frame, "person"), LinkageSpec(max_pairs_u=2e4))
    return {(a, b): p for a, b, p in pairs.select(*pairs.columns[:3]).iter_rows()}


@cache
def _twins_and_typos() -> tuple[
    dict[tuple[str, str], float], list[tuple[str, str]], list[tuple[str, str]]
]:
    people = _people()
    rows: list[tuple[str, str, dict[str, object]]] = []
    twins = []
    typos = []
    for i, p in enumerate(people):
        rows.append(("county", f"county:{i:04d}", p))
        if i % 3 == 0:  # the same person in the city
            copy = dict(p)
            if i % 2 == 0:  # the ID transposed at the blocking halves' seam, no birth date
                # and a typo in the given name: only the ID's characters can bring it in
                copy["national_id"] = _transpose(str(p["national_id"]), 4)
                copy["birth_date"] = None
                name = str(p["name"])
                copy["name"] = name[:-1] + GIVEN_SWAP.get(name[-1], "瑜")
                typos.append((f"city:{i:04d}", f"county:{i:04d}"))
            rows.append(("city", f"city:{i:04d}", copy))
        if i % 10 == 1:  # a twin: same surname, birthday, address; one given-name character
            name = str(p["name"])
            last = GIVEN_SWAP.get(name[-1], "瑜" if name[-1] != "瑜" else "琪")
            twin = {
                **p,
                "national_id": make_national_id("R", 1 if p["sex"] == "M" else 2, 9_000_000 + i),
                "name": name[:-1] + last,
            }
            rows.append(("county", f"county:t{i:04d}", twin))
            twins.append((f"county:{i:04d}", f"county:t{i:04d}"))
    return _scored(_frame(rows)), twins, typos


def test_twins_with_two_valid_ids_are_not_linked() -> None:
    scored, twins, _ = _twins_and_typos()
    assert twins
    for pair in twins:
        assert scored.get(pair, 0.0) < LinkageSpec().threshold, pair


def test_an_id_transposed_across_both_blocking_halves_is_still_linked() -> None:
    scored, _, typos = _twins_and_typos()
    assert typos
    for pair in typos:
        assert scored.get(pair, 0.0) >= LinkageSpec().threshold, pair


def test_variant_surnames_are_compared_and_linked() -> None:
    people = _people(200, seed=11)
    rows: list[tuple[str, str, dict[str, object]]] = []
    pairs = []
    for i, p in enumerate(people):
        name = str(p["name"])
        if i % 5 == 0:
            p = {**p, "name": "涂" + name[1:]}
        rows.append(("county", f"county:{i:04d}", p))
        if i % 5 == 0:  # the city wrote 凃 and lost the birth date; one ID typo
            copy = {
                **p,
                "name": "凃" + name[1:],
                "birth_date": None,
                "national_id": _transpose(str(p["national_id"]), 4),
            }
            rows.append(("city", f"city:{i:04d}", copy))
            pairs.append((f"city:{i:04d}", f"county:{i:04d}"))
        elif i % 5 == 1:  # plain duplicates, for the model to learn from
            rows.append(("city", f"city:{i:04d}", p))
    scored = _scored(_frame(rows))
    for pair in pairs:
        assert scored.get(pair, 0.0) >= LinkageSpec().threshold, pair


@given(st.text(alphabet="凃涂黄黃台臺峯峰王小明", max_size=6))
def test_folding_for_matching_is_idempotent_and_joins_variants(text: str) -> None:
    folded = fold_for_matching(text)
    assert fold_for_matching(folded) == folded
    assert fold_for_matching("凃") == fold_for_matching("涂")
    assert fold_for_matching("黄") == fold_for_matching("黃")  # from Unihan, not our table


def test_latin_names_compare_by_nickname_and_jaro_winkler() -> None:
    from onceonly.consolidate.linkage import nickname_forms

    assert "ROBERT SMITH" in nickname_forms("BOB SMITH")
    assert nickname_forms("王小明") == []
    rng = Random(5)
    rows: list[tuple[str, str, dict[str, object]]] = []
    people = _people(200, seed=5)
    latin = ("ROBERT TALI", "WILLIAM NGAO", "ELIZABETH SAPUD", "MARIA CRUZ SANTOS")
    nick = ("BOB TALI", "BILL NGAO", "BETTY SAPUD", "MARIA CRUZ SANTOS")
    pairs = []
    for i, p in enumerate(people):
        if i % 10 == 0:
            k = (i // 10) % len(latin)
            p = {**p, "name": latin[k] + f" {i}"}
            copy = {
                **p,
                "name": nick[k] + f" {i}" if rng.random() < 0.7 else latin[k][:-1] + f"X {i}",
                "national_id": None,  # a foreign resident: no national ID in the old system
            }
            rows.append(("city", f"city:{i:04d}", copy))
            pairs.append((f"city:{i:04d}", f"county:{i:04d}"))
        elif i % 10 == 1:
            rows.append(("city", f"city:{i:04d}", p))
        rows.append(("county", f"county:{i:04d}", p))
    scored = _scored(_frame(rows))
    for pair in pairs:
        assert scored.get(pair, 0.0) >= LinkageSpec().threshold, pair


def _slipped_dates(with_candidates: bool) -> tuple[dict[tuple[str, str], float], list]:
    """Every twelfth person again in the city, moved within the district, with a name typo,
    no ID, and a birth date that did not read (a digit typed twice): with its candidates,
    or with none (a plain missing date)."""
    from onceonly.consolidate.normalise import candidates_column, date_candidates

    roads = ("中正路", "民族路", "大灣路", "中華路", "永大路", "復國路")
    districts = ("永康區", "東區", "北區", "安南區", "新營區")
    rng = Random(3)
    rows: list[tuple[str, str, dict[str, object]]] = []
    pairs = []

    def address(district: str) -> str:
        return f"臺南市{district}{rng.choice(roads)}{rng.randrange(1, 400)}號"

    for i, p in enumerate(_people(360, seed=3)):
        district = districts[i % len(districts)]
        p = {**p, "district": district, "address": address(district)}
        rows.append(("county", f"county:{i:04d}", {**p, "_candidates": []}))
        name = str(p["name"])
        if i % 12 == 0:
            iso = str(p["birth_date"])
            slipped = iso[:9] + iso[8:]  # 1985-03-12 -> 1985-03-112
            copy = {
                **p,
                "name": name[:-1] + GIVEN_SWAP.get(name[-1], "瑜"),
                "national_id": None,
                "birth_date": None,
                "address": address(district),
                "_candidates": date_candidates(slipped, ["%Y-%m-%d"]) if with_candidates else [],
            }
            rows.append(("city", f"city:{i:04d}", copy))
            pairs.append((f"city:{i:04d}", f"county:{i:04d}"))
        elif i % 12 < 7:  # duplicates for the model to learn from: some moved, some mistyped
            moved = {"address": address(district)} if i % 2 else {}
            rows.append(("city", f"city:{i:04d}", {**p, **moved, "_candidates": []}))
        elif i % 12 < 9:
            rows.append(
                ("city", f"city:{i:04d}", {**p, "name": name[:-1] + "瑜", "_candidates": []})
            )
    frame = _frame(rows).with_columns(
        pl.Series(
            candidates_column("birth_date"),
            [values["_candidates"] for _, _, values in rows],
            dtype=pl.List(pl.Date),
        )
    )
    return _scored(frame), pairs


def test_a_birth_date_with_a_digit_doubled_is_scored_by_its_candidates_and_linked() -> None:
    scored, pairs = _slipped_dates(with_candidates=True)
    plain, _ = _slipped_dates(with_candidates=False)
    assert pairs
    for pair in pairs:
        assert scored.get(pair, 0.0) >= LinkageSpec().threshold, pair
    # Read as plain missing, the same pairs fall short: the candidates carry them.
    assert sum(plain.get(pair, 0.0) >= LinkageSpec().threshold for pair in pairs) < len(pairs)


def test_u_is_taken_among_non_matches() -> None:
    """Random sampling draws matches too: a level most matches fall in (the same ID) had
    its u overstated, and a pair agreeing on ID and birth date yet differing elsewhere fell
    short of the threshold (FEBRL3 recall 0.975)."""
    from onceonly.consolidate.linkage import _u_among_non_matches

    def model(m: float, u: float) -> dict[str, object]:
        levels = [{"is_null_level": True}, {"m_probability": m, "u_probability": u}]
        return {
            "probability_two_random_records_match": 0.0005,
            "comparisons": [{"comparison_levels": levels}],
        }

    def u_of(result: dict) -> float:  # type: ignore[type-arg]
        return float(result["comparisons"][0]["comparison_levels"][1]["u_probability"])

    assert abs(u_of(_u_among_non_matches(model(0.8, 0.00045), 1e6)) - 0.00005) < 1e-6
    # Never below one standard error of the sampled count, never raised.
    assert u_of(_u_among_non_matches(model(0.9, 0.0004), 1e6)) == (0.0004 / 1e6) ** 0.5
    assert u_of(_u_among_non_matches(model(0.0, 0.9), 1e6)) == 0.9


def test_address_words_split_taiwanese_addresses_at_their_units() -> None:
    from onceonly.consolidate.linkage import _address_words

    words = pl.select(
        _address_words(pl.lit("臺南市永康區大灣里5鄰中正路12號 3樓")).alias("w")
    ).item()
    assert sorted(words) == sorted(["臺南市", "永康區", "大灣里", "5鄰", "中正路", "12號", "3樓"])
    latin = pl.select(_address_words(pl.lit("4 KYEEMA BEAUMARIS 4506")).alias("w")).item()
    assert sorted(latin) == ["4", "4506", "BEAUMARIS", "KYEEMA"]
