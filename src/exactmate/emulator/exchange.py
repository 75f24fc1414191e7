"""The seam between the emulator's control plane (app, OAuth, limits, faults) and its data plane
(records, OData, REST rules): one request in, one response out, no HTTP framework on either side.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RestRequest:
    """A REST call that passed authentication, division access and rate limits."""

    method: str  # GET, POST, PUT, DELETE, ... (upper case)
    division: int
    path: str  # after the division: "project/TimeTransactions(guid'…')", "crm/Accounts/$count"
    query: tuple[tuple[str, str], ...]  # decoded query pairs in order ("$select", "ID,Name")
    body: bytes
    accept_json: bool  # the request sent Accept: application/json
    prefer_representation: bool  # Prefer: return=representation
    base_url: str  # scheme and host the client used, e.g. "http://127.0.0.1:8555"
    beta: bool = False  # reached through /api/v1/beta/{division}/...
    granted_scopes: frozenset[str] | None = None  # None: all scopes
    client_id: str = ""
    user_id: str = ""


@dataclass(frozen=True)
class Change:
    """A stored write, for webhook delivery: Action is Create, Update or Delete."""

    topic: str
    division: int
    action: str
    key: str
    endpoint_url: str


@dataclass
class RestResponse:
    status: int
    body: bytes = field(default=b"", repr=False)  # may carry tokens
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)


def endpoint_key(path: str) -> str:
    """The endpoint a REST path addresses, lower case, without key or $count: the unit of Exact's
    error budget and of the emulator's statistics. ``"CRM/Accounts(guid'x')/$count"`` -> ``"crm/accounts"``.
    """
    p = path.split("?", 1)[0]
    if "(" in p:
        p = p.split("(", 1)[0]
    if p.endswith("/$count"):
        p = p[: -len("/$count")]
    return p.strip("/").lower()


_XML_ERROR = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<error xmlns="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">'
    '<code></code><message xml:lang="">{text}</message></error>'
)


def error_response(
    status: int, message: str, *, accept_json: bool = True, headers: dict[str, str] | None = None
) -> RestResponse:
    """An error in Exact's OData v2 envelope: ``{"error":{"code":"","message":{"lang":"","value":…}}}``
    as JSON when JSON was asked for, otherwise the same as an XML ``<error>`` document.
    """
    import json
    from xml.sax.saxutils import escape

    if accept_json:
        body = json.dumps({"error": {"code": "", "message": {"lang": "", "value": message}}}).encode()
        ctype = "application/json; charset=utf-8"
    else:
        body = _XML_ERROR.format(text=escape(message)).encode()
        ctype = "application/xml; charset=utf-8"
    return RestResponse(status=status, body=body, content_type=ctype, headers=dict(headers or {}))
