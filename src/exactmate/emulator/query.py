"""The one paging helper: reads the OData system query options of a request and cuts a page.

``$select``, ``$filter``, ``$orderby``, ``$top``, ``$skip``, ``$skiptoken``, ``$inlinecount``,
``$expand`` and ``$format`` are read and checked here (with the endpoint's own refusals passed in
as QueryRules), and ``run`` returns one page plus what the ``__next`` link needs.

``__next`` repeats every query option, drops ``$skip`` (the skiptoken already points past the
skipped rows), lowers ``$top`` by the rows served, and appends ``$skiptoken`` with the last row's
key: ``guid'…'`` for Guid keys, ``123L`` for Int64 keys such as sync Timestamps, ``123`` for other
integers, ``'text'`` for strings. With ``$orderby`` the token carries the last row's sort values
first (``$skiptoken='Acme',guid'…'``), as WCF Data Services writes it.

By default a full page always carries ``__next`` (so 120 rows in 60-row pages take three calls, the
last one empty), which is what clients report of Exact; QueryRules.next_on_full_page=False gives a
``__next`` only when more rows exist.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from exactmate.emulator.catalogue import Endpoint, Field
from exactmate.emulator.odata_filter import Compiled, ODataError, compile_filter, parse_literal_list, tokenize
from exactmate.emulator.ordercache import Entries, OrderCache
from exactmate.emulator.serialize import literal

Row = dict[str, Any]
SYSTEM_OPTIONS = (
    "$select",
    "$filter",
    "$orderby",
    "$top",
    "$skip",
    "$skiptoken",
    "$inlinecount",
    "$expand",
    "$format",
)
SELECT_MANDATORY = "It is mandatory to provide the $select query option in the request URL."
SELECT_STAR_REFUSED = (
    "This endpoint does not support query { $select=* }. Please specify the fields you need."
)
SELECT_OR_TOP = "Please add a $select or a $top=1 statement to the query string."
SKIP_REFUSED = "$skip is not supported on this endpoint; page with $skiptoken (follow __next) instead."
SYNC_FILTER = "Only the Timestamp property can be used in $filter on this endpoint."


class RowSource(Protocol):
    """Rows in paging order: ``position_after`` finds where a ``$skiptoken`` key leaves off.
    ``order_token`` names the rows as they are now (equal tokens, equal rows at equal positions),
    or is None for rows that are built afresh for each request."""

    def __len__(self) -> int: ...
    def position_after(self, key: Any) -> int: ...
    def row_at(self, pos: int) -> Row: ...
    def get(self, key: Any) -> Row | None: ...
    def order_token(self) -> Hashable | None: ...


class ListSource:
    """A RowSource over rows already in memory (function results), sorted by key."""

    def __init__(self, rows: Iterable[Row], key_field: str) -> None:
        self._rows = sorted(rows, key=lambda r: r[key_field])
        self._keys = [r[key_field] for r in self._rows]

    def __len__(self) -> int:
        return len(self._rows)

    def position_after(self, key: Any) -> int:
        return bisect_right(self._keys, key)

    def row_at(self, pos: int) -> Row:
        return self._rows[pos]

    def get(self, key: Any) -> Row | None:
        try:
            pos = bisect_right(self._keys, key) - 1
        except TypeError:
            return None
        return self._rows[pos] if pos >= 0 and self._keys[pos] == key else None

    def order_token(self) -> None:
        return None  # function results are computed for each request: nothing to keep


@dataclass(frozen=True)
class QueryRules:
    """An endpoint's own refusals."""

    select_mandatory: bool = False  # bulk endpoints
    star_refused: bool = False  # sync endpoints: $select=*
    filter_fields: frozenset[str] | None = None  # sync endpoints: only Timestamp
    skip_allowed: bool = True  # endpoints released after March 2017 refuse $skip
    select_or_top: bool = False  # "Please add a $select or a $top=1 …"
    next_on_full_page: bool = True


@dataclass(frozen=True)
class QueryOptions:
    select: tuple[str, ...] | None = None  # None: every field
    filter: Compiled | None = None
    orderby: tuple[tuple[str, bool], ...] = ()  # (field, descending)
    top: int | None = None
    skip: int = 0
    skiptoken: tuple[Any, ...] | None = None
    inlinecount: bool = False
    expand: tuple[str, ...] = ()
    json: bool | None = None  # $format=json / atom; None: decided by the Accept header
    pairs: tuple[tuple[str, str], ...] = ()


