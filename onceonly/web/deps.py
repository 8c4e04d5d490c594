"""Dependencies shared by every capability's routes: settings, a database session, language."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from onceonly.config import Settings
from onceonly.i18n import catalogue, normalise_language, preferred_language


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session_factory(request: Request) -> sessionmaker[Session]:
    factory: sessionmaker[Session] = request.app.state.sessions
    return factory


def get_db(request: Request) -> Iterator[Session]:
    """One session per request, committed when the route returns without error. Routes take
    it as :data:`Db`."""
    session = get_session_factory(request)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


Db = Annotated[Session, Depends(get_db, scope="function")]
"""A route's database session. ``scope="function"``: the commit happens before the response
is sent, so a client told "done" is never ahead of the database (and a failed commit is an
error, not a 200 for a change that did not happen)."""


def get_language(request: Request) -> str:
    """``?lang=`` wins, then the ``lang`` cookie; then, for the API, whose callers are other
    systems, their ``Accept-Language`` header; then Traditional Chinese. (A page keeps its
    Traditional Chinese whatever the browser says, until its reader switches.)"""
    chosen = request.query_params.get("lang") or request.cookies.get("lang")
    if not chosen and request.scope["path"].startswith("/api/"):
        chosen = preferred_language(request.headers.get("accept-language", ""))
    return normalise_language(chosen)


# The same three as dependencies. FastAPI sends a plain ``def`` dependency to a worker thread
# and back, a hop that cost more than the work: these only read the request, so they are
# ``async`` and run where the request already is.


async def language(request: Request) -> str:
    """:func:`get_language` as a dependency."""
    return get_language(request)


async def settings_of(request: Request) -> Settings:
    """:func:`get_settings` as a dependency."""
    return get_settings(request)


async def session_factory(request: Request) -> sessionmaker[Session]:
    """:func:`get_session_factory` as a dependency."""
    return get_session_factory(request)


def done_code(request: Request, messages: str) -> str:
    """The ``?done=`` code a form's redirect put in the page's address, when
    ``{messages}.{code}`` is one of its messages; anything else (a crafted link) is nothing
    to say, not a page that fails."""
    code = request.query_params.get("done", "")
    return code if code and f"{messages}.{code}" in catalogue() else ""
