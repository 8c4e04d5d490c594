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

from onceonly.i18n import t
from onceonly.web.deps import get_language

_PACKAGE = Path(__file__).resolve().parent.parent


def _template_dirs() -> list[Path]:
    dirs = [_PACKAGE / "web" / "templates"]
    dirs += sorted(p for p in _PACKAGE.glob("*/templates") if p.parent.name != "web")
    return dirs


templates = Jinja2Templates(directory=str(_PACKAGE / "web" / "templates"))
templates.env.loader = ChoiceLoader([FileSystemLoader(str(d)) for d in _template_dirs()])
templates.env.globals["t"] = t


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``name`` in the request's language; ``user`` is filled in when signed in."""
    lang = get_language(request)
    context.setdefault("user", getattr(request.state, "user", None))
    context.update(request=request, lang=lang, tr=lambda key, **kw: t(key, lang, **kw))
    return templates.TemplateResponse(request, name, context, status_code=status_code)
