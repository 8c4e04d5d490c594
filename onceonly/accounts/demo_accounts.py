"""The demo's accounts: who they are (``demo_accounts.yaml``: a clerk per agency, an owner per
data-owning agency, an auditor and perhaps an administrator per jurisdiction, the central
owners, the node's administrator) and seeding them, with the published :data:`DEMO_PASSWORD`
unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from onceonly.accounts.models import ROLES, Role, User
from onceonly.accounts.password_rules import SELF
from onceonly.accounts.passwords import hash_password
from onceonly.accounts.users import create_user
from onceonly.i18n import t

DEMO_PASSWORD = "onceonly-demo"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    agency_code: str
    display_name: str
    password: str
    created: bool
    """False when the account already existed (a second seed creates nothing)."""


@lru_cache(maxsize=1)
def _demo_plan() -> dict[str, Any]:
    path = Path(__file__).with_name("demo_accounts.yaml")
    plan: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    return plan


def _agency_kind(code: str) -> str:
    return code.split(".", 1)[1] if "." in code else code


def demo_account_plan(
    jurisdictions: Sequence[str], agency_codes: Mapping[str, Sequence[str]] | None = None
) -> list[tuple[str, str, str, str]]:
    """The demo accounts as (username, role, agency_code, display name), without touching the
    database; see ``demo_accounts.yaml`` for the username scheme.

    ``agency_codes`` maps a jurisdiction to the agencies it has (full codes such as
    ``taipei-city.land_office`` or bare kinds); without it every listed kind is assumed.
    """
    plan = _demo_plan()
    clerk_kinds: dict[str, dict[str, str]] = plan["clerk_agencies"]
    owner_kinds: list[str] = plan["owner_agencies"]
    auditor: dict[str, str] = plan["auditor_agency"]
    role_label = {r: t(f"accounts.role.{r}", "zh-TW") for r in ROLES}
    accounts: list[tuple[str, str, str, str]] = []
    for jurisdiction in jurisdictions:
        known = plan["jurisdictions"].get(jurisdiction, {})
        abbr = known.get("abbr", jurisdiction)
        place = known.get("name", jurisdiction)
        if agency_codes is not None and jurisdiction in agency_codes:
            kinds = {_agency_kind(c) for c in agency_codes[jurisdiction]}
        else:
            kinds = set(clerk_kinds)
        for kind, info in clerk_kinds.items():
            if kind not in kinds:
                continue
            agency = f"{jurisdiction}.{kind}"
            for role in (Role.CLERK, Role.OWNER):
                if role is Role.OWNER and kind not in owner_kinds:
                    continue
                accounts.append(
                    (
                        f"{abbr}-{info['abbr']}-{role.value}",
                        role.value,
                        agency,
                        f"{place}{info['name']} {role_label[role.value]}",
                    )
                )
        accounts.append(
            (
                f"{abbr}-auditor",
                Role.AUDITOR.value,
                f"{jurisdiction}.{auditor['kind']}",
                f"{place}{auditor['name']} {role_label['auditor']}",
            )
        )
        tenant_admin = plan.get("tenant_admins", {}).get(jurisdiction)
        if tenant_admin:
            accounts.append(
                (
                    tenant_admin["username"],
                    Role.ADMIN.value,
                    tenant_admin["agency"],
                    f"{tenant_admin['name']} {role_label['admin']}",
                )
            )
    for code, info in plan["central_owners"].items():
        accounts.append(
            (info["username"], Role.OWNER.value, code, f"{info['name']} {role_label['owner']}")
        )
    admin = plan["admin"]
    accounts.append(
        (
            admin["username"],
            Role.ADMIN.value,
            admin["agency"],
            f"{admin['name']} {role_label['admin']}",
        )
    )
    return accounts


def seed_demo_accounts(
    session: Session,
    jurisdictions: Sequence[str],
    agency_codes: Mapping[str, Sequence[str]] | None = None,
    password: str = DEMO_PASSWORD,
) -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet (idempotent) and list them all.

    For each jurisdiction: a clerk per agency, an owner per data-owning agency and an
    auditor; plus the central data owners and one admin. All share ``password``, hashed once
    (the demo password is public anyway), recorded as chosen by the holder (``set_by``
    :data:`SELF`): a demo sign-in is not sent to change it first, as the tour and the
    browser tests rely on. Accounts an administrator or ``onceonly users create`` makes on
    a demo node are temporary as anywhere.
    """
    planned = demo_account_plan(jurisdictions, agency_codes)
    existing = set(
        session.scalars(select(User.username).where(User.username.in_([p[0] for p in planned])))
    )
    shared_hash = hash_password(password) if len(existing) < len(planned) else None
    result: list[DemoAccount] = []
    for username, role, agency_code, display_name in planned:
        created = username not in existing
        if created:
            create_user(
                session,
                username,
                None,
                role,
                agency_code,
                display_name,
                password_hash=shared_hash,
                set_by=SELF,  # the demo's password is published: nobody else's secret
            )
            existing.add(username)
        result.append(DemoAccount(username, role, agency_code, display_name, password, created))
    return result
