"""Progress bars on standard error, and what they say while the rate limit holds the calls back.

A bar with a total shows the count, the elapsed time and the time left. While a call waits for
Exact's minutely limit to reset, the governor announces the wait in a log record
(``governor.WAIT_SECONDS``); the bar shows it ("waiting for the rate limit, 23 s") until the next
record arrives, so a bar that stops moving always says why.

Rich is imported when a bar is drawn: a command whose output goes to a file from a script (no
terminal) draws none, and does not load it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn, TaskID

_GOVERNOR_LOG = "exactmate.governor"


class Bar:
    """Call it with the number of records just done; ``note`` shows a passing remark beside it;
    ``add_to_total`` adds records counted on the way (a division's first page told its count)."""

    def __init__(
        self, progress: Progress | None, task: TaskID | None, description: str, total: int | None = None
    ) -> None:
        self._progress = progress
        self._task = task
        self._description = description
        self._total = total

    def __call__(self, done: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=done, description=self._description)

    def add_to_total(self, records: int) -> None:
        self._total = (self._total or 0) + records
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=self._total)

    def note(self, text: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=f"{self._description} [yellow]({text})[/]")


class Bars:
    """One line per part of a long job (a sync's endpoint in one division): its records, its calls
    and its records a second. ``update`` takes the part's totals so far; ``note`` remarks on the part
    updated last (the one the next call is for)."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}
        self._last: str | None = None

    def update(self, part: str, *, records: int, calls: int) -> None:
        if self._progress is None:
            return
        task = self._tasks.get(part)
        if task is None:
            task = self._tasks[part] = self._progress.add_task(part, total=None, calls=0)
        self._progress.update(task, completed=records, calls=calls, description=part)
        self._last = part

    def note(self, text: str) -> None:
        if self._progress is not None and self._last is not None:
            task = self._tasks[self._last]
            self._progress.update(task, description=f"{self._last} [yellow]({text})[/]")


class _Noted(Protocol):
    def note(self, text: str) -> None: ...


def _rate() -> ProgressColumn:
    """A column of records a second, from Rich's own moving estimate; blank until it has one."""
    from rich.progress import ProgressColumn, Task
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")

    return Rate()


class _WaitNotes(logging.Handler):
    def __init__(self, bar: _Noted) -> None:
        from exactmate.governor import WAIT_SECONDS  # here: drawing a bar needs no store

        super().__init__(logging.INFO)
        self._bar = bar
        self._attribute = WAIT_SECONDS

    def emit(self, record: logging.LogRecord) -> None:
        seconds = getattr(record, self._attribute, None)
        if isinstance(seconds, int | float):
            self._bar.note(f"waiting for the rate limit, {max(1, round(seconds))} s")


@contextmanager
def progress(
    description: str, total: int | None, *, enabled: bool, total_later: bool = False
) -> Iterator[Bar]:
    """A bar on standard error (``total`` None: a count without an end, unless ``total_later``: the
    total comes with the first page, ``Bar.add_to_total``); yields the ``Bar``."""
    if not enabled:
        yield Bar(None, None, description, total)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    ends = total is not None or total_later
    columns = [
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if ends else TextColumn("{task.completed} records"),
        TimeElapsedColumn(),
    ]
    if ends:
        columns.append(TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as shown:
        bar = Bar(shown, shown.add_task(description, total=total), description, total)
        with wait_notes(bar):
            yield bar


@contextmanager
def part_bars(*, enabled: bool) -> Iterator[Bars]:
    """A line per part on standard error (records, calls, records a second, elapsed time)."""
    if not enabled:
        yield Bars(None)
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        TextColumn("{task.completed:,} records"),
        TextColumn("{task.fields[calls]:,} calls"),
        _rate(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=True) as shown:
        bars = Bars(shown)
        with wait_notes(bars):
            yield bars


@contextmanager
def wait_notes(bar: _Noted) -> Iterator[None]:
    """While the block runs, the governor's minutely waits show on ``bar``."""
    logger = logging.getLogger(_GOVERNOR_LOG)
    handler = _WaitNotes(bar)
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
