"""The exact trigger: Exact Online's own events start flows, fast (signed webhooks) and sure (a
cursor on the topic's ``sync/`` feed).

``flow serve`` hands its flows to an ``ExactEvents``, which, per (credential, division, topic):

- makes sure the webhook subscription exists (``webhooks/WebhookSubscriptions``; the callback is
  ``<public URL>/events/<key>``, the key a digest of the credential's id, so it is the same at every
  start): one that exists is left alone, a missing one is created (Exact then POSTs to the callback,
  which the receiver answers with 200);
- keeps a cursor in the store (``event_cursors``): the last Timestamp read of the topic's change feed
  (``Resource.changes``, the one reader of Exact's sync/ feeds) and of ``sync/Deleted``. A new cursor
  starts at the moment the flow is first served (``read/sync/Sync/SyncTimestamp``, one call), or at
  ``--from``, so existing records start nothing unless asked for.

The receiver checks each notification's ``HashCode`` (upper-case hex HMAC-SHA256 of the raw
``Content`` substring as received, keyed by the credential's webhook secret) in constant time, answers
at once, and only then does its work: a change to a topic with a feed asks for a read of that feed
(debounced, so a burst of notifications costs one read), which starts one run per change it finds,
keyed by division, topic, key and the change's Timestamp. The same read runs on each flow's
reconciliation interval, so a notification Exact never sent is found there, and a notification sent
twice finds nothing new. A topic without a feed (or a deletion Exact does not log in sync/Deleted)
starts its run from the notification itself, keyed by its event time. Either way the run id is the
guard: DBOS starts a workflow id once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from exactmate.errors import ExactmateError, ValidationError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from exactmate.actions import ActionContext
    from exactmate.catalogue import Catalogue, Endpoint
    from exactmate.clock import Clock
    from exactmate.config import Settings
    from exactmate.flows.definition import Flow
    from exactmate.flows.engine import FlowEngine

log = logging.getLogger(__name__)

DEBOUNCE = 0.5
"""Seconds a notification waits for others before its feed is read: a burst costs one read."""
CREATED_KEYS = 100_000
"""Keys per scope remembered as created by this process (see ``ExactEvents._created_once``)."""
RETRY_AFTER = 60.0
"""Seconds before a read that failed (Exact unreachable, a limit reached) is tried again."""
MAX_BODY = 64 * 1024
SUBSCRIPTIONS = "webhooks/WebhookSubscriptions"
SYNC_TIMESTAMP = "read/sync/Sync/SyncTimestamp"
EVENTS_PATH = "/events/"
_SIGNED = re.compile(rb'^\{"Content":(.*),"HashCode":"([^"]*)"\}\s*$', re.DOTALL)
_RUN_ID_PART = re.compile(r"[^A-Za-z0-9._-]")


def callback_key(credential_id: str) -> str:
    """The stable last segment of a credential's callback URL (not a secret: the signature is)."""
    return hashlib.sha256(f"exactmate-events:{credential_id}".encode()).hexdigest()[:24]


def signed_content(raw: bytes, secret: str) -> bytes | None:
    """The raw ``Content`` of a notification whose ``HashCode`` is right for ``secret``, else None.
    The HMAC is taken over the Content bytes as received (never re-serialised) and compared in
    constant time."""
    found = _SIGNED.match(raw)
    if found is None:
        return None
    content, given = found.group(1), found.group(2)
    expected = hmac.new(secret.encode("utf-8"), content, hashlib.sha256).hexdigest().upper().encode()
    return content if hmac.compare_digest(expected, given.upper()) else None


@dataclass(frozen=True)
class Topic:
    """What one of Exact's webhook topics reads: its endpoint, whether that has a change feed, and
    the ``sync/Deleted`` entity type of its records (None: deletions are not logged there)."""

    name: str
    endpoint: Endpoint
    feed: Endpoint | None
    entity_type: int | None


def topic_of(catalogue: Catalogue, name: str) -> Topic:
    from exactmate.sync.deletes import ENTITY_TYPES

    endpoint = next((e for e in catalogue if e.webhook and e.name == name), None)
    if endpoint is None:
        raise ValidationError(f"{name!r} is not one of Exact's webhook topics")
    twins = catalogue.twins(endpoint.path)
    entity = next((number for number, path in ENTITY_TYPES.items() if path == endpoint.path), None)
    return Topic(name, endpoint, twins.sync or twins.rows, entity)


