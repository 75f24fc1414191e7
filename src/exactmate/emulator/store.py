"""The emulator's records: one Table per (division, endpoint), kept apart from anything HTTP.

A Table holds its rows in key order (a sorted key list beside a parallel slot list), so a
``$skiptoken`` page is one bisect plus a slice, and a key lookup is one bisect. It also keeps the
rows in Timestamp order, the order sync endpoints page in.

Large demo tables are *virtual*: a slot holds the row's creation index instead of a dict, and a
factory rebuilds the row on demand from that index. 200,000 demo rows then cost a key string and
two list slots each instead of a dict of thirty fields; a row becomes a real dict once written.
Timestamps are one counter for the whole store (like a database rowversion): every insert, update
and delete takes the next value.
"""

from __future__ import annotations

import itertools
import random
import uuid
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterator
from typing import Any

Row = dict[str, Any]
Key = Any  # str (guids lower case, string keys) or int; one type per table
RowFactory = Callable[[int, Key], Row]
TIMESTAMP = "Timestamp"
_CLEAR = ~((0xF << 76) | (0x3 << 62))  # version and variant bits of a UUID
_SET = (0x4 << 76) | (0x2 << 62)  # version 4, RFC 4122 variant
_SERIALS = itertools.count(1)


class Table:
    """The records of one endpoint in one division."""

    def __init__(self, key_field: str) -> None:
        self.key_field = key_field
        self._keys: list[Key] = []
        self._slots: list[int | Row] = []  # int: virtual row (creation index); dict: stored row
        self._ts: list[int] = []  # every live row's Timestamp, ascending
        self._ts_keys: list[Key] = []  # the key of the row with _ts[i]
        self._factory: RowFactory | None = None
        self._ts_base = 0
        self._serial = next(_SERIALS)  # never reused, unlike id()
        self._version = 0  # changes with every write

    def order_token(self) -> Hashable:
        """Names this table's key order as it is now: equal tokens, equal rows at equal positions."""
        return (self._serial, "key", self._version)

    # ------------------------------------------------------------------------------ loading
    def load_virtual(self, keys: list[Key], factory: RowFactory, ts_base: int) -> None:
        """Replace the contents with ``len(keys)`` virtual rows; row ``i`` has key ``keys[i]``,
        Timestamp ``ts_base + i`` and fields ``factory(i, keys[i])``.
        """
        self._version += 1
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self._keys = [keys[i] for i in order]
        self._slots = list(order)
        self._ts = list(range(ts_base, ts_base + len(keys)))
        self._ts_keys = list(keys)
        self._factory = factory
        self._ts_base = ts_base

    # ------------------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self._keys)

    def _materialize(self, pos: int) -> Row:
        slot = self._slots[pos]
        if isinstance(slot, dict):
            return slot
        assert self._factory is not None
        row = self._factory(slot, self._keys[pos])
        row[TIMESTAMP] = self._ts_base + slot
        return row

    def _index(self, key: Key) -> int:
        pos = bisect_left(self._keys, key)
        return pos if pos < len(self._keys) and self._keys[pos] == key else -1

    def get(self, key: Key) -> Row | None:
        """The row with this key, or None. Do not mutate it: use ``put``."""
        try:
            pos = self._index(key)
        except TypeError:  # a key of the wrong type never matches
            return None
        return None if pos < 0 else self._materialize(pos)

    def __contains__(self, key: Key) -> bool:
        try:
            return self._index(key) >= 0
        except TypeError:
            return False

    def position_after(self, key: Key) -> int:
        """Index of the first row whose key sorts after ``key`` (a ``$skiptoken``)."""
        return bisect_right(self._keys, key)

    def row_at(self, pos: int) -> Row:
        return self._materialize(pos)

    def rows(self, start: int = 0) -> Iterator[Row]:
        """Rows in key order from position ``start``."""
        for pos in range(start, len(self._keys)):
            yield self._materialize(pos)

    def max_key(self) -> Key | None:
        return self._keys[-1] if self._keys else None

    # ------------------------------------------------------------------- Timestamp order
    def ts_size(self) -> int:
        return len(self._ts)

    def ts_position_after(self, timestamp: int) -> int:
        return bisect_right(self._ts, timestamp)

    def ts_at(self, pos: int) -> int:
        return self._ts[pos]

    def ts_order_token(self) -> Hashable:
        """Like ``order_token``, for the Timestamp order."""
        return (self._serial, "timestamp", self._version)

    def ts_row_at(self, pos: int) -> Row:
        row = self.get(self._ts_keys[pos])
        assert row is not None
        return row

    # ------------------------------------------------------------------------------ writing
    def put(self, row: Row, timestamp: int) -> None:
        """Insert or replace the row with ``row[key_field]``, stamping it with ``timestamp``
        (which must be greater than every Timestamp in the table: take it from the store).
        """
        self._version += 1
        key = row[self.key_field]
        pos = bisect_left(self._keys, key)
        if pos < len(self._keys) and self._keys[pos] == key:
            self._drop_timestamp(self._materialize(pos)[TIMESTAMP], key)
            self._slots[pos] = row
        else:
            self._keys.insert(pos, key)
            self._slots.insert(pos, row)
        row[TIMESTAMP] = timestamp
        self._ts.append(timestamp)
        self._ts_keys.append(key)

    def delete(self, key: Key) -> Row | None:
        """Remove the row with this key; returns it, or None when there was none."""
        pos = self._index(key)
        if pos < 0:
            return None
        self._version += 1
        row = self._materialize(pos)
        self._drop_timestamp(row[TIMESTAMP], key)
        del self._keys[pos]
        del self._slots[pos]
        return row

    def _drop_timestamp(self, timestamp: int, key: Key) -> None:
        pos = bisect_left(self._ts, timestamp)
        if pos < len(self._ts) and self._ts[pos] == timestamp and self._ts_keys[pos] == key:
            del self._ts[pos]
            del self._ts_keys[pos]


