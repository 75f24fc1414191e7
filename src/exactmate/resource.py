"""One endpoint in one division: lazy listing and paging, and get/count/create/update/delete.

Everything a caller can get wrong is checked against the catalogue *before* any call, so bad input
costs neither a call nor a place in Exact's hourly error budget: the method, the key and its type,
every ``$select`` field, every field of a record to write.

Reading a whole endpoint (no filter, order, top or expand) goes through its bulk/ or sync/ twin when
it has one: 1000 rows a call instead of 60, with an explicit ``$select`` (bulk requires one; sync
rejects ``*``). The caller gets the same records and the fields they asked for; without a ``$select``
that is every plain field of the base endpoint that the twin carries too (``Catalogue`` decides which
twin can serve which fields, and falls back to the base endpoint when none can).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any, TypedDict, Unpack

import httpx

from exactmate import odata
from exactmate.catalogue import Catalogue, Endpoint, RowTwin, Twins
from exactmate.errors import ExactmateError, ValidationError
from exactmate.http import CallScope, HttpPolicy, QueryParams
from exactmate.odata.keys import key_suffix
from exactmate.readahead import read_ahead_calls
from exactmate.recordcheck import checked_body

Record = dict[str, Any]

# Sync endpoints page by Timestamp and accept only Timestamp filters; "gt 1" means "from the start".
TIMESTAMP = "Timestamp"
SYNC_FROM_START = "Timestamp gt 1"


@dataclass(frozen=True)
class Page:
    """One response's records (metadata stripped, dates converted), its ``__next`` link and number,
    and the ``__count`` it carried: how many records the whole read matches, on the first page of a
    read that asked for it (``Resource.read(count=True)``), else None.

    ``lines``: with ``Resource.read(lines=True)``, the page's records written as NDJSON straight from
    the response (``odata.LineShape``), ``records`` then empty; ``size`` counts the records either way."""

    records: list[Record]
    next_url: str | None
    number: int
    count: int | None = None
    lines: bytes | None = None
    line_count: int = 0

    @property
    def size(self) -> int:
        """How many records the page holds, as records or as lines."""
        return self.line_count if self.lines is not None else len(self.records)


class EndpointCaller:
    """Sends a request to one endpoint in one division with the client's identity (what every
    resource of one client shares: the HTTP policy, the server, the credential and app ids, the
    catalogue)."""

    def __init__(
        self, *, http: HttpPolicy, server_url: str, credential_id: str, client_id: str, catalogue: Catalogue
    ) -> None:
        self.http = http
        self.server_url = server_url.rstrip("/")
        self.credential_id = credential_id
        self.client_id = client_id
        self.catalogue = catalogue

    def send(
        self,
        method: str,
        endpoint: Endpoint,
        division: int | None,
        *,
        suffix: str = "",
        url: str | None = None,
        params: QueryParams | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        sent: Callable[[], None] | None = None,
    ) -> httpx.Response:
        """Send to ``endpoint`` in ``division`` (or to ``url``, a ``__next`` link, verbatim); ``sent``
        is called once the request has gone out (see ``HttpPolicy.send``)."""
        if url is None:
            url = self.server_url + endpoint.url_path(division) + suffix
        counted = None if endpoint.kind == "me" else division
        scope = CallScope(self.credential_id, self.client_id, counted, endpoint.path)
        return self.http.send(method, url, scope=scope, params=params, json=json, headers=headers, sent=sent)


@dataclass(frozen=True)
class ReadQuery:
    """A read of one endpoint, checked against the catalogue and built once: the checks and the calls
    use this one object, so nothing is worked out twice and nothing checked can differ from what is
    sent. ``check_read`` builds it (no call is made); ``Resource.read`` sends it.

    ``endpoint`` is the endpoint asked for, ``source`` the one called (it, or its bulk/sync/row twin
    for a whole-endpoint read, 1000 rows a call); ``options`` the OData options of the first call
    (``__next`` links are then followed verbatim); ``fields`` the caller's ``$select`` as the
    catalogue spells it (None: every field); ``keep`` the fields the caller gets back from a twin
    (None: every field the server sends); ``rows`` a row twin's rule (keep the base's rows, renamed;
    with ``renamed`` False, under the twin's names: ``keep`` is then in the twin's names too).
    """

    endpoint: Endpoint
    source: Endpoint
    options: odata.Query
    fields: tuple[str, ...] | None = None
    keep: frozenset[str] | None = None
    rows: RowTwin | None = None
    renamed: bool = True

    @property
    def top(self) -> int | None:
        """The ``$top`` sent: the most records the read gives (None: every matching record)."""
        return self.options.top

    @property
    def filter(self) -> str | None:
        """The caller's ``$filter`` text (a twin serves only unfiltered reads, so None there)."""
        return self.options.filter if self.source is self.endpoint else None

    @property
    def counts_inline(self) -> bool:
        """Whether the read's first page can tell how many records the read matches
        (``$inlinecount=allpages``, Exact's ``d.__count``) instead of a ``$count`` call before it.
        Not through a row twin: its count takes in the other kinds of rows it carries too."""
        return self.rows is None


