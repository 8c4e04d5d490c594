"""Pages (sign in, sign out, my account and password, user and token administration) and the
auth API."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from onceonly.accounts.api_tokens import (
    MAX_TOKEN_DAYS,
    ApiTokenView,
    get_api_token,
    issue_api_token,
    list_api_tokens,
    revoke_api_token,
)
from onceonly.accounts.deps import (
    EXPIRED_QUERY,
    SESSION_COOKIE,
    CurrentUser,
    OptionalUser,
    Principal,
    require_roles,
    set_session_cookie,
)
from onceonly.accounts.homes import home_of
from onceonly.accounts.models import ROLES
from onceonly.accounts.password_changes import change_own_password, set_password
from onceonly.accounts.password_rules import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    PASSWORD_CHANGE_PATH,
    temporary_expired_problem,
)
from onceonly.accounts.sessions import NewSession, create_session, revoke_session
from onceonly.accounts.signin import authenticate
from onceonly.accounts.tenancy import NODE_WIDE_ROLES, hosted_tenants, scope_of
from onceonly.accounts.users import (
    AGENCY_CODE_RE,
    CITIZEN_ROLE,
    agencies_for_accounts,
    check_agency_served,
    create_user,
    get_user,
    get_user_by_id,
    list_users,
    set_active,
)
from onceonly.config import Settings
from onceonly.db import transaction, utcnow
from onceonly.errors import FieldError, Problem, not_found, validation_problem
from onceonly.i18n import t
from onceonly.validation_words import ApiInput
from onceonly.web.deps import Db, get_language, get_session_factory, get_settings, settings_of
from onceonly.web.params import RowId
from onceonly.web.templating import render

router = APIRouter()

AdminUser = Annotated[Principal, Depends(require_roles("admin"))]
StaffUser = Annotated[Principal, Depends(require_roles("clerk", "owner", "auditor", "admin"))]
"""Anyone but a citizen (who signs in with their card and has no password)."""
AppSettings = Annotated[Settings, Depends(settings_of)]


def safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/``: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(c.isspace() or not c.isprintable() for c in target):
        return "/"  # browsers drop tabs and newlines: "/\t/evil.example" would become "//..."
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def _field_errors(problem: Problem) -> dict[str, str]:
    return {e.field: e.reason for e in problem.errors}


# --- sign in and out -----------------------------------------------------------------------


LOGIN_CSRF_COOKIE = "onceonly_login_csrf"
"""The sign-in form's anti-forgery token (double submit): a cookie only this site's pages can
set, echoed in the form field ``csrf_token``. Without it another site could sign a visitor
in to an account of its choosing (login CSRF)."""
_LOGIN_CSRF_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def _login_form(request: Request, status: int = 200, **context: object) -> HTMLResponse:
    """The sign-in page with an anti-forgery token, kept when the browser already has one."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not _LOGIN_CSRF_RE.fullmatch(token):
        token = secrets.token_urlsafe(32)
    context.setdefault("errors", {})
    context.setdefault("username", "")
    response = render(request, "accounts/login.html", status, login_csrf=token, **context)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _login_csrf_ok(request: Request, supplied: str) -> bool:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return bool(
        _LOGIN_CSRF_RE.fullmatch(expected)
        and supplied
        and hmac.compare_digest(supplied.encode(), expected.encode())
    )


