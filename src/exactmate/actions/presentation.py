"""Action results as JSON carries them, and as table or CSV cells: shared by every way out
(command output, web pages, downloads).

A CSV cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to a
spreadsheet, and a record's text comes from whoever typed it into Exact: such a cell is neutralised
with a leading ``'`` (numbers, which cannot be formulas, are left alone), unless the caller asks for
raw CSV.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


def plain(value: Any) -> Any:
    """A JSON-ready copy of ``value``: dates as ISO text, GUIDs as text, decimals as floats."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """A value as one table or CSV cell: None empty, booleans as true/false, whole floats as such,
    dates ISO, and nested values as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(value)
    value = plain(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def csv_cell(value: Any, *, raw: bool = False) -> str:
    """``cell(value)`` for a CSV file, a text that a spreadsheet would run as a formula neutralised."""
    text = cell(value)
    if raw or not text.startswith(_FORMULA_STARTS) or _is_number(value, text):
        return text
    return "'" + text


def _is_number(value: Any, text: str) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | Decimal):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and "n" not in text.lower()  # not "-inf" / "-nan" spelled as text


def local_moment(epoch: float) -> datetime:
    """Epoch seconds as an aware datetime in the machine's local zone."""
    return datetime.fromtimestamp(epoch).astimezone()


def local_text(epoch: float) -> str:
    """Epoch seconds as a user reads them: local ``YYYY-MM-DD HH:MM:SS``."""
    return local_moment(epoch).strftime("%Y-%m-%d %H:%M:%S")


def local_iso(epoch: float) -> str:
    """Epoch seconds as local ISO 8601 text with its offset, to the second (for JSON and CSV)."""
    return local_moment(epoch).isoformat(timespec="seconds")