class ReadOptions(TypedDict, total=False):
    """What a read may ask for: ``$select``, ``$filter`` (OData text, a ``Filter`` or ``{"Field":
    value}``), ``$top``, ``$orderby`` and ``$expand``, each a sequence or comma-separated text.

    ``page_size_hint``: when a whole-endpoint read will only use a few records, a hint no larger than
    the endpoint's own page size keeps it on the base endpoint instead of the 1000-row twin.
    """

    select: Sequence[str] | str | None
    filter: odata.FilterInput
    top: int | None
    order_by: Sequence[str] | str | None
    expand: Sequence[str] | str | None
    page_size_hint: int | None


def check_read(catalogue: Catalogue, endpoint: Endpoint, **options: Unpack[ReadOptions]) -> ReadQuery:
    """The read of ``endpoint`` with these options, every field name checked (and spelt as the
    catalogue spells it) before any call; ``ValidationError`` otherwise."""
    endpoint.require_method("GET")
    select, filter, top = options.get("select"), options.get("filter"), options.get("top")
    order_by, expand, hint = options.get("order_by"), options.get("expand"), options.get("page_size_hint")
    fields = endpoint.resolve_fields(_names(select, "select")) if select is not None else None
    if expand is not None:
        endpoint.resolve_fields(_names(expand, "expand"))
    order = _order(endpoint, order_by) if order_by is not None else None
    _check_filter_fields(endpoint, filter)
    whole = filter is None and top is None and not order and not expand
    small = hint is not None and hint <= (endpoint.page_size or 60)
    if whole and not small and endpoint.kind == "rest":
        twins = catalogue.twins(endpoint.path)
        twin = twins.twin_for(fields)
        if twin is not None:
            since = SYNC_FROM_START if twin.kind == "sync" else None
            return _through_twin(endpoint, twins, twin, fields, since, keep_timestamp=False)
    asked = fields
    if asked is None and endpoint.kind in ("bulk", "sync") and endpoint.fields:
        # Bulk endpoints require $select and sync ones refuse "*": name every plain field.
        asked = tuple(n for n, f in endpoint.fields.items() if not f.is_collection)
    sent = odata.build_query(
        select=asked, filter=filter, top=top, order_by=order, expand=expand, field_types=_types(endpoint)
    )
    return ReadQuery(endpoint, endpoint, sent, fields)


def change_feed(endpoint: Endpoint, twins: Twins, fields: Sequence[str] | None = None) -> Endpoint | None:
    """The feed ``Resource.changes`` reads a regular endpoint's changes from: its sync twin, else its
    row twin, the first carrying ``fields`` (every field when None) and the key; None when neither
    does."""
    wanted = {name.lower() for name in fields or ()} | {(endpoint.key or "").lower()}
    return next(
        (
            twin
            for twin in (twins.sync, twins.rows)
            if twin is not None and wanted <= {n.lower() for n in twins.common_fields(twin)}
        ),
        None,
    )


