"""Addresses: real-world spellings, precise errors, and str/parse round trips."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onceonly.domain.address import (
    ALL_CITIES,
    CITIES,
    FORMER_CITIES,
    MAX_LENGTH,
    Address,
    parse_address,
)
from onceonly.domain.errors import DomainValueError

FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")
ZH_NUMBERS = [*"一二三四五六七八九", "十", "十一", "十二"]  # 1..12
# Name characters that are not unit markers (區鄉鎮市里村鄰路街大道段巷弄號樓之), numerals or 台.
NAME_CHARS = "中正信義仁愛忠孝光復民生和安康福德興隆新莊永華文化自強成功山林竹田湖港泰順"


def names(suffixes: str, min_size: int) -> st.SearchStrategy[str]:
    body = st.text(NAME_CHARS, min_size=min_size, max_size=3)
    return st.builds(lambda b, s: b + s, body, st.sampled_from(suffixes))


def numbered(max_value: int = 999) -> st.SearchStrategy[str]:
    main = st.integers(1, max_value).map(str)
    sub = st.none() | st.integers(1, 99).map(str)
    return st.builds(lambda m, s: m if s is None else f"{m}之{s}", main, sub)


addresses = st.builds(
    Address,
    city=st.sampled_from(sorted(ALL_CITIES)),
    district=st.none() | names("區鄉鎮市", 2) | st.sampled_from(["東區", "西區", "中區"]),
    village=st.none() | names("里村", 1),
    neighbourhood=st.none() | st.integers(1, 60),
    road=st.none()
    | st.builds(
        lambda n, s: n + s,
        st.text(NAME_CHARS, min_size=1, max_size=3),
        st.sampled_from(["路", "街", "大道"]),
    ),
    section=st.none() | st.sampled_from(ZH_NUMBERS).map(lambda z: z + "段"),
    lane=st.none() | numbered(),
    alley=st.none() | numbered(99),
    number=numbered(),
    floor=st.none()
    | st.integers(1, 99).map(str)
    | st.builds(lambda f, s: f"{f}之{s}", st.integers(1, 30), st.integers(1, 9))
    | st.integers(1, 5).map(lambda f: f"地下{f}"),
)


def test_a_full_address() -> None:
    parsed = parse_address("10617 台北市大安區仁愛里5鄰忠孝東路4段216巷3弄12-3號三樓之1")
    assert parsed == Address(
        city="臺北市",
        district="大安區",
        village="仁愛里",
        neighbourhood=5,
        road="忠孝東路",
        section="四段",
        lane="216",
        alley="3",
        number="12之3",
        floor="3之1",
    )
    assert str(parsed) == "臺北市大安區仁愛里5鄰忠孝東路四段216巷3弄12之3號3樓之1"
    assert parsed.to_dict()["neighbourhood"] == 5
    assert parsed.to_dict()["road"] == "忠孝東路"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # district names that contain a unit character, and roads that start with one
        ("高雄市前鎮區中山二路5號", "高雄市前鎮區中山二路5號"),
        ("臺南市新市區中正路12號", "臺南市新市區中正路12號"),
        ("臺中市西區市府路12號", "臺中市西區市府路12號"),
        ("臺中市大里區大里路1號", "臺中市大里區大里路1號"),
        ("臺北市市民大道三段8號", "臺北市市民大道三段8號"),  # no district
        ("彰化縣員林市中山路1段1號", "彰化縣員林市中山路一段1號"),
        ("屏東縣三地門鄉三地村5鄰中正路二段10號", "屏東縣三地門鄉三地村5鄰中正路二段10號"),
        ("臺灣省雲林縣台西鄉五港村十二鄰12號", "雲林縣臺西鄉五港村12鄰12號"),
        ("臺北縣板橋市文化路一段1號", "臺北縣板橋市文化路一段1號"),  # former county kept
        # floors and sub-numbers
        ("新竹市東區光復路二段101號3F", "新竹市東區光復路二段101號3樓"),
        ("臺中市中區民族路1號B1", "臺中市中區民族路1號地下1樓"),
        ("臺中市中區民族路1號地下二樓", "臺中市中區民族路1號地下2樓"),
        ("臺東縣臺東市中華路一段100號之2 12F", "臺東縣臺東市中華路一段100之2號12樓"),
        ("臺北市中正區重慶南路一段122號十二樓", "臺北市中正區重慶南路一段122號12樓"),
        ("100 臺北市中正區重慶南路一段１２２號", "臺北市中正區重慶南路一段122號"),
        ("100012臺北市中正區重慶南路一段122號", "臺北市中正區重慶南路一段122號"),
    ],
)
def test_real_world_spellings(text: str, expected: str) -> None:
    assert str(parse_address(text)) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "address.empty"),
        ("10617", "address.empty"),
        ("忠孝東路四段1號", "address.city"),
        ("台灣大道1號", "address.city"),
        ("臺北市大安區忠孝東路四段", "address.number"),
        ("臺北市大安區忠孝東路四段十二號", "address.number"),  # Chinese-numeral numbers unsupported
        ("臺北市大安區忠孝東路四段1 2號", "address.format"),  # a space inside a number
        ("臺北市大安區忠孝東路12號附近", "address.format"),
        ("臺北市大安區忠孝東路1之2號之3", "address.number"),
        ("臺北市大安區忠孝東路一百段1號", "address.section"),
    ],
)
def test_errors_say_what_is_missing(text: str, code: str) -> None:
    with pytest.raises(DomainValueError) as caught:
        parse_address(text)
    assert caught.value.code == code
    assert caught.value.field == "address"


def test_city_lists() -> None:
    assert len(CITIES) == 22
    assert len(set(CITIES)) == 22
    assert not set(FORMER_CITIES) & set(CITIES)
    assert all("台" not in city for city in ALL_CITIES)


@pytest.mark.parametrize(
    "fields",
    [
        {"city": "台北市", "number": "1"},
        {"city": "東京都", "number": "1"},
        {"city": "臺北市", "number": "一"},
        {"city": "臺北市", "number": "1", "section": "4段"},
        {"city": "臺北市", "number": "1", "road": "忠孝東路四段"},
        {"city": "臺北市", "number": "1", "neighbourhood": 0},
    ],
)
def test_non_canonical_addresses_cannot_be_built(fields: dict[str, object]) -> None:
    with pytest.raises(DomainValueError):
        Address(**fields)  # type: ignore[arg-type]


@settings(max_examples=300)
@given(addresses)
def test_round_trip(address: Address) -> None:
    assert parse_address(str(address)) == address


@st.composite
def variant_spellings(draw: st.DrawFn) -> tuple[Address, str]:
    """An address and a messy but equivalent way of writing it."""
    a = draw(addresses)
    space = st.sampled_from(["", "", " ", "\u3000"])

    def part(text: str | None, unit: str = "") -> str:
        return "" if text is None else text + unit + draw(space)

    city = a.city.replace("臺", "台") if draw(st.booleans()) else a.city
    district = a.district.replace("臺", "台") if a.district and draw(st.booleans()) else a.district
    section = a.section
    if section and draw(st.booleans()):
        section = f"{ZH_NUMBERS.index(section[:-1]) + 1}段"
    neighbourhood = None if a.neighbourhood is None else str(a.neighbourhood)
    if a.neighbourhood is not None and a.neighbourhood <= 12 and draw(st.booleans()):
        neighbourhood = ZH_NUMBERS[a.neighbourhood - 1]
    main, _, sub = a.number.partition("之")
    number = (
        draw(st.sampled_from([f"{a.number}號", f"{main}號之{sub}", f"{main}-{sub}號"]))
        if sub
        else f"{main}號"
    )
    floor = ""
    if a.floor is not None:
        level, _, floor_sub = a.floor.partition("之")
        unit = draw(st.sampled_from(["樓", "F"]))
        if level.isdigit() and int(level) <= 12 and unit == "樓" and draw(st.booleans()):
            level = ZH_NUMBERS[int(level) - 1]
        if level.startswith("地下") and not floor_sub and draw(st.booleans()):
            floor = "B" + level.removeprefix("地下")
        else:
            floor = f"{level}{unit}" + (f"之{floor_sub}" if floor_sub else "")
        # "12號之3 10F" needs its space: glued, "12號之310F" is ambiguous even to a person.
        needs_space = number[-1].isdigit() and floor[0].isdigit()
        floor = (" " if needs_space else draw(st.sampled_from(["", " "]))) + floor
    postal = draw(st.sampled_from(["", "106", "10617 ", "100012"]))
    text = (
        draw(space)
        + postal
        + part(city)
        + part(district)
        + part(a.village)
        + part(neighbourhood, "鄰")
        + part(a.road)
        + part(section)
        + part(a.lane, "巷")
        + part(a.alley, "弄")
        + number
        + floor
        + draw(space)
    )
    if draw(st.booleans()):
        text = text.translate(FULL_WIDTH)
    return a, text


@settings(max_examples=300)
@given(variant_spellings())
def test_variant_spellings_parse_to_the_canonical_address(case: tuple[Address, str]) -> None:
    address, text = case
    assert parse_address(text) == address


def test_a_text_longer_than_any_address_is_refused_at_once() -> None:
    """Digits with no 號 after a city and district took time growing with the square of their
    number (100,000: four minutes); a citizen's mailing address is read for every statistics
    request, anonymous ones too."""
    started = time.perf_counter()
    with pytest.raises(DomainValueError) as caught:
        parse_address("臺北市信義區" + "1" * 20_000)
    assert caught.value.code == "address.too_long"
    assert time.perf_counter() - started < 1.0
    assert parse_address("臺北市信義區信義路五段7號" + " " * (MAX_LENGTH - 14)).number == "7"


@given(st.text(max_size=MAX_LENGTH + 20))
def test_any_text_is_an_address_or_a_reason(text: str) -> None:
    try:
        parse_address(text)
    except DomainValueError as error:
        assert error.code.startswith("address.")
