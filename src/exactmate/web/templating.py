"""Rendering pages: one Jinja2 environment over ``exactmate/web/templates``, escaping everything.

Every page gets the CSRF token (for its forms and for ``fetch`` calls), the flash notices waiting for
this browser, and which part of the navigation is current.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from exactmate.actions.presentation import local_text
from exactmate.web.context import ui
from exactmate.web.security import csrf_token

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("exactmate.web", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def when(timestamp: float | None) -> str:
    """Epoch seconds as local ``YYYY-MM-DD HH:MM``; an em dash for never."""
    if timestamp is None:
        return "—"
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


_env.filters["when"] = when
_env.filters["local"] = local_text  # to the second: the audit log and the journal
_env.filters["zip"] = zip


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template`` with ``context`` plus what every page needs."""
    page = _env.get_template(template).render(
        request=request,
        csrf_token=csrf_token(request),
        notices=ui(request).flashes.pop(request),
        **context,
    )
    return HTMLResponse(page, status_code=status_code)


def fragment(request: Request, template: str, **context: Any) -> str:
    """A piece of a page as text, without the flash notices (they wait for a full page)."""
    return _env.get_template(template).render(request=request, csrf_token=csrf_token(request), **context)


def render_fragment(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A piece of a page as the answer to a ``fetch``."""
    return HTMLResponse(fragment(request, template, **context), status_code=status_code)