class TimestampView:
    """A table's rows in Timestamp order, keyed by Timestamp: what sync endpoints page through."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def order_token(self) -> Hashable:
        return self._table.ts_order_token()

    def __len__(self) -> int:
        return self._table.ts_size()

    def position_after(self, key: Any) -> int:
        return self._table.ts_position_after(key)

    def row_at(self, pos: int) -> Row:
        return self._table.ts_row_at(pos)

    def get(self, timestamp: Any) -> Row | None:
        try:
            pos = self._table.ts_position_after(timestamp) - 1
        except TypeError:
            return None
        if pos >= 0 and self._table.ts_at(pos) == timestamp:
            return self._table.ts_row_at(pos)
        return None


class MergedTimestampView:
    """Several tables' rows in one Timestamp order (Timestamps are store-wide, so they interleave),
    each row passed through ``shape``: a sync endpoint that carries the records of two endpoints."""

    def __init__(
        self,
        tables: list[Table],
        shape: Callable[[Row], Row],
        indexes: dict[Hashable, list[tuple[int, int]]],
    ) -> None:
        """``indexes`` outlives the view (one is made per request): the merged order of the tables
        as they are now, kept until one of them changes."""
        self._tables = tables
        self._shape = shape
        self._indexes = indexes

    def order_token(self) -> Hashable:
        return tuple(table.ts_order_token() for table in self._tables)

    def _merged(self) -> list[tuple[int, int]]:
        """(table number, Timestamp position in it) for every row, in Timestamp order."""
        token = self.order_token()
        index = self._indexes.get(token)
        if index is None:
            stamped = sorted(
                (table.ts_at(pos), number, pos)
                for number, table in enumerate(self._tables)
                for pos in range(table.ts_size())
            )
            index = [(number, pos) for _, number, pos in stamped]
            if len(self._indexes) >= 8:
                self._indexes.clear()
            self._indexes[token] = index
        return index

    def __len__(self) -> int:
        return sum(table.ts_size() for table in self._tables)

    def position_after(self, key: Any) -> int:
        return sum(table.ts_position_after(key) for table in self._tables)

    def row_at(self, pos: int) -> Row:
        number, at = self._merged()[pos]
        return self._shape(self._tables[number].ts_row_at(at))

    def get(self, timestamp: Any) -> Row | None:
        for table in self._tables:
            found = TimestampView(table).get(timestamp)
            if found is not None:
                return self._shape(found)
        return None


class DataStore:
    """Every Table, a store-wide Timestamp counter and a seeded source of new keys."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._tables: dict[tuple[int, str], Table] = {}
        self._timestamp = 0
        self._rng = random.Random(f"{seed}:new-keys")

    def reset(self) -> None:
        """Forget every record; the Timestamp counter and the key sequence restart."""
        self._tables.clear()
        self._timestamp = 0
        self._rng = random.Random(f"{self._seed}:new-keys")

    def table(self, division: int, name: str, key_field: str) -> Table:
        """The Table for an endpoint (lower-case path) in a division, created empty on first use."""
        found = self._tables.get((division, name))
        if found is None:
            found = self._tables[(division, name)] = Table(key_field)
        return found

    def existing(self, division: int, name: str) -> Table | None:
        return self._tables.get((division, name))

    def next_timestamp(self) -> int:
        self._timestamp += 1
        return self._timestamp

    def reserve_timestamps(self, count: int) -> int:
        """Reserve ``count`` consecutive Timestamps for virtual rows; returns the first."""
        first = self._timestamp + 1
        self._timestamp += count
        return first

    def new_guid(self) -> str:
        """A fresh, deterministic (seeded) version-4 GUID in Exact's lower-case form."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


def guid_sequence(seed: str, count: int) -> list[str]:
    """``count`` deterministic version-4 GUID strings from a seed (fast: no uuid objects)."""
    rng = random.Random(seed)
    out: list[str] = []
    append = out.append
    for _ in range(count):
        h = format((rng.getrandbits(128) & _CLEAR) | _SET, "032x")
        append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out
