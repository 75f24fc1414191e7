"""The web UI as a FastAPI app: the Vault page, the action forms, the OAuth callback, the audit log
and the create journal.

```python
app = create_app(Settings.from_env())            # loopback only, a new access token each start
app = create_app(settings, host="0.0.0.0")        # needs EXACTMATE_UI_TOKEN
```

Pages are rendered on the server (Jinja2); a little vanilla JavaScript from ``/static`` does what
must happen without a reload (Test Connect, the endpoint picker, the Data Manager). Nothing is
fetched from another site. Every route calls the same library functions the command line does.
"""

from __future__ import annotations

import logging

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from exactmate.catalogue import Catalogue
from exactmate.clock import Clock, SystemClock
from exactmate.config import Settings
from exactmate.errors import ExactmateError, ValidationError, VaultError
from exactmate.web import (
    action_pages,
    audit_pages,
    credential_pages,
    flow_pages,
    journal_pages,
    login,
    lookups,
    oauth_callback,
    run_pages,
    upload_pages,
    vault_pages,
)
from exactmate.web.context import UiContext
from exactmate.web.flow_starts import FlowStarts
from exactmate.web.lookups import DivisionCache
from exactmate.web.pending_tests import PendingTests
from exactmate.web.results import ResultStore
from exactmate.web.security import (
    CSRF_HEADER,
    AccessPolicy,
    CsrfError,
    SecurityMiddleware,
    Sessions,
    Signer,
    verify_csrf,
)
from exactmate.web.templating import render, render_fragment
from exactmate.web.uploads import Uploads

log = logging.getLogger("exactmate.web")


def create_app(
    settings: Settings | None = None,
    *,
    host: str = "127.0.0.1",
    ui_token: str | None = None,
    clock: Clock | None = None,
    transport: httpx.BaseTransport | None = None,
    catalogue: Catalogue | None = None,
) -> FastAPI:
    """The UI for the vault and the actions under ``settings``.

    ``host`` is the address the server will bind to: anything but loopback requires an access token
    (``ui_token``, else ``EXACTMATE_UI_TOKEN``), or ``ConfigError`` is raised. ``clock`` and
    ``transport`` replace the real time and network (tests).
    """
    settings = settings or Settings.from_env()
    policy = AccessPolicy.for_bind(host, ui_token)
    signer = Signer()
    clock = clock or SystemClock()
    sessions = Sessions(signer, clock.now)
    app = FastAPI(
        title="exactmate",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(verify_csrf)],
    )
    app.state.ui = UiContext(
        settings=settings,
        clock=clock,
        catalogue=catalogue or Catalogue.load(),
        policy=policy,
        signer=signer,
        sessions=sessions,
        divisions=DivisionCache(),
        tests=PendingTests(clock),
        results=ResultStore(),
        uploads=Uploads(),
        flow_starts=FlowStarts(settings),
        transport=transport,
    )
    app.add_middleware(SecurityMiddleware, policy=policy, sessions=sessions)
    app.mount("/static", StaticFiles(packages=[("exactmate.web", "static")]), name="static")
    pages = (
        login,
        vault_pages,
        credential_pages,
        oauth_callback,
        action_pages,
        upload_pages,
        audit_pages,
        journal_pages,
        flow_pages,
        run_pages,
    )
    for module in (*pages, lookups):
        app.include_router(module.router)
    app.add_api_route("/", _home, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(CsrfError, _csrf_refused)
    app.add_exception_handler(ExactmateError, _library_error)
    app.add_exception_handler(Exception, _unexpected)
    return app


def _home() -> Response:
    return RedirectResponse("/vault", status_code=303)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or request.url.path.startswith("/api/")


async def _csrf_refused(request: Request, exc: Exception) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": str(exc)}, status_code=403)
    if CSRF_HEADER in request.headers:  # a fetch from a page: a piece to show in place
        return render_fragment(request, "_notice.html", 403, level="bad", text=str(exc))
    return render(request, "error.html", 403, section="", title="Refused", message=str(exc))


async def _library_error(request: Request, exc: Exception) -> Response:
    """An exactmate error no route handled itself (a vault whose master key does not match, a
    database that cannot be opened): its message names the cause and the fix, and carries no secret."""
    local = isinstance(exc, ValidationError | VaultError)
    status = 400 if local else 500
    if _wants_json(request):
        return JSONResponse({"error": str(exc)}, status_code=status)
    return render(
        request, "error.html", status, section="", title="exactmate cannot do this", message=str(exc)
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    """No stack trace ever reaches the page; the log gets the details (never a secret: library
    errors are built without them)."""
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    message = f"Something went wrong on our side ({type(exc).__name__}). The details are in the log."
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=500)
    return render(request, "error.html", 500, section="", title="Unexpected error", message=message)
