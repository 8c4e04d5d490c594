"""Public catalog pages and JSON API, answered without signing in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from onceonly.catalog.schema import LOCAL_AGENCY_KINDS
from onceonly.config import Settings
from onceonly.i18n import t
from onceonly.web.app import create_app


@pytest.fixture(scope="module")
def client(
    shared_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    data_dir: Path = tmp_path_factory.mktemp("data")
    settings = Settings(
        data_dir=data_dir, database_url=shared_database_url, secret_key="test-secret"
    )
    settings.ensure_dirs()
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def _default_language(client: TestClient) -> None:
    """Each test starts in Traditional Chinese: English chosen by another test (``?lang=en``)
    sticks in the shared client's ``lang`` cookie, as it does in a browser."""
    client.cookies.delete("lang")


HTML = {"accept": "text/html"}


def test_catalog_page_groups_items_by_agency(client: TestClient) -> None:
    response = client.get("/catalog", headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert "申請項目與資料目錄" in page
    assert "都市發展局（處）" in page and "地政事務所" in page
    assert "低收入戶申請等候承租國宅" in page
    assert 'href="/catalog/items/public-housing-low-income"' in page
    assert 'name="viewport"' in page


def test_catalog_search(client: TestClient) -> None:
    page = client.get("/catalog", params={"q": "鑑界"}, headers=HTML).text
    assert "土地鑑界" in page and "低收入戶申請等候承租國宅" not in page
    none = client.get("/catalog", params={"q": "飛碟"}, headers=HTML).text
    assert "找不到符合「飛碟」的申請項目" in none


def test_catalog_in_english(client: TestClient) -> None:
    page = client.get("/catalog", params={"lang": "en"}, headers=HTML).text
    assert "Waiting list for public-housing rental: low-income household" in page
    assert "Urban development" in page


def test_item_page_shows_evidence_legal_basis_and_paper(client: TestClient) -> None:
    page = client.get("/catalog/items/public-housing-low-income", headers=HTML).text
    assert "戶籍謄本" in page and "低收入戶證明" in page
    assert "稅捐稽徵法第33條" in page
    assert "家庭平均每人每月所得低於門檻" in page and "門檻（元／人／月）：19,013" in page
    assert "2026 年度" in page and "社會救助法第4條第2項" in page  # the statutory value's source
    assert "臺北市" in page
    assert "處理時限" in page and "30 日" in page and "示範值" in page
    assert "申請書表" in page and "低收入戶申請等候承租國宅申請書" in page


def test_item_page_names_what_is_fetched_with_codes_only_beside_the_names(
    client: TestClient,
) -> None:
    page = client.get("/catalog/items/public-housing-low-income", headers=HTML).text
    evidence = page.split('<ol class="evidence">', 1)[1]
    assert "欄位: 姓名 <small" in evidence and "戶籍地址 <small" in evidence
    assert "只回答符合與否: 是否為低收入戶 <small" in evidence
    assert "只回答符合與否: 家庭平均每人每月所得低於門檻 <small" in evidence
    assert "門檻（元／人／月）：19,013 <small" in evidence
    assert ">綜合所得資料</a>" in evidence  # the dataset's link reads as its name
    # every code left (for integrators) sits muted beside its name, never in its place
    assert evidence.count("<code>") == evidence.count('<small class="muted"><code>') > 0
    english = client.get("/catalog/items/public-housing-low-income?lang=en", headers=HTML).text
    assert "Yes/no answer only: Is a low-income household <small" in english
    assert "Threshold (NTD per member per month): 19,013 <small" in english
    assert "Fields: Name <small" in english and ">Income (consolidated income tax)</a>" in english


def test_dataset_page_marks_personal_data_and_extensions(client: TestClient) -> None:
    page = client.get("/catalog/datasets/household_registration", headers=HTML).text
    assert "● 個資" in page
    assert "national_id" in page and "former_jurisdiction" in page
    assert "is_registered_resident_of" in page
    cadastral = client.get("/catalog/datasets/cadastral_map", headers=HTML).text
    assert "尚未電子化的縣市：臺南市、宜蘭縣" in cadastral


def test_jurisdictions_page_shows_lineage(client: TestClient) -> None:
    page = client.get("/catalog/jurisdictions", headers=HTML).text
    assert "臺南縣" in page and "2010-12-25" in page and "2014-12-25" in page
    assert 'href="#tainan-city"' in page


def test_unknown_item_page_is_404(client: TestClient) -> None:
    response = client.get("/catalog/items/no-such-item", headers=HTML)
    assert response.status_code == 404
    assert "沒有代碼為 no-such-item 的申請項目" in response.text


def test_api_items(client: TestClient) -> None:
    response = client.get("/api/v1/catalog/application-items")
    assert response.status_code == 200
    items = response.json()
    assert len(items) >= 30
    filtered = client.get(
        "/api/v1/catalog/application-items",
        params={"q": "國宅", "jurisdiction": "taipei-city", "agency_kind": "urban_development"},
    ).json()
    assert {i["code"] for i in filtered} >= {"public-housing-low-income", "public-housing-general"}
    item = client.get("/api/v1/catalog/application-items/public-housing-low-income").json()
    assert item["required_evidence"][2]["predicate_params"] == {"threshold": 19013}
    assert item["required_evidence"][0]["legal_basis"] == "pdpa-art16"


def test_api_datasets_and_jurisdictions(client: TestClient) -> None:
    datasets = client.get("/api/v1/catalog/datasets").json()
    assert {d["code"] for d in datasets} >= {"household_registration", "income", "cadastral_map"}
    one = client.get(
        "/api/v1/catalog/datasets/household_registration", params={"jurisdiction": "tainan-city"}
    ).json()
    assert one["fields"][-1]["name"] == "former_jurisdiction"
    assert one["fields"][0] == {
        "name": "national_id", "type": "string", "label_zh": "身分證統一編號",
        "label_en": "National ID number", "personal": True, "required": True,
        "jurisdiction": None, "code_list": [], "code_list_source": None, "items": [],
    }  # fmt: skip
    places = client.get("/api/v1/catalog/jurisdictions").json()
    county = next(p for p in places if p["code"] == "taoyuan-county")
    assert (county["merged_into"], county["merged_on"]) == ("taoyuan-city", "2014-12-25")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/catalog/application-items/no-such-item",
        "/api/v1/catalog/datasets/no_such_dataset",
        "/api/v1/catalog/datasets/income?jurisdiction=atlantis",
        "/api/v1/catalog/application-items?jurisdiction=atlantis",
    ],
)
def test_api_unknown_code_is_a_404_problem(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 404 and problem["type"].endswith("/not-found")
    assert "detail" in problem


def test_openapi_documents_the_catalog_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/api/v1/catalog/application-items",
        "/api/v1/catalog/application-items/{code}",
        "/api/v1/catalog/datasets",
        "/api/v1/catalog/datasets/{code}",
        "/api/v1/catalog/jurisdictions",
    ):
        assert path in spec["paths"]
    schema = spec["components"]["schemas"]["ApplicationItemView"]
    assert schema["examples"][0]["code"] == "public-housing-low-income"


def test_every_dataset_page_opens_in_both_languages(client: TestClient) -> None:
    """A dataset kept by a kind of local agency with no name in the message files
    (building_administration) answered 500: every page is opened here, and every local
    kind of agency has a name in each language."""
    for kind in LOCAL_AGENCY_KINDS:
        assert {lang: t(f"catalog.kind.{kind}", lang) for lang in ("zh-TW", "en")}
    codes = [d["code"] for d in client.get("/api/v1/catalog/datasets").json()]
    assert "building_use_permit" in codes
    for code in codes:
        for lang in ("zh-TW", "en"):
            page = client.get(f"/catalog/datasets/{code}", params={"lang": lang})
            assert page.status_code == 200, (code, lang, page.text[:300])
