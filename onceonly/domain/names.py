"""Chinese personal names as Taiwan's household registers hold them.

Surname weights follow the Ministry of the Interior's surname statistics (陳 about 11 %, 林
8 % ...). Given names are two characters drawn from pools that differ by sex and generation,
with a few rare characters (堃 喆 靚) that old systems mishandle, compound surnames (歐陽)
that make four-character names, and the traditional names indigenous people may register
(瓦旦．達利), which carry no Chinese surname at all.
"""

from __future__ import annotations

from bisect import bisect
from collections.abc import Callable, Sequence
from itertools import accumulate

Random = Callable[[], float]
"""A source of floats in [0, 1): the generator's ``random.Random().random``."""


def _choice(random: Random, items: Sequence[str]) -> str:
    return items[int(random() * len(items))]


SURNAMES: tuple[tuple[str, float], ...] = (
    ("陳", 11.1), ("林", 8.3), ("黃", 6.0), ("張", 5.3), ("李", 5.1), ("王", 4.1),
    ("吳", 4.0), ("劉", 3.2), ("蔡", 2.9), ("楊", 2.7), ("許", 2.3), ("鄭", 1.9),
    ("謝", 1.8), ("洪", 1.5), ("郭", 1.5), ("邱", 1.4), ("曾", 1.4), ("廖", 1.3),
    ("賴", 1.3), ("徐", 1.1), ("周", 1.1), ("葉", 1.1), ("蘇", 1.0), ("莊", 0.9),
    ("呂", 0.8), ("江", 0.8), ("何", 0.8), ("蕭", 0.7), ("羅", 0.7), ("高", 0.7),
    ("潘", 0.6), ("簡", 0.6), ("朱", 0.6), ("鍾", 0.6), ("游", 0.5), ("彭", 0.5),
    ("詹", 0.5), ("胡", 0.4), ("施", 0.4), ("沈", 0.4), ("余", 0.4), ("盧", 0.4),
    ("梁", 0.4), ("趙", 0.4), ("顏", 0.4), ("柯", 0.4), ("翁", 0.4), ("魏", 0.4),
    ("孫", 0.3), ("戴", 0.3), ("范", 0.3), ("方", 0.3), ("宋", 0.3), ("鄧", 0.3),
    ("杜", 0.2), ("傅", 0.2), ("侯", 0.2), ("曹", 0.2), ("薛", 0.2), ("丁", 0.2),
    ("卓", 0.2), ("阮", 0.1), ("馬", 0.1), ("董", 0.1), ("温", 0.1), ("唐", 0.1),
    ("藍", 0.1), ("石", 0.1), ("蔣", 0.1), ("古", 0.1), ("紀", 0.1), ("姚", 0.1),
    ("歐陽", 0.05), ("張簡", 0.04), ("范姜", 0.03), ("司馬", 0.01),
)  # fmt: skip

_MALE = [
    "志",
    "家",
    "俊",
    "建",
    "宏",
    "明",
    "承",
    "冠",
    "宇",
    "柏",
    "翰",
    "彥",
    "廷",
    "哲",
    "信",
    "豪",
    "偉",
    "傑",
    "文",
    "國",
    "正",
    "賢",
    "雄",
    "榮",
    "聖",
    "凱",
    "維",
    "昇",
    "詠",
    "睿",
    "品",
    "恩",
    "宗",
    "佑",
    "峰",
    "民",
    "仁",
    "德",
    "勝",
    "輝",
    "順",
    "銘",
    "鴻",
    "政",
    "堃",
    "喆",
    "祐",
    "霖",
    "霆",
    "鈞",
    "博",
]
_FEMALE = [
    "淑",
    "美",
    "雅",
    "怡",
    "婷",
    "惠",
    "芬",
    "玲",
    "秀",
    "麗",
    "君",
    "慧",
    "佳",
    "欣",
    "文",
    "靜",
    "琪",
    "萍",
    "珍",
    "如",
    "宜",
    "瑩",
    "筱",
    "詩",
    "涵",
    "思",
    "芸",
    "萱",
    "庭",
    "妤",
    "瑜",
    "宣",
    "潔",
    "蓉",
    "月",
    "華",
    "玉",
    "珮",
    "娟",
    "蘭",
    "靚",
    "樺",
    "菁",
    "嫻",
    "霏",
    "甯",
]
_OLD_GIVEN = [
    "阿",
    "金",
    "水",
    "土",
    "添",
    "旺",
    "罔",
    "秀",
    "春",
    "玉",
    "來",
    "福",
    "錦",
    "火",
    "清",
]

INDIGENOUS_NAMES: tuple[str, ...] = (
    "瓦旦",
    "達利",
    "尤幹",
    "比黛",
    "吉娃斯",
    "馬賴",
    "拉互依",
    "伊萬",
    "尤命",
    "巴彥",
    "阿布斯",
    "阿美",
    "吉努",
    "達道",
    "諾幹",
    "倚岕",
    "悠蘭",
    "哈勇",
    "瑪雅",
    "巴萬",
    "撒韻",
    "沙布",
)
_HUSBAND_SURNAME_SHARE = 0.2
"""Share of married women born before 1960 registered with their husband's surname (冠夫姓)."""

_SURNAME_CUMULATIVE = list(accumulate(weight for _, weight in SURNAMES))
_SURNAME_TOTAL = _SURNAME_CUMULATIVE[-1]


def surname(random: Random) -> str:
    return SURNAMES[bisect(_SURNAME_CUMULATIVE, random() * _SURNAME_TOTAL)][0]


def given_name(random: Random, sex: str, birth_year: int) -> str:
    """Two characters; older people more often carry the plain names of their generation."""
    pool = _MALE if sex == "M" else _FEMALE
    if birth_year < 1955 and random() < 0.25:
        return _choice(random, _OLD_GIVEN) + _choice(random, pool)
    first = _choice(random, pool)
    second = _choice(random, pool)
    while second == first:
        second = _choice(random, pool)
    return first + second


def indigenous_name(random: Random) -> str:
    """A traditional name: own name ．father's (or mother's) name, as the register writes it."""
    own = _choice(random, INDIGENOUS_NAMES)
    parent = _choice(random, [n for n in INDIGENOUS_NAMES if n != own])
    return f"{own}．{parent}"


def married_surname(random: Random, own: str, husband: str, birth_year: int) -> str:
    """冠夫姓: some women born before 1960 carry their husband's surname before their own."""
    if birth_year < 1960 and random() < _HUSBAND_SURNAME_SHARE:
        return husband + own
    return own
