"""The emulator's own OData v2 ``$filter`` parser and evaluator, and its literal reader.

A recursive-descent parser compiles the expression once into nested closures over a row dict, with
static type checks like WCF Data Services does: an unknown property, a comparison between
incompatible types (``ID eq 'abc'`` on a Guid) or a non-boolean filter is a 400 with a message
naming the problem; anything that does not parse is Exact's "Error in query syntax.".

String comparisons and the string functions ignore case, as Exact's SQL Server collation does
(an assumption: the collation is not documented). Comparisons with a null value are false except
``eq null`` / ``ne null``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exactmate.emulator.catalogue import Field
from exactmate.emulator.serialize import naive_of_wall_ms, parse_datetime_text

SYNTAX_ERROR = "Error in query syntax."
MAX_DEPTH = 100  # nested parentheses, functions and nots: deeper is refused, not a stack overflow

Row = Mapping[str, Any]
Getter = Callable[[Row], Any]

_SYSTEM = {
    "string": "System.String",
    "guid": "System.Guid",
    "int": "System.Int32",
    "double": "System.Double",
    "bool": "System.Boolean",
    "datetime": "System.DateTime",
    "binary": "System.Byte[]",
    "null": "null",
    "complex": "System.Object",
}
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<typed>(?:guid|datetime|datetimeoffset|time|X|binary)'(?:[^']|'')*')
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[LlMmDdFf]?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[(),=])
    """,
    re.VERBOSE,
)
_COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})


class ODataError(Exception):
    """A query that Exact would refuse with 400; the message is Exact's text."""

    def __init__(self, message: str = SYNTAX_ERROR) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Literal:
    kind: str  # string, guid, int, double, bool, datetime, null
    value: Any
    edm: str = ""


