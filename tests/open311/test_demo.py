"""The demo's Open311 seed: one key kept in the data directory, a few requests, once."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from onceonly.config import Settings
from onceonly.demo import open311_demo
from onceonly.open311 import keys, service


def test_seed_is_made_once_and_prints_the_same_key(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    first = open311_demo.seed(sessions, settings)
    again = open311_demo.seed(sessions, settings)
    assert first == again and first.startswith("o311_")
    with sessions() as db:
        assert len(keys.list_keys(db)) == 1
        taipei = service.list_requests(db, jurisdiction="taipei-city")
        assert {r.service_code for r in taipei} == {"pothole", "streetlight-out", "illegal-parking"}
        tainan = service.list_requests(db, jurisdiction="tainan-city")
        assert [r.agency for r in tainan] == ["tainan-city.health"]
