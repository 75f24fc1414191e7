"""List or Get Endpoint: any endpoint, with a key one record (``get_record``), without one a
listing (``list_records``); ``by_key`` is the rule that tells which of the two a request is.

Everything a user can get wrong (the endpoint, a ``$select`` or ``$orderby`` field, the key and its
type, a ``$filter`` mapping's values, ``--top`` with ``--all``) is checked before the first call. A
listing is lazy: records stream page by page, so even a whole endpoint read with ``all=True`` (through
its bulk or sync twin when it has one, 1000 rows a call) runs in flat memory, each page requested
while the one before is parsed and written (``Resource.read(ahead=True)``). Without ``all`` a
listing stops after ``top`` records (default: one page of 60).

A listing's options are checked once into a ``ReadQuery`` (``check_query``), and that same object is
what ``read_listing`` sends in each division and what ``estimate_read`` counts: nothing is checked
or worked out twice. A read may instead count its records on its first page (``on_count``), which
saves the ``$count`` call.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, cast

from exactmate import odata
from exactmate.actions.context import ActionContext
from exactmate.actions.divisions import (
    DivisionChoice,
    DivisionInput,
    division_numbers,
    one_division,
    parse_division,
)
from exactmate.actions.filtercheck import check_filter_text
from exactmate.actions.keys import parse_key, record_key
from exactmate.actions.presentation import json_line
from exactmate.catalogue import Catalogue, Endpoint
from exactmate.errors import ExactmateError, ValidationError
from exactmate.resource import Page, ReadQuery, check_read

DEFAULT_LIMIT = 60
Record = dict[str, Any]
PageHook = Callable[[int, int], None]
"""Called with (division, number of records in the page) as each page arrives."""
CountHook = Callable[[int, int | None], None]
"""Called with (division, how many records the read matches there) as a division's first page
arrives, before its records and its ``PageHook``: the page's ``__count`` (``$inlinecount=allpages``
on that first call, no call of its own); None when Exact sent none."""


Read = Callable[[bool], Generator[Record | Page, None, None]]
"""A listing's read: its records, and with ``True`` pages the resource wrote as NDJSON among them."""


@dataclass
class Listing:
    """Records as they stream in. With several divisions each record carries its ``Division``, and a
    division that fails is recorded in ``errors`` while the others go on.

    Read once, either as records (iterate it) or as NDJSON text (``ndjson``). ``close`` (or the end
    of a ``with`` block) stops a read left unfinished, before its connection is closed."""

    endpoint: Endpoint
    divisions: list[int]
    fields: tuple[str, ...] | None
    _read: Read = field(repr=False)
    errors: list[tuple[int, ExactmateError]] = field(default_factory=list)
    count: int = 0
    _reading: Generator[Record | Page, None, None] | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[Record]:
        for record in cast(Iterator[Record], self._start(False)):
            self.count += 1
            yield record

    def ndjson(self) -> Iterator[bytes]:
        """The records as NDJSON, UTF-8 encoded (each line ``presentation.json_line``'s), in pieces:
        a whole read's pages are written by the resource straight from their bytes where it can
        (``Resource.read(lines=True)``, two fifths of the time), its other records a line each."""
        for item in self._start(True):
            if isinstance(item, Page):
                self.count += item.size
                yield cast(bytes, item.lines)
            else:
                self.count += 1
                yield json_line(item).encode()

    def close(self) -> None:
        """Stop the read where it is: the page being fetched ahead is waited for, nothing after it
        is asked for, and no thread of the read is left running. A reader that stops early (a
        closed pipe, a failed write, Ctrl-C) calls this before the connection closes, or the
        read-ahead would find its connection closed under it and retry. Harmless on a listing
        read to its end, or never read."""
        reading, self._reading = self._reading, None
        if reading is not None:
            reading.close()

    def __enter__(self) -> Listing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self, lines: bool) -> Generator[Record | Page, None, None]:
        self._reading = self._read(lines)
        return self._reading


def by_key(
    endpoint: str | Endpoint,
    key: object,
    *,
    filter: object = None,
    top: int | None = None,
    order_by: object = None,
    all: bool = False,
) -> bool:
    """Whether List or Get Endpoint gets one record (``key`` given, not blank) rather than lists:
    the one rule the CLI, the web form and flows dispatch on. Listing options with a key are refused."""
    if key is None or (isinstance(key, str) and not key.strip()):
        return False
    if filter is not None or top is not None or order_by or all:
        path = endpoint.path if isinstance(endpoint, Endpoint) else endpoint
        raise ValidationError(
            "--filter, --top, --order-by and --all apply to listings, not to one record by key",
            hint=f"leave the key out to list: exactmate get {path} --filter …",
        )
    return True


