"""Migration ``0028_survey_invited``: up on a database with waves already answered (their
lists rebuilt from the accounts made by their opening), down again without losing a wave or
an answer, and up once more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command

from onceonly import migrations
from onceonly.db import make_engine

BEFORE = "0027_audit_tree_append_only"
REVISION = "0028_survey_invited"
OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LABOUR = "taipei-city.labour"
SOCIAL = "taipei-city.social_welfare"


def _columns(url: str, table: str) -> set[str]:
    engine = make_engine(url)
    try:
        return {c["name"] for c in sa.inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def _seed(url: str) -> None:
    """Clerks made before and after a wave opened (as at 0027, by plain SQL), answers."""
    engine = make_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    users, waves = meta.tables["users"], meta.tables["survey_waves"]
    participation = meta.tables["survey_participation"]
    pools = meta.tables["survey_pools"]

    def user(user_id: int, role: str, agency: str, made: datetime) -> dict[str, object]:
        return {
            "id": user_id,
            "username": f"u-{user_id}",
            "display_name": "同仁",
            "role": role,
            "agency_code": agency,
            "badge": f"B-{user_id:06d}",
            "password_hash": None,
            "active": True,
            "created_at": made,
            "password_changed_at": None,
        }

    early, late = OPENED - timedelta(days=40), OPENED + timedelta(hours=1)
    with engine.begin() as connection:
        connection.execute(
            users.insert(),
            [
                user(1, "clerk", LABOUR, early),  # the office's clerk: listed
                user(2, "clerk", LABOUR, OPENED - timedelta(days=1)),  # listed
                user(3, "clerk", LABOUR, late),  # made after opening: a puppet, not listed
                user(4, "owner", LABOUR, early),  # not a clerk
                user(5, "clerk", SOCIAL, early),  # another agency
                user(6, "clerk", SOCIAL, early),  # the second wave's
            ],
        )
        connection.execute(
            waves.insert(),
            [
                {
                    "id": 1,
                    "instrument": "teg-2011",
                    "title": "舊梯次",
                    "tenant": "taipei-city",
                    "agencies": [LABOUR],
                    "opened_by": "tpe-city-admin",
                    "opened_at": OPENED,
                    "closes_at": OPENED + timedelta(days=14),
                    "closed_by": None,
                },
                {
                    "id": 2,
                    "instrument": "teg-2011",
                    "title": "另一梯次",
                    "tenant": "taipei-city",
                    "agencies": [LABOUR, SOCIAL],
                    "opened_by": "tpe-city-admin",
                    "opened_at": OPENED + timedelta(days=2),
                    "closes_at": OPENED + timedelta(days=14),
                    "closed_by": None,
                },
            ],
        )
        connection.execute(pools.insert(), [{"wave_id": 1, "entries": []}])
        connection.execute(participation.insert(), [{"wave_id": 1, "user_id": 3}])
    engine.dispose()


def test_0028_lists_each_waves_clerks_as_at_its_opening_and_goes_down_again(
    empty_database_url: str,
) -> None:
    url = empty_database_url
    migrations.upgrade(url, BEFORE)
    _seed(url)
    assert "invited" not in _columns(url, "survey_waves")

    migrations.upgrade(url, REVISION)
    assert migrations.current_revision(url) == REVISION
    engine = make_engine(url)
    with engine.connect() as connection:
        waves = sa.table("survey_waves", sa.column("id"), sa.column("invited", sa.JSON()))
        invited = dict(connection.execute(sa.select(waves.c.id, waves.c.invited)).all())
        assert invited == {1: [1, 2], 2: [1, 2, 3, 5, 6]}
        # a wave written without a list (code of the revision before) gets an empty one
        connection.execute(
            sa.text(
                "INSERT INTO survey_waves (id, instrument, title, tenant, agencies, opened_by,"
                " opened_at, closes_at) VALUES (3, 'teg-2011', 't', 'taipei-city', '[]', 'x',"
                " :at, :at)"
            ),
            {"at": OPENED},
        )
        assert connection.execute(sa.select(waves.c.invited).where(waves.c.id == 3)).scalar() == []
        connection.commit()
    engine.dispose()

    command.downgrade(migrations.alembic_config(url), BEFORE)
    assert migrations.current_revision(url) == BEFORE
    assert "invited" not in _columns(url, "survey_waves")
    engine = make_engine(url)
    with engine.connect() as connection:  # no wave, pool or answer went with the column
        assert connection.execute(sa.text("SELECT count(*) FROM survey_waves")).scalar() == 3
        assert connection.execute(sa.text("SELECT count(*) FROM survey_pools")).scalar() == 1
        count = "SELECT count(*) FROM survey_participation"
        assert connection.execute(sa.text(count)).scalar() == 1
    engine.dispose()

    migrations.upgrade(url)
    assert "invited" in _columns(url, "survey_waves")
