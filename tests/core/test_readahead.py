"""read_ahead: the next page fetched in a worker thread while the consumer works on the last one,
never more than one page ahead."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from exactmate.errors import ServerError
from exactmate.readahead import read_ahead

WAIT = 10.0  # seconds a test waits for the worker before failing; never reached when all is well


class Source:
    """Pages 0..count-1, recording for each page how many pages the consumer had taken when the
    worker asked for it, and whether the generator was closed."""

    def __init__(self, count: int, *, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.taken = 0
        self.asked: list[tuple[int, int]] = []  # (page, pages taken by then)
        self.fetched = [threading.Event() for _ in range(count)]
        self.closed = False
        self.thread: str | None = None

    def pages(self) -> Iterator[int]:
        try:
            for number in range(self.count):
                self.thread = threading.current_thread().name
                self.asked.append((number, self.taken))
                if number == self.fail_at:
                    raise ServerError("Exact answered 503", status_code=503)
                self.fetched[number].set()
                yield number
        finally:
            self.closed = True


def test_every_page_arrives_in_order_and_is_fetched_by_the_worker() -> None:
    source = Source(5)
    assert list(read_ahead(source.pages())) == [0, 1, 2, 3, 4]
    assert source.thread == "exactmate-read-ahead" and source.closed


def test_the_next_page_is_fetched_while_the_consumer_holds_one_and_never_the_one_after() -> None:
    source = Source(6)
    for page in read_ahead(source.pages()):
        if page + 1 < source.count:  # hold this page until the worker has fetched the next one,
            assert source.fetched[page + 1].wait(WAIT)
            for _ in range(200):  # and let it run on: a worker two pages ahead asks for k + 2 now
                time.sleep(0)
        source.taken += 1
    # page k is asked for once the consumer took page k - 1 and is working on it (done with k - 2):
    # one page ahead, two pages in memory
    assert source.asked == [(number, max(number - 1, 0)) for number in range(6)]


def test_an_error_of_the_reader_reaches_the_consumer_at_its_page() -> None:
    source = Source(5, fail_at=2)
    seen: list[int] = []
    with pytest.raises(ServerError, match="503"):
        for page in read_ahead(source.pages()):
            seen.append(page)
    assert seen == [0, 1]


def test_a_consumer_that_stops_early_stops_the_reader_after_the_page_in_hand() -> None:
    source = Source(10)
    pages = read_ahead(source.pages())
    assert next(pages) == 0
    assert source.fetched[1].wait(WAIT)  # the one page ahead
    pages.close()  # e.g. the output file could not be written
    assert source.closed  # the worker is joined and the generator's cleanup ran
    assert [number for number, _ in source.asked] == [0, 1]  # one call more than used, no more


def test_a_consumer_that_fails_stops_the_reader_too() -> None:
    source = Source(10)
    with pytest.raises(OSError, match="disk full"):
        for page in read_ahead(source.pages()):
            if page == 1:
                raise OSError("disk full")
    assert source.closed and len(source.asked) <= 3


def test_pages_that_are_calls_are_handed_over_once_the_next_request_is_out() -> None:
    """The consumer's parse would hold the interpreter's lock: the worker's next request goes out first."""
    from exactmate.readahead import read_ahead_calls

    events: list[tuple[str, int]] = []

    def start(sent: Callable[[], None]) -> Iterator[int]:
        for number in range(4):
            events.append(("sent", number))  # the request for this page goes out
            sent()
            yield number

    # a generous head start: the wait ends as soon as the request is out, never by the clock
    for page in read_ahead_calls(start, head_start=WAIT):
        events.append(("given", page))
    assert events == [
        ("sent", 0), ("sent", 1), ("given", 0), ("sent", 2), ("given", 1),
        ("sent", 3), ("given", 2), ("given", 3),
    ]  # fmt: skip
