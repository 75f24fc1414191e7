"""The field names in a ``$filter`` typed as OData text, checked against the catalogue before any call.

A filter given as text (``--filter "Cdoe eq 'A1'"``) is the user's own OData and is sent as written,
but a misspelt field in it would cost a 400 from Exact and a place in the hourly error budget. So
its names are read out (skipping string literals, typed literals such as ``guid'…'``, numbers,
operators and function names) and checked like ``$select`` fields, with suggestions. Its shape is
checked too, for the mistakes Exact would only answer with "Error in query syntax": parentheses
that do not pair up, a text literal left open, ``=`` for ``eq``, and an operator with nothing after it.
"""

from __future__ import annotations

import re

from exactmate.catalogue import Endpoint
from exactmate.errors import ValidationError

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
    """``ValidationError`` for a filter Exact could not parse, ``CatalogueError`` naming every unknown
    field in ``text`` (with the closest names)."""
    check_filter_shape(text)
    endpoint.resolve_fields(filter_field_names(text))


_OPERATORS = _KEYWORDS - {"true", "false", "null"}


def check_filter_shape(text: str) -> None:
    """The syntax mistakes that are certain without parsing the whole of OData."""
    problems: list[str] = []
    depth = 0
    last = ""
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
            if depth < 0:
                problems.append(f"a ')' at position {match.start()} closes no '('")
                depth = 0
        elif token == "'":
            where = match.start()
            problems.append(f"the text literal opened at position {where} is not closed: end it with '")
            last = token
            break
        elif token in ("=", "!"):
            problems.append(f"'{token}' at position {match.start()} is no OData operator: use eq (or ne)")
        last = token
    if depth > 0:
        problems.append(f"{depth} '(' not closed: add ')'")
    if last.lower() in _OPERATORS:
        problems.append(f"the filter ends with '{last}': give what it compares with, e.g. Code eq 'A1'")
    if problems:
        message = "The $filter cannot be understood; nothing was sent"
        raise ValidationError(message, problems=problems, hint="e.g. Name eq 'Acme'")
