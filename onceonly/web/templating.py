"""Jinja2 templates with the message catalogue available as ``t`` in every page.

Templates live next to the capability that renders them (``onceonly/<capability>/templates``)
plus shared layout in ``onceonly/web/templates``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

from onceonly.catalog.service import CachedCatalog
from onceonly.db import transaction
from onceonly.i18n import catalogue, t, taipei_time
from onceonly.i18n.punctuation import FILTERS as PUNCTUATION
from onceonly.web.deps import get_language, get_settings
from onceonly.web.language_choice import lang_href, page_of

_PACKAGE = Path(__file__).resolve().parent.parent


def _template_dirs() -> list[Path]:
    dirs = [_PACKAGE / "web" / "templates"]
    dirs += sorted(p for p in _PACKAGE.glob("*/templates") if p.parent.name != "web")
    return dirs


templates = Jinja2Templates(directory=str(_PACKAGE / "web" / "templates"))
templates.env.loader = ChoiceLoader([FileSystemLoader(str(d)) for d in _template_dirs()])
templates.env.globals["t"] = t
templates.env.globals["lang_href"] = lang_href  # the header's switch: this page, other language
templates.env.globals["page_of"] = page_of  # the page a form's address belongs to
templates.env.filters.update(PUNCTUATION)  # names | join_words(lang), label | colon(lang)


_catalog = CachedCatalog()
SESSION_COOKIE = "onceonly_session"  # the same name as onceonly.accounts.deps.SESSION_COOKIE


def _signed_in(request: Request) -> Any:
    """Who is signed in: the route's caller, or, on a page that asks for nobody (the catalog,
    the privacy notice), the browser session's person, so the header never looks signed out
    to someone who is signed in; never a session whose temporary password has expired (the
    next page that asks for someone ends it)."""
    user = getattr(request.state, "user", None)
    if user is not None:
        return user
    token = request.cookies.get(SESSION_COOKIE)
    sessions = getattr(request.app.state, "sessions", None)
    if not token or sessions is None:
        return None
    # accounts imports this module
    from onceonly.accounts.password_rules import temporary_expired
    from onceonly.accounts.sessions import resolve_session

    with transaction(sessions) as db:
        user = resolve_session(db, token)
    days = get_settings(request).temporary_password_days
    return None if user and temporary_expired(user.temporary_since, days) else user


def _namer(request: Request, lang: str) -> Any:
    """``named(code)``: the catalog's name of an agency, application item or dataset code in
    ``lang`` (the code itself when the catalog has no such thing), for every page."""
    checked: list[bool] = []

    def named(code: str | None) -> str:
        sessions = getattr(request.app.state, "sessions", None)
        if not code or sessions is None:
            return code or ""
        with sessions() as db:
            if not checked:
                _catalog.check(db)
                checked.append(True)
            return _catalog.name(db, code, lang)

    return named


def _field_labeller(request: Request, lang: str) -> Any:
    """``field_label(dataset, name)``: a dataset's field (``parcels.section`` by its first
    part) or predicate by the label of the catalog's standard; the name when unknown."""

    def field_label(dataset: str | None, name: str) -> str:
        sessions = getattr(request.app.state, "sessions", None)
        if not dataset or sessions is None:
            return name
        with sessions() as db:
            view = _catalog.check(db).dataset(db, dataset)
        if view is None:
            return name
        field = view.field(name.split(".", 1)[0])
        if field is not None:
            return field.label_en if lang == "en" else field.label_zh
        predicate = view.predicate(name)
        if predicate is not None:
            return predicate.name_en if lang == "en" else predicate.name_zh
        return name

    return field_label


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``name`` in the request's language; ``user`` is filled in when signed in,
    ``named(code)`` gives any catalog code's name in that language and ``when(moment)`` a
    time as people read it (Taipei, labelled: the one rule for every page)."""
    lang = get_language(request)
    if "user" not in context:
        context["user"] = _signed_in(request)
    context.setdefault("named", _namer(request, lang))
    context.setdefault("field_label", _field_labeller(request, lang))
    context.setdefault(
        "when", lambda moment, seconds=False: taipei_time(moment, lang, seconds=seconds)
    )
    context.update(
        request=request,
        lang=lang,
        tr=lambda key, **kw: t(key, lang, **kw),
        tr_or=lambda key, fallback: t(key, lang) if key in catalogue() else fallback,
    )
    return templates.TemplateResponse(request, name, context, status_code=status_code)
