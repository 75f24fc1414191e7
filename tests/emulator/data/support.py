"""Constants and small helpers shared by the data-plane tests."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from exactmate.emulator.config import DEMO_USER_ID
from exactmate.emulator.exchange import Change, RestRequest, RestResponse
from exactmate.emulator.rest import RestApi

BASE_URL = "http://127.0.0.1:8555"
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z, a Thursday (01:00 in Amsterdam)
FIRST = 100001
SECOND = 100002
FORBIDDEN = 100003
_DIVISION_PATH = re.compile(r"^/api/v1/(?:(beta)/)?(\d+)/(.+)$")


@dataclass
class Session:
    """What the control plane would have worked out from the token, and what the tests observe."""

    scopes: frozenset[str] | None = None
    client_id: str = "7f0c5a8e-2d4b-4c61-9a3e-5b1d2c3e4f50"
    user_id: str = DEMO_USER_ID
    changes: list[Change] = field(default_factory=list)
    probed: list[str] = field(default_factory=list)
    probe_status: int = 200


def _to_http(response: RestResponse) -> httpx.Response:
    headers = {"content-type": response.content_type, **response.headers}
    return httpx.Response(response.status, content=response.body, headers=headers)


def http_client(rest_api: RestApi, session: Session) -> httpx.Client:
    """An httpx client over a MockTransport that hands each request to ``rest_api`` the way the
    control plane does: division from ``/api/v1/{division}/…``, beta from ``/api/v1/beta/…``,
    ``Accept`` and ``Prefer`` headers, and ``current/Me``.
    """

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        accept_json = "application/json" in request.headers.get("accept", "")
        query = tuple(request.url.params.multi_items())
        if path.lower() == "/api/v1/current/me":
            me = rest_api.me(
                user_id=session.user_id,
                current_division=FIRST,
                base_url=BASE_URL,
                accept_json=accept_json,
                query=query,
            )
            return _to_http(me)
        match = _DIVISION_PATH.match(path)
        if match is None:
            return httpx.Response(404, json={"error": {"code": "", "message": {"lang": "", "value": path}}})
        rest_request = RestRequest(
            method=request.method,
            division=int(match.group(2)),
            path=match.group(3),
            query=query,
            body=request.content,
            accept_json=accept_json,
            prefer_representation="return=representation" in request.headers.get("prefer", ""),
            base_url=BASE_URL,
            beta=match.group(1) is not None,
            granted_scopes=session.scopes,
            client_id=session.client_id,
            user_id=session.user_id,
        )
        response = rest_api.handle(rest_request)
        session.changes.extend(response.changes)
        return _to_http(response)

    return httpx.Client(
        base_url=BASE_URL, transport=httpx.MockTransport(handler), headers={"Accept": "application/json"}
    )


def results(response: httpx.Response) -> list[dict[str, Any]]:
    """``d.results`` of a successful JSON collection response."""
    assert response.status_code == 200, response.text
    rows = response.json()["d"]["results"]
    assert isinstance(rows, list)
    return rows


def error_text(response: httpx.Response) -> str:
    """Exact's error message from a JSON error envelope."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == ""
    return str(body["error"]["message"]["value"])


def all_pages(
    client: httpx.Client, url: str, params: dict[str, str] | None = None
) -> list[list[dict[str, Any]]]:
    """Every page of a collection, following ``__next`` verbatim as Exact's clients do."""
    pages: list[list[dict[str, Any]]] = []
    response = client.get(url, params=params)
    while True:
        pages.append(results(response))
        next_url = response.json()["d"].get("__next")
        if next_url is None:
            return pages
        assert len(pages) < 1000, "paging does not end"
        response = client.get(next_url)


def first_key(client: httpx.Client, url: str, key: str = "ID") -> Any:
    """The key of the first row of a collection."""
    return results(client.get(url, params={"$select": key, "$top": "1"}))[0][key]
