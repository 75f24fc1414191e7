"""The ``$filter`` builder: ``F("Name") == "O'Brien"`` and friends, combined with ``&``, ``|``, ``~``."""

from __future__ import annotations

from collections.abc import Iterable

from exactmate.errors import ValidationError
from exactmate.odata._show import shorten
from exactmate.odata.literals import NAME, literal


class Filter:
    """A ``$filter`` expression. Combine with ``&`` (and), ``|`` (or) and ``~`` (not).

    ``Filter("…")`` built directly holds the caller's own, trusted OData text; it is parenthesised
    whenever it is combined, since its precedence is unknown. Python's ``and``/``or``/``not`` cannot be
    overloaded and would silently drop a side, so using a ``Filter`` as a truth value raises.
    """

    __slots__ = ("_op", "fields", "text")

    def __init__(self, text: str, *, _op: str = "raw", _fields: frozenset[str] = frozenset()) -> None:
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("An empty $filter expression", hint="leave the filter out instead")
        self.text = text
        self._op = _op  # "raw", "cmp" (comparison or function call), "and", "or", "not"
        # The field names the builder put in (raw text is the caller's own and is not parsed), so a
        # resource can check them against the catalogue before a typo costs a call.
        self.fields = _fields

    def __and__(self, other: Filter | str) -> Filter:
        return _combine("and", self, other)

    def __rand__(self, other: str) -> Filter:
        return _combine("and", other, self)

    def __or__(self, other: Filter | str) -> Filter:
        return _combine("or", self, other)

    def __ror__(self, other: str) -> Filter:
        return _combine("or", other, self)

    def __invert__(self) -> Filter:
        # "not" binds tighter than "eq" in OData, so the operand is always parenthesised.
        return Filter(f"not ({self.text})", _op="not", _fields=self.fields)

    def __bool__(self) -> bool:
        raise TypeError("A Filter has no truth value: combine filters with & and |, test with `is None`")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Filter({self.text!r})"


def _combine(op: str, left: Filter | str, right: Filter | str) -> Filter:
    parts = []
    fields: frozenset[str] = frozenset()
    for side in (left, right):
        side = side if isinstance(side, Filter) else Filter(side)
        needs_parens = side._op == "raw" or (op == "and" and side._op == "or")
        parts.append(f"({side.text})" if needs_parens else side.text)
        fields |= side.fields
    return Filter(f" {op} ".join(parts), _op=op, _fields=fields)


class F:
    """A field in a filter: ``F("Name") == "O'Brien"`` gives ``Filter("Name eq 'O''Brien'")``.

    ``edm_type`` (from the catalogue) makes values be checked and written for that type, which is how
    a GUID given as text becomes ``guid'…'``. Without it a value is written by its Python type.
    """

    __slots__ = ("_expr", "_name", "_type")

    def __init__(self, name: str, edm_type: str | None = None) -> None:
        if not isinstance(name, str) or not NAME.match(name):
            raise ValidationError(
                f"{shorten(name)} is not a field name",
                hint="use letters, digits and _ (and / between navigation steps), e.g. 'Account/Name'",
            )
        self._expr = name
        self._name = name
        self._type = edm_type

    def _wrap(self, expr: str, edm_type: str | None) -> F:
        made = F.__new__(F)
        made._expr, made._name, made._type = expr, self._name, edm_type
        return made

    def _filter(self, text: str) -> Filter:
        return Filter(text, _op="cmp", _fields=frozenset({self._name}))

    def _compare(self, op: str, value: object) -> Filter:
        if value is None and op not in ("eq", "ne"):
            raise ValidationError(f"Cannot compare {self._expr} with None using {op}", hint="use == or !=")
        return self._filter(f"{self._expr} {op} {literal(value, self._type)}")

    def __eq__(self, value: object) -> Filter:  # type: ignore[override]
        return self._compare("eq", value)

    def __ne__(self, value: object) -> Filter:  # type: ignore[override]
        return self._compare("ne", value)

    def __gt__(self, value: object) -> Filter:
        return self._compare("gt", value)

    def __ge__(self, value: object) -> Filter:
        return self._compare("ge", value)

    def __lt__(self, value: object) -> Filter:
        return self._compare("lt", value)

    def __le__(self, value: object) -> Filter:
        return self._compare("le", value)

    __hash__ = None  # type: ignore[assignment]

    def startswith(self, text: str) -> Filter:
        return self._filter(f"startswith({self._expr},{literal(text, 'Edm.String')}) eq true")

    def endswith(self, text: str) -> Filter:
        return self._filter(f"endswith({self._expr},{literal(text, 'Edm.String')}) eq true")

    def contains(self, text: str) -> Filter:
        """``substringof('text',Field) eq true``: OData v2 has no ``contains``."""
        return self._filter(f"substringof({literal(text, 'Edm.String')},{self._expr}) eq true")

    def in_(self, values: Iterable[object]) -> Filter:
        """``Field eq a or Field eq b …`` (OData v2 has no ``in``)."""
        clauses = [self == value for value in values]
        if not clauses:
            raise ValidationError(f"No values given to match {self._expr} against")
        combined = clauses[0]
        for clause in clauses[1:]:
            combined = combined | clause
        return combined

    def trim(self) -> F:
        """``trim(Field)``: e.g. Account ``Code`` is left-padded with spaces to 18 characters."""
        return self._wrap(f"trim({self._expr})", "Edm.String")

    def lower(self) -> F:
        return self._wrap(f"tolower({self._expr})", "Edm.String")

    def upper(self) -> F:
        return self._wrap(f"toupper({self._expr})", "Edm.String")

    def __repr__(self) -> str:
        return f"F({self._expr!r})"
