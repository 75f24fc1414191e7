"""The division every action runs in: a number, ``current`` (the default) or ``all``.

- ``current`` is the division Exact itself uses for the user: ``CurrentDivision`` of ``current/Me``
  (the one last opened in Exact's web app). ``current/Me`` has no division in its URL, so Exact
  neither counts nor limits that call.
- ``all`` is every division the user can access (``system/Divisions``). Listing fans out over them
  and adds the division to each record; acting on one record by its key first finds the division
  that holds it, with one filtered listing per division, which answers "none" with an empty page
  rather than a 404 (a 404 would count against Exact's hourly error budget).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from exactmate.catalogue import MAX_DIVISION, Endpoint
from exactmate.errors import ExactmateError, NotFoundError, ValidationError

if TYPE_CHECKING:  # the client is only called here: parsing a --division needs none of it
    from exactmate.client import ExactClient

DivisionInput = int | str | None


@dataclass(frozen=True)
class DivisionChoice:
    """A parsed ``--division``: ``mode`` ``number`` (with ``number``), ``current`` or ``all``."""

    mode: Literal["number", "current", "all"]
    number: int | None = None

    def __str__(self) -> str:
        return str(self.number) if self.mode == "number" else self.mode


CURRENT = DivisionChoice("current")
ALL = DivisionChoice("all")


def parse_division(value: DivisionInput | DivisionChoice) -> DivisionChoice:
    """``None`` or ``"current"`` -> current; ``"all"``; a positive number (or its digits) -> that one."""
    if isinstance(value, DivisionChoice):
        return value
    if value is None:
        return CURRENT
    if isinstance(value, bool):
        raise _bad(value)
    if isinstance(value, int):
        if 0 < value <= MAX_DIVISION:
            return DivisionChoice("number", value)
        raise _bad(value)
    text = str(value).strip().lower()
    if text in ("current", ""):
        return CURRENT
    if text == "all":
        return ALL
    # ASCII digits only: str.isdigit() also accepts digits such as '²' that int() refuses.
    if text.isascii() and text.isdigit() and len(text) <= len(str(MAX_DIVISION)):
        return parse_division(int(text))
    raise _bad(value)


def _bad(value: object) -> ValidationError:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return ValidationError(
        f"{shown} is not a division",
        hint=f"give a division code (a number from 1 to {MAX_DIVISION}, e.g. 100001), 'current' or 'all'",
    )


def division_numbers(client: ExactClient, choice: DivisionChoice) -> list[int]:
    """The division codes ``choice`` stands for (``all``: every division the user can access)."""
    if choice.mode == "number" and choice.number is not None:
        return [choice.number]
    if choice.mode == "current":
        return [client.current_division()]
    codes: list[int] = []
    for row in client.divisions():
        code = row.get("Code")
        if isinstance(code, int) and not isinstance(code, bool) and code not in codes:
            codes.append(code)
    if not codes:
        raise ExactmateError("Exact Online lists no division this user can access")
    return sorted(codes)


def key_filter(endpoint: Endpoint, key: object) -> dict[str, Any]:
    """The ``$filter`` mapping that selects the record with ``key`` (every key field for composite keys)."""
    if len(endpoint.keys) > 1 and isinstance(key, Mapping):
        given = {str(k).lower(): v for k, v in key.items()}
        return {name: given.get(name.lower()) for name in endpoint.keys}
    if not endpoint.keys:
        raise ValidationError(f"{endpoint.path} has no key: its records cannot be addressed one by one")
    return {endpoint.keys[0]: key}


def division_holding(client: ExactClient, endpoint: Endpoint, key: object) -> int:
    """The one accessible division whose ``endpoint`` holds the record ``key``.

    One ``$filter`` listing per division (in parallel), never a keyed GET, so divisions without the
    record cost no error-budget place. Several divisions holding the key is refused: the caller must
    say which one.
    """
    endpoint.require_method("GET")
    wanted = key_filter(endpoint, key)
    numbers = division_numbers(client, ALL)
    select = list(endpoint.keys)

    def probe(number: int) -> bool:
        resource = client.resource(endpoint, number)
        return any(True for _ in resource.list(select=select, filter=wanted, top=1))

    holders: list[int] = []
    failures: list[str] = []
    for number, found in client.fan_out(numbers, probe):
        if isinstance(found, Exception):
            failures.append(f"division {number}: {found}")
        elif found:
            holders.append(number)
    if len(holders) == 1:
        return holders[0]
    if len(holders) > 1:
        raise ValidationError(
            f"{endpoint.path} {key} exists in several divisions: {', '.join(map(str, sorted(holders)))}",
            hint="pass --division with the one you mean",
        )
    message = f"No accessible division holds {endpoint.path} {key}"
    if failures:
        message += " (some divisions could not be searched: " + "; ".join(failures) + ")"
    raise NotFoundError(message, status_code=404)


def one_division(client: ExactClient, choice: DivisionChoice, endpoint: Endpoint, key: object) -> int:
    """The division to act on the record ``key`` in: the number given, the current one, or (``all``)
    the one that holds it."""
    if choice.mode == "all":
        return division_holding(client, endpoint, key)
    return division_numbers(client, choice)[0]
