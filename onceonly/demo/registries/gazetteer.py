# ruff: noqa: E501  (a data table: one district a line reads better than wrapped CJK)
"""Places of the five demo jurisdictions: real district names, plausible villages and roads.

Population weights (in ten thousands of residents) and residential land values (thousand NT$
per m²) are rounded from published figures so the synthetic population lands where people
actually live and a parcel in 大安區 is worth more than one in 坪林區. Villages and roads are
real where listed; districts without a list draw from names found in almost every town
(中正路, 福德里 ...), which is how Taiwanese addresses look anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

GENERIC_ROADS = (
    "中正路 中山路 民生路 民族路 民權路 復興路 和平路 建國路 光復路 自由路 成功路 文化路 "
    "仁愛路 信義路 忠孝路 中華路 大同路 三民路 新生路 公園路"
)
GENERIC_VILLAGES = "中正 福德 仁愛 和平 光明 中興 新興 忠孝 文化 民生 長安 復興 永安 興隆 福安"
GENERIC_SECTIONS = "中興 新生 福德 永安 和平 光明"

MOUNTAIN_INDIGENOUS_DISTRICTS = frozenset({"烏來區", "大同鄉", "南澳鄉"})
"""山地原住民區/鄉: most residents are indigenous."""


@dataclass(frozen=True)
class District:
    name: str
    weight: float
    land_value: int
    """Announced residential land value, thousand NT$ per m²."""
    villages: tuple[str, ...]
    roads: tuple[tuple[str, str | None], ...]
    """(road, section) pairs, e.g. ("忠孝東路", "四段"); section None when the road has none."""
    sections: tuple[str, ...]
    """Land register sections (段) of the district."""

    @property
    def urban(self) -> bool:
        return self.land_value >= 100


@dataclass(frozen=True)
class Jurisdiction:
    code: str
    name: str
    letter: str
    """National ID area letter (first issued here)."""
    county_code: str
    """The Ministry of the Interior's administrative code, as the legacy systems store it."""
    districts: tuple[District, ...]
    cadastral_map_digitised: bool
    business_prefix: str
    """First two digits of this jurisdiction's factory registration numbers."""
    tm2_origin: tuple[float, float] = (0.0, 0.0)
    """South-west corner (TWD97 TM2 metres) of the area its parcels are drawn in."""
    former_city_districts: frozenset[str] = frozenset()
    """Districts that were the provincial city before the merger (the rest: the county)."""
    former_codes: tuple[str, str] | None = None
    """Ministry codes of the former (county, city) this jurisdiction merged from."""


_ROAD = re.compile(r"(.+?(?:路|街|大道))([一二三四五六七八九十]+段)?")


def _roads(text: str) -> tuple[tuple[str, str | None], ...]:
    pairs = []
    for token in text.split():
        match = _ROAD.fullmatch(token)
        if match is None:
            raise ValueError(f"not a road: {token}")
        pairs.append((match[1], match[2]))
    return tuple(pairs)


def _district(
    name: str,
    weight: float,
    land_value: int,
    villages: str = "",
    roads: str = "",
    sections: str = "",
) -> District:
    suffix = "村" if name.endswith("鄉") else "里"
    stem = name[:-1]
    village_names = villages.split() or [*GENERIC_VILLAGES.split()[:6], stem]
    road_pairs = _roads(roads or GENERIC_ROADS)
    if not roads:
        road_pairs = road_pairs[: 8 + len(name) % 5]
    section_names = sections.split() or [stem, *(r[:2] for r, _ in road_pairs[:3])]
    if not sections:
        section_names += GENERIC_SECTIONS.split()[: 1 + len(name) % 3]
    return District(
        name=name,
        weight=weight,
        land_value=land_value,
        villages=tuple(v + suffix for v in dict.fromkeys(village_names)),
        roads=road_pairs,
        sections=tuple(s + "段" for s in dict.fromkeys(section_names)),
    )


_D = _district

