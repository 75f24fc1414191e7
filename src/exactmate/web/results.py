"""Action results as the page shows them (a table) and hands them out (JSON and CSV downloads).

The last results are kept in memory under unguessable ids so the download links work without running
the action again; older ones drop out. The files are written by ``actions.writers``, as the command
line writes them. Values are made plain first: dates as ISO text, nested
objects as JSON, so the table, the JSON file and the CSV file say the same thing.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exactmate.actions import writers
from exactmate.actions.presentation import cell

VERTICAL_FROM = 6
"""A single record with more columns than this is shown as field / value lines."""


def columns_of(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every column any row has, in order of first appearance."""
    seen: dict[str, None] = {}
    for row in rows:
        for name in row:
            seen.setdefault(str(name), None)
    return list(seen)


@dataclass(frozen=True)
class Result:
    """One run's outcome: a title, rows for the table and downloads, and anything else to say."""

    title: str
    rows: Sequence[Mapping[str, Any]]
    summary: str = ""
    request: str | None = None  # a dry run's planned request, as text
    problems: Sequence[str] = ()
    slug: str = "result"  # names the download files: exactmate-<slug>.json
    export: Sequence[tuple[str, str]] = ()  # a cut-off listing's query, for /actions/export
    id: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    @property
    def columns(self) -> list[str]:
        return columns_of(self.rows)

    @property
    def vertical(self) -> bool:
        """One wide record reads better as field / value lines than as one very long row."""
        return len(self.rows) == 1 and len(self.columns) > VERTICAL_FROM

    def table(self) -> list[list[str]]:
        names = self.columns
        return [[cell(row.get(name)) for name in names] for row in self.rows]

    def as_json(self) -> str:
        return "".join(writers.chunks(self.rows, "json"))

    def as_csv(self) -> str:
        return "".join(writers.chunks(self.rows, "csv", columns=self.columns))


class ResultStore:
    """The last ``keep`` results, by id."""

    def __init__(self, keep: int = 25) -> None:
        self._results: OrderedDict[str, Result] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()

    def add(self, result: Result) -> Result:
        with self._lock:
            self._results[result.id] = result
            while len(self._results) > self._keep:
                self._results.popitem(last=False)
        return result

    def get(self, result_id: str) -> Result | None:
        with self._lock:
            return self._results.get(result_id)
