"""``Format`` and ``TextFormat``: what a command's ``--format`` takes, apart from the writers themselves.

A command's options name the formats when its module is imported, also for ``--help``; the writers
(``cli.output``: Rich's tables, the JSON and CSV writers) are imported only by a command that writes.
"""

from __future__ import annotations

from enum import StrEnum


class Format(StrEnum):
    """How records are written."""

    table = "table"
    json = "json"
    ndjson = "ndjson"
    csv = "csv"


class TextFormat(StrEnum):
    """How a command that reports one result writes it: words for people, or JSON for scripts."""

    text = "text"
    json = "json"
