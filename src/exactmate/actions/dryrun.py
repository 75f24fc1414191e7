"""Dry runs: the exact request a write would send (method, URL, JSON body), built without sending it.

The body is serialised the way ``exactmate.http`` serialises it (dates as Exact's zone-less Dutch
wall-clock ISO text, GUIDs as text), so what a dry run shows is byte for byte what would be sent.
A dry run sends no write. It does make the reads a real run makes *before* its write, so that it can
show what would really happen: ``current/Me`` to find the current division (a call Exact neither
counts nor limits), and for an update or a delete the one GET of the record (to show it, and to refuse
a final time entry).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from exactmate import odata
from exactmate.catalogue import Endpoint


@dataclass(frozen=True)
class PlannedRequest:
    """One request as it would go to Exact. ``body`` is the JSON text (None for no body)."""

    method: str
    url: str
    body: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data: ``{"method", "url", "body"}`` with the body decoded back to JSON values."""
        return {"method": self.method, "url": self.url, "body": json.loads(self.body) if self.body else None}

    def __str__(self) -> str:
        text = f"{self.method} {self.url}"
        if self.body is not None:
            text += "\n" + json.dumps(json.loads(self.body), indent=2, ensure_ascii=False)
        return text


def plan(
    server_url: str,
    method: str,
    endpoint: Endpoint,
    division: int | None,
    *,
    suffix: str = "",
    body: Mapping[str, Any] | None = None,
) -> PlannedRequest:
    """The request ``method`` on ``endpoint`` in ``division`` (``suffix``: a key such as ``(guid'…')``)."""
    url = server_url.rstrip("/") + endpoint.url_path(division) + suffix
    return PlannedRequest(method.upper(), url, body_text(body) if body is not None else None)


def body_text(body: Mapping[str, Any]) -> str:
    """The JSON text of a request body, exactly as ``exactmate.http`` writes it."""
    return json.dumps(dict(body), default=json_default)


def json_default(value: object) -> object:
    """JSON for the values a record may hold beyond plain JSON: GUIDs, decimals, dates."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return odata.format_datetime(value)
    raise TypeError(f"cannot send a value of type {type(value).__name__} to Exact Online as JSON")