@dataclass(frozen=True)
class Token:
    kind: str  # typed, string, number, name, punct, end
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    """Split an OData expression into tokens; raises ODataError on a character that fits none."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise ODataError()
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unquote(body: str) -> str:
    return body.replace("''", "'")


def literal_of_token(token: Token) -> Literal:
    """The value of a literal token (``guid'…'``, ``123L``, ``'it''s'``, ``true``, ``null`` …)."""
    text = token.text
    if token.kind == "string":
        return Literal("string", _unquote(text[1:-1]), "Edm.String")
    if token.kind == "typed":
        prefix, _, rest = text.partition("'")
        body = _unquote(rest[:-1])
        if prefix == "guid":
            if not _GUID_RE.match(body):
                raise ODataError()
            return Literal("guid", body.lower(), "Edm.Guid")
        if prefix in ("datetime", "datetimeoffset"):
            try:
                return Literal("datetime", parse_datetime_text(body), "Edm.DateTime")
            except ValueError:
                raise ODataError() from None
        raise ODataError()
    if token.kind == "number":
        return _number(text)
    if token.kind == "name" and text in ("true", "false"):
        return Literal("bool", text == "true", "Edm.Boolean")
    if token.kind == "name" and text == "null":
        return Literal("null", None)
    raise ODataError()


def _number(text: str) -> Literal:
    suffix = text[-1] if text[-1] in "LlMmDdFf" else ""
    digits = text[:-1] if suffix else text
    if suffix in ("L", "l"):
        if not re.fullmatch(r"-?\d+", digits):
            raise ODataError()
        return Literal("int", int(digits), "Edm.Int64")
    if suffix or any(c in digits for c in ".eE"):
        return Literal("double", float(digits), "Edm.Double")
    return Literal("int", int(digits), "Edm.Int32")


def parse_literal(text: str) -> Literal:
    """One literal, e.g. a key or a function parameter: ``guid'…'``, ``42``, ``'text'``."""
    tokens = tokenize(text)
    if len(tokens) != 2:
        raise ODataError()
    return literal_of_token(tokens[0])


def parse_literal_list(text: str) -> list[tuple[str | None, Literal]]:
    """Comma-separated literals, optionally named: ``'Acme',guid'…'`` or ``Division=1,Year=2024``
    (skiptokens and composite keys).
    """
    tokens = tokenize(text)
    out: list[tuple[str | None, Literal]] = []
    i = 0
    while True:
        name = None
        if tokens[i].kind == "name" and tokens[i + 1].text == "=":
            name, i = tokens[i].text, i + 2
        out.append((name, literal_of_token(tokens[i])))
        i += 1
        if tokens[i].kind == "end":
            return out
        if tokens[i].text != ",":
            raise ODataError()
        i += 1


# ------------------------------------------------------------------------------ compiled filters
@dataclass(frozen=True)
class Expr:
    kind: str
    get: Getter
    const: bool = False
    flag: bool = False  # a property typed Edm.Byte: Exact's yes/no fields (IsSalesItem, IsTime, ...)


@dataclass
class Compiled:
    """A compiled ``$filter``: call ``predicate(row)``; ``fields`` lists the properties it reads."""

    predicate: Callable[[Row], bool]
    fields: set[str] = field(default_factory=set)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _const(value: Any, kind: str) -> Expr:
    return Expr(kind, lambda _row: value, const=True)


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def _compatible(a: str, b: str) -> bool:
    if "null" in (a, b):
        return True
    numeric = {"int", "double"}
    return a == b or (a in numeric and b in numeric)


def _as_flag_number(flag: Expr, other: Expr) -> Expr:
    """``other`` as the number a flag field holds, when it is ``true`` / ``false`` compared with one.

    Exact stores its yes/no fields as ``Edm.Byte`` (0 or 1) yet accepts ``IsSalesItem eq true`` as
    well as ``IsSalesItem eq 1``; plenty of real code filters the first way."""
    if flag.flag and other.const and other.kind == "bool":
        return _const(1 if other.get({}) else 0, "int")
    return other


def _comparison(op: str, left: Expr, right: Expr, pos: int) -> Expr:
    left, right = _as_flag_number(right, left), _as_flag_number(left, right)
    if not _compatible(left.kind, right.kind) or "complex" in (left.kind, right.kind):
        raise ODataError(
            f"Operator '{op}' incompatible with operand types '{_SYSTEM[left.kind]}' and "
            f"'{_SYSTEM[right.kind]}' at position {pos}."
        )
    lget, rget = left.get, right.get
    if "string" in (left.kind, right.kind):
        lget = _wrap_lower(lget)
        rget = _wrap_lower(rget)
    if right.const:
        value = rget({})
        if op == "eq":
            return Expr("bool", lambda r: lget(r) == value)
        if op == "ne":
            return Expr("bool", lambda r: lget(r) != value)
        check = _COMPARE[op]
        return Expr("bool", lambda r: (v := lget(r)) is not None and value is not None and check(v, value))
    if op == "eq":
        return Expr("bool", lambda r: lget(r) == rget(r))
    if op == "ne":
        return Expr("bool", lambda r: lget(r) != rget(r))
    check = _COMPARE[op]

    def compare(row: Row) -> bool:
        a, b = lget(row), rget(row)
        return a is not None and b is not None and check(a, b)

    return Expr("bool", compare)


def _logical(lget: Getter, rget: Getter, *, either: bool) -> Expr:
    if either:
        return Expr("bool", lambda r: bool(lget(r)) or bool(rget(r)))
    return Expr("bool", lambda r: bool(lget(r)) and bool(rget(r)))


def _wrap_lower(get: Getter) -> Getter:
    return lambda row: _lower(get(row))


def _str_args(args: list[Any]) -> list[str] | None:
    return None if any(a is None for a in args) else [str(a).lower() for a in args]


def _fn_substringof(a: Any, b: Any) -> bool | None:
    s = _str_args([a, b])
    return None if s is None else s[0] in s[1]


def _fn_startswith(a: Any, b: Any) -> bool | None:
    s = _str_args([a, b])
    return None if s is None else s[0].startswith(s[1])


def _fn_endswith(a: Any, b: Any) -> bool | None:
    s = _str_args([a, b])
    return None if s is None else s[0].endswith(s[1])


def _fn_indexof(a: Any, b: Any) -> int | None:
    s = _str_args([a, b])
    return None if s is None else s[0].find(s[1])


def _fn_substring(a: Any, start: Any, length: Any = -1) -> str | None:
    if a is None or start is None:
        return None
    return str(a)[start:] if length == -1 else str(a)[start : start + length]


def _date_part(index: int) -> Callable[[Any], int | None]:
    def part(ms: Any) -> int | None:
        return None if ms is None else naive_of_wall_ms(int(ms)).timetuple()[index]

    return part


def _none_safe(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else fn(v)


# name -> (argument kinds, result kind, implementation)
_FUNCTIONS: dict[str, tuple[tuple[str, ...], str, Callable[..., Any]]] = {
    "substringof": (("string", "string"), "bool", _fn_substringof),
    "startswith": (("string", "string"), "bool", _fn_startswith),
    "endswith": (("string", "string"), "bool", _fn_endswith),
    "indexof": (("string", "string"), "int", _fn_indexof),
    "length": (("string",), "int", _none_safe(len)),
    "trim": (("string",), "string", _none_safe(lambda v: str(v).strip())),
    "tolower": (("string",), "string", _none_safe(lambda v: str(v).lower())),
    "toupper": (("string",), "string", _none_safe(lambda v: str(v).upper())),
    "concat": (("string", "string"), "string", lambda a, b: None if a is None or b is None else a + b),
    "substring": (("string", "int", "int"), "string", _fn_substring),
    "year": (("datetime",), "int", _date_part(0)),
    "month": (("datetime",), "int", _date_part(1)),
    "day": (("datetime",), "int", _date_part(2)),
    "hour": (("datetime",), "int", _date_part(3)),
    "minute": (("datetime",), "int", _date_part(4)),
    "second": (("datetime",), "int", _date_part(5)),
}


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, Field], entity_type: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.fields = fields
        self.entity_type = entity_type
        self.used: set[str] = set()
        self.depth = 0

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ODataError("Recursion depth exceeded allowed limit.")

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str) -> None:
        if self.take().text != text:
            raise ODataError()

    def parse(self) -> Expr:
        expr = self.or_expr()
        if self.peek().kind != "end":
            raise ODataError()
        return expr

    def or_expr(self) -> Expr:
        self.deeper()
        left = self.and_expr()
        while self.peek().text == "or" and self.peek().kind == "name":
            pos = self.take().pos
            right = self.and_expr()
            self._need_bool("or", left, right, pos)
            left = _logical(left.get, right.get, either=True)
        self.depth -= 1
        return left

    def and_expr(self) -> Expr:
        left = self.not_expr()
        while self.peek().text == "and" and self.peek().kind == "name":
            pos = self.take().pos
            right = self.not_expr()
            self._need_bool("and", left, right, pos)
            left = _logical(left.get, right.get, either=False)
        return left

    def not_expr(self) -> Expr:
        if self.peek().text == "not" and self.peek().kind == "name":
            pos = self.take().pos
            self.deeper()
            inner = self.not_expr()
            self.depth -= 1
            self._need_bool("not", inner, inner, pos)
            get = inner.get
            return Expr("bool", lambda r: not get(r))
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.primary()
        token = self.peek()
        if token.kind == "name" and token.text in _COMPARISONS:
            self.take()
            right = self.primary()
            return _comparison(token.text, left, right, token.pos)
        return left

    def _need_bool(self, op: str, left: Expr, right: Expr, pos: int) -> None:
        for side in (left, right):
            if side.kind not in ("bool", "null"):
                raise ODataError(
                    f"Operator '{op}' incompatible with operand types '{_SYSTEM[left.kind]}' and "
                    f"'{_SYSTEM[right.kind]}' at position {pos}."
                )

    def primary(self) -> Expr:
        token = self.take()
        if token.kind == "punct" and token.text == "(":
            inner = self.or_expr()
            self.expect(")")
            return inner
        if token.kind == "name" and token.text not in ("true", "false", "null"):
            if self.peek().text == "(":
                return self.function(token)
            return self.member(token)
        if token.kind in ("typed", "string", "number", "name"):
            lit = literal_of_token(token)
            return _const(lit.value, lit.kind)
        raise ODataError()

    def member(self, token: Token) -> Expr:
        spec = self.fields.get(token.text)
        if spec is None:
            raise ODataError(
                f"No property '{token.text}' exists in type '{self.entity_type}' at position {token.pos}."
            )
        self.used.add(token.text)
        name = token.text
        return Expr(spec.kind, lambda r: r.get(name), flag=spec.type == "Edm.Byte")

    def function(self, token: Token) -> Expr:
        self.expect("(")
        args: list[Expr] = []
        if self.peek().text != ")":
            args.append(self.or_expr())
            while self.peek().text == ",":
                self.take()
                args.append(self.or_expr())
        self.expect(")")
        if token.text not in _FUNCTIONS:
            raise ODataError(f"Unknown function '{token.text}' at position {token.pos}.")
        kinds, result, impl = _FUNCTIONS[token.text]
        optional = 1 if token.text == "substring" else 0
        if not (len(kinds) - optional <= len(args) <= len(kinds)) or any(
            not _compatible(want, arg.kind) for want, arg in zip(kinds, args, strict=False)
        ):
            raise ODataError(
                f"No applicable function found for '{token.text}' at position {token.pos} with the "
                f"specified arguments. The functions considered are: {token.text}("
                + ", ".join(_SYSTEM[k] for k in kinds)
                + ")."
            )
        getters = [a.get for a in args]
        return Expr(result, lambda r: impl(*(g(r) for g in getters)))


def compile_filter(text: str, fields: Mapping[str, Field], entity_type: str) -> Compiled:
    """Compile ``$filter`` text against an endpoint's fields; raises ODataError (400) when Exact would."""
    if not text.strip():
        raise ODataError()
    parser = _Parser(text, fields, entity_type)
    expr = parser.parse()
    if expr.kind != "bool":
        raise ODataError(
            f"Expression of type '{_SYSTEM[expr.kind]}' is not valid. Only Boolean expressions can be "
            "used in $filter."
        )
    get = expr.get
    return Compiled(lambda row: bool(get(row)), parser.used)