def client_address(request: Request) -> str:
    """The caller's network address as the server sees it (behind a reverse proxy, run
    uvicorn with ``--proxy-headers --forwarded-allow-ips`` so this is the client's)."""
    return request.client.host if request.client else "unknown"


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(
    request: Request, user: OptionalUser, settings: AppSettings, next: str = "/"
) -> HTMLResponse:
    expired = None
    if request.query_params.get(EXPIRED_QUERY) == "1":
        expired = temporary_expired_problem(settings.temporary_password_days, get_language(request))
    return _login_form(request, next=safe_next(next), expired=expired)


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login_submit(
    request: Request,
    settings: AppSettings,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    lang = get_language(request)
    errors: dict[str, str] = {}
    if not _login_csrf_ok(request, csrf_token):
        errors["username"] = t("accounts.login.csrf", lang)
        return _login_form(request, 403, next=safe_next(next), username=username, errors=errors)
    if not username.strip():
        errors["username"] = t("field.missing", lang)
    if not password:
        errors["password"] = t("field.missing", lang)
    failure: Problem | None = None
    new_session: NewSession | None = None
    temporary = False
    role = ""
    agency: str | None = None
    if not errors:
        with transaction(get_session_factory(request)) as db:
            try:
                user = authenticate(
                    db,
                    username,
                    password,
                    address=client_address(request),
                    lang=lang,
                    temporary_days=settings.temporary_password_days,
                )
            except Problem as problem:
                failure = problem
            else:
                old = request.cookies.get(SESSION_COOKIE)
                if old:
                    revoke_session(db, old)
                new_session = create_session(db, user.id, settings.session_minutes)
                role, agency = user.role, user.agency_code
                temporary = user.must_change_password
    if failure is not None:
        field = "username" if failure.kind in ("login-locked", "account-disabled") else "password"
        errors[field] = failure.detail or failure.title
    if new_session is None:
        status = failure.status if failure is not None else 422
        response = _login_form(
            request, status, next=safe_next(next), username=username, errors=errors
        )
        if failure is not None and failure.retry_after is not None:
            response.headers["Retry-After"] = str(failure.retry_after)
        return response
    target = safe_next(next)
    if temporary:  # someone else set this password: nothing else opens until it is changed
        target = PASSWORD_CHANGE_PATH
    elif target == "/":  # nowhere asked for: the role's own home, not the public front page
        target = home_of(role, agency)
    redirect = RedirectResponse(target, status_code=303)
    set_session_cookie(redirect, request, new_session.token, settings.session_minutes)
    return redirect  # a ?lang= chosen is remembered by onceonly.web.language_choice


@router.post("/logout", include_in_schema=False)
def logout(request: Request, user: CurrentUser) -> RedirectResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token and user.auth_method == "session":
        with transaction(get_session_factory(request)) as db:
            revoke_session(db, token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- my account ----------------------------------------------------------------------------


def _account_page(
    request: Request,
    db: Session,
    settings: Settings,
    user: Principal,
    status: int = 200,
    **context: object,
) -> HTMLResponse:
    context.setdefault("errors", {})
    context.setdefault("form", {"days": settings.api_token_days})
    tokens = list_api_tokens(db, user.user_id)
    return render(
        request,
        "accounts/account.html",
        status,
        tokens=tokens,
        stand_ins=_stand_ins(tokens),
        account=get_user_by_id(db, user.user_id),
        **context,
    )


@router.get("/account", response_class=HTMLResponse, include_in_schema=False)
def account_page(
    request: Request, user: CurrentUser, db: Db, settings: AppSettings
) -> HTMLResponse:
    return _account_page(request, db, settings, user)


def _own_session(user: Principal, lang: str, detail_key: str = "password.session_only") -> None:
    """403 unless ``user`` came with their own browser session: a token is not the person."""
    if user.auth_method != "session":
        detail = t(f"accounts.{detail_key}", lang)
        raise Problem(403, "session-only", t("problem.forbidden", lang), detail)


def _days(days: str, settings: Settings) -> int:
    """The form's validity in days; the server's default when empty, 0 (refused) when not a
    number."""
    try:
        return int(days) if days.strip() else settings.api_token_days
    except ValueError:
        return 0


@router.post("/account/api-tokens", response_class=HTMLResponse, include_in_schema=False)
def account_create_token(
    request: Request,
    user: StaffUser,
    settings: AppSettings,
    name: Annotated[str, Form()] = "",
    days: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """A token for one's own account, made by its holder in their own browser session: the
    only way a person's account gets a token on the web (administrators issue only for
    system accounts). Not with a token: a token is not the person, and could otherwise
    renew itself for ever."""
    lang = get_language(request)
    _own_session(user, lang, "token.own_session_only")
    form = {"name": name, "days": days}
    with transaction(get_session_factory(request)) as db:
        try:
            plain, view = issue_api_token(
                db, user.user_id, name, _days(days, settings), created_by=user, lang=lang
            )
        except Problem as problem:
            if problem.status != 422:
                raise
            db.rollback()
            errors = _field_errors(problem)
            return _account_page(request, db, settings, user, 422, errors=errors, form=form)
    with transaction(get_session_factory(request)) as db:
        return _account_page(request, db, settings, user, 201, new_token=plain, new_view=view)


@router.post("/account/api-tokens/{token_id}/revoke", include_in_schema=False)
def account_revoke_token(request: Request, token_id: RowId, user: StaffUser) -> RedirectResponse:
    """The holder revokes a token of their own account, whoever issued it (one an
    administrator issued in their name before that was refused included)."""
    lang = get_language(request)
    with transaction(get_session_factory(request)) as db:
        existing = get_api_token(db, token_id)
        if existing is None or existing.user_id != user.user_id:
            raise not_found(t("accounts.token.not_found", lang, id=token_id), lang)
        revoke_api_token(db, token_id, lang=lang)
    return RedirectResponse("/account", status_code=303)


def _password_form(
    request: Request, db: Session, user: Principal, status: int = 200, **context: object
) -> HTMLResponse:
    context.setdefault("errors", {})
    return render(
        request,
        "accounts/password.html",
        status,
        account=get_user_by_id(db, user.user_id),
        temporary_days=get_settings(request).temporary_password_days,
        home=home_of(user.role, user.agency_code),
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        **context,
    )


@router.get(PASSWORD_CHANGE_PATH, response_class=HTMLResponse, include_in_schema=False)
def password_page(request: Request, user: StaffUser, db: Db) -> HTMLResponse:
    """Change one's own password; the one page a temporary password opens. Says who set
    the current password and when."""
    _own_session(user, get_language(request))
    return _password_form(request, db, user, changed=request.query_params.get("changed") == "1")


@router.post(PASSWORD_CHANGE_PATH, response_class=HTMLResponse, include_in_schema=False)
def password_submit(
    request: Request,
    user: StaffUser,
    settings: AppSettings,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    new_password_again: Annotated[str, Form()] = "",
) -> Response:
    lang = get_language(request)
    _own_session(user, lang)
    failure: Problem | None = None
    with transaction(get_session_factory(request)) as db:
        try:
            change_own_password(
                db,
                user,
                current_password,
                new_password,
                new_password_again,
                address=client_address(request),
                lang=lang,
                temporary_days=settings.temporary_password_days,
            )
        except Problem as problem:  # committed: a wrong current password counts as a failure
            if problem.status != 422:
                raise
            failure = problem
    if failure is not None:
        with get_session_factory(request)() as db:
            return _password_form(request, db, user, 422, errors=_field_errors(failure))
    return RedirectResponse(f"{PASSWORD_CHANGE_PATH}?changed=1", status_code=303)


# --- administration pages ------------------------------------------------------------------


def _manages(admin: Principal, agency_code: str | None) -> bool:
    """Tenant isolation: a tenant's administrators manage that jurisdiction's accounts and
    tokens only; the platform's administrators every tenant's."""
    return scope_of(admin).manages_agency(agency_code)


def _check_provisions(admin: Principal, role: str, agency_code: str, lang: str) -> None:
    """Refuse (422 on ``agency_code``) an account ``admin`` may not create: another tenant's,
    or, for the platform's administrator, any that would read a tenant's personal data; and
    (422 on ``role``) a citizen's, for anyone."""
    if role == CITIZEN_ROLE:  # whatever the agency: only the citizen's card makes one
        reason = t("accounts.role.citizen_by_card", lang)
        raise validation_problem([FieldError("role", reason, "citizen")], lang)
    scope = scope_of(admin)
    if scope.provisions(role, agency_code) or role not in ROLES:
        return  # an unknown role is create_user's to name
    if not AGENCY_CODE_RE.fullmatch(agency_code):
        return  # and so is a malformed agency code
    if scope.operator:
        reason = t("accounts.admin.operator_provisions", lang, agency=agency_code)
        raise validation_problem([FieldError("agency_code", reason, "tenant_admin_only")], lang)
    reason = t("tenancy.agency_other_tenant", lang, agency=agency_code)
    raise validation_problem([FieldError("agency_code", reason, "tenant")], lang)


def _users_page(
    request: Request, db: Session, admin: Principal, status: int = 200, **context: object
) -> HTMLResponse:
    context.setdefault("errors", {})
    context.setdefault("form", {})
    english = get_language(request) == "en"
    settings = get_settings(request)
    agencies = agencies_for_accounts(db, scope_of(admin), hosted_tenants(settings))
    return render(
        request,
        "accounts/admin_users.html",
        status,
        users=[u for u in list_users(db) if _manages(admin, u.agency_code)],
        agency_options=[(a.code, a.name_en if english else a.name_zh) for a in agencies],
        roles=[  # a citizen's is made by the card; the operator makes only node-wide ones
            role
            for role in ROLES
            if role != CITIZEN_ROLE and (role in NODE_WIDE_ROLES or not scope_of(admin).operator)
        ],
        temporary_days=settings.temporary_password_days,
        now=utcnow(),
        **context,
    )


@router.get("/admin/users", response_class=HTMLResponse, include_in_schema=False)
def admin_users(request: Request, admin: AdminUser, db: Db) -> HTMLResponse:
    return _users_page(
        request,
        db,
        admin,
        created=request.query_params.get("created"),
        created_system=request.query_params.get("system") == "1",
        password_set=request.query_params.get("password_set"),
    )


@router.post("/admin/users", response_class=HTMLResponse, include_in_schema=False)
def admin_create_user(
    request: Request,
    admin: AdminUser,
    username: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    agency_code: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    system: Annotated[str, Form()] = "",
) -> Response:
    """Make an account the administrator provisions: a person's, with a temporary password,
    or (``system``) an agency system's, with none, whose tokens the administrator then
    issues on the tokens page."""
    lang = get_language(request)
    form = {
        "username": username,
        "display_name": display_name,
        "role": role,
        "agency_code": agency_code,
        "system": system,
    }
    with transaction(get_session_factory(request)) as db:
        try:
            _check_provisions(admin, role, agency_code.strip(), lang)
            hosted = hosted_tenants(get_settings(request))
            check_agency_served(db, agency_code, hosted, lang)
            if system and password:
                reason = t("accounts.users.system_no_password", lang)
                raise validation_problem([FieldError("password", reason, "system")], lang)
            created = create_user(
                db,
                username,
                None if system else password,
                role,
                agency_code,
                display_name,
                lang=lang,
                set_by=admin,
            )
        except Problem as problem:
            db.rollback()
            return _users_page(request, db, admin, 422, errors=_field_errors(problem), form=form)
    kind = "&system=1" if created.system else ""
    return RedirectResponse(f"/admin/users?created={created.username}{kind}", status_code=303)


@router.post("/admin/users/password", response_class=HTMLResponse, include_in_schema=False)
def admin_set_password(
    request: Request,
    admin: AdminUser,
    reset_username: Annotated[str, Form()] = "",
    reset_password: Annotated[str, Form()] = "",
) -> Response:
    """Set a temporary password for an account the administrator provisions
    (:meth:`~onceonly.accounts.tenancy.Scope.provisions`: a tenant's administrator for the
    tenant's accounts, the platform's only for node-wide ones): its holder must change it at
    the next sign-in, every API token of the account is revoked (the holder's own included),
    and the audit log names this administrator as the one who set it."""
    lang = get_language(request)
    form = {"reset_username": reset_username}
    with transaction(get_session_factory(request)) as db:
        try:
            target = get_user(db, reset_username) if reset_username.strip() else None
            if target is None or not _manages(admin, target.agency_code):
                reason = t("accounts.user.not_found", lang, user=reset_username.strip())
                raise validation_problem([FieldError("username", reason, "unknown")], lang)
            if target.id != admin.user_id and not scope_of(admin).provisions(
                target.role, target.agency_code
            ):
                reason = t("accounts.users.not_resettable", lang, user=target.username)
                raise validation_problem([FieldError("username", reason, "not_resettable")], lang)
            set_password(db, target.username, reset_password, by=admin, lang=lang)
        except Problem as problem:
            db.rollback()
            errors = {f"reset_{field}": reason for field, reason in _field_errors(problem).items()}
            if not errors:  # one's own account: not a field's fault
                errors["reset_username"] = problem.detail or problem.title
            return _users_page(request, db, admin, 422, errors=errors, form=form)
    return RedirectResponse(f"/admin/users?password_set={target.username}", status_code=303)


@router.post("/admin/users/{user_id}/active", include_in_schema=False)
def admin_set_active(
    request: Request,
    user_id: RowId,
    admin: AdminUser,
    active: Annotated[str, Form()] = "0",
) -> RedirectResponse:
    lang = get_language(request)
    if user_id == admin.user_id:
        raise Problem(409, "own-account", t("accounts.admin.own_account", lang))
    with transaction(get_session_factory(request)) as db:
        target = get_user_by_id(db, user_id)
        if target is None or not _manages(admin, target.agency_code):
            raise not_found(t("accounts.user.not_found", lang, user=user_id), lang)
        set_active(db, user_id, active == "1", by=admin, lang=lang)
    return RedirectResponse("/admin/users", status_code=303)


def _tokens(db: Session, admin: Principal) -> list[ApiTokenView]:
    return [v for v in list_api_tokens(db) if _manages(admin, v.agency_code)]


def _tokens_page(
    request: Request,
    db: Session,
    settings: Settings,
    admin: Principal,
    status: int = 200,
    **context: object,
) -> HTMLResponse:
    context.setdefault("errors", {})
    context.setdefault("form", {"days": settings.api_token_days})
    tokens = _tokens(db, admin)
    return render(
        request,
        "accounts/admin_tokens.html",
        status,
        tokens=tokens,
        stand_ins=_stand_ins(tokens),
        **context,
    )


def _stand_ins(tokens: list[ApiTokenView]) -> int:
    """How many of ``tokens`` are active and were issued by an administrator for someone
    else's personal account (before that was refused): the page asks for them to go."""
    return sum(1 for v in tokens if v.issued_by_other and v.status() == "active")


@router.get("/admin/api-tokens", response_class=HTMLResponse, include_in_schema=False)
def admin_tokens(request: Request, admin: AdminUser, db: Db, settings: AppSettings) -> HTMLResponse:
    return _tokens_page(request, db, settings, admin)


def _issue(
    db: Session, username: str, name: str, days: int, creator: Principal, lang: str
) -> tuple[str, ApiTokenView]:
    """A token for ``username``'s account: the caller's own (from their browser session), or
    a system account the caller administers (:meth:`~onceonly.accounts.tenancy.Scope.provisions`);
    a person's account is refused, 403 on ``username``, by :func:`issue_api_token`.
    The issuer is kept with it and named in every audit entry the token is used for."""
    owner = get_user(db, username)
    if owner is None or not _manages(creator, owner.agency_code):
        reason = t("accounts.user.not_found", lang, user=username)
        raise validation_problem([FieldError("username", reason, "unknown")], lang)
    if owner.id != creator.user_id and not scope_of(creator).provisions(
        owner.role, owner.agency_code
    ):
        reason = t("accounts.token.not_issuable", lang, user=owner.username)
        raise Problem(
            403,
            "forbidden",
            t("problem.forbidden", lang),
            reason,
            [FieldError("username", reason, "not_issuable")],
        )
    return issue_api_token(db, owner, name, days, created_by=creator, lang=lang)


@router.post("/admin/api-tokens", response_class=HTMLResponse, include_in_schema=False)
def admin_create_token(
    request: Request,
    admin: AdminUser,
    settings: AppSettings,
    username: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    days: Annotated[str, Form()] = "",
) -> HTMLResponse:
    lang = get_language(request)
    form = {"username": username, "name": name, "days": days}
    with transaction(get_session_factory(request)) as db:
        try:
            plain, view = _issue(db, username, name, _days(days, settings), admin, lang)
        except Problem as problem:
            db.rollback()
            return _tokens_page(
                request, db, settings, admin, 422, errors=_field_errors(problem), form=form
            )
    with transaction(get_session_factory(request)) as db:
        return _tokens_page(request, db, settings, admin, 201, new_token=plain, new_view=view)


@router.post("/admin/api-tokens/{token_id}/revoke", include_in_schema=False)
def admin_revoke_token(request: Request, token_id: RowId, admin: AdminUser) -> RedirectResponse:
    lang = get_language(request)
    with transaction(get_session_factory(request)) as db:
        existing = get_api_token(db, token_id)
        if existing is None or not _manages(admin, existing.agency_code):
            raise not_found(t("accounts.token.not_found", lang, id=token_id), lang)
        revoke_api_token(db, token_id, lang=lang)
    return RedirectResponse("/admin/api-tokens", status_code=303)


# --- API -----------------------------------------------------------------------------------


class WhoAmI(BaseModel):
    user_id: int
    username: str
    display_name: str
    role: str
    agency_code: str
    badge: str = Field(description="Pseudonymous badge number citizens see in their access log.")
    auth_method: str = Field(description="`session` or `token`.")
    token_id: int | None = None
    issued_by: str | None = Field(
        None,
        description="Who made the credential: the account itself for a sign-in session, the "
        "administrator who issued the token, or `node-operator` for the node's own tools.",
    )
    csrf_token: str | None = Field(
        None, description="Send as `X-CSRF-Token` on changing requests from a browser session."
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "user_id": 1,
                    "username": "tpe-udd-system",
                    "display_name": "臺北市都市發展局 國宅申請系統",
                    "role": "clerk",
                    "agency_code": "taipei-city.urban_development",
                    "badge": "B-7F3K2Q",
                    "auth_method": "token",
                    "token_id": 3,
                    "issued_by": "tpe-admin",
                    "csrf_token": None,
                }
            ]
        }
    }


