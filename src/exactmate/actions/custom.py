"""The custom call: any method on any path the catalogue knows, for ``read/`` functions and anything
the four actions do not cover (navigation links, ``/$count``, an endpoint's own actions).

The path starts with a catalogue endpoint (``read/project/HoursByDate``, ``crm/Accounts(guid'…')/
BankAccounts``, ``salesinvoice/SalesInvoices/$count``); the endpoint and the method are checked
before any call. A body sent to the endpoint itself is checked field by field like every other
write (unknown and read-only fields are refused), and a write can be dry-run.

A DELETE is Delete Endpoint with ID under another name, and is treated as one: it must address one
record by its key, which is shown and confirmed first and kept in the audit log. A PUT to one
record is audited too (the record before, and what was sent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlencode

from exactmate.actions import audit
from exactmate.actions.context import ActionContext
from exactmate.actions.delete import Confirm, DeleteResult, delete_record
from exactmate.actions.divisions import DivisionChoice, DivisionInput, division_numbers, parse_division
from exactmate.actions.dryrun import PlannedRequest, plan
from exactmate.actions.fields import prepare_record
from exactmate.catalogue import HTTP_METHODS, Endpoint
from exactmate.errors import ExactmateError, ValidationError

Params = Mapping[str, str] | Sequence[tuple[str, str]]


def split_path(conn: ActionContext, path: str) -> tuple[Endpoint, str]:
    """The catalogue endpoint a path starts with, and the rest (a key, navigation, ``/$count``).

    A ``.`` or ``..`` segment is refused: HTTP clients resolve them before sending, so
    ``crm/Accounts/../../100002/system/Divisions`` would reach another endpoint, or another division,
    than the one checked here."""
    dotted = [s for s in unquote(path).replace("\\", "/").split("/") if s.strip() in (".", "..")]
    if dotted:
        raise ValidationError(
            f"The path {path!r} has a {dotted[0].strip()!r} segment",
            hint="write the endpoint's path as the catalogue names it, e.g. read/project/HoursByDate",
        )
    cut = len(path)
    for marker in ("(", "/$"):
        index = path.find(marker)
        if index != -1:
            cut = min(cut, index)
    return conn.client.catalogue.endpoint(path[:cut]), path[cut:]


def custom_call(
    conn: ActionContext,
    method: str,
    path: str,
    *,
    division: DivisionInput | DivisionChoice = None,
    params: Params | None = None,
    data: Any = None,
    dry_run: bool = False,
    confirm: Confirm | None = None,
) -> Any:
    """Send ``method`` to ``path`` in ``division`` and return the decoded answer (records, a record,
    a number, text or None); on a dry run of a write, the ``PlannedRequest`` instead; for a DELETE,
    ``delete_record``'s ``DeleteResult`` (``confirm`` is asked first, as Delete Endpoint with ID asks)."""
    verb = method.strip().upper()
    if verb not in HTTP_METHODS:
        raise ValidationError(f"Unknown HTTP method {method!r}", hint=f"use one of {', '.join(HTTP_METHODS)}")
    endpoint, suffix = split_path(conn, path.strip())
    endpoint.require_method(verb)
    body = _checked_body(endpoint, verb, suffix, data)
    choice = parse_division(division)
    if choice.mode == "all":
        raise ValidationError(
            "A custom call goes to one division", hint="pass --division N (or leave it out: the current one)"
        )
    key = _record_key_of(suffix)
    if verb == "DELETE":
        if key is None or params:
            raise ValidationError(
                f"A DELETE through a custom call addresses one record: {endpoint.path}(key), nothing more",
                hint="put the record's key in parentheses after the endpoint, e.g. crm/Contacts(guid'…')",
            )
        return delete_record(conn, endpoint.path, key, division=choice, confirm=confirm, dry_run=dry_run)
    if dry_run and verb != "GET":
        number = None if endpoint.kind == "me" else division_numbers(conn.client, choice)[0]
        request = plan(conn.server_url, verb, endpoint, number, suffix=suffix, body=body)
        if params:
            pairs = params.items() if isinstance(params, Mapping) else params
            query = urlencode(list(pairs))
            request = PlannedRequest(request.method, f"{request.url}?{query}", request.body)
        return request
    number = choice.number if choice.mode == "number" else None
    if verb == "PUT" and key is not None:
        return _audited_put(conn, endpoint, key, suffix, number, params, body)
    return conn.client.request(verb, endpoint.path + suffix, division=number, params=params, json=body)


def _record_key_of(suffix: str) -> str | None:
    """The key text of a suffix that is exactly ``(key)``, else None."""
    if suffix.startswith("(") and suffix.endswith(")") and suffix.count("(") == 1:
        return suffix[1:-1]
    return None


def _audited_put(
    conn: ActionContext,
    endpoint: Endpoint,
    key: str,
    suffix: str,
    number: int | None,
    params: Params | None,
    body: Any,
) -> Any:
    """A PUT to one record, with the record before it and what was sent kept in the audit log."""
    division = number if number is not None else conn.client.current_division()
    before = conn.client.resource(endpoint.path, division).get(key) if endpoint.allows("GET") else None

    def log(outcome: str) -> None:
        after = body if isinstance(body, Mapping) else None
        audit.record(
            conn.store,
            credential=conn.credential_name,
            division=division,
            endpoint=endpoint.path,
            action="update",
            record_key=key,
            before=before,
            after=after,
            outcome=outcome,
        )

    try:
        path = endpoint.path + suffix
        answer = conn.client.request("PUT", path, division=division, params=params, json=body)
    except ExactmateError as exc:
        log(f"failed: {exc}")
        raise
    log("updated")
    return answer


def _checked_body(endpoint: Endpoint, method: str, suffix: str, data: Any) -> Any:
    if data is None:
        return None
    if method == "GET":
        raise ValidationError("A GET sends no body", hint="leave out --data, or use POST/PUT")
    navigation = suffix.startswith("/") or ")/" in suffix
    if navigation or not endpoint.fields or not isinstance(data, Mapping):
        return data  # navigation targets and function payloads are not in the catalogue
    record, problems = prepare_record(endpoint, data, creating=method == "POST" and not suffix)
    if problems:
        raise ValidationError(
            f"Cannot send this body to {endpoint.path}; nothing was sent", problems=problems
        )
    return record


__all__ = ["DeleteResult", "custom_call", "split_path"]