def _through_twin(
    endpoint: Endpoint,
    twins: Twins,
    twin: Endpoint,
    fields: Sequence[str] | None,
    filter: str | None,
    *,
    keep_timestamp: bool,
    renamed: bool = True,
) -> ReadQuery:
    """Reading the base's records through ``twin``: its fields asked under the twin's names (and the
    row twin's kind field), the answer kept to the base's fields (and ``Timestamp``); a row twin's
    records renamed to the base's names, or with ``renamed`` False left under the twin's (and its kind
    field kept)."""
    wanted = list(fields or twins.common_fields(twin))
    rule = twins.row_rule if twin is twins.rows else None
    asked = [rule.twin_name(name) for name in wanted] if rule else list(wanted)
    if rule is not None and rule.kind_field not in asked:
        asked.append(rule.kind_field)
    if keep_timestamp and TIMESTAMP not in asked:
        asked.append(TIMESTAMP)
        wanted.append(TIMESTAMP)
    options = odata.build_query(select=asked, filter=filter)
    chosen = tuple(fields) if fields is not None else None
    # A bulk twin answers what was asked under the base's own names, as any read with $select does:
    # checking each record against it cost 4 ms a 1,000-record page. A sync twin sends Timestamp
    # whether asked or not, and a row twin renames: those answers are kept to the base's fields.
    keep = None if twin.kind == "bulk" and asked == wanted else frozenset(wanted)
    if rule is not None and not renamed:
        keep = frozenset(asked)
    return ReadQuery(endpoint, twin, options, chosen, keep=keep, rows=rule, renamed=renamed)


