"""Reading the next page while the last one is used: the calls of a whole read overlap with what is
done with each page (written to a file, to a database) instead of taking turns with it.

``read_ahead(pages)`` runs the page iterator in a worker thread, at most one page ahead: while the
consumer works on page N, the worker fetches page N+1 and then waits until the consumer takes it
before it asks for page N+2. Memory holds two pages at most, and a consumer that stops early has
caused at most one call more than it used. An error of the reader reaches the consumer at the page
where it happened; a consumer that stops early (or fails) stops the reader after the page in hand.

``read_ahead_calls`` is the same for pages that are calls, whose worker says when each request
has gone out: handing a page over, the consumer waits (a moment at most) until the next request is
out. Parsing a page holds the interpreter's lock in one C call (orjson), so a worker still on its
way to the socket would otherwise wait for that parse before its request even left.

Used by ``Resource.read(ahead=True)`` (``exactmate get --all``, the web export) and by ``exactmate
sync`` (``sync/run.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Handoff:
    """One slot between the worker and the consumer, and the consumer's leave to fetch the next page."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._item: object = None
        self._full = False
        self._wanted = True  # the worker may fetch a page: the consumer took the last one
        self._sent = False  # the worker's request for the wanted page has gone out
        self.stopped = False

    def wait_until_wanted(self) -> bool:
        """The worker: block until the consumer took the last page; False once the consumer stopped."""
        with self._changed:
            self._changed.wait_for(lambda: self._wanted or self.stopped)
            self._wanted = False
            return not self.stopped

    def put(self, item: object) -> None:
        """The worker: hand over a page, the end (``_DONE``) or an error."""
        with self._changed:
            self._item, self._full = item, True
            self._changed.notify_all()

    def sent(self) -> None:
        """The worker: the request for the wanted page has gone out."""
        with self._changed:
            self._sent = True
            self._changed.notify_all()

    def take(self, head_start: float = 0.0) -> object:
        """The consumer: the next item, and leave for the worker to fetch the one after; with a
        ``head_start``, wait up to that many seconds until the worker's request for it is out."""
        with self._changed:
            self._changed.wait_for(lambda: self._full)
            item, self._item, self._full = self._item, None, False
            self._wanted, self._sent = True, False
            self._changed.notify_all()
            if head_start > 0 and item is not _DONE and not isinstance(item, BaseException):
                self._changed.wait_for(lambda: self._sent or self._full or self.stopped, head_start)
            return item

    def stop(self) -> None:
        with self._changed:
            self.stopped = True
            self._item, self._full = None, False
            self._changed.notify_all()


def read_ahead(pages: Iterator[T], *, name: str = "exactmate-read-ahead") -> Generator[T, None, None]:
    """``pages``, each fetched in a worker thread while the consumer works on the one before."""
    return _ahead(pages, _Handoff(), name, head_start=0.0)


def read_ahead_calls(
    start: Callable[[Callable[[], None]], Iterator[T]],
    *,
    name: str = "exactmate-read-ahead",
    head_start: float = 0.05,
) -> Generator[T, None, None]:
    """``read_ahead`` of the pages ``start(sent)`` makes, an iterator that calls ``sent()`` each time
    its next request has gone out; each page is handed over once that request is out (or after
    ``head_start`` seconds, whichever comes first)."""
    handoff = _Handoff()
    return _ahead(start(handoff.sent), handoff, name, head_start=head_start)


def _ahead(
    pages: Iterator[T], handoff: _Handoff, name: str, *, head_start: float
) -> Generator[T, None, None]:
    def produce() -> None:
        try:
            while handoff.wait_until_wanted():
                try:
                    page = next(pages)
                except StopIteration:
                    handoff.put(_DONE)
                    return
                handoff.put(page)
        except BaseException as exc:  # handed to the consumer, raised there
            handoff.put(exc)
        finally:
            close = getattr(pages, "close", None)
            if close is not None:
                close()  # a generator stopped early runs its cleanup here, in the thread that ran it

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.take(head_start)
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        handoff.stop()
        worker.join()
