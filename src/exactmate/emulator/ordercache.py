"""Sorted listings kept between the pages of one ``$orderby`` read.

Every page of an ordered listing needs the whole matching set sorted (the ``$skiptoken`` only says
where the last page ended). Sorting 200,000 rows takes seconds, so reading them 60 at a time would
sort 3,334 times. The cache keeps the sort order of the few most recent listings, as each row's
sort values and position, for as long as the table is unchanged: a write to the table gives it a
new version, and the next page sorts afresh, as a database would see the new row.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

# One entry per matching row: its sort values (the $orderby fields, then the key) and its position.
Entries = list[tuple[tuple[Any, ...], int]]


class OrderCache:
    """The sort order of the ``size`` most recently read ordered listings."""

    def __init__(self, size: int = 4) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, Entries] = OrderedDict()

    def get(self, key: Hashable) -> Entries | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: Hashable, entries: Entries) -> None:
        self._entries[key] = entries
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
