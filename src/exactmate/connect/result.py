"""What Test Connect reports: ``ConnectCheck`` (success facts or a diagnosis naming the cause)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from exactmate.clock import utc
from exactmate.vault import Credential


class Cause(enum.StrEnum):
    """Why a Test Connect failed."""

    WRONG_CLIENT_SECRET = "wrong_client_secret"
    WRONG_HOST = "wrong_host"  # the app is unknown on this country host
    REDIRECT_URI_NOT_REGISTERED = "redirect_uri_not_registered"
    NO_DIVISION_ACCESS = "no_division_access"
    SCOPE_MISSING = "scope_missing"
    UNREACHABLE = "unreachable"
    SIGN_IN_FAILED = "sign_in_failed"  # denied, abandoned, state mismatch, nothing pasted
    TOKEN_REFUSED = "token_refused"  # a code or refresh token Exact would not take
    NEEDS_REAUTHORIZATION = "needs_reauthorization"
    RATE_LIMITED = "rate_limited"
    EXACT_ERROR = "exact_error"  # any other answer from Exact


@dataclass(frozen=True)
class ConnectCheck:
    """The outcome of a Test Connect: ``ok`` with what was found, or a ``cause`` and a ``hint``.

    Plain data for the command line, the web page and the library alike; never a stack trace.
    """

    ok: bool
    summary: str
    details: tuple[str, ...] = ()
    cause: Cause | None = None
    hint: str | None = None
    tested_at: float | None = None
    user: str | None = None
    current_division: int | None = None
    division_name: str | None = None
    divisions: tuple[tuple[int, str], ...] = ()
    daily_remaining: int | None = None
    daily_limit: int | None = None
    refresh_token_age: float | None = None
    warnings: tuple[str, ...] = field(default=())

    def lines(self) -> list[str]:
        """The result as lines of text: summary, details, warnings, then the hint."""
        out = [self.summary, *self.details, *(f"warning: {w}" for w in self.warnings)]
        if self.hint:
            out.append(f"fix: {self.hint}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "ok": self.ok,
            "summary": self.summary,
            "details": list(self.details),
            "cause": str(self.cause) if self.cause else None,
            "hint": self.hint,
            "tested_at": utc(self.tested_at).isoformat(timespec="seconds") if self.tested_at else None,
            "user": self.user,
            "current_division": self.current_division,
            "division_name": self.division_name,
            "divisions": [{"code": code, "name": name} for code, name in self.divisions],
            "daily_remaining": self.daily_remaining,
            "daily_limit": self.daily_limit,
            "refresh_token_age_seconds": self.refresh_token_age,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class SaveResult:
    """The outcome of Connect & Create or an edit: whether it was saved, and the test behind it."""

    saved: bool
    credential: Credential | None
    test: ConnectCheck | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "saved": self.saved,
            "credential": self.credential.to_dict() if self.credential else None,
            "test": self.test.to_dict() if self.test else None,
            "note": self.note,
        }


def describe_age(seconds: float) -> str:
    """A rough age for people: ``just now``, ``5 minutes``, ``3 hours``, ``12 days``."""
    if seconds < 60:
        return "just issued"
    unit, size = next((u, s) for u, s in (("day", 86_400), ("hour", 3_600), ("minute", 60)) if seconds >= s)
    count = int(seconds // size)
    return f"{count} {unit}{'s' if count != 1 else ''}"
