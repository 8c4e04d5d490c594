"""Record linkage with Splink 5: which legacy records, within and across sources, are the
same person (name, national ID, birth date, address) or the same parcel (section, number,
area, owner).

The model is trained without labels: the prior from a strict deterministic rule, u by
random sampling, m by expectation maximisation over two blocking rules that each leave
the other fields free. Pairs are scored down to the review band's lower bound; the plan's
threshold, then the reviewers' decisions, decide the edges, and connected components
are the clusters. DuckDB by default; ``backend="spark"`` runs the same model on Spark.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import polars as pl

from onceonly.consolidate.normalise import SOURCE, candidates_column, is_valid_national_id
from onceonly.consolidate.plan import LinkageSpec
from onceonly.consolidate.sources import RECORD_ID
from onceonly.domain.variants import fold_for_matching
from onceonly.i18n import LANGUAGES, both, normalise_language, one_line, t

BACKENDS = ("duckdb", "spark")
LinkType = Literal["link_only", "link_and_dedupe", "dedupe_only"]
PAIR_COLUMNS = ("left_id", "right_id", "match_probability", "match_weight")


class LinkageUnavailable(RuntimeError):
    """The chosen backend cannot run here (e.g. Spark without Java)."""


class LinkageRefused(RuntimeError):
    """The model cannot be estimated from these records (too few, or none alike enough to
    learn from); nothing was scored. ``key`` names the reason in the message file, whose
    parameters may be given per language (see :func:`onceonly.i18n.both`)."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(one_line(both(key, **params)))
        self.key = key
        self.params = params

    def reason(self, lang: str | None) -> str:
        return both(self.key, **self.params)[normalise_language(lang)]


def _valid_ids(ids: pl.Series) -> pl.Series:
    """Whether each national ID passes its checksum (computed once per distinct value)."""
    distinct = ids.drop_nulls().unique()
    valid = pl.Series([is_valid_national_id(v) for v in distinct.to_list()], dtype=pl.Boolean)
    return ids.replace_strict(distinct, valid, default=False, return_dtype=pl.Boolean)


def _matching_names(names: pl.Series) -> pl.Series:
    """Each name with its variant characters folded (凃/涂, 黄/黃), once per distinct name:
    linkage compares and blocks on these, the records keep their names as registered."""
    distinct = names.drop_nulls().unique()
    folded = pl.Series([fold_for_matching(v) for v in distinct.to_list()], dtype=pl.String)
    return names.replace_strict(distinct, folded, default=None, return_dtype=pl.String)


@cache
def _nicknames() -> dict[str, tuple[str, ...]]:
    """An English given name -> the names it is a nickname of or has as nicknames
    (BOB: ROBERT, BERT, BOBBY …), from the maintained ``nicknames`` list."""
    from nicknames import name_triplets

    related: dict[str, set[str]] = {}
    for triplet in name_triplets():
        one, other = triplet.name1.upper(), triplet.name2.upper()
        related.setdefault(one, set()).add(other)
        related.setdefault(other, set()).add(one)
    return {name: tuple(sorted(names)) for name, names in related.items()}


def nickname_forms(name: str) -> list[str]:
    """A Latin-script name with its first word (the given name, as written first) replaced
    by each related name: ``BOB SMITH`` -> ``[…, ROBERT SMITH, …]``; [] for other names."""
    first, space, rest = name.partition(" ")
    if not space or not first.isascii():
        return []
    return [f"{other} {rest}" for other in _nicknames().get(first, ())]


def _nickname_lists(names: pl.Series) -> pl.Series:
    distinct = names.drop_nulls().unique().to_list()
    table = pl.DataFrame(
        {"name": distinct, "forms": [nickname_forms(v) for v in distinct]},
        schema={"name": pl.String, "forms": pl.List(pl.String)},
    )
    joined = (
        names.alias("name").to_frame().join(table, on="name", how="left", maintain_order="left")
    )
    return joined.get_column("forms").fill_null(pl.lit([], dtype=pl.List(pl.String)))


CANDIDATE_KEYS = range(3)
"""How many candidates of an unreadable birth date blocking tries (most have one to three)."""