@dataclass
class Page:
    rows: list[Row]
    count: int | None = None
    next_token: str | None = None  # the $skiptoken of the next page, or None on the last one
    top_left: int | None = None  # what $top becomes in the next link


# ------------------------------------------------------------------------------------ parsing
def _non_negative(name: str, value: str) -> int:
    if not value.isdigit():
        raise ODataError(
            f"Invalid value '{value}' for {name} query option found. "
            f"The {name} query option requires a non-negative integer value."
        )
    return int(value)


def _unknown_property(name: str, endpoint: Endpoint) -> ODataError:
    return ODataError(
        f"The property '{name}', used in a query expression, is not defined in type '{endpoint.entity_type}'."
    )


def _select(value: str, endpoint: Endpoint, rules: QueryRules) -> tuple[str, ...] | None:
    names = [part.strip() for part in value.split(",")]
    if any(not name for name in names):
        raise ODataError()
    if "*" in names:
        if rules.star_refused:
            raise ODataError(SELECT_STAR_REFUSED)
        return None
    for name in names:
        if name not in endpoint.fields:
            raise _unknown_property(name, endpoint)
    return tuple(dict.fromkeys(names))


def _orderby(value: str, endpoint: Endpoint) -> tuple[tuple[str, bool], ...]:
    out: list[tuple[str, bool]] = []
    for part in value.split(","):
        tokens = [t for t in tokenize(part) if t.kind != "end"]
        if not tokens or len(tokens) > 2 or tokens[0].kind != "name":
            raise ODataError()
        name = tokens[0].text
        direction = tokens[1].text if len(tokens) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise ODataError()
        spec = endpoint.fields.get(name)
        if spec is None:
            raise ODataError(f"No property '{name}' exists in type '{endpoint.entity_type}' at position 0.")
        if spec.kind == "complex":
            raise ODataError("The $orderby expression must evaluate to a single value of primitive type.")
        out.append((name, direction == "desc"))
    return tuple(out)


def _expand(value: str, endpoint: Endpoint) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(","))
    for name in names:
        spec = endpoint.fields.get(name)
        if spec is None or spec.type != "Collection":
            raise ODataError(
                f"Property '{name}' on type '{endpoint.entity_type}' is not a navigation property."
            )
    return names


def _skiptoken(
    value: str, endpoint: Endpoint, key_field: Field | None, orderby: Sequence[tuple[str, bool]]
) -> tuple[Any, ...]:
    """The values of a ``$skiptoken``: the ``$orderby`` values, then the key, each of its field's type."""
    parts = parse_literal_list(value)
    if len(parts) != len(orderby) + 1 or any(name is not None for name, _ in parts):
        raise ODataError()
    if parts[-1][1].kind != (key_field.kind if key_field else "string"):
        raise ODataError()
    for (name, _), (_, lit) in zip(orderby, parts, strict=False):
        wanted = endpoint.fields[name].kind
        if lit.kind != "null" and lit.kind != wanted and {lit.kind, wanted} != {"int", "double"}:
            raise ODataError()
    return tuple(lit.value for _, lit in parts)


def _single(query: Sequence[tuple[str, str]]) -> dict[str, str]:
    seen: dict[str, str] = {}
    for name, value in query:
        if not name.startswith("$"):
            continue
        if name not in SYSTEM_OPTIONS:
            raise ODataError(
                f"The query parameter '{name}' begins with a system-reserved '$' character "
                "but is not recognized."
            )
        if name in seen:
            raise ODataError(
                f"Query option '{name}' was specified more than once, but it must be specified at most once."
            )
        seen[name] = value
    return seen