class Resource:
    """``service/Endpoint`` in one division. Records are plain dicts without ``__metadata``."""

    def __init__(self, api: EndpointCaller, endpoint: Endpoint, division: int | Callable[[], int]) -> None:
        """``division`` may be a callable, resolved on first use (the client's current division), so
        that checks of bad input happen before the call that finds the current division."""
        self.endpoint = endpoint
        self._api = api
        self._division = division

    @property
    def division(self) -> int:
        """The division number, resolved (and then kept) on first use."""
        if callable(self._division):
            self._division = self._division()
        return self._division

    def __repr__(self) -> str:
        division = "current" if callable(self._division) else self._division
        return f"Resource({self.endpoint.path!r}, division={division})"

    # -- reading ------------------------------------------------------------------------------------

    def list(self, **options: Unpack[ReadOptions]) -> Iterator[Record]:
        """Every matching record, lazily, page after page (following ``__next`` verbatim); the
        options are those of ``check_read``."""
        return chain.from_iterable(page.records for page in self.pages(**options))

    def pages(self, **options: Unpack[ReadOptions]) -> Iterator[Page]:
        """The listing page by page, lazily; the checks run now, the first call on first ``next()``."""
        return self.read(self.query(**options))

    def query(self, **options: Unpack[ReadOptions]) -> ReadQuery:
        """The checked read of this endpoint with these options (see ``check_read``); no call is made.
        Its ``source`` is the endpoint the calls go to, whose ``page_size`` is what a call brings."""
        return check_read(self._api.catalogue, self.endpoint, **options)

    def read(
        self,
        query: ReadQuery,
        *,
        ahead: bool = False,
        count: bool = False,
        lines: bool = False,
        tag: bool = False,
    ) -> Generator[Page, None, None]:
        """The pages of a checked read of this endpoint, lazily: the first call on first ``next()``.

        ``ahead``: each next page is requested, in a worker thread, while the caller's thread parses
        and uses this one (never more than one page ahead, see ``readahead``): for whole reads,
        whose pages all get used. The next link is then found in the page's bytes
        (``odata.next_link``) and checked against the parsed page.

        ``count``: the first call asks for the number of matching records too (``$inlinecount=
        allpages``), which the first page carries as ``Page.count`` (None if Exact sent none): the
        count without a ``$count`` call of its own; the next pages are asked for without it. Only
        for a read that ``counts_inline``.

        ``lines``: for a caller that only writes the records out as NDJSON (``exactmate get --all
        --format ndjson``), each page from the second on that ``odata.LineShape`` can write comes as
        ``Page.lines``, made from its bytes in two fifths of the time (the first page's first record
        gives the fields and their order); any other page comes as records, for the caller to write
        (``actions.presentation.json_line`` writes the same lines). ``tag``: those lines start with
        a ``Division`` field, this division's number where the record has none (``--division all``).
        Not through a row twin, nor with an ``$expand``: their pages always come as records."""
        if query.endpoint is not self.endpoint and query.endpoint.path != self.endpoint.path:
            raise ValueError(f"a read of {query.endpoint.path} was given to {self.endpoint.path}")
        if count and not query.counts_inline:
            raise ValueError(
                f"a read of {query.endpoint.path} through {query.source.path} cannot count its records "
                "on its first page: count them with Resource.count"
            )
        return self._follow(query, ahead=ahead, count=count, lines=lines, tag=tag)

    def changes(
        self,
        since: int = 1,
        *,
        select: Sequence[str] | None = None,
        renamed: bool = True,
        ahead: bool = False,
    ) -> Iterator[Page]:
        """Records changed after the Timestamp ``since``, oldest change first, 1,000 a call: the one
        reader of Exact's change feeds. On a sync/ endpoint, its own records; on a regular endpoint,
        its records read through its sync twin or row twin (``Timestamp`` added to each). The
        largest ``Timestamp`` read is the next call's ``since``; ``since=1`` reads everything.

        ``renamed=False``: a row twin's records are left under the twin's field names (``WBS``, not
        ``Activity``; its kind field kept), for a caller that reads each field by name anyway
        (``exactmate sync``, ``RowTwin.twin_name``): renaming copies every record, a tenth of a
        second per 20,000.

        ``ahead``: as for ``read``, each next page is asked for while the caller parses and uses this
        one (``exactmate sync``, which writes every page it reads)."""
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise ValidationError(f"A sync cursor is a Timestamp (a whole number, 0 or more), got {since!r}")
        cursor = f"Timestamp gt {since}L"
        if self.endpoint.kind == "sync":
            return self.read(self.query(select=select, filter=cursor), ahead=ahead)
        self.endpoint.require_method("GET")
        fields = self.endpoint.resolve_fields(_names(select, "select")) if select is not None else None
        twins = self._api.catalogue.twins(self.endpoint.path)
        feed = change_feed(self.endpoint, twins, fields)
        if feed is None:
            raise ValidationError(
                f"{self.endpoint.path} has no sync/ feed carrying "
                + ("these fields" if fields else "its records")
                + ": only those page by Timestamp",
                hint="see which endpoints have one: exactmate endpoints sync/",
            )
        plan = _through_twin(self.endpoint, twins, feed, fields, cursor, keep_timestamp=True, renamed=renamed)
        return self._follow(plan, ahead=ahead)

    def get(self, key: object) -> Record:
        """The record with ``key`` (formatted by the endpoint's key type; a mapping for composite keys)."""
        self.endpoint.require_method("GET")
        suffix = key_suffix(self.endpoint, key)
        response = self._api.send("GET", self.endpoint, self.division, suffix=suffix)
        records, _, _ = odata.unwrap(odata.parse_json(response.content))
        if not records:
            raise ExactmateError(f"Exact Online answered GET {self.endpoint.path}{suffix} without a record")
        return self._converter(self.endpoint)(records[0])

    def count(self, filter: odata.FilterInput = None) -> int:
        """The number of matching records, from ``/$count`` (a plain-text integer, one call)."""
        self.endpoint.require_method("GET")
        _check_filter_fields(self.endpoint, filter)
        query = odata.build_query(filter=filter, field_types=_types(self.endpoint))
        response = self._api.send(
            "GET",
            self.endpoint,
            self.division,
            suffix="/$count",
            params=query.params(),
            headers={"Accept": "text/plain"},
        )
        text = response.text.strip()
        if not text.isdigit():
            raise ExactmateError(
                f"Exact Online answered {self.endpoint.path}/$count with {text[:40]!r}, not a number"
            )
        return int(text)

    # -- writing ------------------------------------------------------------------------------------

    def create(self, record: Mapping[str, Any]) -> Record:
        """POST a new record and return it as Exact stored it (``Prefer: return=representation``).

        Never retried after an ambiguous failure (see ``exactmate.http``): a create that may or may
        not have happened is resolved by looking the record up, not by sending it again.
        """
        self.endpoint.require_method("POST")
        body = checked_body(self.endpoint, record, creating=True)
        response = self._api.send(
            "POST", self.endpoint, self.division, json=body, headers={"Prefer": "return=representation"}
        )
        if not response.content.strip():
            return {}
        records, _, _ = odata.unwrap(odata.parse_json(response.content))
        return self._converter(self.endpoint)(records[0]) if records else {}

    def update(self, key: object, fields: Mapping[str, Any]) -> None:
        """PUT only the given fields (Exact merges them; read-only and insert-only fields are refused)."""
        self.endpoint.require_method("PUT")
        suffix = key_suffix(self.endpoint, key)
        body = checked_body(self.endpoint, fields, creating=False)
        self._api.send("PUT", self.endpoint, self.division, suffix=suffix, json=body)

    def delete(self, key: object) -> None:
        """DELETE the record with ``key``."""
        self.endpoint.require_method("DELETE")
        suffix = key_suffix(self.endpoint, key)
        self._api.send("DELETE", self.endpoint, self.division, suffix=suffix)

    # -- internals ----------------------------------------------------------------------------------

    def _follow(
        self, plan: ReadQuery, *, ahead: bool, count: bool = False, lines: bool = False, tag: bool = False
    ) -> Generator[Page, None, None]:
        convert = self._converter(plan.source).page
        keep = plan.keep
        scan = ahead and not plan.options.expand  # an expansion may hold nested __next links
        if ahead:
            answers = read_ahead_calls(lambda sent: self._answers(plan, scan=scan, sent=sent, counted=count))
        else:
            answers = self._answers(plan, scan=scan, counted=count)
        shape: odata.LineShape | None = None
        lined = lines and plan.rows is None and not plan.options.expand
        with closing(answers):  # a read closed early stops its read-ahead (``Listing.close``)
            for number, answer in enumerate(answers, start=1):
                content = answer.response.content
                if shape is not None and answer.payload is None:
                    page = shape.page(content)
                    if page is not None:
                        self._same_link(plan, number, page.next_url, answer, counted=count)
                        yield Page([], answer.next_url, number, page.count, page.lines, page.size)
                        continue
                    shape, lined = None, False  # one page it could not write: the rest is read as records
                payload = answer.payload if answer.payload is not None else odata.parse_json(content)
                raw, next_url, matched = odata.unwrap(payload)
                self._same_link(plan, number, next_url, answer, counted=count)
                records = convert(raw, flat=odata.flat_page(content, payload, raw))
                if plan.rows is not None:
                    rows = plan.rows
                    records = _base_rows(records, rows) if plan.renamed else _base_kind(records, rows)
                if keep is not None and not all(map(keep.issuperset, records)):  # one C loop a page
                    records = [_only(record, keep) for record in records]
                    lined = False  # the server sends fields the caller did not ask for: no shape holds them
                elif lined and shape is None and records:
                    shape = _line_shape(plan.source, records[0], self.division if tag else None)
                yield Page(records, answer.next_url, number, matched)

    @staticmethod
    def _same_link(
        plan: ReadQuery, number: int, next_url: str | None, answer: _Answer, *, counted: bool
    ) -> None:
        """Refuse a page whose parsed ``__next`` is not the link its bytes named (and was followed)."""
        if next_url is not None:
            next_url = _onward(next_url, answer.response, counted=counted)
        if next_url != answer.next_url:
            raise ExactmateError(
                f"Exact Online's page {number} of {plan.source.path} names its next page "
                "ambiguously; stopped rather than read a wrong page"
            )

    def _answers(
        self,
        plan: ReadQuery,
        *,
        scan: bool,
        sent: Callable[[], None] | None = None,
        counted: bool = False,
    ) -> Generator[_Answer, None, None]:
        """Each page's answer with its absolute next link, following the links until there is none;
        ``counted``: the first call also asks for the count (``$inlinecount``), which the links
        then go without (see ``_onward``); otherwise they are followed verbatim.

        ``scan``: the link is found in the bytes (``odata.next_link``) and the page left for the
        caller to parse, so the next call need not wait for that; otherwise the page is parsed here
        and handed over parsed. ``sent``: called as each request has gone out."""
        url: str | None = None
        seen: set[str] = set()
        while True:
            if url is None:
                options = replace(plan.options, inline_count=True) if counted else plan.options
                params = options.params()
                response = self._api.send("GET", plan.source, self.division, params=params, sent=sent)
            else:
                response = self._api.send("GET", plan.source, self.division, url=url, sent=sent)
            payload = None
            if scan:
                next_url = odata.next_link(response.content)
            else:
                payload = odata.parse_json(response.content)
                next_url = odata.unwrap(payload).next_url
            if next_url is not None:
                next_url = _onward(next_url, response, counted=counted)
                if next_url in seen:
                    raise ExactmateError(
                        f"Exact Online sent the same next-page link twice while listing "
                        f"{plan.source.path}; stopped to avoid an endless loop"
                    )
                seen.add(next_url)
            yield _Answer(response, payload, next_url)
            if next_url is None:
                return
            url = next_url

    def _converter(self, endpoint: Endpoint) -> odata.RecordConverter:
        """Strips ``__metadata`` and converts the endpoint's ``Edm.DateTime`` fields, in one pass."""
        return odata.date_converter(endpoint.fields, strip=True)