@dataclass(frozen=True)
class Scope:
    """One subscription and its cursor: a credential's topic in one division."""

    credential: str
    credential_id: str
    division: int
    topic: str


@dataclass
class _Served:
    flows: list[Flow] = field(default_factory=list)
    reconcile: float = 0.0


@dataclass(frozen=True)
class Change:
    """One change the trigger starts runs for; ``stamp`` makes its run id (``t<Timestamp>`` of the
    feed, ``d<Timestamp>`` of sync/Deleted, ``e<event time>`` of a notification)."""

    scope: Scope
    action: str
    key: str
    stamp: str
    record: Mapping[str, Any] | None = None
    event_time: str | None = None


def run_id(flow: str, change: Change) -> str:
    parts = [flow, "exact", str(change.scope.division), change.scope.topic, change.key, change.stamp]
    return ":".join(_RUN_ID_PART.sub("_", part) for part in parts)


@dataclass
class ReadReport:
    """What one read of a scope's feeds did."""

    calls: int = 0
    changes: int = 0
    runs: list[str] = field(default_factory=list)


class ExactEvents:
    """The exact triggers of the served flows: subscriptions, the receiver's routes, the cursors and
    the reads (on a worker thread, timed by ``clock``)."""

    def __init__(
        self,
        engine: FlowEngine,
        settings: Settings,
        *,
        public_url: str | None,
        clock: Clock | None = None,
        since: datetime | None = None,
        debounce: float = DEBOUNCE,
    ) -> None:
        from exactmate.clock import SystemClock

        self.engine = engine
        self.settings = settings
        self.public_url = public_url.rstrip("/") if public_url else None
        self.clock = clock or SystemClock()
        self.since = since
        self.debounce = debounce
        self._connections: dict[str | None, ActionContext] = {}
        self._topics: dict[str, Topic] = {}
        self._scopes: dict[Scope, _Served] = {}
        self._secrets: dict[str, tuple[str, str]] = {}  # callback key -> (credential id, secret)
        self._pending: dict[Scope, list[tuple[str, str]]] = {}
        self._created: dict[Scope, OrderedDict[str, None]] = {}  # keys whose Create this process started
        self._due: dict[Scope, float] = {}
        self._backfilled: set[Scope] = set()
        self._lock = threading.Lock()
        self._connect_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.refused = 0  # notifications refused for their signature
        self.reads = 0  # reads of the feeds done (each scope's, successful or not)

    # -- the served flows ------------------------------------------------------------------------

    def apply(self, flows: Iterable[Flow]) -> list[str]:
        """Serve the exact triggers of ``flows`` (the others are ignored): subscriptions made sure of,
        cursors started; what was done, one line each."""
        said: list[str] = []
        scopes: dict[Scope, _Served] = {}
        for flow in flows:
            if flow.trigger.kind != "exact":
                continue
            try:
                for scope in self._scopes_of(flow):
                    served = scopes.setdefault(scope, _Served(reconcile=flow.trigger.reconcile_seconds))
                    served.flows.append(flow)
                    served.reconcile = min(served.reconcile, flow.trigger.reconcile_seconds)
            except ExactmateError as exc:
                said.append(f"flow {flow.name}: its exact trigger is not served: {exc.message}")
        for scope, served in scopes.items():
            try:
                said.extend(self._prepare(scope, served))
            except ExactmateError as exc:
                said.append(f"{self._name(scope)}: not served: {exc.message}")
                continue
            with self._lock:
                self._scopes[scope] = served
                # a scope new to this process is read at once: the changes made while nothing served it
                self._due.setdefault(scope, self.clock.now())
        with self._lock:
            for gone in [s for s in self._scopes if s not in scopes]:
                del self._scopes[gone]
                self._due.pop(gone, None)
                self._pending.pop(gone, None)
        self._wake.set()
        return said

    def _scopes_of(self, flow: Flow) -> list[Scope]:
        from exactmate.actions.divisions import division_numbers, parse_division
        from exactmate.flows import expressions

        topic = self._topic(str(flow.trigger.options["topic"]))
        if expressions.is_template(flow.division):
            raise ValidationError("an exact trigger needs the flow's division as a number, current or all")
        conn = self._connection(flow.credential)
        row = conn.store.credential_by_name(conn.credential_name)
        if row is None:  # pragma: no cover - the connection was opened from this row
            raise ValidationError(f"credential {conn.credential_name!r} is gone")
        numbers = division_numbers(conn.client, parse_division(flow.division))
        return [Scope(conn.credential_name, row.id, number, topic.name) for number in numbers]

    def _prepare(self, scope: Scope, served: _Served) -> list[str]:
        said: list[str] = []
        conn = self._connection(scope.credential)
        topic = self._topic(scope.topic)
        if topic.feed is not None:
            said.append(f"{self._name(scope)}: {self._ensure_cursor(conn, scope, topic)}")
        else:
            said.append(
                f"{self._name(scope)}: {topic.endpoint.path} has no sync/ feed, so only webhooks "
                "start its runs (no reconciliation)"
            )
        if self.public_url is None:
            said.append(
                f"{self._name(scope)}: no receiver listens (--port 0): runs start from reconciliation"
            )
            return said
        secret = self._webhook_secret(scope)
        if secret is None:
            said.append(
                f"{self._name(scope)}: credential {scope.credential} has no webhook secret, so no "
                "subscription is made (notifications could not be checked); runs start from "
                f"reconciliation. Add it: exactmate vault edit '{scope.credential}' --webhook-secret-stdin"
            )
            return said
        key = callback_key(scope.credential_id)
        self._secrets[key] = (scope.credential_id, secret)
        callback = f"{self.public_url}{EVENTS_PATH}{key}"
        try:
            said.append(f"{self._name(scope)}: {self._subscribe(conn, scope, callback)}")
        except ExactmateError as exc:  # the feed is still read on the reconcile interval
            said.append(
                f"{self._name(scope)}: no subscription to {callback}: {exc.message}; runs start from "
                "reconciliation until a restart subscribes (is --public-url reachable from Exact?)"
            )
        return said

    def _name(self, scope: Scope) -> str:
        return f"{scope.topic} in division {scope.division} ({scope.credential})"

    def _topic(self, name: str) -> Topic:
        if name not in self._topics:
            from exactmate.catalogue import Catalogue

            self._topics[name] = topic_of(Catalogue.load(), name)
        return self._topics[name]

    def _connection(self, credential: str | None) -> ActionContext:
        """One connection per credential, shared by the reloads and the worker."""
        with self._connect_lock:
            if credential not in self._connections:
                from exactmate.actions import open_connection

                self._connections[credential] = open_connection(credential, settings=self.settings)
            return self._connections[credential]

    def _webhook_secret(self, scope: Scope) -> str | None:
        from exactmate.vault import Vault

        with Vault.open(self.settings) as vault:
            return vault.webhook_secret(vault.get(scope.credential))

    def _subscribe(self, conn: ActionContext, scope: Scope, callback: str) -> str:
        """The subscription of ``scope`` to ``callback``: found (one call), or created (two)."""
        resource = conn.client.resource(SUBSCRIPTIONS, scope.division)
        for page in resource.pages(select=["ID", "CallbackURL", "Topic"]):
            for row in page.records:
                if (
                    str(row.get("Topic", "")).lower() == scope.topic.lower()
                    and row.get("CallbackURL") == callback
                ):
                    return f"subscribed already ({callback})"
        resource.create({"CallbackURL": callback, "Topic": scope.topic})
        return f"subscribed ({callback})"

    # -- cursors -----------------------------------------------------------------------------------

    def _ensure_cursor(self, conn: ActionContext, scope: Scope, topic: Topic) -> str:
        """A cursor for ``scope``: kept if there is one, else started now (or at ``--from``); with
        ``--from``, an existing cursor goes back to that moment (changes that started runs already
        start none again: their run ids exist)."""
        from sqlalchemy import insert, update

        from exactmate.store import event_cursors
        from exactmate.store.guarded import insert_guarded

        found = self.cursor(scope)
        if found is not None and (self.since is None or scope in self._backfilled):
            return f"reconciles from Timestamp {found[0]}"
        self._backfilled.add(scope)  # --from moves a cursor back once per process, not at each reload
        moment = self.since or datetime.fromtimestamp(self.clock.now(), UTC)
        value = self._sync_timestamp(conn, scope, topic, moment)
        now = self.clock.now()
        where = _where(scope)
        with conn.store.transaction() as db:
            row = {"feed_cursor": value, "deleted_cursor": value, "updated_at": now}
            if found is None:
                keys = {
                    "credential_id": scope.credential_id,
                    "division": scope.division,
                    "topic": scope.topic,
                }
                if insert_guarded(db, insert(event_cursors).values(**keys, **row, started_at=now)):
                    return f"reconciles from {moment:%Y-%m-%d %H:%M} (Timestamp {value})"
            back = {"feed_cursor": min(value, found[0] if found else value)}
            back["deleted_cursor"] = min(value, found[1] if found else value)
            db.execute(update(event_cursors).where(*where).values(**back, updated_at=now))
        return f"reconciles from {moment:%Y-%m-%d %H:%M} (Timestamp {back['feed_cursor']})"

    def cursor(self, scope: Scope) -> tuple[int, int] | None:
        """The scope's (feed, sync/Deleted) cursors, or None."""
        from sqlalchemy import select

        from exactmate.store import event_cursors

        conn = self._connection(scope.credential)
        query = select(event_cursors.c.feed_cursor, event_cursors.c.deleted_cursor).where(*_where(scope))
        with conn.store.reading() as db:
            row = db.execute(query).first()
        return (int(row[0]), int(row[1])) if row is not None else None

    def _move(self, scope: Scope, column: str, value: int) -> None:
        from sqlalchemy import update

        from exactmate.store import event_cursors

        store = self._connection(scope.credential).store
        with store.transaction() as db:
            current = event_cursors.c[column]
            statement = update(event_cursors).where(*_where(scope), current < value)
            db.execute(statement.values({column: value, "updated_at": self.clock.now()}))

    def _sync_timestamp(self, conn: ActionContext, scope: Scope, topic: Topic, moment: datetime) -> int:
        """The Timestamp to read ``topic``'s feed from so that every record modified at or after
        ``moment`` is read (``read/sync/Sync/SyncTimestamp``: one call)."""
        from exactmate.actions.custom import custom_call
        from exactmate.odata import AMSTERDAM

        assert topic.feed is not None
        local = moment.astimezone(AMSTERDAM).replace(tzinfo=None).isoformat(timespec="seconds")
        answer = custom_call(
            conn,
            "GET",
            SYNC_TIMESTAMP,
            division=scope.division,
            params={"modified": f"datetime'{local}'", "endPoint": f"'{topic.feed.path.rsplit('/', 1)[-1]}'"},
        )
        rows = answer if isinstance(answer, list) else [answer]
        value = rows[0].get("TimeStampAsBigInt") if rows and isinstance(rows[0], Mapping) else None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ExactmateError(f"Exact Online answered {SYNC_TIMESTAMP} without a TimeStampAsBigInt")
        return max(value, 1)

    # -- the receiver ------------------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        """``POST /events/<key>``: Exact's notifications for one credential."""
        from starlette.routing import Route

        return [Route(EVENTS_PATH + "{key}", self._receive, methods=["POST"])]

    async def _receive(self, request: Request) -> Response:
        from starlette.background import BackgroundTask
        from starlette.responses import JSONResponse

        key = request.path_params["key"]
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
            return JSONResponse({"error": "too large for a notification"}, 413)
        raw = await request.body()
        if not raw.strip():  # Exact's POST when a subscription is made: it needs a 2xx
            return JSONResponse({"ok": True})
        known = self._secrets.get(key)
        if known is None:
            log.warning("refused a notification to %s%s: no served credential has that key", EVENTS_PATH, key)
            return JSONResponse({"error": "no exact trigger is served at this address"}, 404)
        credential_id, secret = known
        content = signed_content(raw, secret)
        if content is None:
            self.refused += 1
            log.warning(
                "refused a notification to %s%s: its HashCode is missing or does not match the "
                "credential's webhook secret",
                EVENTS_PATH,
                key,
            )
            return JSONResponse({"error": "bad or missing signature"}, 401)
        try:
            event = json.loads(content)
            division, topic = int(event["Division"]), str(event["Topic"])
            action, record_key = str(event["Action"]).capitalize(), str(event["Key"])
        except (ValueError, KeyError, TypeError):
            log.warning(
                "refused a signed notification to %s%s: its Content is not an event", EVENTS_PATH, key
            )
            return JSONResponse({"error": "the Content is not an event"}, 400)
        when = str(event.get("EventCreatedOn") or "")
        task = BackgroundTask(self.notified, credential_id, division, topic, action, record_key, when)
        return JSONResponse({"ok": True}, background=task)

    def notified(
        self, credential_id: str, division: int, topic: str, action: str, key: str, event_time: str
    ) -> None:
        """A checked notification: a read of the feed soon, or (no feed to find it in) its runs now."""
        with self._lock:
            scope = next(
                (
                    s
                    for s in self._scopes
                    if (s.credential_id, s.division, s.topic.lower())
                    == (credential_id, division, topic.lower())
                ),
                None,
            )
        if scope is None:
            log.info("a notification for %s in division %s: no served flow has that trigger", topic, division)
            return
        info = self._topic(scope.topic)
        read_finds_it = info.feed is not None and (action != "Delete" or info.entity_type is not None)
        if not read_finds_it:
            self._start(
                Change(scope, action, key, f"e{event_time or self.clock.now()}", event_time=event_time)
            )
            return
        with self._lock:
            self._pending.setdefault(scope, []).append((action, key))
            soon = self.clock.now() + self.debounce
            self._due[scope] = min(self._due.get(scope, soon), soon)
        self._wake.set()

    # -- reading -----------------------------------------------------------------------------------

    def read(self, scope: Scope) -> ReadReport:
        """Read ``scope``'s feed and sync/Deleted from its cursors, start one run per change found,
        and move the cursors (each after the runs of what it passes were started)."""
        from exactmate.flows.actions import plain
        from exactmate.sync.deletes import DELETED

        report = ReadReport()
        topic = self._topic(scope.topic)
        cursors = self.cursor(scope)
        if topic.feed is None or cursors is None:
            return report
        with self._lock:
            notes = self._pending.pop(scope, [])
        said: dict[str, set[str]] = {}
        for action, key in notes:
            said.setdefault(key.lower(), set()).add(action)
        conn = self._connection(scope.credential)
        id_field = topic.endpoint.key or "ID"
        for page in conn.client.resource(topic.endpoint.path, scope.division).changes(cursors[0]):
            report.calls += 1
            stamps: list[int] = []
            for record in page.records:
                stamp, key = record.get("Timestamp"), str(record.get(id_field))
                if not isinstance(stamp, int):
                    continue
                stamps.append(stamp)
                action = self._created_once(scope, key, _action(said.get(key.lower(), set()), record))
                self._start(Change(scope, action, key, f"t{stamp}", record=plain(record)), report)
            if stamps:
                self._move(scope, "feed_cursor", max(stamps))
        if topic.entity_type is None:
            return report
        fields = ["Timestamp", "EntityKey", "EntityType", "DeletedDate"]
        for page in conn.client.resource(DELETED, scope.division).changes(cursors[1], select=fields):
            report.calls += 1
            stamps = []
            for row in page.records:
                stamp = row.get("Timestamp")
                if not isinstance(stamp, int):
                    continue
                stamps.append(stamp)
                if int(row.get("EntityType") or 0) == topic.entity_type:
                    record = {"ID": str(row.get("EntityKey")), "DeletedDate": plain(row.get("DeletedDate"))}
                    self._start(
                        Change(scope, "Delete", str(row.get("EntityKey")), f"d{stamp}", record), report
                    )
            if stamps:
                self._move(scope, "deleted_cursor", max(stamps))
        return report

    def _created_once(self, scope: Scope, key: str, action: str) -> str:
        """``action``, except that a record whose Create was already started is an Update: Exact's
        Create notification can arrive after the read that started the record's run, and would then
        label the record's next change a Create (the last ``CREATED_KEYS`` keys of a scope are kept)."""
        with self._lock:
            created = self._created.setdefault(scope, OrderedDict())
            lowered = key.lower()
            if lowered in created:
                return "Update" if action == "Create" else action
            if action == "Create":
                created[lowered] = None
                if len(created) > CREATED_KEYS:
                    created.popitem(last=False)
            return action

    def _start(self, change: Change, report: ReadReport | None = None) -> None:
        with self._lock:
            served = self._scopes.get(change.scope)
        if report is not None:
            report.changes += 1
        for flow in served.flows if served is not None else []:
            wanted = flow.trigger.options.get("actions") or ["Create", "Update", "Delete"]
            if change.action not in wanted:
                continue
            trigger: dict[str, Any] = {
                "kind": "exact",
                "topic": change.scope.topic,
                "action": change.action,
                "key": change.key,
                "division": change.scope.division,
            }
            if change.record is not None:
                trigger["record"] = dict(change.record)
            if change.stamp[0] in "td":
                trigger["timestamp"] = int(change.stamp[1:])
            if change.event_time:
                trigger["event_time"] = change.event_time
            handle = self.engine.start(flow, trigger, run_id=run_id(flow.name, change))
            if report is not None:
                report.runs.append(handle.run_id)

    # -- the worker --------------------------------------------------------------------------------

    def start(self) -> None:
        """Read each scope when it is due (a notification's debounce, or its reconciliation), on a
        worker thread, until :meth:`close`."""
        if self._worker is None:
            self._stop.clear()
            self._worker = threading.Thread(target=self._loop, name="exactmate-events", daemon=True)
            self._worker.start()

    def wake(self) -> None:
        """Look at what is due now (after the clock moved)."""
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            now = self.clock.now()
            with self._lock:
                due = [scope for scope, at in self._due.items() if at <= now]
            for scope in due:
                self._read_due(scope)
            with self._lock:
                upcoming = min(self._due.values(), default=now + RETRY_AFTER)
            self._wake.wait(min(max(upcoming - self.clock.now(), 0.0), 1.0))

    def _read_due(self, scope: Scope) -> None:
        with self._lock:
            served = self._scopes.get(scope)
        if served is None:
            return
        # The next reconciliation is due its interval after this read began, not after it ended: a
        # clock that moved on while the read ran (its reconciliation came due meanwhile) must not
        # push the next read back a whole interval, or a change made meanwhile waits for it.
        began = self.clock.now()
        try:
            report = self.read(scope)
            self.reads += 1
        except Exception as exc:  # the worker goes on serving every other scope, and this one later
            reason = exc.message if isinstance(exc, ExactmateError) else f"{type(exc).__name__}: {exc}"
            log.warning("reading %s failed: %s; trying again in %g s", self._name(scope), reason, RETRY_AFTER)
            with self._lock:
                self._due[scope] = self.clock.now() + min(RETRY_AFTER, served.reconcile)
            self.reads += 1
            return
        if report.runs:
            log.info(
                "%s: %d change(s), %d run(s) started", self._name(scope), report.changes, len(report.runs)
            )
        with self._lock:
            self._due[scope] = began + served.reconcile
            if self._pending.get(scope):  # notified while reading: read again soon
                self._due[scope] = min(self._due[scope], self.clock.now() + self.debounce)

    @property
    def scopes(self) -> list[Scope]:
        with self._lock:
            return list(self._scopes)


def _where(scope: Scope) -> tuple[Any, ...]:
    from exactmate.store import event_cursors

    return (
        event_cursors.c.credential_id == scope.credential_id,
        event_cursors.c.division == scope.division,
        event_cursors.c.topic == scope.topic,
    )


def _action(said: set[str], record: Mapping[str, Any]) -> str:
    """Create or Update: what a notification said, else what the record shows (created and last
    modified at the same moment: a create)."""
    if "Create" in said:
        return "Create"
    if said & {"Update"}:
        return "Update"
    created, modified = record.get("Created"), record.get("Modified")
    return "Create" if created is not None and created == modified else "Update"
