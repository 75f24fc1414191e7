"""What the action form asks for as the user types: endpoints, an endpoint's fields, key checks and
the divisions of a credential (loaded live from Exact).

Endpoints, fields and key checks are answered from the catalogue, so they cost no call to Exact. The
division list is cached per credential for ten minutes, since the form asks again on every change of
credential and Exact counts every call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from exactmate.actions.context import open_connection
from exactmate.actions.divisions import parse_division
from exactmate.actions.keys import key_text
from exactmate.actions.picker import endpoint_row
from exactmate.actions.references import search_references
from exactmate.errors import ConfigError, ExactmateError, ValidationError, VaultError
from exactmate.web.context import ui
from exactmate.web.datamanager import describe, method_for, parse_action

router = APIRouter(prefix="/api")

DIVISION_CACHE_SECONDS = 600.0


@dataclass(frozen=True)
class _Cached:
    at: float
    answer: dict[str, Any]


class DivisionCache:
    """Division lists per credential, kept ``DIVISION_CACHE_SECONDS`` (by the app's clock)."""

    def __init__(self) -> None:
        self._entries: dict[str, _Cached] = {}
        self._lock = threading.Lock()

    def get(self, name: str, now: float) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(name.lower())
        if entry is None or now - entry.at > DIVISION_CACHE_SECONDS:
            return None
        return entry.answer

    def put(self, name: str, now: float, answer: dict[str, Any]) -> None:
        with self._lock:
            self._entries[name.lower()] = _Cached(now, answer)

    def forget(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name.lower(), None)


def _error(message: str, status_code: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code)


@router.get("/endpoints")
def endpoints(request: Request, q: str = "", method: str | None = None) -> JSONResponse:
    """Catalogue endpoints whose path contains ``q``, optionally only those allowing ``method``."""
    try:
        found = ui(request).catalogue.search(q, method=method or None)
    except ExactmateError as exc:
        return _error(str(exc))
    return JSONResponse({"endpoints": [endpoint_row(e) for e in found]})


@router.get("/endpoint")
def endpoint(request: Request, path: str, action: str = "get") -> JSONResponse:
    """One endpoint's methods, key and fields as the Data Manager shows them for ``action``."""
    try:
        chosen = parse_action(action)
    except ValueError as exc:
        return _error(str(exc))
    try:
        found = ui(request).catalogue.endpoint(path)
    except ExactmateError as exc:
        return _error(str(exc), 404)
    answer = describe(found, chosen)
    method = method_for(chosen)
    if not found.allows(method):
        allowed = ", ".join(answer["methods"])
        answer["problem"] = f"{found.path} does not allow {method} (it allows {allowed})"
    return JSONResponse(answer)


@router.get("/key-check")
def key_check(request: Request, path: str, key: str) -> JSONResponse:
    """Whether ``key`` is a valid key of ``path``, and how it goes into the URL."""
    try:
        found = ui(request).catalogue.endpoint(path)
        text = key_text(found, key)
    except ExactmateError as exc:
        return JSONResponse({"ok": False, "message": str(exc)})
    return JSONResponse({"ok": True, "message": f"{found.path}({text})"})


@router.get("/divisions")
def divisions(request: Request, credential: str = "", refresh: bool = False) -> JSONResponse:
    """The divisions the credential's user can access, and the current one (live, cached)."""
    context = ui(request)
    cache: DivisionCache = ui(request).divisions
    name = credential.strip()
    now = context.clock.now()
    cached = None if refresh or not name else cache.get(name, now)
    if cached is not None:
        return JSONResponse(cached)
    try:
        with open_connection(
            name or None, settings=context.settings, clock=context.clock, transport=context.transport
        ) as connection:
            current = connection.client.current_division()
            rows = connection.client.divisions()
            label = connection.credential_name
    except ExactmateError as exc:
        local = isinstance(exc, ValidationError | VaultError | ConfigError)
        return _error(str(exc), 400 if local else 502)
    answer = {
        "credential": label,
        "current": current,
        "divisions": [
            {"code": row.get("Code"), "description": str(row.get("Description") or "")}
            for row in rows
            if isinstance(row.get("Code"), int)
        ],
    }
    cache.put(label, now, answer)
    return JSONResponse(answer)


@router.get("/references")
def references(
    request: Request, field: str, q: str = "", credential: str = "", division: str = "current"
) -> JSONResponse:
    """Records a reference field (Project, Item, Employee, Account, Activity) may point at whose code
    or name contains ``q``: what the Data Manager's picker shows while the user types. One call."""
    context = ui(request)
    try:
        choice = parse_division(division)
        if choice.mode == "all":
            raise ValidationError("A record is picked in one division", hint="choose a division first")
        name = credential.strip() or None
        with open_connection(
            name, settings=context.settings, clock=context.clock, transport=context.transport
        ) as connection:
            number = choice.number if choice.number is not None else connection.client.current_division()
            found = search_references(connection, field, q, number)
    except ExactmateError as exc:
        local = isinstance(exc, ValidationError | VaultError | ConfigError)
        return _error(str(exc), 400 if local else 502)
    return JSONResponse({"division": number, "records": found})
