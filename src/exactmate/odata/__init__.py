"""OData v2 as Exact Online speaks it: literals, filters, keys, query options, envelopes, dates, errors.

Two rules shape this package:

* **User values never become OData syntax.** Every value goes through ``literal`` (quotes doubled,
  GUIDs and numbers checked), and field names must be plain identifiers, so ``"') or 1 eq 1"`` is
  only ever a string (``literals``, ``filters``, ``query``).
* **Exact's dates are Dutch wall-clock time**, read into aware Europe/Amsterdam datetimes and
  written back in that wall clock (``dates``).

``keys`` is the one encoder of record keys into ``Entity(…)`` (requests and dry runs alike).
``envelope`` unwraps ``{"d": …}`` responses and reads Exact's error bodies; ``lines`` writes a
page's records as NDJSON straight from its bytes. Everything public is
importable from ``exactmate.odata`` itself.
"""

from __future__ import annotations

from exactmate.odata._show import shorten
from exactmate.odata.dates import (
    AMSTERDAM,
    RecordConverter,
    convert_dates,
    date_converter,
    format_date_ms,
    format_datetime,
    parse_date,
)
from exactmate.odata.envelope import (
    ODataPage,
    error_message,
    flat_page,
    next_link,
    parse_json,
    strip_metadata,
    unwrap,
)
from exactmate.odata.filters import F, Filter
from exactmate.odata.keys import KeyedEndpoint, key_suffix, key_text, parse_key, record_key
from exactmate.odata.lines import LinedPage, LineShape
from exactmate.odata.literals import format_key, literal
from exactmate.odata.query import FilterInput, Query, build_query

__all__ = [
    "parse_json",
    "AMSTERDAM",
    "F",
    "Filter",
    "FilterInput",
    "KeyedEndpoint",
    "LineShape",
    "LinedPage",
    "ODataPage",
    "Query",
    "RecordConverter",
    "build_query",
    "convert_dates",
    "date_converter",
    "error_message",
    "flat_page",
    "format_date_ms",
    "format_datetime",
    "format_key",
    "key_suffix",
    "key_text",
    "literal",
    "next_link",
    "parse_date",
    "parse_key",
    "record_key",
    "shorten",
    "strip_metadata",
    "unwrap",
]
