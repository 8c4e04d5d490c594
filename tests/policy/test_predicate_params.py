"""A refused predicate parameter is told in words that name what may be asked, and in words
of their own when nothing may be (never a bare "-" where the list would be)."""

from __future__ import annotations

from onceonly.policy.predicates import check_asked, settle


def test_a_parameter_sent_to_a_predicate_that_takes_none_says_so() -> None:
    _, [error] = check_asked({}, {"threshold": 1}, "evidence[0]", "en")
    assert (error.field, error.code) == ("evidence[0].params.threshold", "unknown")
    assert error.reason == "The predicate takes no parameters"
    _, [error] = check_asked({}, {"threshold": 1}, "evidence[0]", "zh-TW")
    assert error.reason == "此查詢條件不接受任何參數"


def test_an_unknown_parameter_names_the_ones_the_predicate_takes() -> None:
    _, [error] = check_asked({"year": "integer", "amount": "number"}, {"x": 1}, "e", "en")
    assert error.reason.endswith("(its parameters - amount, year)")


def test_a_value_where_neither_rule_nor_item_sets_any_is_refused_in_words() -> None:
    _, [error] = settle({"year": "integer"}, {}, {}, {"year": 2025}, "evidence[1]", "en")
    assert (error.field, error.code) == ("evidence[1].params.year", "not_allowed")
    assert "neither the owner's rule nor the application item sets one" in error.reason
    _, [error] = settle({"year": "integer"}, {}, {}, {"year": 2025}, "evidence[1]", "zh-TW")
    assert error.reason == "此參數不能自行指定：規則與申請項目都未設定可用的值"


def test_a_value_other_than_the_statutory_one_names_it() -> None:
    _, [error] = settle({"year": "integer"}, {"year": 2024}, {}, {"year": 2025}, "e", "en")
    assert "(2024)" in error.reason
    _, [error] = settle({"year": "integer"}, {}, {"year": [2023, 2024]}, {"year": 2025}, "e", "en")
    assert error.reason.endswith("2023, 2024")