def _order(endpoint: Endpoint, order_by: Sequence[str] | str) -> tuple[str, ...]:
    """``$orderby`` clauses with each field spelt as the catalogue spells it (the syntax of a clause
    is ``odata.build_query``'s to check)."""
    clauses = [clause.split() for clause in _names(order_by, "order_by")]
    names = endpoint.resolve_fields(parts[0] for parts in clauses)
    return tuple(" ".join([name, *parts[1:]]) for name, parts in zip(names, clauses, strict=True))


def _names(values: Sequence[str] | str, what: str) -> list[str]:
    if isinstance(values, str):
        values = [part for part in values.split(",")]
    names = [value.strip() for value in values]
    if any(not name for name in names):
        raise ValidationError(f"{what} contains an empty field name", hint=f"e.g. {what}=['ID', 'Name']")
    return names


def _types(endpoint: Endpoint) -> dict[str, str]:
    return {name: field.type for name, field in endpoint.fields.items()}


@dataclass(frozen=True)
class _Answer:
    """One page's response, its parsed body (None: not parsed yet) and its absolute next link."""

    response: httpx.Response
    payload: Any
    next_url: str | None


_INLINE_COUNT = re.compile(r"(?:\$|%24)inlinecount=", re.IGNORECASE)


def _onward(next_url: str, response: httpx.Response, *, counted: bool) -> str:
    """The page's ``__next`` link as the next call sends it: absolute, and, when the read's first
    call asked for the count (``counted``), without the ``$inlinecount`` option a link may repeat
    (the emulator's do: an OData link keeps the request's options). The count came with the first
    page; asking again would have the server count every matching record again for each page (in
    the emulator, a 5,000-record filtered read took 7 times as long). The other options, the
    ``$skiptoken`` among them, stay as Exact wrote them."""
    url = _absolute(next_url, response)
    if not counted or "inlinecount" not in url.lower():
        return url
    address, _, query = url.partition("?")
    kept = [option for option in query.split("&") if not _INLINE_COUNT.match(option)]
    return f"{address}?{'&'.join(kept)}" if kept else address