def get_record(
    conn: ActionContext,
    endpoint: str | Endpoint,
    key: object,
    *,
    division: DivisionInput | DivisionChoice = None,
    select: Sequence[str] | str | None = None,
) -> Record:
    """The record ``key`` of ``endpoint`` (only the ``select`` fields when given); one GET.

    ``division``: a number, ``current`` (default) or ``all`` (the division that holds the key, which
    each record then names in its ``Division``)."""
    target = _endpoint(conn, endpoint)
    target.require_method("GET")
    parsed = parse_key(target, key)
    record_key(target, parsed)  # the key's type is checked before any call
    fields = target.resolve_fields(_names(select)) if select else None
    choice = parse_division(division)
    number = one_division(conn.client, choice, target, parsed)
    found = conn.client.resource(target, number).get(parsed)
    if fields is not None:
        found = {name: found.get(name) for name in fields}
    if choice.mode == "all":
        found = {"Division": number, **found}
    return found


def list_records(
    conn: ActionContext,
    endpoint: str | Endpoint,
    *,
    division: DivisionInput | DivisionChoice = None,
    select: Sequence[str] | str | None = None,
    filter: odata.FilterInput = None,
    top: int | None = None,
    order_by: Sequence[str] | str | None = None,
    all: bool = False,
    on_page: PageHook | None = None,
    on_count: CountHook | None = None,
) -> Listing:
    """A lazy listing of the records of ``endpoint`` that match, checked before the first call.

    ``division``: a number, ``current`` (default) or ``all`` (every accessible division).
    ``filter``: OData text, a ``Filter`` or ``{"Field": value}``. Without ``all``, at most ``top``
    records (default: one page of 60). ``on_page`` and ``on_count``: see ``read_listing``."""
    query = check_query(
        conn.client.catalogue,
        _endpoint(conn, endpoint),
        select=select,
        filter=filter,
        top=top,
        order_by=order_by,
        everything=all,
    )
    return read_listing(conn, query, division=division, on_page=on_page, on_count=on_count)


def check_query(
    catalogue: Catalogue,
    target: Endpoint,
    *,
    select: Sequence[str] | str | None = None,
    filter: odata.FilterInput = None,
    top: int | None = None,
    order_by: Sequence[str] | str | None = None,
    everything: bool = False,
) -> ReadQuery:
    """The listing's read, checked once, every problem reported at once; no call is made. Without
    ``everything`` its ``top`` is the number of records to give (default: one page of 60)."""
    target.require_method("GET")
    problems: list[str] = []
    if everything and top is not None:
        problems.append("--all reads every record and --top only the first N: give one of them")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        problems.append(f"--top must be a whole number of at least 1, got {top!r}")
        top = None
    query = None
    try:
        limit = None if everything else (top if top is not None else DEFAULT_LIMIT)
        fields = _names(select) if select else None
        order = _names(order_by) if order_by else None
        query = check_read(catalogue, target, select=fields, filter=filter, top=limit, order_by=order)
        if filter is not None and not isinstance(filter, Mapping):
            check_filter_text(target, str(filter))  # OData text, or a Filter built with F(...)
    except ValidationError as exc:
        problems.extend(exc.problems or [exc.message])
    if problems or query is None:
        raise ValidationError(f"Cannot list {target.path}; nothing was sent", problems=problems)
    return query