class TokenCreate(ApiInput):
    username: str = Field(
        description="Account the agency system acts as: a system account (no password), or "
        "the caller's own.",
        examples=["tpe-udd-system"],
    )
    name: str = Field(
        min_length=1,
        max_length=100,
        description="What the token is for, to recognise it in the list.",
        examples=["臺北市都發局 國宅申請系統"],
    )
    days: int | None = Field(
        None,
        ge=1,
        le=MAX_TOKEN_DAYS,
        description="Validity in days; the server's `api_token_days` when omitted.",
        examples=[90],
    )


class TokenOut(BaseModel):
    id: int
    username: str
    agency_code: str
    name: str
    prefix: str = Field(description="First characters of the token, to tell tokens apart.")
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_by: str | None = Field(
        description="The issuing account's username; null: the node's operator (command line)."
    )
    status: str = Field(description="`active`, `expired` or `revoked`.")
    personal: bool = Field(
        False,
        description="The account is a person's (it signs in with a password), not a system's.",
    )
    issued_by_other: bool = Field(
        False,
        description="An administrator issued it for someone else's personal account, as was "
        "allowed before only the holder could: it acts in that person's name. Revoke it.",
    )

    @classmethod
    def of(cls, view: ApiTokenView) -> TokenOut:
        return cls(
            id=view.id,
            username=view.username,
            agency_code=view.agency_code,
            name=view.name,
            prefix=view.prefix,
            created_at=view.created_at,
            expires_at=view.expires_at,
            revoked_at=view.revoked_at,
            last_used_at=view.last_used_at,
            created_by=view.created_by,
            status=view.status(),
            personal=view.personal,
            issued_by_other=view.issued_by_other,
        )