def parse_options(
    query: Sequence[tuple[str, str]],
    endpoint: Endpoint,
    rules: QueryRules,
    *,
    paging_key: Field | None = None,
) -> QueryOptions:
    """Read and check the system query options; raises ODataError (a 400) as Exact would.
    ``paging_key`` is the field ``$skiptoken`` carries (default: the endpoint's key).
    """
    opts = _single(query)
    if "$select" not in opts and rules.select_mandatory:
        raise ODataError(SELECT_MANDATORY)
    if rules.select_or_top and "$select" not in opts and opts.get("$top") != "1":
        raise ODataError(SELECT_OR_TOP)
    if "$skip" in opts and not rules.skip_allowed:
        raise ODataError(SKIP_REFUSED)
    select = _select(opts["$select"], endpoint, rules) if "$select" in opts else None
    compiled = None
    if "$filter" in opts:
        compiled = compile_filter(opts["$filter"], endpoint.fields, endpoint.entity_type)
        if rules.filter_fields is not None and not compiled.fields <= rules.filter_fields:
            raise ODataError(SYNC_FILTER)
    orderby = _orderby(opts["$orderby"], endpoint) if "$orderby" in opts else ()
    inline = opts.get("$inlinecount", "none")
    if inline not in ("allpages", "none"):
        raise ODataError('Unknown $inlinecount option, only "allpages" and "none" are supported.')
    fmt = opts.get("$format")
    if fmt not in (None, "json", "atom", "xml"):
        raise ODataError(f"Unsupported $format value '{fmt}'. Use json or atom.")
    token = opts.get("$skiptoken")
    return QueryOptions(
        select=select,
        filter=compiled,
        orderby=orderby,
        top=_non_negative("$top", opts["$top"]) if "$top" in opts else None,
        skip=_non_negative("$skip", opts["$skip"]) if "$skip" in opts else 0,
        skiptoken=_skiptoken(token, endpoint, paging_key or endpoint.key_field, orderby)
        if token is not None
        else None,
        inlinecount=inline == "allpages",
        expand=_expand(opts["$expand"], endpoint) if "$expand" in opts else (),
        json=None if fmt is None else fmt == "json",
        pairs=tuple(query),
    )


# ------------------------------------------------------------------------------------ paging
def _order_value(value: Any) -> tuple[Any, ...]:
    """How one value sorts: nulls first, strings without regard to case (Exact's collation)."""
    if value is None:
        return (0,)
    return (1, value.lower() if isinstance(value, str) else value)


def _after(values: tuple[Any, ...], token: tuple[Any, ...], descending: Sequence[bool]) -> bool:
    """Whether a row's sort values come after a ``$skiptoken``'s (the key is always ascending)."""
    for i, (a, b) in enumerate(zip(values, token, strict=True)):
        x, y = _order_value(a), _order_value(b)
        if x != y:
            return (x < y) if i < len(descending) and descending[i] else (x > y)
    return False


def _scan(source: RowSource, start: int, opts: QueryOptions) -> Iterable[tuple[int, Row]]:
    """Rows from position ``start`` on that pass ``$filter``, with their positions."""
    predicate = opts.filter.predicate if opts.filter else None
    for pos in range(start, len(source)):
        row = source.row_at(pos)
        if predicate is None or predicate(row):
            yield pos, row


def count_matching(source: RowSource, opts: QueryOptions) -> int:
    """Rows that pass ``$filter`` (all rows without one)."""
    if opts.filter is None:
        return len(source)
    return sum(1 for _ in _scan(source, 0, opts))


def _sorted_page(
    source: RowSource, opts: QueryOptions, key_field: str, limit: int, cache: OrderCache | None
) -> tuple[list[Row], list[tuple[Any, ...]], bool, int]:
    """A page under ``$orderby``: every matching row is sorted (by the order fields, then the key),
    and the ``$skiptoken`` values are found by bisection. Returns the rows, their sort values,
    whether more follow, and how many matched in all. With a ``cache``, the sort order is kept for
    the next page as long as the table is unchanged.
    """
    token = source.order_token() if cache is not None else None
    cache_key = (token, _option(opts, "$filter"), opts.orderby, key_field)
    entries = cache.get(cache_key) if cache is not None and token is not None else None
    if entries is None:
        entries = _sorted_entries(source, opts, key_field)
        if cache is not None and token is not None:
            cache.put(cache_key, entries)
    start = 0
    if opts.skiptoken is not None:
        start = _first_after(entries, opts.skiptoken, [desc for _, desc in opts.orderby])
    chosen = entries[start + opts.skip : start + opts.skip + limit]
    more = start + opts.skip + len(chosen) < len(entries)
    return [source.row_at(pos) for _, pos in chosen], [values for values, _ in chosen], more, len(entries)


def _sorted_entries(source: RowSource, opts: QueryOptions, key_field: str) -> Entries:
    """Each matching row's sort values and position, in ``$orderby`` order (the key breaks ties)."""
    names = [name for name, _ in opts.orderby] + [key_field]
    entries: Entries = [(tuple(map(row.get, names)), pos) for pos, row in _scan(source, 0, opts)]
    # Stable sorts from the last criterion to the first: the key ascending, then each field.
    entries.sort(key=lambda e: _order_value(e[0][-1]))
    for i in reversed(range(len(opts.orderby))):
        entries.sort(key=lambda e: _order_value(e[0][i]), reverse=opts.orderby[i][1])
    return entries


def _option(opts: QueryOptions, name: str) -> str | None:
    """The raw text of one query option as the request sent it (names compared without case)."""
    return next((value for key, value in opts.pairs if key.lower() == name), None)