ADDRESS_UNITS = "縣市鄉鎮區村里鄰路街道段巷弄號樓"
"""The units a Taiwanese address is written in, each ending one part of it (臺南市/永康區/
中正路/1號): the word boundaries of an address written without spaces."""


def _address_words(address: pl.Expr) -> pl.Expr:
    """An address's distinct words: split at spaces and after each :data:`ADDRESS_UNITS`
    character. A typo in the house number, the street or the town leaves the other words
    shared, and parts written in another order (a building name before the street) too."""
    return (
        address.str.replace_all(f"([{ADDRESS_UNITS}])", "${1} ")
        .str.split(" ")
        .list.eval(pl.element().filter(pl.element() != ""))
        .list.unique()
        .list.sort()
    )


def _prepare_people(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.with_columns(_matching_names(frame.get_column("name").cast(pl.String)))
    frame = frame.with_columns(_nickname_lists(frame.get_column("name")).alias("_name_nick"))
    name = pl.col("name").fill_null("")
    birth = pl.col("birth_date").cast(pl.String)
    national_id = pl.col("national_id")
    column = candidates_column("birth_date")
    candidates = (
        pl.col(column).cast(pl.List(pl.String)).fill_null(pl.lit([], dtype=pl.List(pl.String)))
        if column in frame.columns
        else pl.lit([], dtype=pl.List(pl.String))
    )
    address = pl.col("address") if "address" in frame.columns else pl.lit(None, pl.String)
    return frame.with_columns(
        _valid_ids(frame.get_column("national_id")).alias("_id_valid")
    ).select(
        pl.col(RECORD_ID).alias("unique_id"),
        pl.col(SOURCE).alias("source_dataset"),
        pl.col("national_id"),
        pl.col("name"),
        name.str.split("").list.sort().list.join("").alias("name_sorted"),
        pl.col("name").str.slice(0, 1).alias("name_first"),
        pl.col("_name_nick").alias("name_nicknames"),
        # Latin-script names are words: the first and the last (a CJK name is one word).
        pl.col("name").str.split(" ").list.first().alias("name_word_first"),
        pl.col("name").str.split(" ").list.last().alias("name_word_last"),
        # The words in alphabetical order: a given name and surname written the other way
        # round (and mistyped besides) still compare close.
        pl.col("name").str.split(" ").list.sort().list.join(" ").alias("name_words_sorted"),
        pl.col("national_id").str.slice(0, 5).alias("id_head"),
        pl.col("national_id").str.slice(5).alias("id_tail"),
        # The ID's characters in order: an adjacent transposition (which may break both
        # halves above) leaves them unchanged.
        national_id.str.split("").list.sort().list.join("").alias("id_sorted"),
        pl.col("_id_valid").alias("id_valid"),
        birth.alias("birth_date"),
        candidates.alias("birth_candidates"),
        # The first candidates of a date that did not read, one a column, for blocking:
        # an equi-join on each finds the partners with that date (an exploded list of every
        # record's dates costs gigabytes at a million records).
        *(candidates.list.get(i, null_on_oob=True).alias(f"birth_c{i}") for i in CANDIDATE_KEYS),
        (birth.str.slice(0, 4) + "-" + birth.str.slice(8, 2) + "-" + birth.str.slice(5, 2)).alias(
            "birth_swapped"
        ),
        birth.str.slice(0, 4).alias("birth_year"),
        (pl.col("sex") if "sex" in frame.columns else pl.lit(None, pl.String)).alias("sex"),
        address.alias("address"),
        _address_words(address).alias("address_words"),
        (pl.col("district") if "district" in frame.columns else pl.lit(None, pl.String)).alias(
            "district"
        ),
    )


def _prepare_parcels(frame: pl.DataFrame) -> pl.DataFrame:
    def text(name: str) -> pl.Expr:
        if name in frame.columns:
            return pl.col(name).cast(pl.String)
        return pl.lit(None, pl.String)

    return frame.select(
        pl.col(RECORD_ID).alias("unique_id"),
        pl.col(SOURCE).alias("source_dataset"),
        text("district").alias("district"),
        text("section").alias("section"),
        text("parcel_no").alias("parcel_no"),
        text("parcel_no").str.split("-").list.first().alias("parcel_mother"),
        (
            pl.col("area_m2").cast(pl.Float64)
            if "area_m2" in frame.columns
            else pl.lit(None, pl.Float64)
        ).alias("area_m2"),
        text("owner_national_id").alias("owner_national_id"),
    )


def prepare(frame: pl.DataFrame, entity: str) -> pl.DataFrame:
    """The linkage columns of ``frame`` (the kept rows of every source)."""
    return _prepare_people(frame) if entity == "person" else _prepare_parcels(frame)


TWO_VALID_IDS_M = 1e-9
"""How often one person's two records carry two valid IDs that are not one typo apart (an
ID re-issued): small enough that twins sharing everything else stay apart."""


SLIPPED_DATE_M = 0.01
"""How often one person's two records meet only through a date that did not read, a digit
lost or doubled (about one date keyed in a hundred): told, since EM's training blocks,
which need a readable date or an ID, see few such pairs."""


def _person_settings(link_type: LinkType) -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on
    from splink.blocking_rule_library import CustomRule

    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name"),
            cll.ExactMatchLevel("name"),
            cll.ExactMatchLevel("name_sorted").configure(label_for_charts="same characters"),
            cll.LevenshteinLevel("name", 1),
            # Latin-script names (indigenous, foreign residents, romanised entries): a CJK
            # name one character off scores about 0.82, so these levels hold Latin ones.
            cll.CustomLevel(
                'list_contains("name_nicknames_l", "name_r")'
                ' OR list_contains("name_nicknames_r", "name_l")',
                label_for_charts="a nickname of the other (Latin-script names)",
                base_dialect_str="duckdb",
            ),
            cll.JaroWinklerLevel("name", 0.92),
            cll.JaroWinklerLevel("name_words_sorted", 0.92).configure(
                label_for_charts="close with the words in another order"
            ),
            cll.JaroWinklerLevel("name", 0.85),
            # One word the same, the other not (a given name left out or replaced, a woman's
            # surname changed): Latin-script names only, a CJK name being one word.
            cll.CustomLevel(
                '"name_word_first_l" = "name_word_first_r"'
                ' OR "name_word_last_l" = "name_word_last_r"'
                ' OR "name_word_first_l" = "name_word_last_r"'
                ' OR "name_word_last_l" = "name_word_first_r"',
                label_for_charts="a word in common (Latin-script names)",
                base_dialect_str="duckdb",
            ),
            cll.ElseLevel(),
        ],
    )
    # An ID typed wrong is one character off (a substitution or an adjacent transposition);
    # IDs further apart are different people, even twins sharing a surname, a birthday and a
    # home (which EM, seeing few twins, would not learn). Two IDs that both pass the checksum
    # and are not one typo apart are two IDs the state issued: the same person carries two
    # only after a rare re-issue, so that level outweighs everything else agreeing.
    national_id = cl.CustomComparison(
        output_column_name="national_id",
        comparison_levels=[
            cll.NullLevel("national_id"),
            cll.ExactMatchLevel("national_id"),
            cll.DamerauLevenshteinLevel("national_id", 1),
            cll.CustomLevel(
                '"id_valid_l" AND "id_valid_r"',
                label_for_charts="two different valid IDs",
                base_dialect_str="duckdb",  # read as columns by Spark too
            ).configure(m_probability=TWO_VALID_IDS_M, fix_m_probability=True),
            # One of them fails its checksum (a typo) or is no national ID at all (another
            # country's number): how often such IDs differ in one person's records is learnt.
            cll.ElseLevel(),
        ],
    )
    # A date that did not read is missing, unless one slip of the keyboard undone (a digit
    # lost or doubled) reads it: its candidates then meet the other's date or candidates.
    birth = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.CustomLevel(
                '("birth_date_l" IS NULL AND array_length("birth_candidates_l") = 0)'
                ' OR ("birth_date_r" IS NULL AND array_length("birth_candidates_r") = 0)',
                label_for_charts="birth_date is NULL",
                base_dialect_str="duckdb",
            ).configure(is_null_level=True),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel(
                '"birth_date_l" = "birth_swapped_r"',
                label_for_charts="day and month swapped",
                base_dialect_str="duckdb",
            ),
            cll.LevenshteinLevel("birth_date", 1),
            cll.CustomLevel(
                'list_contains("birth_candidates_l", "birth_date_r")'
                ' OR list_contains("birth_candidates_r", "birth_date_l")'
                ' OR array_length(array_intersect("birth_candidates_l", "birth_candidates_r"))'
                " > 0",
                label_for_charts="one date unreadable, a digit lost or doubled",
                base_dialect_str="duckdb",
            ).configure(m_probability=SLIPPED_DATE_M, fix_m_probability=True),
            cll.ExactMatchLevel("birth_year"),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type=link_type,
        comparisons=[
            national_id,
            name,
            birth,
            cl.ExactMatch("sex"),
            cl.CustomComparison(
                output_column_name="address",
                comparison_levels=[
                    cll.NullLevel("address"),
                    cll.ExactMatchLevel("address"),
                    cll.LevenshteinLevel("address", 3),
                    cll.JaroWinklerLevel("address", 0.9),
                    # Three quarters of the shorter one's words in common: the house
                    # number, a street or a building name mistyped, left out or written in
                    # another place (the city and district alone are half a Taiwanese one).
                    cll.CustomLevel(
                        'array_length(array_intersect("address_words_l", "address_words_r"))'
                        ' * 4 >= 3 * least(array_length("address_words_l"),'
                        ' array_length("address_words_r"))',
                        label_for_charts="most words in common",
                        base_dialect_str="duckdb",
                    ),
                    cll.ExactMatchLevel("district"),
                    cll.ElseLevel(),
                ],
            ),
        ],
        # Every pair a rule lets through is scored, so the rules are kept narrow: one typo
        # in an ID leaves its head or its tail intact, and IDs differing in both halves
        # score as different people anyway (the ID's last level above). "Same birthday"
        # alone would score some 18 million pairs at a million records; these score about
        # 2 million and, on the demo at 1,000,000 records, miss no pair the wide rules
        # scored above the review band's low end. The surname rule keeps the twins (same
        # surname and birthday, different IDs) in front of reviewers.
        blocking_rules_to_generate_predictions=[
            block_on("national_id"),
            block_on("birth_date", "name_first"),
            block_on("birth_date", "id_head"),
            block_on("birth_date", "id_tail"),
            block_on("name", "birth_year"),
            block_on("name", "id_head"),
            block_on("name", "id_tail"),
            block_on("name_sorted", "birth_year"),
            block_on("id_sorted", "birth_year"),
            block_on("id_sorted", "name_first"),
            block_on("name", "district"),
            block_on("birth_date", "district"),
            # A birth date that did not read: a candidate of it and the district (both ways
            # round, the rule being one-sided).
            *(
                CustomRule(
                    f'{a}."birth_c{i}" = {b}."birth_date" AND l."district" = r."district"',
                    sql_dialect="duckdb",
                )
                for i in CANDIDATE_KEYS
                for a, b in (("l", "r"), ("r", "l"))
            ),
            block_on("name_word_first", "birth_date"),
            block_on("name_word_last", "birth_date"),
            block_on("name_word_last", "district"),
            # One typo in the ID leaves its head or its tail; the same district with it is
            # rare enough among strangers to score them all.
            block_on("id_tail", "district"),
            block_on("name_word_first", "district"),
            block_on("name_sorted", "district"),
            # A Latin-script name written surname first in one record, mistyped besides.
            CustomRule(
                'l."name_word_first" = r."name_word_last" AND l."birth_date" = r."birth_date"',
                sql_dialect="duckdb",
            ),
            CustomRule(
                'l."name_word_first" = r."name_word_last" AND l."district" = r."district"',
                sql_dialect="duckdb",
            ),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


OTHER_SECTION_M = 1e-6
"""How often the two copies of one parcel carry sections no closer than a typo (a section
renamed by a re-survey, a name mistyped beyond recognition): rare, so a pair differing only
there goes to a clerk rather than being linked unseen."""
SIBLING_NUMBER_M = 1e-7
"""How often the two copies of one parcel carry sibling numbers (a typo in the 子號)."""
TYPO_NUMBER_M = 0.002
"""How often they differ by one character elsewhere (a typo in the 母號)."""
RENUMBERED_M = 0.03
"""How often the two copies of one parcel carry unrelated numbers (a re-survey between)."""


def _parcel_settings(link_type: LinkType) -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    area = cl.CustomComparison(
        output_column_name="area_m2",
        comparison_levels=[
            cll.NullLevel("area_m2"),
            cll.CustomLevel('"area_m2_l" = "area_m2_r"', label_for_charts="same area"),
            cll.CustomLevel(
                'abs("area_m2_l" - "area_m2_r") <= 0.01 * greatest("area_m2_l", "area_m2_r")',
                label_for_charts="within 1 %",
            ),
            cll.CustomLevel(
                'abs("area_m2_l" - "area_m2_r") <= 0.08 * greatest("area_m2_l", "area_m2_r")',
                label_for_charts="within 8 % (re-surveyed)",
            ),
            cll.ElseLevel(),
        ],
    )
    # A 地號 is unique in its section and a parcel keeps it, so a different number is strong
    # evidence of another parcel, and the model is told so rather than left to learn it from
    # the few true pairs EM sees there: another 子號 of the same 母號 is a sibling from a
    # subdivision (the same parcel only by a typo), and an unrelated number is the same
    # parcel only after a 地籍圖重測 (re-survey) renumbered it, which a clerk confirms from the
    # re-survey's number table: such pairs belong in the review queue, not linked unseen.
    number = cl.CustomComparison(
        output_column_name="parcel_no",
        comparison_levels=[
            cll.NullLevel("parcel_no"),
            cll.ExactMatchLevel("parcel_no"),
            cll.CustomLevel(
                '"parcel_mother_l" = "parcel_mother_r"', label_for_charts="sibling 子號"
            ).configure(m_probability=SIBLING_NUMBER_M, fix_m_probability=True),
            cll.LevenshteinLevel("parcel_no", 1).configure(
                m_probability=TYPO_NUMBER_M, fix_m_probability=True
            ),
            cll.ElseLevel().configure(m_probability=RENUMBERED_M, fix_m_probability=True),
        ],
    )
    # A parcel keeps its section as it keeps its number. EM, seeing no true pair written in
    # two sections, drives that level's m to zero: about 1e-30 on the demo at 800 records,
    # and on a few dozen parcels 0 itself, which Splink refuses. So the model is told.
    section = cl.CustomComparison(
        output_column_name="section",
        comparison_levels=[
            cll.NullLevel("section"),
            cll.ExactMatchLevel("section"),
            cll.JaroWinklerLevel("section", 0.9),
            cll.ElseLevel().configure(m_probability=OTHER_SECTION_M, fix_m_probability=True),
        ],
    )
    # Land does not move: the same section and number in another district is another
    # parcel (EM, seeing few such pairs, would drive this level's m to zero and fail).
    district = cl.CustomComparison(
        output_column_name="district",
        comparison_levels=[
            cll.NullLevel("district"),
            cll.ExactMatchLevel("district"),
            cll.ElseLevel().configure(m_probability=0.0005, fix_m_probability=True),
        ],
    )
    return SettingsCreator(
        link_type=link_type,
        comparisons=[
            section,
            number,
            area,
            cl.DamerauLevenshteinAtThresholds("owner_national_id", [1]),
            district,
        ],
        blocking_rules_to_generate_predictions=[
            block_on("section", "parcel_no"),
            block_on("parcel_no"),
            block_on("owner_national_id"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def _spark_api() -> Any:
    import tempfile

    try:
        from pyspark.sql import SparkSession
        from splink import SparkAPI
        from splink.backends.spark import similarity_jar_location
    except ImportError as error:
        raise LinkageUnavailable(f"pyspark is not installed: {error}") from error
    try:
        spark = (
            SparkSession.builder.master("local[2]")
            .appName("onceonly-consolidate")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.ui.enabled", "false")
            .config("spark.jars", similarity_jar_location())  # Levenshtein, Jaro-Winkler UDFs
            .getOrCreate()
        )
        spark.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="onceonly-spark-"))
    except Exception as error:  # Java missing or failing to start
        raise LinkageUnavailable(f"Spark could not start: {error}") from error
    return SparkAPI(spark_session=spark), spark


def _table_name(source: str) -> str:
    """A source id as a SQL name: Splink does not quote the names of its input tables."""
    return "source_" + re.sub(r"\W", "_", source)


def _u_among_non_matches(model: dict[str, Any], sampled: float) -> dict[str, Any]:
    """``model`` with each level's u taken among the non-matching pairs, as the model reads
    it, rather than among all pairs.

    Random sampling draws matching pairs too: as often as the prior says, and they fall
    into the agreeing levels as often as m says. Where the same people recur (two registers
    of one population, a register holding duplicates) they are most of the pairs that agree
    on an ID or a birth date, so the raw u overstates how often strangers agree there some
    tenfold, and a pair agreeing on both yet differing elsewhere falls short. Each u loses
    the matches' share, ``(u - λ·m) / (1 - λ)``, never raised, and kept at or above one
    standard error of the sampled count (``sqrt(u / sampled)``): what sampling cannot tell
    apart from the matches' share is not taken away."""
    prior = model["probability_two_random_records_match"]
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            m, u = level.get("m_probability"), level.get("u_probability")
            if level.get("is_null_level") or m is None or u is None:
                continue
            floor = (u / sampled) ** 0.5
            level["u_probability"] = min(u, max((u - prior * m) / (1 - prior), floor))
    return model


STRICT_RECALL = 0.8
"""The share of true pairs the strict rule is taken to find, when it sets the prior."""

PERSON_RULES = (("national_id", "birth_date"), ("name_sorted", "birth_date"), ("national_id",))
"""People: the strict rule that sets the prior (how likely two records are one person), then
the two rules EM trains on, each leaving the other fields free to be learnt."""
PARCEL_RULES = (
    ("section", "parcel_no", "owner_national_id"),
    ("owner_national_id",),
    ("section", "parcel_no"),
)
"""Parcels: the strict rule, then the two training rules (as :data:`PERSON_RULES`)."""


def _in_words(columns: tuple[str, ...]) -> dict[str, str]:
    """A rule's columns as a person reads them, in each language (``身分證統一編號與出生日期``,
    ``national ID and birth date``)."""
    words = {}
    for lang in LANGUAGES:
        *names, last = [t(f"consolidate.link.column.{c}", lang) for c in columns]
        first = t("consolidate.link.comma", lang).join(names)
        words[lang] = t("consolidate.link.and", lang, first=first, last=last) if names else last
    return words


def check_estimable(
    tables: Any, link_type: LinkType, entity: str, records: int, rules: tuple[tuple[str, ...], ...]
) -> None:
    """Refuse (:class:`LinkageRefused`) records the model cannot be estimated from, before
    any training: fewer than two; none (or nearly every pair) alike on the strict rule, so the
    prior would be 0 (Splink then fails taking its logarithm when scoring) or 1; or none
    alike on a training rule, which leaves EM nothing to learn from."""
    from splink import block_on
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    kind = both(f"consolidate.link.entity.{entity}")
    if records < 2:
        raise LinkageRefused("consolidate.link.too_few", records=records)

    def pairs(columns: tuple[str, ...]) -> tuple[int, int]:
        (counted,) = count_comparisons_from_blocking_rules(
            tables,
            blocking_rules=block_on(*columns),
            link_type=link_type,
            source_dataset_column_name="source_dataset",
            record_sample_proportion=1.0,
        )
        return counted["cumulative_comparison_count"], counted["total_possible_comparison_count"]

    strict, *training = rules
    alike, total = pairs(strict)
    if alike == 0:
        raise LinkageRefused(
            "consolidate.link.no_sure_pair",
            records=records,
            pairs=total,
            rule=_in_words(strict),
            entity=kind,
        )
    if alike / STRICT_RECALL >= total:
        raise LinkageRefused(
            "consolidate.link.all_sure",
            records=records,
            pairs=total,
            alike=alike,
            rule=_in_words(strict),
            entity=kind,
        )
    for rule in training:
        if pairs(rule)[0] == 0:
            raise LinkageRefused(
                "consolidate.link.no_training_pair",
                records=records,
                rule=_in_words(rule),
                entity=kind,
            )


def score_pairs(prepared: pl.DataFrame, spec: LinkageSpec, backend: str = "duckdb") -> pl.DataFrame:
    """Every candidate pair with match probability at or above the review band's low end
    (or the threshold, if lower), as :data:`PAIR_COLUMNS` with ``left_id < right_id``."""
    from splink import Linker, block_on

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    sources = prepared.get_column("source_dataset").unique().sort().to_list()
    link_type: LinkType = "link_and_dedupe" if len(sources) > 1 else "dedupe_only"
    settings = (_person_settings if "national_id" in prepared.columns else _parcel_settings)(
        link_type
    )
    spark = None
    if backend == "duckdb":
        from splink import DuckDBAPI

        api = DuckDBAPI()
        tables = [
            api.register(
                prepared.filter(pl.col("source_dataset") == s).to_arrow(),
                dataset_display_name=_table_name(s),
            )
            for s in sources
        ]
    else:
        api, spark = _spark_api()
        tables = [
            api.register(
                spark.createDataFrame(prepared.filter(pl.col("source_dataset") == s).to_pandas()),
                dataset_display_name=_table_name(s),
            )
            for s in sources
        ]
    entity = "person" if "national_id" in prepared.columns else "parcel"
    rules = PERSON_RULES if entity == "person" else PARCEL_RULES
    check_estimable(tables, link_type, entity, prepared.height, rules)
    linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=logging.ERROR)
    strict, *training = rules
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*strict)], recall=STRICT_RECALL
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=spec.max_pairs_u, seed=spec.seed)
    for rule in training:
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*rule), fix_probability_two_random_records_match=True
        )
    model = _u_among_non_matches(linker.misc.save_model_to_json(), spec.max_pairs_u)
    linker = Linker(tables if len(tables) > 1 else tables[0], model, log_level=logging.ERROR)
    low = min(spec.review_band[0], spec.threshold)
    predictions = linker.inference.predict(threshold_match_probability=low)
    table = predictions.as_pandas_dataframe()
    if table.empty:
        return pl.DataFrame(
            schema={
                "left_id": pl.String,
                "right_id": pl.String,
                "match_probability": pl.Float64,
                "match_weight": pl.Float64,
            }
        )
    pairs = pl.from_pandas(
        table[["unique_id_l", "unique_id_r", "match_probability", "match_weight"]]
    )
    left, right = pl.col("unique_id_l"), pl.col("unique_id_r")
    return (
        pairs.select(
            pl.min_horizontal(left, right).alias("left_id"),
            pl.max_horizontal(left, right).alias("right_id"),
            pl.col("match_probability").cast(pl.Float64),
            pl.col("match_weight").cast(pl.Float64),
        )
        .unique(["left_id", "right_id"])
        .sort(["left_id", "right_id"])
    )


