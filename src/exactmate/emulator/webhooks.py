"""Webhook notifications, signed and delivered the way Exact Online sends them.

After a write is stored, each subscribed callback gets a POST whose body is exactly
``{"Content":<raw>,"HashCode":"<hex>"}``: ``<raw>`` is the compact JSON of the event (Topic, ClientId,
Division, Action, Key, ExactOnlineEndpoint, EventCreatedOn) and ``<hex>`` the upper-case hex
HMAC-SHA256 of those raw bytes keyed by the webhook secret. Receivers verify the signature against
the Content substring *as sent*, so the body is assembled from the raw bytes, never re-serialised.

Deliveries run on one background thread in order, so a slow or dead callback never delays the
request that caused it; ``flush()`` waits for the queue (tests use it instead of sleeping).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from exactmate.emulator.exchange import Change

Deliver = Callable[[str, bytes, dict[str, str]], int]
Probe = Callable[[str], int]
DELIVERY_TIMEOUT = 5.0
_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def _last_sunday(year: int, month: int) -> datetime:
    day = datetime(year, month + 1, 1, 1, tzinfo=UTC) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def cet_wall_clock(ts: float) -> datetime:
    """Amsterdam wall-clock time (CET, CEST in summer) as a naive datetime: Exact's zone-less times.
    Computed from the EU rule (last Sundays of March and October, 01:00 UTC) so it needs no tz database."""
    moment = datetime.fromtimestamp(ts, tz=UTC)
    summer = _last_sunday(moment.year, 3) <= moment < _last_sunday(moment.year, 10)
    return (moment + timedelta(hours=2 if summer else 1)).replace(tzinfo=None)


def hash_code(secret: str, raw: bytes) -> str:
    """Upper-case hex HMAC-SHA256 of ``raw`` keyed by ``secret``."""
    return hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest().upper()


def notification(change: Change, client_id: str, secret: str, now: float) -> bytes:
    """The exact bytes POSTed to a callback for one change."""
    created = cet_wall_clock(now)
    content = {
        "Topic": change.topic,
        "ClientId": client_id,
        "Division": change.division,
        "Action": change.action,
        "Key": change.key,
        "ExactOnlineEndpoint": change.endpoint_url,
        "EventCreatedOn": created.strftime("%Y-%m-%dT%H:%M:%S.") + f"{created.microsecond // 1000:03d}",
    }
    raw = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return b'{"Content":' + raw + b',"HashCode":"' + hash_code(secret, raw).encode("ascii") + b'"}'


def http_deliver(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST a notification with a short timeout; the callback's status code."""
    return httpx.post(url, content=body, headers=headers, timeout=DELIVERY_TIMEOUT).status_code


def http_probe(url: str) -> int:
    """The POST Exact makes to a callback URL when a subscription is created: the callback's status,
    or 0 when it cannot be reached at all."""
    try:
        return httpx.post(url, content=b"", headers=_HEADERS, timeout=DELIVERY_TIMEOUT).status_code
    except httpx.HTTPError:
        return 0


@dataclass(frozen=True)
class _Job:
    url: str
    body: bytes


class WebhookDispatcher:
    """Queues notifications and delivers them on a background thread, counting the outcomes."""

    def __init__(
        self,
        secret: str,
        client_id: str,
        deliver: Deliver | None = None,
        on_result: Callable[[bool], None] | None = None,
    ) -> None:
        self._secret = secret
        self._client_id = client_id
        self._deliver = deliver if deliver is not None else http_deliver
        self._on_result = on_result
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def dispatch(
        self,
        changes: Iterable[Change],
        callbacks: Callable[[int, str], list[str]],
        now: float,
        lose: Callable[[], bool] = lambda: False,
    ) -> tuple[int, int]:
        """Queue one notification per change and subscribed callback, except those ``lose()`` says Exact
        loses (an injected fault); how many were queued and how many lost."""
        queued = lost = 0
        for change in changes:
            urls = callbacks(change.division, change.topic)
            if not urls:
                continue
            body = notification(change, self._client_id, self._secret, now)
            for url in urls:
                if lose():
                    lost += 1
                    continue
                self._ensure_worker()
                self._queue.put(_Job(url, body))
                queued += 1
        return queued, lost

    def flush(self) -> None:
        """Wait until every queued notification has been delivered (or has failed)."""
        self._queue.join()

    def close(self) -> None:
        """Deliver what is queued, then stop the worker thread (a later dispatch starts a new one)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="emulator-webhooks", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._send(job)
            finally:
                self._queue.task_done()

    def _send(self, job: _Job) -> None:
        try:
            ok = 200 <= self._deliver(job.url, job.body, dict(_HEADERS)) < 300
        except Exception:  # a dead callback must never kill the worker; it counts as failed
            ok = False
        if self._on_result is not None:
            self._on_result(ok)
