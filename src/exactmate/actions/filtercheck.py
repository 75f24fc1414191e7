"""The field names in a ``$filter`` typed as OData text, checked against the catalogue before any call.

A filter given as text (``--filter "Cdoe eq 'A1'"``) is the user's own OData and is sent as written,
but a misspelt field in it would cost a 400 from Exact and a place in the hourly error budget. So
its names are read out (skipping string literals, typed literals such as ``guid'…'``, numbers,
operators and function names) and checked like ``$select`` fields, with suggestions.
"""

from __future__ import annotations

import re

from exactmate.catalogue import Endpoint

_TOKEN = re.compile(
    r"""
    (?P<string>[A-Za-z]*'(?:[^']|'')*')              # 'text', guid'…', datetime'…'
  | (?P<number>[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[LlMmDdFf]?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<other>\S)
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "not",
        "eq",
        "ne",
        "gt",
        "ge",
        "lt",
        "le",
        "add",
        "sub",
        "mul",
        "div",
        "mod",
        "true",
        "false",
        "null",
    }
)


def filter_field_names(text: str) -> list[str]:
    """The field names (and navigation paths) a ``$filter`` text refers to, in order, once each."""
    names: list[str] = []
    for match in _TOKEN.finditer(text):
        name = match.group("name")
        if name is None or name.lower() in _KEYWORDS:
            continue
        rest = text[match.end() :].lstrip()
        if rest.startswith("("):
            continue  # a function: substringof(…), startswith(…), trim(…)
        if name not in names:
            names.append(name)
    return names


def check_filter_text(endpoint: Endpoint, text: str) -> None:
    """``CatalogueError`` naming every unknown field in ``text`` (with the closest names)."""
    endpoint.resolve_fields(filter_field_names(text))