@dataclass(frozen=True)
class Edge:
    left_id: str
    right_id: str
    match_probability: float | None
    decided: bool | None
    """The reviewer's decision, when there is one."""


def edges(
    pairs: pl.DataFrame, threshold: float, decided: Mapping[tuple[str, str], bool]
) -> list[Edge]:
    """The links clusters are made of: pairs at or above the threshold unless a reviewer said
    "different", plus every pair a reviewer said is "same"."""
    result = []
    seen: set[tuple[str, str]] = set()
    for left, right, probability in pairs.select(
        "left_id", "right_id", "match_probability"
    ).iter_rows():
        key = (left, right)
        seen.add(key)
        decision = decided.get(key)
        if decision is True or (decision is None and probability >= threshold):
            result.append(Edge(left, right, probability, decision))
    for (left, right), same in sorted(decided.items()):
        if same and (left, right) not in seen:
            result.append(Edge(left, right, None, True))
    return result


def clusters(record_ids: Iterable[str], links: Iterable[Edge]) -> dict[str, str]:
    """Record id -> cluster id (the smallest record id of its connected component)."""
    parent: dict[str, str] = {r: r for r in record_ids}

    def find(x: str) -> str:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for edge in links:
        if edge.left_id not in parent or edge.right_id not in parent:
            continue
        a, b = find(edge.left_id), find(edge.right_id)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return {r: find(r) for r in parent}