JURISDICTIONS: tuple[Jurisdiction, ...] = (
    Jurisdiction(
        "taipei-city", "臺北市", "A", "63000",
        (
            _D("中正區", 15.2, 600, "黎明 光復 梅花 東門 幸福 文北 建國 南門",
               "重慶南路一段 羅斯福路一段 汀州路三段 南昌路二段 杭州南路一段 延平南路 金門街",
               "南海 河堤 永昌 成功 城中"),
            _D("大同區", 12.3, 450, "建泰 大有 延平 國順 保安 朝陽",
               "迪化街一段 民生西路 延平北路二段 承德路三段 重慶北路二段 寧夏路 長安西路",
               "延平 建成 蓬萊 大龍"),
            _D("中山區", 21.5, 550, "中山 民安 聚葉 中庄 正守 大直",
               "中山北路二段 南京東路二段 松江路 林森北路 民權東路二段 長安東路一段 吉林路",
               "中山 長安 吉林 大直 榮星"),
            _D("松山區", 18.6, 620, "東榮 吉祥 莊敬 復源 自強",
               "八德路四段 南京東路五段 民生東路五段 敦化北路 光復北路 延吉街 健康路 饒河街",
               "西松 延吉 美仁 松山 三民"),
            _D("大安區", 28.5, 750, "仁愛 龍安 古莊 錦安 住安 學府 光武",
               "忠孝東路四段 敦化南路一段 復興南路一段 和平東路二段 信義路四段 新生南路三段 "
               "羅斯福路三段 仁愛路四段 安和路二段",
               "大安 仁愛 敦化 學府 龍泉 金華"),
            _D("萬華區", 17.5, 380, "福星 青山 新起 華江 西門 綠堤",
               "西園路二段 康定路 和平西路三段 萬大路 環河南路二段 艋舺大道 西寧南路",
               "華江 莒光 福星 青年 雙園"),
            _D("信義區", 20.3, 650, "西村 三張 興雅 松友 六藝 中興",
               "松仁路 基隆路一段 忠孝東路五段 吳興街 松山路 莊敬路 永吉路 信義路五段",
               "信義 三興 永春 景聯 興雅"),
            _D("士林區", 26.8, 400, "福德 福華 天母 蘭雅 社子 永福",
               "中正路 文林路 承德路四段 中山北路六段 天母東路 福林路 至誠路一段 大南路",
               "士林 天母 福林 蘭雅 社子"),
            _D("北投區", 24.5, 330, "中央 奇岩 石牌 關渡 桃源 立農",
               "石牌路二段 中和街 光明路 大業路 中央北路二段 明德路 東華街一段 實踐街",
               "北投 石牌 奇岩 關渡 立農"),
            _D("內湖區", 27.2, 420, "港墘 湖興 西康 大湖 紫星 週美",
               "成功路四段 內湖路一段 民權東路六段 康寧路三段 金湖路 星雲街 港墘路 江南街",
               "內湖 西湖 康寧 文德 瑞光"),
            _D("南港區", 11.5, 420, "南港 中研 玉成 東明 新光",
               "南港路二段 研究院路二段 忠孝東路六段 經貿二路 昆陽街 興華路 東新街 重陽路",
               "南港 玉成 中研 經貿"),
            _D("文山區", 26.3, 330, "景美 興豐 木柵 萬芳 指南 政大",
               "木柵路三段 興隆路二段 景興路 羅斯福路五段 指南路二段 秀明路二段 萬芳路",
               "景美 木柵 萬芳 興隆 政大"),
        ),
        True, "63", (296_000.0, 2_763_000.0),
    ),
    Jurisdiction(
        "new-taipei-city", "新北市", "F", "65000",
        (
            _D("板橋區", 55.0, 220, "留侯 新興 港嘴 中正 文聖 莒光",
               "文化路一段 中山路一段 民生路二段 縣民大道二段 四川路二段 漢生東路 館前東路"),
            _D("三重區", 38.0, 200, "福利 大有 光正 錦通 永興",
               "重新路四段 正義北路 三和路三段 自強路一段 大同南路 中正北路"),
            _D("中和區", 40.0, 190, "南勢 員山 錦和 積穗 景新",
               "中和路 中山路二段 景平路 連城路 景新街 興南路一段"),
            _D("永和區", 21.0, 230, "永和 竹林 保順 秀和 得和",
               "永和路二段 中正路 竹林路 保平路 福和路 秀朗路一段"),
            _D("新莊區", 42.0, 180, "文德 中港 福營 思賢 豐年",
               "中正路 思源路 新泰路 中華路二段 幸福路 龍安路"),
            _D("新店區", 30.0, 170, "大豐 安坑 寶福 中正 新店",
               "北新路二段 中正路 民權路 安康路二段 寶橋路 中興路三段"),
            _D("樹林區", 18.5, 110, "樹林 中山 彭福 東昇",
               "中山路一段 保安街一段 中正路 八德街 大安路"),
            _D("鶯歌區", 8.7, 70, "鶯歌 尖山 建德", "中正一路 文化路 尖山埔路 國慶街"),
            _D("三峽區", 11.7, 80, "三峽 龍埔 大埔 介壽", "復興路 中華路 大學路 文化路 介壽路一段"),
            _D("淡水區", 18.8, 80, "民生 竹圍 水碓 新興 沙崙",
               "中正路 中山路 學府路 民權路 淡金路三段 英專路"),
            _D("汐止區", 20.5, 120, "汐止 秀峰 長安 宜興", "大同路二段 新台五路一段 中興路 康寧街 忠孝東路"),
            _D("瑞芳區", 3.7, 30, "瑞芳 龍潭 九份 金瓜石"),
            _D("土城區", 23.5, 150, "土城 清水 員林 廷寮", "中央路二段 金城路二段 裕民路 學府路一段 永寧路"),
            _D("蘆洲區", 20.0, 160, "保佑 中路 樓厝 永康", "長安街 中正路 三民路 集賢路 光華路"),
            _D("五股區", 9.0, 100, "五股 成州 更寮", "五工路 成泰路二段 中興路四段 民義路一段"),
            _D("泰山區", 8.0, 110, "泰山 明志 貴和", "明志路二段 泰林路二段 全興路 楓江路"),
            _D("林口區", 12.5, 100, "林口 東林 湖南", "文化一路一段 仁愛路二段 忠孝路 中山路"),
            _D("深坑區", 2.4, 60),
            _D("石碇區", 0.76, 10),
            _D("坪林區", 0.66, 8),
            _D("三芝區", 2.2, 15),
            _D("石門區", 1.1, 10),
            _D("八里區", 4.0, 50),
            _D("平溪區", 0.44, 8),
            _D("雙溪區", 0.8, 8),
            _D("貢寮區", 1.2, 8),
            _D("金山區", 2.1, 15),
            _D("萬里區", 2.1, 20),
            _D("烏來區", 0.63, 8, "烏來 忠治 信賢 孝義 福山", "烏來街 環山路 新烏路五段 忠治路"),
        ),
        True, "65", (280_000.0, 2_740_000.0),
    ),
    Jurisdiction(
        "tainan-city", "臺南市", "D", "67000",
        (
            _D("中西區", 7.7, 90, "赤崁 永華 郡王 府前 五條港",
               "中正路 民生路二段 民族路二段 西門路二段 府前路一段 永福路二段 海安路二段"),
            _D("東區", 18.5, 85, "大學 成大 崇學 東門 虎尾",
               "東門路二段 長榮路二段 大學路 崇學路 林森路一段 中華東路二段"),
            _D("南區", 12.4, 50, "大林 新興 鯤鯓 金華", "健康路二段 金華路二段 夏林路 大同路二段 明興路"),
            _D("北區", 13.0, 70, "公園 北門 成功 開元", "公園路 北門路二段 成功路 開元路 西門路三段"),
            _D("安平區", 6.7, 80, "安平 華平 建平 億載", "安平路 永華路二段 健康路三段 光州路 華平路"),
            _D("安南區", 19.6, 40, "海佃 安和 顯宮 本淵", "安和路三段 海佃路一段 長和路二段 本田路二段"),
            _D("永康區", 23.5, 55, "永康 大灣 西勢 復國", "中華路 中正南路 永大路二段 大灣路 中山南路"),
            _D("歸仁區", 6.8, 30, "歸仁 南保 沙崙", "中山路一段 中正南路一段 民權南路 歸仁大道"),
            _D("新化區", 4.3, 20),
            _D("左鎮區", 0.45, 4),
            _D("玉井區", 1.3, 8),
            _D("楠西區", 0.9, 5),
            _D("南化區", 0.8, 4),
            _D("仁德區", 7.6, 35),
            _D("關廟區", 3.3, 15),
            _D("龍崎區", 0.37, 4),
            _D("官田區", 2.1, 10),
            _D("麻豆區", 4.4, 15, "麻豆 興國 南勢", "中山路 興中路 中正路 博愛路"),
            _D("佳里區", 5.8, 15, "佳里 延平 安西", "延平路 光復路 中山路 文化路"),
            _D("西港區", 2.4, 10),
            _D("七股區", 2.2, 6),
            _D("將軍區", 1.9, 6),
            _D("學甲區", 2.5, 8),
            _D("北門區", 1.0, 5),
            _D("新營區", 7.6, 25, "新營 民榮 三仙", "中山路 三民路 民治路 中正路"),
            _D("後壁區", 2.2, 6),
            _D("白河區", 2.6, 8),
            _D("東山區", 2.0, 5),
            _D("六甲區", 2.1, 8),
            _D("下營區", 2.3, 7),
            _D("柳營區", 2.1, 8),
            _D("鹽水區", 2.4, 8),
            _D("善化區", 5.0, 25, "善化 光文 東關", "中山路 光華路 中正路 大成路"),
            _D("大內區", 0.9, 4),
            _D("山上區", 0.7, 5),
            _D("新市區", 3.7, 25),
            _D("安定區", 3.0, 15),
        ),
        False, "67",
        former_city_districts=frozenset({"中西區", "東區", "南區", "北區", "安平區", "安南區"}),
        former_codes=("10011", "10021"),
    ),
    Jurisdiction(
        "keelung-city", "基隆市", "C", "10017",
        (
            _D("中正區", 5.1, 60, "中正 正義 新豐 和平", "中正路 義一路 北寧路 正義路 新豐街"),
            _D("七堵區", 5.3, 45, "七堵 百福 長興 堵南", "明德一路 福五街 大華三路 自治街"),
            _D("暖暖區", 3.9, 40, "暖暖 碇內 八堵 過港", "暖暖街 源遠路 東勢街 八堵路"),
            _D("仁愛區", 4.3, 80, "仁愛 花崗 龍門 水錦", "愛一路 仁一路 忠一路 孝二路 南榮路 龍安街"),
            _D("中山區", 4.5, 55, "中山 仁正 西定 太白", "中山一路 中華路 復興路 西定路"),
            _D("安樂區", 8.0, 50, "安樂 定邦 武崙 嘉仁", "安樂路二段 基金一路 麥金路 武崙街"),
            _D("信義區", 5.1, 55, "信義 東信 義民 智慧", "信二路 東信路 深溪路 義七路"),
        ),
        True, "17", (318_000.0, 2_772_000.0),
    ),
    Jurisdiction(
        "yilan-county", "宜蘭縣", "G", "10002",
        (
            _D("宜蘭市", 9.5, 45, "新民 中山 神農 南門 梅洲",
               "中山路二段 神農路一段 光復路 民權路一段 女中路二段 復興路二段"),
            _D("羅東鎮", 7.1, 55, "羅東 公正 成功 北成", "中正路 公正路 興東路 純精路二段 光榮路"),
            _D("蘇澳鎮", 3.8, 15, "蘇澳 南安 聖湖", "中山路一段 蘇港路 南安路"),
            _D("頭城鎮", 2.8, 15, "城東 城西 港口", "青雲路三段 和平街 開蘭路"),
            _D("礁溪鄉", 3.5, 25, "礁溪 德陽 大忠", "礁溪路五段 中山路一段 德陽路"),
            _D("壯圍鄉", 2.4, 8, "古亭 永鎮 新社", "壯五路 中央路"),
            _D("員山鄉", 3.1, 10, "員山 同樂 尚德", "員山路 賢德路"),
            _D("冬山鄉", 5.3, 12, "冬山 廣興 順安", "冬山路 義成路 香和路"),
            _D("五結鄉", 4.0, 12, "五結 利澤 季新", "五結路三段 利寶路 中正路"),
            _D("三星鄉", 2.0, 8, "三星 大洲 天山", "三星路 中山路"),
            _D("大同鄉", 0.6, 3, "崙埤 松羅 四季 南山 寒溪", "泰雅路 崙埤路"),
            _D("南澳鄉", 0.6, 3, "南澳 碧候 金洋 東澳 武塔", "蘇花路 南澳路"),
        ),
        False, "02",
    ),
)  # fmt: skip

DEMO_JURISDICTIONS: tuple[str, ...] = tuple(j.code for j in JURISDICTIONS)


@cache
def jurisdiction(code: str) -> Jurisdiction:
    for item in JURISDICTIONS:
        if item.code == code:
            return item
    raise KeyError(f"not a demo jurisdiction: {code}")


def district(jurisdiction_code: str, name: str) -> District:
    for item in jurisdiction(jurisdiction_code).districts:
        if item.name == name:
            return item
    raise KeyError(f"{name} is not a district of {jurisdiction_code}")


POPULATION_WEIGHTS: dict[str, float] = {
    "taipei-city": 248.0,
    "new-taipei-city": 404.0,
    "tainan-city": 185.0,
    "keelung-city": 36.0,
    "yilan-county": 45.0,
}
"""Residents in ten thousands (2025), which decides how many demo people live where."""
