"""``onceonly users``: create, list, issue and revoke tokens, set passwords."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from onceonly.accounts.api_tokens import list_api_tokens, resolve_api_token
from onceonly.accounts.password_rules import SELF
from onceonly.accounts.principal import NODE_OPERATOR
from onceonly.accounts.signin import authenticate
from onceonly.accounts.users import create_citizen, create_user, get_user, list_users
from onceonly.cli import app
from onceonly.config import Settings
from onceonly.errors import Problem


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ONCEONLY_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("ONCEONLY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("ONCEONLY_LANGUAGE", "en")
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_create_list_and_sign_in(runner: CliRunner, db: Session) -> None:
    created = runner.invoke(
        app,
        [
            "users",
            "create",
            "tpe-udd-clerk",
            "--role",
            "clerk",
            "--agency",
            "taipei-city.urban_development",
            "--display-name",
            "臺北市都市發展局 承辦人",
        ],
        input="a good password\na good password\n",
    )
    assert created.exit_code == 0, created.output
    assert "Created user tpe-udd-clerk" in created.output and "badge B-" in created.output
    listed = runner.invoke(app, ["users", "list", "--role", "clerk"])
    assert "tpe-udd-clerk" in listed.output and "taipei-city.urban_development" in listed.output
    assert authenticate(db, "tpe-udd-clerk", "a good password").role == "clerk"
    narrow = runner.invoke(app, ["users", "list"], env={"COLUMNS": "80"})
    assert "tpe-udd-clerk" in narrow.output and "…" not in narrow.output, narrow.output


def test_a_filter_that_names_nothing_is_refused_not_an_empty_table(runner: CliRunner) -> None:
    """``--role wizard`` showed an empty table, as if there were no such accounts."""
    listed = runner.invoke(app, ["users", "list", "--role", "wizard", "--agency", "Taipei City"])
    assert listed.exit_code == 1
    said = " ".join(listed.output.split())
    assert "role: The role must be one of: clerk, owner, auditor, admin, citizen" in said, said
    assert "agency: " in said
    assert runner.invoke(app, ["users", "list", "--agency", "nowhere.nobody"]).exit_code == 0


def test_bad_input_names_the_field_and_writes_nothing(runner: CliRunner, db: Session) -> None:
    result = runner.invoke(
        app,
        [
            "users",
            "create",
            "X",
            "--role",
            "mayor",
            "--agency",
            "taipei-city.fire",
            "--display-name",
            "x",
            "--password",
            "a good password",
        ],
    )
    assert result.exit_code == 1
    assert "username" in result.output and "role" in result.output
    assert list_users(db) == []


def test_an_agency_missing_from_the_catalog_is_refused(runner: CliRunner, db: Session) -> None:
    args = ["users", "create", "tpe-ghost-clerk", "--role", "clerk", "--agency"]
    tail = ["--display-name", "幽靈承辦", "--password", "a good password"]
    result = runner.invoke(app, [*args, "taipei-city.ghost_bureau", *tail])
    assert result.exit_code == 1
    assert "agency_code" in result.output and "taipei-city.ghost_bureau" in result.output
    assert list_users(db) == []


def test_mismatched_password_prompts_are_refused(runner: CliRunner, db: Session) -> None:
    result = runner.invoke(
        app,
        [
            "users",
            "create",
            "tpe-fire-clerk",
            "--role",
            "clerk",
            "--agency",
            "taipei-city.fire",
            "--display-name",
            "x",
        ],
        input="one password\nanother one\n",
    )
    assert result.exit_code == 1 and "differ" in result.output
    assert get_user(db, "tpe-fire-clerk") is None


def test_issue_and_revoke_token(runner: CliRunner, db: Session) -> None:
    create_user(db, "tpe-udd-clerk", None, "clerk", "taipei-city.urban_development", "系統")
    db.commit()
    issued = runner.invoke(
        app, ["users", "issue-token", "tpe-udd-clerk", "--name", "國宅系統", "--days", "7"]
    )
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip().splitlines()[-1]
    assert resolve_api_token(db, token).username == "tpe-udd-clerk"
    db.commit()
    token_id = list_api_tokens(db)[0].id
    listed = runner.invoke(app, ["users", "list-tokens"])
    assert "國宅系統" in listed.output and token not in listed.output
    revoked = runner.invoke(app, ["users", "revoke-token", str(token_id)])
    assert revoked.exit_code == 0 and "Revoked token" in revoked.output
    db.expire_all()
    with pytest.raises(Problem):
        resolve_api_token(db, token)
    missing = runner.invoke(app, ["users", "issue-token", "nobody", "--name", "x"])
    assert missing.exit_code == 1 and "No user nobody" in missing.output
    zero = ["users", "issue-token", "tpe-udd-clerk", "--name", "x", "--days", "0"]
    no_days = runner.invoke(app, zero)  # 0 once meant the default validity
    assert no_days.exit_code == 1 and "days" in no_days.output, no_days.output
    assert len(list_api_tokens(db)) == 1


def test_set_password(runner: CliRunner, db: Session) -> None:
    create_user(db, "tpe-land-clerk", "first password", "clerk", "taipei-city.land_office", "王")
    db.commit()
    result = runner.invoke(
        app, ["users", "set-password", "tpe-land-clerk", "--password", "second password"]
    )
    assert result.exit_code == 0, result.output
    db.expire_all()
    assert authenticate(db, "tpe-land-clerk", "second password").username == "tpe-land-clerk"
    short = runner.invoke(app, ["users", "set-password", "tpe-land-clerk", "--password", "short"])
    assert short.exit_code == 1 and "at least 8" in short.output


def test_require_password_change_after_an_upgrade(runner: CliRunner, db: Session) -> None:
    """Passwords in use before who set them was recorded may be an administrator's choice:
    the operator makes their holders set their own at the next sign-in."""
    from sqlalchemy import select

    from onceonly.audit.models import AuditEntry

    land = "taipei-city.land_office"
    for name in ("tpe-land-clerk", "tpe-land-owner"):
        create_user(db, name, "first password", "clerk", land, "王", set_by=SELF)
    create_user(db, "tpe-land-system", None, "clerk", land, "系統")
    citizen = create_citizen(db, "A123456789", "陳")
    db.commit()

    neither = runner.invoke(app, ["users", "require-password-change"])
    assert neither.exit_code == 2 and "--all" in neither.output
    missing = runner.invoke(app, ["users", "require-password-change", "nobody"])
    assert missing.exit_code == 1 and "nobody" in missing.output

    one = runner.invoke(app, ["users", "require-password-change", "tpe-land-clerk"])
    assert one.exit_code == 0 and "sign-in: 1" in one.output, one.output
    db.expire_all()

    def must(name: str) -> bool:
        user = get_user(db, name)
        assert user is not None
        return user.must_change_password

    assert must("tpe-land-clerk") and not must("tpe-land-owner")
    every = runner.invoke(app, ["users", "require-password-change", "--all"])
    assert every.exit_code == 0, every.output
    db.expire_all()
    assert must("tpe-land-owner")
    assert not must("tpe-land-system") and not must(citizen.username)
    marked = db.scalars(
        select(AuditEntry).where(AuditEntry.event == "account.password_change_required")
    ).all()
    assert [e.details["account"]["badge"] for e in marked] == [
        get_user(db, "tpe-land-clerk").badge,  # type: ignore[union-attr]
        get_user(db, "tpe-land-owner").badge,  # type: ignore[union-attr]
    ]
    assert {e.actor_username for e in marked} == {NODE_OPERATOR}