class TokenCreated(TokenOut):
    token: str = Field(
        description="The bearer token. Shown only in this response; only its hash is stored.",
        examples=["oot_Xq3…"],
    )


@router.get("/api/v1/auth/whoami", response_model=WhoAmI, tags=["auth"])
def whoami(user: CurrentUser) -> WhoAmI:
    """Who the credentials belong to: role, agency and badge number."""
    return WhoAmI(
        user_id=user.user_id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        agency_code=user.agency_code,
        badge=user.badge,
        auth_method=user.auth_method,
        token_id=user.token_id,
        issued_by=user.issued_by,
        csrf_token=user.csrf_token,
    )


@router.get("/api/v1/auth/tokens", response_model=list[TokenOut], tags=["auth"])
def api_list_tokens(admin: AdminUser, db: Db) -> list[TokenOut]:
    """Every API token, newest first, with its status (admin only)."""
    return [TokenOut.of(v) for v in _tokens(db, admin)]


@router.post("/api/v1/auth/tokens", response_model=TokenCreated, status_code=201, tags=["auth"])
def api_create_token(
    request: Request, body: TokenCreate, admin: AdminUser, settings: AppSettings
) -> TokenCreated:
    """Issue an API token (admin only): for a system account (one without a password) the
    administrator administers, or for the administrator's own account from their browser
    session (never with a token). A person's account is refused (403 on `username`): only
    its holder makes its tokens, on their account page. A platform administrator cannot
    issue one for a tenant's account. The token is in this response and nowhere else."""
    lang = get_language(request)
    days = body.days or settings.api_token_days
    with transaction(get_session_factory(request)) as db:
        plain, view = _issue(db, body.username, body.name, days, admin, lang)
    return TokenCreated(token=plain, **TokenOut.of(view).model_dump())


@router.delete("/api/v1/auth/tokens/{token_id}", response_model=TokenOut, tags=["auth"])
def api_revoke_token(request: Request, token_id: RowId, user: CurrentUser) -> TokenOut:
    """Revoke a token from the next request on. Admins revoke any token; anyone may revoke
    a token issued to themselves."""
    lang = get_language(request)
    with transaction(get_session_factory(request)) as db:
        existing = get_api_token(db, token_id)
        if existing is None or (
            user.role == "admin"
            and existing.user_id != user.user_id
            and not _manages(user, existing.agency_code)
        ):
            raise not_found(t("accounts.token.not_found", lang, id=token_id), lang)
        if user.role != "admin" and existing.user_id != user.user_id:
            detail = t("accounts.token.not_yours", lang)
            raise Problem(403, "forbidden", t("problem.forbidden", lang), detail)
        view = revoke_api_token(db, token_id, lang=lang)
    return TokenOut.of(view)