def read_listing(
    conn: ActionContext,
    query: ReadQuery,
    *,
    division: DivisionInput | DivisionChoice = None,
    numbers: Sequence[int] | None = None,
    on_page: PageHook | None = None,
    on_count: CountHook | None = None,
) -> Listing:
    """A lazy listing of a checked ``query`` in one division or (``all``) in each accessible one.

    ``numbers``: the division codes ``division`` stands for, when the caller has looked them up
    already (for ``all``, one ``system/Divisions`` call less).
    ``on_count``: each division's first call also asks how many records match (see ``CountHook``);
    only for a query that ``counts_inline``, and not with a ``top`` over every division (read at
    once, without hooks)."""
    if on_count is not None and not query.counts_inline:
        raise ValueError(f"a read through {query.source.path} cannot count its records on its first page")
    choice = parse_division(division)
    numbers = list(numbers) if numbers is not None else division_numbers(conn.client, choice)
    errors: list[tuple[int, ExactmateError]] = []

    def read(lines: bool) -> Generator[Record | Page, None, None]:
        if choice.mode != "all":
            return _stream(conn, query, numbers[0], on_page, on_count, tag=False, lines=lines)
        if query.top is None:
            return _each_division(conn, query, numbers, on_page, on_count, errors, lines=lines)
        return _fan_out(conn, query, numbers, errors)

    return Listing(query.endpoint, numbers, query.fields, read, errors)


def _endpoint(conn: ActionContext, endpoint: str | Endpoint) -> Endpoint:
    return endpoint if isinstance(endpoint, Endpoint) else conn.client.catalogue.endpoint(endpoint)


def _stream(
    conn: ActionContext,
    query: ReadQuery,
    number: int,
    on_page: PageHook | None,
    on_count: CountHook | None,
    *,
    tag: bool,
    lines: bool = False,
) -> Generator[Record | Page, None, None]:
    """One division's records; with ``lines``, a whole read's pages the resource wrote as NDJSON
    come whole (``Resource.read(lines=True)``), their records tagged with ``tag``."""
    # a whole read: each next page is requested while this one is parsed and written
    resource = conn.client.resource(query.endpoint, number)
    whole = query.top is None
    pages = resource.read(query, ahead=whole, count=on_count is not None, lines=lines and whole, tag=tag)
    left = query.top
    with closing(pages):  # closed with the listing: the read-ahead stops (see ``Listing.close``)
        for page in pages:
            if on_count is not None and page.number == 1:
                on_count(number, page.count)
            if on_page is not None:
                on_page(number, page.size)
            if page.lines is not None:
                yield page
                continue
            for record in page.records:
                yield {"Division": number, **record} if tag else record
                if left is not None:
                    left -= 1
                    if left <= 0:
                        return


def _each_division(
    conn: ActionContext,
    query: ReadQuery,
    numbers: list[int],
    on_page: PageHook | None,
    on_count: CountHook | None,
    errors: list[tuple[int, ExactmateError]],
    *,
    lines: bool = False,
) -> Generator[Record | Page, None, None]:
    """Division after division, streaming: a whole endpoint in many divisions stays in flat memory."""
    for number in numbers:
        try:
            yield from _stream(conn, query, number, on_page, on_count, tag=True, lines=lines)
        except ExactmateError as exc:
            errors.append((number, exc))


def _fan_out(
    conn: ActionContext,
    query: ReadQuery,
    numbers: list[int],
    errors: list[tuple[int, ExactmateError]],
) -> Generator[Record, None, None]:
    """Bounded listings of every division at once, on the client's pool, in division order.

    ``top`` is the number of records in all, shared fairly: each division is asked for ``top`` and
    gives its turn's share (``shares``), so ``--top 2`` over two divisions shows one of each."""

    def fetch(number: int) -> list[Record]:
        return cast(list[Record], list(islice(_stream(conn, query, number, None, None, tag=True), query.top)))

    results: dict[int, list[Record]] = {}
    for number, result in conn.client.fan_out(numbers, fetch):
        if isinstance(result, ExactmateError):
            errors.append((number, result))
        elif isinstance(result, Exception):
            raise result
        else:
            results[number] = result
    kept = shares({number: len(found) for number, found in results.items()}, query.top)
    for number in numbers:
        yield from results.get(number, [])[: kept.get(number, 0)]


def shares(available: Mapping[int, int], total: int | None) -> dict[int, int]:
    """How many of ``total`` records each division gives, taking one from each in turn (division
    order) until ``total`` are taken or none is left; ``total`` None takes everything."""
    if total is None:
        return dict(available)
    taken = dict.fromkeys(available, 0)
    left = total
    while left > 0:
        turn = [number for number in sorted(available) if taken[number] < available[number]]
        if not turn:
            break
        for number in turn[:left]:
            taken[number] += 1
        left -= min(left, len(turn))
    return taken


def _names(value: Sequence[str] | str | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [item.strip() for item in items]
    if any(not name for name in names):
        raise ValidationError("--select has an empty field name", hint="e.g. --select ID,Code,Name")
    return names
