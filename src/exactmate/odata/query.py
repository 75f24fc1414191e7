"""Query options (``$select``, ``$filter``, ``$top``, ...) validated from Python values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from exactmate.errors import ValidationError
from exactmate.odata._show import shorten
from exactmate.odata.filters import F, Filter
from exactmate.odata.literals import NAME


@dataclass(frozen=True)
class Query:
    """Validated OData query options; ``params()`` gives them in a stable order."""

    select: tuple[str, ...] = ()
    filter: str | None = None
    top: int | None = None
    order_by: tuple[str, ...] = ()
    expand: tuple[str, ...] = ()
    skip: int | None = None
    inline_count: bool = False

    def params(self) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        if self.select:
            params.append(("$select", ",".join(self.select)))
        if self.filter is not None:
            params.append(("$filter", self.filter))
        if self.expand:
            params.append(("$expand", ",".join(self.expand)))
        if self.order_by:
            params.append(("$orderby", ",".join(self.order_by)))
        if self.top is not None:
            params.append(("$top", str(self.top)))
        if self.skip is not None:
            params.append(("$skip", str(self.skip)))
        if self.inline_count:
            params.append(("$inlinecount", "allpages"))
        return params


FilterInput = Filter | str | Mapping[str, object] | None


def build_query(
    *,
    select: Iterable[str] | str | None = None,
    filter: FilterInput = None,
    top: int | None = None,
    order_by: Iterable[str] | str | None = None,
    expand: Iterable[str] | str | None = None,
    skip: int | None = None,
    inline_count: bool = False,
    field_types: Mapping[str, str] | None = None,
) -> Query:
    """A ``Query`` from Python values, every problem reported at once as one ``ValidationError``.

    ``filter`` is a ``Filter``, a raw OData string (trusted: the caller's own), or a mapping
    ``{"Field": value}`` turned into ``eq`` clauses joined by ``and`` (a list/tuple/set value matches
    any of its items). ``field_types`` (name -> Edm type, any case, e.g. from the catalogue) types those
    values, which is how a GUID given as text becomes ``guid'…'``.
    """
    problems: list[str] = []
    query = Query(
        select=_names(select, "$select", problems),
        filter=_filter_text(filter, {k.lower(): v for k, v in (field_types or {}).items()}, problems),
        top=_count(top, "$top", problems),
        order_by=_order_by(order_by, problems),
        expand=_names(expand, "$expand", problems),
        skip=_count(skip, "$skip", problems),
        inline_count=inline_count,
    )
    if problems:
        raise ValidationError("Invalid query options", problems=problems)
    return query


def _split(value: Iterable[str] | str | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() if isinstance(item, str) else item for item in items]


def _names(value: Iterable[str] | str | None, option: str, problems: list[str]) -> tuple[str, ...]:
    names: list[str] = []
    for name in _split(value):
        if not isinstance(name, str) or not NAME.match(name):
            hint = " (list the fields you need)" if name == "*" else ""
            problems.append(f"{option}: {shorten(name)} is not a field name{hint}")
        elif name not in names:
            names.append(name)
    return tuple(names)


def _order_by(value: Iterable[str] | str | None, problems: list[str]) -> tuple[str, ...]:
    clauses: list[str] = []
    for clause in _split(value):
        parts = clause.split() if isinstance(clause, str) else []
        if not 1 <= len(parts) <= 2 or not NAME.match(parts[0]) or parts[1:] not in ([], ["asc"], ["desc"]):
            problems.append(f"$orderby: {shorten(clause)} is not 'Field', 'Field asc' or 'Field desc'")
        else:
            clauses.append(" ".join(parts))
    return tuple(clauses)


def _count(value: int | None, option: str, problems: list[str]) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        problems.append(f"{option}: expected a whole number of at least 0, got {shorten(value)}")
        return None
    return value


def _filter_text(value: FilterInput, types: Mapping[str, str], problems: list[str]) -> str | None:
    if value is None or isinstance(value, Filter):
        return None if value is None else value.text
    if isinstance(value, str):
        return value.strip() or None
    clauses: list[Filter] = []
    for name, wanted in value.items():
        try:
            field = F(name, types.get(name.lower()) if isinstance(name, str) else None)
            many = isinstance(wanted, list | tuple | set | frozenset)
            clauses.append(field.in_(wanted) if many else field == wanted)  # type: ignore[arg-type]
        except ValidationError as exc:
            problems.append(f"$filter: {name}: {exc}")
    if not clauses:
        return None
    combined = clauses[0]
    for clause in clauses[1:]:
        combined = combined & clause
    return combined.text
