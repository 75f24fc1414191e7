"""Exact's dates: ``/Date(ms)/`` in Dutch wall-clock time, read into and written from aware datetimes.

``/Date(ms)/`` counts milliseconds to the CET/CEST wall-clock reading, not to the UTC instant (Exact's
FAQ: "This is in the CET time and not GMT"). Reading it as UTC shifts every date by one or two hours,
so dates are read as Europe/Amsterdam wall clock into aware datetimes, and written back as zone-less
ISO strings in that wall clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from exactmate.errors import ValidationError
from exactmate.odata._show import shorten
from exactmate.odata.envelope import strip_in_place

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
# Adding a timedelta to an aware datetime moves its wall clock and keeps its tzinfo: exactly "these
# milliseconds are an Amsterdam wall-clock reading", and several times faster than .replace(tzinfo=).
_EPOCH_AMSTERDAM = datetime(1970, 1, 1, tzinfo=AMSTERDAM)
_MILLISECOND = timedelta(milliseconds=1)
_CACHE_SIZE = 4096
"""Dates converted and kept per reader: many repeat (a transaction's Date is midnight)."""
_DATE = re.compile(r"/Date\((-?[0-9]{1,15})([+-][0-9]{4})?\)/\Z")


def parse_date(value: str) -> datetime:
    """``/Date(1382667872203)/`` -> an aware Europe/Amsterdam datetime.

    The milliseconds count to the Dutch wall-clock reading, so they are read as UTC and the result's
    wall clock is labelled Amsterdam. In the autumn's repeated hour the first (summer-time) reading
    is chosen: the format cannot tell them apart. The OData ``/Date(ms+0060)/`` form (an instant in
    UTC plus an offset in minutes) is converted to Amsterdam time. The common ``/Date(digits)/``
    shape is read without the regex (readers convert thousands of dates a page).
    """
    if value.__class__ is str and value[-2:] == ")/" and value[:6] == "/Date(":
        digits = value[6:-2]
        if digits.isascii() and digits.isdigit():
            try:
                return _EPOCH_AMSTERDAM + int(digits) * _MILLISECOND
            except OverflowError:
                pass  # the regex below says what is wrong
    match = _DATE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValidationError(f"Not an OData date: {shorten(value)}", hint="expected '/Date(1382667872203)/'")
    millis = int(match.group(1)) * _MILLISECOND
    try:
        if match.group(2) is not None:
            return (_EPOCH_UTC + millis).astimezone(AMSTERDAM)
        return _EPOCH_AMSTERDAM + millis
    except OverflowError:
        raise ValidationError(f"Date out of range: {shorten(value)}") from None


def format_datetime(value: datetime | date) -> str:
    """A zone-less ISO string in Amsterdam wall clock, as Exact wants dates in bodies and filters.

    Aware datetimes are converted to Amsterdam time first; naive ones are taken as Amsterdam wall
    clock already; dates are midnight. Precision is Exact's: milliseconds.
    """
    if not isinstance(value, datetime):
        if not isinstance(value, date):
            raise ValidationError(f"Expected a date or datetime, got {shorten(value)}")
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(AMSTERDAM).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")


def format_date_ms(value: datetime | date) -> str:
    """The inverse of ``parse_date``: ``/Date(ms)/`` counting to the Amsterdam wall-clock reading."""
    wall = datetime.fromisoformat(format_datetime(value))
    return f"/Date({(wall - _EPOCH) // timedelta(milliseconds=1)})/"


def convert_dates(record: dict[str, Any], date_fields: Iterable[str]) -> dict[str, Any]:
    """Convert the named fields' ``/Date(…)/`` strings to datetimes, in place; returns ``record``.

    Other values (``None``, already converted) are left alone, so converting twice is harmless.
    """
    for name in date_fields:
        value = record.get(name)
        if value.__class__ is str and value[:6] == "/Date(":
            record[name] = parse_date(value)
    return record


class _Typed(Protocol):
    @property
    def type(self) -> str: ...


class RecordConverter:
    """Converts the ``Edm.DateTime`` fields of records fresh from ``json.loads``, in place.

    Built from ``fields`` (names mapped to Edm types or to objects with a ``type``: catalogue
    ``Field``s), it touches only the date fields. With ``strip`` it also drops ``__metadata`` and
    deferred stubs in the same pass, without a copy. Call it on one record, or ``page(records)`` on a
    whole page: the same work with one Python call per page instead of one per record.

    Speed matters here (reading must stay within half the rate of bare ``json.loads``), hence the
    inlined fast path and a bounded cache: many dates repeat (a transaction's Date is midnight).
    """

    __slots__ = ("_cache", "_names", "_strip")

    def __init__(self, fields: Mapping[str, str | _Typed], *, strip: bool = False) -> None:
        self._names = tuple(
            name
            for name, spec in fields.items()
            if (spec if isinstance(spec, str) else spec.type) == "Edm.DateTime"
        )
        self._strip = strip
        self._cache: dict[str, datetime] = {}

    def __call__(self, record: dict[str, Any]) -> dict[str, Any]:
        """Convert one record in place and return it."""
        self.page([record])
        return record

    def page(self, records: list[dict[str, Any]], *, flat: bool = False) -> list[dict[str, Any]]:
        """Convert every record of ``records`` in place and return the list.

        ``flat``: the caller proved with ``envelope.flat_page`` that the page holds no nested object
        but the records' ``__metadata``, so records are not scanned for navigation stubs. The proof
        needs every record to have brought its ``__metadata``; if one did not, all are scanned.
        """
        names, strip, cache = self._names, self._strip, self._cache
        lookup = cache.get
        scan = strip and not flat
        unproved = False
        for record in records:
            if strip:
                metadata = record.pop("__metadata", None)
                if scan:
                    if dict in map(type, record.values()):  # navigation stubs or expansions: rare
                        strip_in_place(record)
                elif metadata.__class__ is not dict:
                    unproved = True
            for name in names:
                value = record.get(name)
                if value.__class__ is not str:
                    continue
                parsed = lookup(value)
                if parsed is None:
                    if value[:6] != "/Date(":
                        continue  # not Exact's date format: leave it as it came
                    parsed = parse_date(value)
                    if len(cache) >= _CACHE_SIZE:
                        cache.clear()
                    cache[value] = parsed
                record[name] = parsed
        if unproved:
            for record in records:
                strip_in_place(record)
        return records


def date_converter(fields: Mapping[str, str | _Typed], *, strip: bool = False) -> RecordConverter:
    """A ``RecordConverter`` for ``fields`` (see there): call it per record or use ``.page``."""
    return RecordConverter(fields, strip=strip)


_HOUR_MS = 3_600_000
_HOUR = timedelta(hours=1)
_WHOLE_HOURS_FROM_MS = (datetime(1973, 1, 1) - _EPOCH) // _MILLISECOND
"""Since 1973 Amsterdam's offset has changed only on the hour of its wall clock (and no zone has had
an offset of odd seconds), so one hour's offset is that of its first millisecond."""
_MAX_MS = (datetime(9999, 12, 31) - _EPOCH) // _MILLISECOND
"""Beyond this, the hour's head could not be made: such a date goes through ``parse_date``."""
_TWO = tuple(f"{n:02d}" for n in range(60))
_THREE = tuple(f"{n:03d}" for n in range(1000))


class IsoDates:
    """Exact's ``/Date(…)/`` strings as the ISO text of what ``parse_date`` reads them into
    (``parse_date(value).isoformat()``: Amsterdam wall clock with its offset), without making the
    datetime: a whole read's lines carry thousands of dates a page (``odata.LineShape``).

    An hour's head (``2026-03-29T03:`` and ``+02:00``) is worked out once; the minutes, seconds and
    milliseconds are arithmetic. Dates before 1973, and every other shape, go through
    ``parse_date`` (its errors included). Keeps the last ``_CACHE_SIZE`` texts it made."""

    __slots__ = ("_hours", "_texts")

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._hours: dict[int, tuple[str, str]] = {}

    def __call__(self, value: str) -> str:
        text = self._texts.get(value)
        if text is not None:
            return text
        digits = value[6:-2]
        if value[:6] == "/Date(" and value[-2:] == ")/" and digits.isascii() and digits.isdigit():
            millis = int(digits)
            if _WHOLE_HOURS_FROM_MS <= millis < _MAX_MS:
                text = self._text(millis)
        if text is None:
            text = parse_date(value).isoformat()
        if len(self._texts) >= _CACHE_SIZE:
            self._texts.clear()
        self._texts[value] = text
        return text

    def _text(self, millis: int) -> str:
        hour, rest = divmod(millis, _HOUR_MS)
        head = self._hours.get(hour)
        if head is None:
            start = (_EPOCH_AMSTERDAM + hour * _HOUR).isoformat()  # 2026-03-29T03:00:00+02:00
            head = self._hours[hour] = (start[:14], start[19:])
            if len(self._hours) >= _CACHE_SIZE:
                self._hours.clear()
        minute, rest = divmod(rest, 60_000)
        second, milli = divmod(rest, 1000)
        if milli:
            return f"{head[0]}{_TWO[minute]}:{_TWO[second]}.{_THREE[milli]}000{head[1]}"
        return f"{head[0]}{_TWO[minute]}:{_TWO[second]}{head[1]}"
