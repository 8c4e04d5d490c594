"""Tenants (地方雲): the jurisdictions one node hosts, and which of them a signed-in account
may see.

A node serves one or more jurisdictions (``node.json`` lists them; a stand-alone deployment
serves whichever jurisdictions its agencies belong to). Each served jurisdiction is a tenant.
Every non-citizen account belongs to exactly one tenant: the jurisdiction of its agency,
read from the agency code (``keelung-city.social_welfare`` -> ``keelung-city``), the form
every catalog agency code has. National agencies (``central.*``) form one more tenant,
``central``: their auditors oversee access to the national datasets.

What each role sees (the *scope*):

* clerks and data owners: their own agency's cases and rules, as before; an object of another
  tenant answers 404, as if it did not exist, so numbers and ids do not leak;
* auditors: audit entries, flags and notification histories whose requesting or owning agency
  is in their tenant;
* administrators of a tenant's agency: that tenant's accounts, tokens, messages to citizens and
  audit entries;
* platform administrators (an ``admin`` of a national agency, the node's operator): node-wide
  *operations* (every account and token, queue counts, masked dead letters, the audit head)
  and no tenant's personal data: :attr:`Scope.tenant` is ``None``. They list and disable
  every account (each disabling audited, so the tenant's auditors see it) but create
  accounts and issue tokens only for node-wide ones (:meth:`Scope.provisions`): a token is
  issued to its own account (a person's only by its holder, signed in), or by the tenant's
  own administrator for the tenant's system accounts
  (:func:`~onceonly.accounts.api_tokens.issue_api_token`). The only node-wide accounts it
  makes are other administrators of national agencies (:data:`NODE_WIDE_ROLES` says why not
  their data owners).

This lives in ``accounts`` because it is a property of who is calling, needed by every
capability's service functions (cases, audit, policy, notify, backup); ``federation`` would be
the wrong home since it depends on those capabilities, not they on it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, false, or_

CENTRAL = "central"
"""The tenant of national agencies (內政部, 財政部, ...)."""
NODE_WIDE_ROLES = ("admin",)
"""Roles of national agencies' accounts a platform administrator may make, reset and issue
tokens for: administrators, who run the node and read no citizen's records. Every other
national account, clerk, auditor or data owner, is made with ``onceonly users create`` by
the node's operator at the shell, for the agency that asked in writing.

``owner`` was once here, so that the first owner of each national data-owning agency
(內政部戶政司, 財政部財政資訊中心, ...) could be made on the web. It is not: an owner reads no
citizen's data itself, but it decides who does. An owner the web administrator had made
(a system account with a token it issued, or a person with the temporary password it chose)
filed a rule letting every city's clerks read raw incomes, approved it, revoked the rules
that asked for the citizen's consent, and approved a fire department's subscription to every
life event; the reason on each transcript named the national agency. Checked end to end by
``tests/policy/test_operator_owner_decides_nothing.py``."""


class Caller(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def agency_code(self) -> str: ...


def tenant_of_agency(agency_code: str | None) -> str | None:
    """The jurisdiction an agency belongs to, from its code; ``None`` for no agency."""
    if not agency_code or "." not in agency_code:
        return None
    return agency_code.split(".", 1)[0]


def hosted_tenants(settings: Any) -> tuple[str, ...] | None:
    """The jurisdictions this node hosts (``node.json``), or ``None`` on a stand-alone
    deployment, whose tenants are the jurisdictions of its agencies."""
    path = settings.data_dir / "federation" / "node.json"
    if not path.exists():
        return None
    return tuple(json.loads(path.read_text("utf-8"))["jurisdictions"])


@dataclass(frozen=True)
class Scope:
    """What one account may see across tenants."""

    tenant: str | None
    """The tenant whose personal data the account may see; ``None``: no tenant's."""
    operator: bool = False
    """Node-wide operational views (platform administrators only)."""

    def sees_agency(self, agency_code: str | None) -> bool:
        """Whether objects of ``agency_code`` (its cases, rules, deliveries) are visible."""
        return self.tenant is not None and tenant_of_agency(agency_code) == self.tenant

    def sees_any(self, agency_codes: Iterable[str | None]) -> bool:
        return any(self.sees_agency(code) for code in agency_codes)

    def sees_entry(self, actor_agency: str | None, owner_agency: str | None) -> bool:
        """An audit entry is the tenant's when its requester or one of its owners (stored
        comma-separated: land is asked of several offices at once) is."""
        return self.sees_any([actor_agency, *(owner_agency or "").split(",")])

    def manages_agency(self, agency_code: str | None) -> bool:
        """Accounts and tokens: the operator manages every tenant's, others their own."""
        return self.operator or self.sees_agency(agency_code)

    def provisions(self, role: str, agency_code: str | None) -> bool:
        """Whether an administrator of this scope may create an account with ``role`` at
        ``agency_code``, or issue an API token for one: a tenant's administrator for the
        tenant's own accounts; the platform's administrator only for node-wide accounts that
        read no citizen's personal data (:data:`NODE_WIDE_ROLES` of a national agency).
        Otherwise the operator could become a tenant's clerk or auditor by minting it a
        credential. Tokens are further limited to system accounts: a person's are made only
        by the person (:func:`~onceonly.accounts.api_tokens.issue_api_token`). Nobody provisions
        a citizen's account: only the citizen's own card makes one
        (:data:`~onceonly.accounts.users.CITIZEN_USERNAME_PREFIX`)."""
        if role == "citizen":
            return False
        if self.operator:
            return tenant_of_agency(agency_code) == CENTRAL and role in NODE_WIDE_ROLES
        return self.sees_agency(agency_code)

    def agency_condition(self, column: Any) -> ColumnElement[bool]:
        """SQL: ``column`` (one agency code) is in the tenant."""
        if self.tenant is None:
            return false()
        return column.like(_escape(self.tenant) + ".%", escape="\\")

    def agency_list_condition(self, column: Any) -> ColumnElement[bool]:
        """SQL: the comma-separated agency codes in ``column`` include one of the tenant."""
        if self.tenant is None:
            return false()
        prefix = _escape(self.tenant) + ".%"
        return or_(column.like(prefix, escape="\\"), column.like("%," + prefix, escape="\\"))

    def entry_condition(self, actor_column: Any, owner_column: Any) -> ColumnElement[bool]:
        """SQL form of :meth:`sees_entry`."""
        return or_(self.agency_condition(actor_column), self.agency_list_condition(owner_column))


NODE_WIDE = Scope(tenant=None, operator=True)
"""For the node's own tools (CLI, workers): not for a signed-in account."""


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def is_platform_admin(caller: Caller) -> bool:
    return caller.role == "admin" and tenant_of_agency(caller.agency_code) == CENTRAL


def scope_for(role: str, agency_code: str | None) -> Scope:
    """The scope of an account with ``role`` at ``agency_code``: see the module docstring.
    Citizens have none here (their portal reads only their own records)."""
    if role == "citizen":
        return Scope(tenant=None)
    tenant = tenant_of_agency(agency_code)
    if role == "admin" and tenant == CENTRAL:
        return Scope(tenant=None, operator=True)
    return Scope(tenant=tenant)


def scope_of(caller: Caller) -> Scope:
    """The scope of a signed-in account (:class:`~onceonly.accounts.principal.Principal`)."""
    return scope_for(caller.role, caller.agency_code)
