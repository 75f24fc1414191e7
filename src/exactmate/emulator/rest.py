"""RestApi: the emulator's data plane, from a checked RestRequest to Exact's RestResponse.

The control plane has already checked the token, division access, rate limits, URL length and body
size. This module routes the path (case-insensitive ``service/Endpoint``, keys, ``/$count``, beta),
refuses methods and scopes as Exact does, and answers GET from the store through the one paging
helper, and POST/PUT/DELETE through the write rules. Any unexpected exception becomes Exact's 500
envelope (and is logged), so bad input never shows a stack trace.

Choices where Exact's behaviour is not documented (each one an ``EmulatorConfig`` field):

- ``$skip`` is refused on bulk and sync endpoints (released after March 2017) and on the
  endpoints the catalogue marks as added after mid-2025; ``config.no_skip_endpoints`` replaces
  that set.
- "Please add a $select or a $top=1 statement" is demanded by generaljournalentry/
  GeneralJournalEntries (documented by picqer) and its siblings salesentry/SalesEntries and
  purchaseentry/PurchaseEntries (assumed); ``config.select_or_top_endpoints`` replaces that set.
- ``config.next_on_full_page = False`` writes ``__next`` only when more rows exist.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from exactmate.emulator import demodata
from exactmate.emulator.catalogue import Catalogue, Endpoint, load_catalogue
from exactmate.emulator.config import DEMO_USER_ID, EmulatorConfig
from exactmate.emulator.exchange import Change, RestRequest, RestResponse, error_response
from exactmate.emulator.functions import Functions, function_params
from exactmate.emulator.odata_filter import ODataError, parse_literal_list
from exactmate.emulator.ordercache import OrderCache
from exactmate.emulator.query import (
    ListSource,
    Page,
    QueryOptions,
    QueryRules,
    RowSource,
    count_query,
    next_link,
    parse_options,
    run,
)
from exactmate.emulator.rules import WriteContext, WriteError, Writer
from exactmate.emulator.serialize import (
    TEXT_TYPE,
    Shape,
    key_literal,
    render_collection,
    render_entity,
    today_wall_ms,
    utc_iso,
    wall_ms,
)
from exactmate.emulator.store import TIMESTAMP, DataStore, MergedTimestampView, Row, Table, TimestampView

log = logging.getLogger(__name__)

PROBLEM = "A problem has occurred. The cause of this issue will be investigated as soon as possible."
SINGLE_RESOURCE = (
    "Query options $filter, $orderby, $inlinecount, $skip, $skiptoken and $top are not allowed "
    "on a single resource."
)
_SCOPE_VERBS = {"GET": "read", "POST": "write", "PUT": "write", "DELETE": "delete"}
_DEFAULT_SELECT_OR_TOP = frozenset(
    {"generaljournalentry/generaljournalentries", "salesentry/salesentries", "purchaseentry/purchaseentries"}
)


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def not_found(segment: str) -> ApiError:
    return ApiError(404, f"Resource not found for the segment '{segment}'.")


# sync/Project/TimeCostTransactions carries the time entries (Type 1) and the cost entries (Type 2)
# of a division in one Timestamp order, with the activity under its WBS names.
TIME_AND_COST = "sync/project/timecosttransactions"
TIME_AND_COST_TABLES = ("project/timetransactions", "project/costtransactions")


def _as_time_and_cost(row: Row) -> Row:
    return {**row, "WBS": row.get("Activity"), "WBSDescription": row.get("ActivityDescription")}


@dataclass(frozen=True)
class Route:
    endpoint: Endpoint
    requested: str  # the endpoint path as the client wrote it
    key: Any  # None: the collection
    count: bool


# ------------------------------------------------------------------------------------ routing
def _split_key(rest: str) -> tuple[str, str]:
    """``(guid'…')/$count`` -> (``guid'…'``, ``/$count``), honouring quotes inside the key."""
    quoted = False
    for i, char in enumerate(rest):
        if char == "'":
            quoted = not quoted
        elif char == ")" and not quoted:
            return rest[1:i], rest[i + 1 :]
    raise ApiError(400, "Error in query syntax.")


def _key_value(endpoint: Endpoint, text: str) -> Any:
    field = endpoint.key_field
    if field is None:
        raise not_found(endpoint.entity_set)
    try:
        parts = parse_literal_list(text)
    except ODataError:
        raise ApiError(400, "Error in query syntax.") from None
    named = {name: lit for name, lit in parts if name is not None}
    literal = named.get(field.name) if named else (parts[0][1] if len(parts) == 1 else None)
    if literal is None or literal.kind != field.kind:
        raise ApiError(400, "Error in query syntax.")
    return literal.value


class RestApi:
    """The data plane. Thread-safe: one lock around every call."""

    def __init__(
        self,
        config: EmulatorConfig,
        now: Callable[[], float],
        probe_callback: Callable[[str], int] | None = None,
    ) -> None:
        self._config = config
        self._now = now
        self._catalogue: Catalogue = load_catalogue()
        self._store = DataStore(config.seed)
        self._functions = Functions(self._catalogue, self._store)
        self._writer = Writer(probe_callback)
        self._lock = threading.RLock()
        self._orders = OrderCache()
        self._merged_orders: dict[Hashable, list[tuple[int, int]]] = {}
        self._start = now()
        self._no_skip = self._no_skip_set(config)
        self._select_or_top = self._select_or_top_set(config)
        self._next_on_full_page = config.next_on_full_page
        self._divisions = demodata.build_demo_data(self._store, config, self._start)

    def _no_skip_set(self, config: EmulatorConfig) -> frozenset[str]:
        if config.no_skip_endpoints is not None:
            return frozenset(path.lower() for path in config.no_skip_endpoints)
        return frozenset(
            e.lower for e in self._catalogue if e.is_bulk or e.is_sync or e.status == "added_after_2025_06"
        )

    @staticmethod
    def _select_or_top_set(config: EmulatorConfig) -> frozenset[str]:
        if config.select_or_top_endpoints is None:
            return _DEFAULT_SELECT_OR_TOP
        return frozenset(path.lower() for path in config.select_or_top_endpoints)

    # ------------------------------------------------------------------------- public API
    def reset(self) -> None:
        """Back to the seeded demo data: the same records with the same ids."""
        with self._lock:
            self._store.reset()
            self._orders.clear()
            self._divisions = demodata.build_demo_data(self._store, self._config, self._start)

    def division_description(self, division: int) -> str:
        """The division's name, as the consent page shows it."""
        return demodata.division_description(self._config, division)

    def webhook_callbacks(self, division: int, topic: str) -> list[str]:
        """The callback URLs subscribed to ``topic`` in ``division``."""
        with self._lock:
            table = self._store.existing(division, "webhooks/webhooksubscriptions")
            rows = list(table.rows()) if table is not None else []
        return [str(r["CallbackURL"]) for r in rows if str(r.get("Topic", "")).lower() == topic.lower()]

    def handle(self, req: RestRequest) -> RestResponse:
        """Answer one REST call under ``/api/v1/{division}/`` (or ``/api/v1/beta/{division}/``)."""
        with self._lock:
            try:
                return self._handle(req)
            except ApiError as exc:
                return error_response(
                    exc.status, exc.message, accept_json=req.accept_json, headers=exc.headers
                )
            except (ODataError, WriteError) as exc:
                status = exc.status if isinstance(exc, WriteError) else 400
                return error_response(status, exc.message, accept_json=req.accept_json)
            except Exception:
                log.exception("emulator data plane failed on %s %s", req.method, req.path)
                return error_response(500, PROBLEM, accept_json=req.accept_json)

    def me(
        self,
        *,
        user_id: str,
        current_division: int,
        base_url: str,
        accept_json: bool,
        query: tuple[tuple[str, str], ...],
    ) -> RestResponse:
        """``GET /api/v1/current/Me``: the user, in a collection-shaped envelope as Exact sends it."""
        with self._lock:
            try:
                return self._me(user_id, current_division, base_url, accept_json, query)
            except ODataError as exc:
                return error_response(400, exc.message, accept_json=accept_json)
            except Exception:
                log.exception("emulator data plane failed on current/Me")
                return error_response(500, PROBLEM, accept_json=accept_json)

    # ---------------------------------------------------------------------------- routing
    def _route(self, req: RestRequest) -> Route:
        path = req.path.split("?", 1)[0].strip("/")
        count = False
        if path.endswith("/$count"):
            path, count = path[: -len("/$count")], True
        key_text: str | None = None
        if "(" in path:
            path, rest = path.split("(", 1)
            key_text, tail = _split_key("(" + rest)
            if tail:
                raise not_found(tail.strip("/").split("/")[0])
        endpoint = self._catalogue.lookup(path)
        if endpoint is None or endpoint.lower == "current/me" or endpoint.beta != req.beta:
            raise not_found(path.rsplit("/", 1)[-1] or path)
        key = _key_value(endpoint, key_text) if key_text else None
        return Route(endpoint, path, key, count)

    def _check_method(self, req: RestRequest, route: Route) -> None:
        methods = route.endpoint.methods
        allowed = [m for m in methods if (m in ("PUT", "DELETE")) == (route.key is not None) or m == "GET"]
        if route.count:
            allowed = ["GET"] if "GET" in methods else []
        if req.method not in allowed:
            raise ApiError(
                405,
                f"The requested resource does not support http method '{req.method}'.",
                {"Allow": ", ".join(allowed)},
            )

    def _check_scope(self, req: RestRequest, endpoint: Endpoint) -> None:
        if req.granted_scopes is None or endpoint.scope is None or endpoint.scope in req.granted_scopes:
            return
        verb = _SCOPE_VERBS.get(req.method, "read")
        raise ApiError(403, f"Forbidden - Application Scope Violated. Cannot {verb}")

    def _handle(self, req: RestRequest) -> RestResponse:
        route = self._route(req)
        self._check_method(req, route)
        self._check_scope(req, route.endpoint)
        if req.method == "GET":
            return self._get(req, route)
        return self._write(req, route)

    # -------------------------------------------------------------------------------- reads
    def _rules(self, endpoint: Endpoint) -> QueryRules:
        return QueryRules(
            select_mandatory=endpoint.is_bulk,
            star_refused=endpoint.is_sync,
            filter_fields=frozenset({TIMESTAMP}) if endpoint.is_sync else None,
            skip_allowed=endpoint.lower not in self._no_skip,
            select_or_top=endpoint.lower in self._select_or_top,
            next_on_full_page=self._next_on_full_page,
        )

    def _table(self, division: int, endpoint: Endpoint) -> Table:
        base = self._catalogue.lookup(endpoint.table) or endpoint
        return self._store.table(division, endpoint.table, base.key or "ID")

    def _source(self, req: RestRequest, endpoint: Endpoint) -> tuple[RowSource, str]:
        """The rows an endpoint pages through, and the field its paging key is in."""
        if endpoint.is_function:
            info = self._divisions.get(req.division)
            rows = self._functions.rows(
                endpoint,
                req.division,
                info.demo_employee if info else None,
                function_params(req.query),
                today_wall_ms(self._now()),
            )
            key = (
                endpoint.key
                if endpoint.key and endpoint.key in endpoint.fields
                else next(iter(endpoint.fields))
            )
            return ListSource(rows, key), key
        if endpoint.lower == "sync/deleted":
            return self._store.table(req.division, "sync/deleted", TIMESTAMP), TIMESTAMP
        if endpoint.lower == TIME_AND_COST:
            tables = [self._store.table(req.division, name, "ID") for name in TIME_AND_COST_TABLES]
            return MergedTimestampView(tables, _as_time_and_cost, self._merged_orders), TIMESTAMP
        table = self._table(req.division, endpoint)
        if endpoint.is_sync:
            return TimestampView(table), TIMESTAMP
        return table, table.key_field

    def _get(self, req: RestRequest, route: Route) -> RestResponse:
        endpoint = route.endpoint
        source, key_field = self._source(req, endpoint)
        rules = self._rules(endpoint)
        if route.key is not None:
            return self._get_one(req, route, source, rules)
        paging_key = endpoint.fields.get(key_field)
        opts = parse_options(req.query, endpoint, rules, paging_key=paging_key)
        if route.count:
            return RestResponse(200, str(count_query(source, opts)).encode(), TEXT_TYPE)
        page = run(
            source,
            opts,
            fields=endpoint.fields,
            paging_key=paging_key,
            key_field=key_field,
            page_size=None if endpoint.is_function else endpoint.page_size,
            rules=rules,
            order_cache=self._orders,
        )
        prefix = self._prefix(req, route.requested)
        next_url = next_link(prefix, opts.pairs, page.next_token, page.top_left) if page.next_token else None
        return self._render_page(req, endpoint, opts, page, next_url)

    def _get_one(self, req: RestRequest, route: Route, source: RowSource, rules: QueryRules) -> RestResponse:
        endpoint = route.endpoint
        if any(
            name in ("$filter", "$orderby", "$inlinecount", "$skip", "$skiptoken", "$top")
            for name, _ in req.query
        ):
            raise ApiError(400, SINGLE_RESOURCE)
        opts = parse_options(req.query, endpoint, QueryRules(star_refused=rules.star_refused))
        row = source.get(route.key)
        if row is None:
            raise not_found(endpoint.entity_set)
        if route.count:
            raise ApiError(400, "Error in query syntax.")
        return self._render_one(req, endpoint, opts, row, 200)

    def _prefix(self, req: RestRequest, path: str) -> str:
        beta = "beta/" if req.beta else ""
        return f"{req.base_url}/api/v1/{beta}{req.division}/{path}"

    def _uri(self, req: RestRequest, endpoint: Endpoint, row: Mapping[str, Any]) -> str:
        return self._uris(req, endpoint, [row])[0]

    def _uris(self, req: RestRequest, endpoint: Endpoint, rows: Sequence[Mapping[str, Any]]) -> list[str]:
        """Each row's entity URI (``__metadata.uri``): the endpoint's address and the row's key."""
        base = self._prefix(req, endpoint.path)
        key = endpoint.key
        if key is None or endpoint.is_function:
            return [base] * len(rows)
        return [f"{base}({key_literal(endpoint, row.get(key))})" for row in rows]

    def _render_page(
        self,
        req: RestRequest,
        endpoint: Endpoint,
        opts: QueryOptions,
        page: Page,
        next_url: str | None,
    ) -> RestResponse:
        body, content_type = render_collection(
            page.rows,
            self._uris(req, endpoint, page.rows),
            Shape.of(endpoint, opts.select, opts.expand),
            as_json=opts.json if opts.json is not None else req.accept_json,
            feed_uri=self._prefix(req, endpoint.path),
            title=endpoint.entity_set,
            updated=utc_iso(self._now()),
            next_url=next_url,
            count=page.count,
        )
        return RestResponse(200, body, content_type)

    def _render_one(
        self, req: RestRequest, endpoint: Endpoint, opts: QueryOptions, row: Row, status: int
    ) -> RestResponse:
        body, content_type = render_entity(
            row,
            self._uri(req, endpoint, row),
            Shape.of(endpoint, opts.select, opts.expand),
            as_json=opts.json if opts.json is not None else req.accept_json,
            updated=utc_iso(self._now()),
        )
        return RestResponse(status, body, content_type)

    # ------------------------------------------------------------------------------- writes
    def _context(self, req: RestRequest) -> WriteContext:
        now = self._now()
        info = self._divisions.get(req.division)
        return WriteContext(
            store=self._store,
            catalogue=self._catalogue,
            division=req.division,
            division_description=self.division_description(req.division),
            user_id=req.user_id or DEMO_USER_ID,
            client_id=req.client_id,
            now_ms=wall_ms(now),
            today_ms=today_wall_ms(now),
            demo_employee=info.demo_employee if info else None,
        )

    def _write(self, req: RestRequest, route: Route) -> RestResponse:
        endpoint = route.endpoint
        ctx = self._context(req)
        if req.method == "POST":
            row = self._writer.create(ctx, endpoint, req.body)
            response = self._created(req, endpoint, row)
        elif req.method == "PUT":
            if self._writer.update(ctx, endpoint, route.key, req.body) is None:
                raise not_found(endpoint.entity_set)
            response = RestResponse(204, content_type=TEXT_TYPE)
            row = {endpoint.key or "": route.key}
        else:
            if self._writer.delete(ctx, endpoint, route.key) is None:
                raise not_found(endpoint.entity_set)
            response = RestResponse(204, content_type=TEXT_TYPE)
            row = {endpoint.key or "": route.key}
        if endpoint.webhook_topic:
            action = {"POST": "Create", "PUT": "Update", "DELETE": "Delete"}[req.method]
            response.changes.append(
                Change(
                    endpoint.webhook_topic,
                    req.division,
                    action,
                    str(row.get(endpoint.key or "")),
                    self._uri(req, endpoint, row),
                )
            )
        return response

    def _created(self, req: RestRequest, endpoint: Endpoint, row: Row) -> RestResponse:
        """201 with the entity: fully populated with ``Prefer: return=representation``, otherwise
        only the key is set and every other property is null (Exact's tips page).
        """
        shown = row if req.prefer_representation else {endpoint.key or "": row.get(endpoint.key or "")}
        response = self._render_one(req, endpoint, QueryOptions(), shown, 201)
        response.headers["Location"] = self._uri(req, endpoint, row)
        return response

    # ----------------------------------------------------------------------------------- Me
    def _me(
        self,
        user_id: str,
        current_division: int,
        base_url: str,
        accept_json: bool,
        query: tuple[tuple[str, str], ...],
    ) -> RestResponse:
        endpoint = self._catalogue.lookup("current/Me")
        assert endpoint is not None
        opts = parse_options(query, endpoint, QueryRules())
        licence = self._store.table(current_division, "system/divisions", "Code").get(current_division)
        info = self._divisions.get(current_division)
        row = demodata.me_record(user_id, current_division, info, licence, self._now())
        rows = [row] if opts.filter is None or opts.filter.predicate(row) else []
        uri = f"{base_url}/api/v1/current/Me({key_literal(endpoint, user_id)})"
        body, content_type = render_collection(
            rows,
            [uri] * len(rows),
            Shape.of(endpoint, opts.select, opts.expand),
            as_json=opts.json if opts.json is not None else accept_json,
            feed_uri=f"{base_url}/api/v1/current/Me",
            title="Me",
            updated=utc_iso(self._now()),
        )
        return RestResponse(200, body, content_type)
