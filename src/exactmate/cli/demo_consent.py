"""The demo's sign-in: the emulator's consent page, filled in and submitted over HTTP for the user.

It does what a person does in the browser: open the sign-in page the app sends them to, read its form,
sign in as the emulator's demo user, keep every division ticked, press Allow, and take the code from
the address the page redirects to. Only for the built-in emulator: Exact's own sign-in is for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

from exactmate.auth import AUTH_PATH, OAuthApp, authorization_url, new_state, parse_redirect
from exactmate.errors import AuthError


class _ConsentForm(HTMLParser):
    """The fields the consent page's form would submit: hidden inputs and ticked checkboxes."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self.in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.in_form = True
        if tag != "input" or not self.in_form or not values.get("name"):
            return
        kind = values.get("type", "text")
        if kind == "hidden" or (kind == "checkbox" and "checked" in values):
            self.fields.append((values["name"], values.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False


@dataclass(frozen=True)
class EmulatorConsent:
    """A ``Consent`` that signs in on the emulator's consent page as its demo user."""

    username: str
    password: str = field(repr=False)
    timeout: float = 10.0
    steps: list[str] = field(default_factory=list, compare=False)

    def authorization_code(self, app: OAuthApp) -> str:
        state = new_state()
        with httpx.Client(timeout=self.timeout, follow_redirects=False) as http:
            page = http.get(authorization_url(app, state))
            if page.status_code != 200 or "<form" not in page.text:
                raise AuthError(f"the emulator's sign-in page answered {page.status_code}, not a form")
            parser = _ConsentForm()
            parser.feed(page.text)
            divisions = [v for k, v in parser.fields if k == "division"]
            form = [*parser.fields, ("username", self.username), ("password", self.password)]
            form.append(("action", "approve"))
            self.steps.append(f"opened the sign-in page, signed in as {self.username}")
            answer = http.post(app.url(AUTH_PATH), data=_pairs(form))
        location = answer.headers.get("location", "")
        if answer.status_code != 302 or not location:
            raise AuthError(f"the emulator's consent form answered {answer.status_code} without a redirect")
        self.steps.append(f"allowed access to divisions {', '.join(divisions)}; redirected back with a code")
        return parse_redirect(location, state)

    def refresh_token(self, credential: str) -> str:
        raise AuthError("the demo signs in with the consent page; it has no refresh token to give")


def _pairs(form: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """Form pairs as httpx takes repeated fields (``division`` once per ticked box)."""
    out: dict[str, list[str]] = {}
    for name, value in form:
        out.setdefault(name, []).append(value)
    return out