def _first_after(
    entries: Sequence[tuple[tuple[Any, ...], int]], token: tuple[Any, ...], descending: Sequence[bool]
) -> int:
    """Binary search for the first sorted entry after the ``$skiptoken``."""
    low, high = 0, len(entries)
    while low < high:
        middle = (low + high) // 2
        if _after(entries[middle][0], token, descending):
            high = middle
        else:
            low = middle + 1
    return low


def _page_limit(page_size: int | None, top: int | None) -> int:
    limit = page_size if page_size is not None else 1 << 62
    return limit if top is None else min(limit, top)


def count_query(source: RowSource, opts: QueryOptions) -> int:
    """What ``/$count`` answers: the rows that pass ``$filter``, after ``$skip`` and ``$top``."""
    total = max(0, count_matching(source, opts) - opts.skip)
    return total if opts.top is None else min(total, opts.top)


def _token_kinds(
    fields: Mapping[str, Field], opts: QueryOptions, paging_key: Field | None
) -> list[tuple[str, str]]:
    """(kind, Edm type) of each value a ``$skiptoken`` carries: the ``$orderby`` fields, then the key."""
    kinds = [(fields[name].kind, fields[name].type) for name, _ in opts.orderby]
    kinds.append((paging_key.kind, paging_key.type) if paging_key else ("string", "Edm.String"))
    return kinds


def run(
    source: RowSource,
    opts: QueryOptions,
    *,
    fields: Mapping[str, Field],
    paging_key: Field | None,
    key_field: str,
    page_size: int | None,
    rules: QueryRules,
    order_cache: OrderCache | None = None,
) -> Page:
    """One page of ``source`` under ``opts``; ``key_field`` names the paging key in the rows and
    ``paging_key`` describes it (None for keyless function results). ``order_cache`` keeps the sort
    order of ``$orderby`` listings between their pages.
    """
    token_kinds = _token_kinds(fields, opts, paging_key)
    limit = _page_limit(page_size, opts.top)
    count: int | None
    if opts.orderby:
        rows, tokens, more, matched = _sorted_page(source, opts, key_field, limit, order_cache)
        count = matched if opts.inlinecount else None
    else:
        start = source.position_after(opts.skiptoken[-1]) if opts.skiptoken is not None else 0
        rows, more = _key_order_page(source, opts, start, limit, look_ahead=not rules.next_on_full_page)
        tokens = [(row.get(key_field),) for row in rows]
        count = count_matching(source, opts) if opts.inlinecount else None
    page = Page(rows=rows, count=count)
    full = page_size is not None and len(rows) == page_size
    top_left = None if opts.top is None else opts.top - len(rows)
    if full and (top_left is None or top_left > 0) and (more or rules.next_on_full_page):
        page.next_token = ",".join(
            literal(v, kind, edm) for v, (kind, edm) in zip(tokens[-1], token_kinds, strict=True)
        )
        page.top_left = top_left
    return page


def _key_order_page(
    source: RowSource, opts: QueryOptions, start: int, limit: int, *, look_ahead: bool
) -> tuple[list[Row], bool]:
    """Rows from ``start`` in key order, and whether more match (only searched for when
    ``look_ahead``: a full page otherwise counts as "maybe more", which is all Exact's rule needs).
    """
    if opts.filter is None:
        first = min(start + opts.skip, len(source))
        end = min(first + limit, len(source))
        return [source.row_at(pos) for pos in range(first, end)], end < len(source)
    rows: list[Row] = []
    skipped = 0
    for _, row in _scan(source, start, opts):
        if skipped < opts.skip:
            skipped += 1
            continue
        if len(rows) == limit:
            return rows, True
        rows.append(row)
        if len(rows) == limit and not look_ahead:
            return rows, True
    return rows, False


def next_link(prefix: str, pairs: Sequence[tuple[str, str]], token: str, top_left: int | None) -> str:
    """The absolute ``__next`` URL: ``prefix`` (scheme, host and path) plus every query option of
    the request except ``$skip`` and the old ``$skiptoken``, ``$top`` lowered, and the new token.
    """
    parts = []
    for name, value in pairs:
        if name in ("$skip", "$skiptoken"):
            continue
        if name == "$top" and top_left is not None:
            value = str(top_left)
        parts.append(f"{_quote(name)}={_quote(value)}")
    parts.append(f"$skiptoken={_quote(token)}")
    return prefix + "?" + "&".join(parts)


def _quote(text: str) -> str:
    return quote(text, safe="$,'():*/@!;")
