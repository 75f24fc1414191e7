"""Reading the next page while the last one is used: the calls of a whole read overlap with what is
done with each page (written to a file, to a database) instead of taking turns with it.

``read_ahead(pages)`` runs the page iterator in a worker thread, at most one page ahead: while the
consumer works on page N, the worker fetches page N+1 and then waits until the consumer takes it
before it asks for page N+2. Memory holds two pages at most, and a consumer that stops early has
caused at most one call more than it used. An error of the reader reaches the consumer at the page
where it happened; a consumer that stops early (or fails) stops the reader after the page in hand.

Used by ``exactmate get --all`` and the web export (``actions/listget.py``) and by ``exactmate sync``
(``sync/run.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
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

    def take(self) -> object:
        """The consumer: the next item, and leave for the worker to fetch the one after."""
        with self._changed:
            self._changed.wait_for(lambda: self._full)
            item, self._item, self._full = self._item, None, False
            self._wanted = True
            self._changed.notify_all()
            return item

    def stop(self) -> None:
        with self._changed:
            self.stopped = True
            self._item, self._full = None, False
            self._changed.notify_all()


def read_ahead(pages: Iterator[T], *, name: str = "exactmate-read-ahead") -> Iterator[T]:
    """``pages``, each fetched in a worker thread while the consumer works on the one before."""
    handoff = _Handoff()

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
            item = handoff.take()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        handoff.stop()
        worker.join()
