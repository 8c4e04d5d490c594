"""What ``./demo`` prints first, read in an 80-column terminal: whom to sign in as and whom to
ask about, whole, and the owners behind a gateway by name."""

from __future__ import annotations

import pytest

from onceonly.accounts.demo_accounts import seed_demo_accounts
from onceonly.db import make_engine, make_session_factory, transaction
from onceonly.demo.console import FEATURED_ACCOUNTS, print_demo_summary, print_gateways
from onceonly.demo.registries import DEMO_JURISDICTIONS
from onceonly.demo.run import DemoState
from tests.conftest import DemoEnv


def _banner(demo_env: DemoEnv, capsys: pytest.CaptureFixture[str]) -> str:
    engine = make_engine(demo_env.settings.resolved_database_url)
    with transaction(make_session_factory(engine)) as db:
        accounts = seed_demo_accounts(db, list(DEMO_JURISDICTIONS))  # made already: listed
    engine.dispose()
    state = DemoState(
        manifest=demo_env.manifest,
        accounts=accounts,
        rules_made=0,
        catalog_loaded=True,
        registries_generated=False,
    )
    print_demo_summary(state, demo_env.settings, "http://127.0.0.1:8000")
    print_gateways(demo_env.settings, {"central.fia": "https://127.0.0.1:8143"})
    return capsys.readouterr().out


def test_an_80_column_banner_cuts_nothing_short(
    demo_env: DemoEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    shown = _banner(demo_env, capsys)
    assert "…" not in shown  # rich's ellipsis: an agency code or a citizen's story cut short
    lines = shown.splitlines()
    for username in FEATURED_ACCOUNTS:
        assert any(f" {username} " in line for line in lines), username
    assert "(Data owner)" in shown  # the role in words beside the name
    assert "taipei-city.urban_development" not in shown  # the name says the agency


def test_the_gateways_are_named_not_a_dictionary(
    demo_env: DemoEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    shown = _banner(demo_env, capsys)
    assert "財政部財政資訊中心 / Fiscal Information Agency" in shown
    assert "https://127.0.0.1:8143" in shown
    assert '{"central.fia"' not in shown
