"""The field names in a ``$filter`` typed as OData text, checked against the catalogue before any call.

A filter given as text (``--filter "Cdoe eq 'A1'"``) is the user's own OData and is sent as written,
but a misspelt field in it would cost a 400 from Exact and a place in the hourly error budget. So
its names are read out (skipping string literals, typed literals such as ``guid'…'``, numbers,
operators and function names) and checked like ``$select`` fields, with suggestions. Its shape is
checked too, for the mistakes Exact would only answer with "Error in query syntax": parentheses
that do not pair up, a text literal left open, ``=`` for ``eq``, and an operator with nothing after it.

Each comparison of a field with a literal (``Date ge '2026-11-20'``) is checked against the field's
Edm type by the rule Exact's OData service applies (``odata.edm.accepts``: numbers with numbers,
flag fields typed ``Edm.Byte`` with ``true`` as well as ``1``), and the problem names the literal to
write instead. A bare word where a value belongs (``City eq Haarlem``) is a value missing its quotes,
not an unknown field.
"""

from __future__ import annotations

import re

from exactmate.catalogue import Endpoint, Field
from exactmate.errors import CatalogueError, ValidationError
from exactmate.odata.edm import FLAG_TYPE, accepts, operand_kind

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
    check_filter_operands(endpoint, text)
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


_COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_ARITHMETIC = frozenset({"add", "sub", "mul", "div", "mod"})
_PREFIX_KINDS = {"": "string", "guid": "guid", "datetime": "datetime", "datetimeoffset": "datetime"}
_KIND_WORDS = {
    "string": "text",
    "guid": "a GUID",
    "int": "a whole number",
    "double": "a number",
    "bool": "true or false",
    "datetime": "a date",
    "binary": "binary data",
    "complex": "no single value",
    "null": "null",
}


def check_filter_operands(endpoint: Endpoint, text: str) -> None:
    """``ValidationError`` listing every field compared with a literal of a type Exact refuses for
    it, and every bare word standing where a value belongs."""
    if not endpoint.fields:
        return
    tokens = list(_TOKEN.finditer(text))
    problems: list[str] = []
    for i, token in enumerate(tokens):
        if token.group(0) not in _COMPARISONS or i == 0 or i + 1 == len(tokens):
            continue
        if _in_arithmetic(tokens, i):
            continue
        left, right = tokens[i - 1], tokens[i + 1]
        compared = f"{left.group(0)} {token.group(0)} {right.group(0)}"
        for field_token, value_token in ((left, right), (right, left)):
            field = _field_of(endpoint, field_token)
            if field is None:
                continue
            problem = _operand_problem(endpoint, field, value_token, compared)
            if problem is not None:
                problems.append(problem)
            break
    if problems:
        raise ValidationError(
            "The $filter compares fields with values of another type; nothing was sent",
            problems=problems,
            hint="text goes in quotes ('Acme'), dates as datetime'2026-11-20', GUIDs as guid'…'",
        )


def _in_arithmetic(tokens: list[re.Match[str]], i: int) -> bool:
    """Whether an operand of the comparison at ``i`` is a sum or a function, not a single token."""
    before = tokens[i - 2].group(0) if i >= 2 else ""
    after = tokens[i + 2].group(0) if i + 2 < len(tokens) else ""
    return before in _ARITHMETIC or after in _ARITHMETIC or after == "("


def _field_of(endpoint: Endpoint, token: re.Match[str]) -> Field | None:
    name = token.group("name")
    if name is None or "/" in name or name.lower() in _KEYWORDS:
        return None
    try:
        return endpoint.field(name)
    except CatalogueError:
        return None


def _literal_kind(token: re.Match[str]) -> str | None:
    """The literal's operand kind, ``null``, or None when it is no literal this check understands."""
    if (quoted := token.group("string")) is not None:
        return _PREFIX_KINDS.get(quoted.partition("'")[0].lower())
    if (number := token.group("number")) is not None:
        if number[-1] in "Ll" or number.lstrip("+-").isdigit():
            return "int"
        return "double"
    word = token.group(0)
    if word in ("true", "false"):
        return "bool"
    return "null" if word == "null" else None


def _operand_problem(endpoint: Endpoint, field: Field, value: re.Match[str], compared: str) -> str | None:
    word = value.group("name")
    if word is not None and word.lower() not in _KEYWORDS:
        if _field_of(endpoint, value) is not None:
            return None  # two fields compared: Exact checks those itself
        return (
            f"{compared}: {word!r} is no field of {endpoint.path}; a value needs quotes: "
            f"{compared.replace(word, _quoted(word))}"
        )
    kind = _literal_kind(value)
    if kind is None or accepts(field.type, kind):
        return None
    wanted = operand_kind(field.type)
    written = _rewritten(field, value, wanted)
    text = f"{compared}: {field.name} is {field.type} ({_KIND_WORDS[wanted]}), not {_KIND_WORDS[kind]}"
    return text + (f"; write {compared.replace(value.group(0), written)}" if written else "")


def _rewritten(field: Field, value: re.Match[str], wanted: str) -> str | None:
    """The literal written as the field's type wants it, where the intent is plain."""
    token = value.group(0)
    inner = token.partition("'")[2][:-1] if value.group("string") is not None else token
    if wanted == "datetime" and re.fullmatch(r"\d{4}-\d{2}-\d{2}(T[\d:.]+)?", inner):
        return f"datetime'{inner}'"
    if wanted == "guid" and re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", inner):
        return f"guid'{inner}'"
    if wanted in ("int", "double") and re.fullmatch(r"[+-]?\d+(\.\d+)?", inner):
        return inner
    if wanted == "string" and value.group("number") is not None:
        return _quoted(token)
    if wanted == "bool" and token in ("0", "1"):
        return "true" if token == "1" else "false"
    if field.type == FLAG_TYPE and inner.lower() in ("true", "false"):
        return inner.lower()
    return None


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
