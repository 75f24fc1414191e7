"""Reading the next page while the last one is written: a feed's calls and the database's writes
overlap instead of taking turns.

``read_ahead(pages)`` runs the page iterator in a worker thread: while the consumer writes one page,
the next waits in hand-off and the one after may be in flight, so memory holds three pages at most.
An error of the reader reaches the consumer at the page where it happened; a consumer that stops
early stops the reader after the page in hand.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


def read_ahead(pages: Iterator[T]) -> Iterator[T]:
    """``pages``, fetched one ahead in a worker thread."""
    handoff: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        handoff.put(page, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            handoff.put(exc)

    worker = threading.Thread(target=produce, name="exactmate-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.1)  # frees a producer blocked on a full queue
            worker.join(timeout=0.1)