def _absolute(next_url: str, response: httpx.Response) -> str:
    """The ``__next`` link as an absolute URL. Exact sends absolute links, which are used verbatim
    (joining would parse the long skiptoken URL twice more per page); a relative one is joined to
    the URL of the page that sent it."""
    if next_url.startswith(("https://", "http://")):
        return next_url
    return str(response.request.url.join(next_url))


def _line_shape(endpoint: Endpoint, first: Record, division: int | None) -> odata.LineShape:
    """How a read's next pages are written as lines: with the fields of its first record, in their
    order (see ``Resource.read(lines=True)``)."""
    links = [name for name, field in endpoint.fields.items() if field.is_collection]
    return odata.LineShape(list(first), endpoint.date_fields, links=links, division=division)


def _base_rows(records: list[Record], rule: RowTwin) -> list[Record]:
    """The row twin's records that are the base's, under the base's field names."""
    kind, renames = rule.kind, rule.renames
    return [
        {renames.get(name, name): value for name, value in record.items()}
        for record in records
        if record.get(rule.kind_field) == kind
    ]


def _base_kind(records: list[Record], rule: RowTwin) -> list[Record]:
    """The row twin's records that are the base's, under the twin's names."""
    kind_field, kind = rule.kind_field, rule.kind
    return [record for record in records if record.get(kind_field) == kind]


def _only(record: Record, keep: frozenset[str]) -> Record:
    """Drop twin-only fields (``Timestamp``) the caller did not ask for."""
    if record.keys() <= keep:
        return record
    return {name: value for name, value in record.items() if name in keep}


def _check_filter_fields(endpoint: Endpoint, filter: odata.FilterInput) -> None:
    """Field names in a mapping or builder filter must exist (raw text is the caller's own OData and is
    not parsed): a typo is refused here instead of costing a call and a place in the error budget."""
    if isinstance(filter, Mapping):
        names = [str(name) for name in filter]
    elif isinstance(filter, odata.Filter):
        names = sorted(filter.fields)
    else:
        return
    if endpoint.fields:
        endpoint.resolve_fields(name.split("/", 1)[0] for name in names)
