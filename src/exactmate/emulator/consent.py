"""The consent page of ``/api/oauth2/auth``: sign in as the demo user, choose divisions, allow or deny.

GET shows the page; the form POSTs back to the same URL. Allowing redirects (302) to the redirect URI
with ``code`` and ``state``; denying redirects with ``error=access_denied``. A request whose client id
or redirect URI cannot be trusted gets an HTML error page (400) and is never redirected, as OAuth
requires: redirecting would hand an attacker's URI a response. The page uses no external assets.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import jinja2

from exactmate.emulator.config import DEMO_PASSWORD, DEMO_USERNAME, EmulatorConfig
from exactmate.emulator.exchange import RestResponse
from exactmate.emulator.oauth import OAuthServer

_HTML = "text/html; charset=utf-8"

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("exactmate.emulator", "templates"),
    autoescape=jinja2.select_autoescape(default=True),
    undefined=jinja2.StrictUndefined,
)

Params = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class _Request:
    """The OAuth parameters the page carries from the GET to the POST."""

    client_id: str
    redirect_uri: str
    response_type: str
    state: str

    @classmethod
    def of(cls, params: Params) -> _Request:
        first = _first(params)
        return cls(
            first("client_id"),
            first("redirect_uri"),
            first("response_type"),
            first("state"),
        )


def _first(params: Params) -> Callable[[str], str]:
    def get(name: str) -> str:
        return next((v for k, v in params if k == name), "")

    return get


def redirect(uri: str, params: dict[str, str]) -> RestResponse:
    """A 302 to ``uri`` with ``params`` added to its query."""
    sep = "&" if "?" in uri else "?"
    location = f"{uri}{sep}{urlencode({k: v for k, v in params.items() if v})}"
    return RestResponse(status=302, body=b"", content_type=_HTML, headers={"Location": location})


class ConsentPage:
    """Renders and handles the consent form for the OAuth server it issues codes from."""

    def __init__(self, config: EmulatorConfig, oauth: OAuthServer, describe: Callable[[int], str]) -> None:
        self._config = config
        self._oauth = oauth
        self._describe = describe

    def handle(self, method: str, query: Params, form: Params, now: float) -> RestResponse:
        """``/api/oauth2/auth``: GET shows the page, POST submits its form."""
        if method == "GET":
            return self.show(query)
        if method == "POST":
            return self.submit(form, now)
        page = self.error_page("Open the authorization page with GET; the form posts back with POST.", 405)
        page.headers["Allow"] = "GET, POST"
        return page

    def show(self, params: Params) -> RestResponse:
        """``GET /api/oauth2/auth``: the sign-in and consent form, every division ticked."""
        req = _Request.of(params)
        refused = self._refuse(req)
        if refused is not None:
            return refused
        return self._page(req, 200, message="", checked=set(self._config.accessible_divisions))

    def submit(self, form: Params, now: float) -> RestResponse:
        """``POST /api/oauth2/auth``: check the sign-in, then redirect with a code or an error."""
        req = _Request.of(form)
        refused = self._refuse(req)
        if refused is not None:
            return refused
        first = _first(form)
        action = first("action")
        if action == "deny":
            return redirect(req.redirect_uri, {"error": "access_denied", "state": req.state})
        chosen = [v for k, v in form if k == "division"]
        checked = {int(v) for v in chosen if v.strip().isdigit()}
        if action != "approve":
            return self._page(req, 400, "Choose Allow or Deny.", checked, first("username"))
        if not self._signed_in(first("username"), first("password")):
            return self._page(req, 200, "Wrong user name or password.", checked, first("username"))
        divisions, problem = self._divisions(chosen)
        if problem:
            return self._page(req, 200 if not chosen else 400, problem, checked, first("username"))
        code = self._oauth.issue_code(req.redirect_uri, divisions, now)
        return redirect(req.redirect_uri, {"code": code, "state": req.state})

    def _refuse(self, req: _Request) -> RestResponse | None:
        problem = self._oauth.authorization_problem(req.client_id, req.redirect_uri)
        if problem is not None:
            return self.error_page(problem)
        if req.response_type != "code":
            error = "invalid_request" if not req.response_type else "unsupported_response_type"
            return redirect(req.redirect_uri, {"error": error, "state": req.state})
        return None

    @staticmethod
    def _signed_in(username: str, password: str) -> bool:
        user_ok = username.strip().lower() == DEMO_USERNAME.lower()
        return user_ok and hmac.compare_digest(password.encode(), DEMO_PASSWORD.encode())

    def _divisions(self, chosen: list[str]) -> tuple[frozenset[int], str]:
        if not chosen:
            return frozenset(), "Choose at least one division the app may use."
        accessible = set(self._config.accessible_divisions)
        picked: set[int] = set()
        for value in chosen:
            if not value.strip().isdigit() or int(value) not in accessible:
                codes = ", ".join(str(d) for d in sorted(accessible))
                return frozenset(), f"Division {value!r} is not one of yours ({codes})."
            picked.add(int(value))
        return frozenset(picked), ""

    def _page(
        self, req: _Request, status: int, message: str, checked: set[int], username: str = ""
    ) -> RestResponse:
        divisions = [
            {"code": d, "description": self._describe(d), "checked": d in checked}
            for d in self._config.accessible_divisions
        ]
        html = _env.get_template("consent.html").render(
            error_page=False,
            message=message,
            client_id=req.client_id,
            redirect_uri=req.redirect_uri,
            response_type=req.response_type,
            state=req.state,
            username=username,
            divisions=divisions,
            demo_username=DEMO_USERNAME,
            demo_password=DEMO_PASSWORD,
        )
        return RestResponse(status=status, body=html.encode(), content_type=_HTML)

    @staticmethod
    def error_page(message: str, status: int = 400) -> RestResponse:
        """The HTML error page for a request that must not be redirected."""
        html = _env.get_template("consent.html").render(error_page=True, message=message)
        return RestResponse(status=status, body=html.encode(), content_type=_HTML)
