"""The Edm types Exact's records use, and what each one holds: the one home of these facts.

Every layer that checks a value against a field (the record check before a write, key formatting,
the Data Manager's inputs, the ``$filter`` check, literals) asks here, so a type added or a range
corrected is corrected everywhere. The emulator keeps its own copy on purpose (it is an island);
``tests/meta/test_edm_parity.py`` proves the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

INT_RANGES: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "Edm.Byte": (0, 255),
        "Edm.SByte": (-128, 127),
        "Edm.Int16": (-(2**15), 2**15 - 1),
        "Edm.Int32": (-(2**31), 2**31 - 1),
        "Edm.Int64": (-(2**63), 2**63 - 1),
    }
)
"""The whole-number types and the values each can hold."""

INTEGER_TYPES = frozenset(INT_RANGES)
NUMBER_TYPES = frozenset({"Edm.Double", "Edm.Decimal", "Edm.Single"})
"""The fractional number types."""

FLAG_TYPE = "Edm.Byte"
"""How Exact types its yes/no fields (``IsSalesItem``, ``IsTime``…): 0 or 1, and ``eq true`` is
accepted for them as well as ``eq 1``."""

OperandKind = Literal["string", "guid", "int", "double", "bool", "datetime", "binary", "complex"]

_KINDS: Mapping[str, OperandKind] = MappingProxyType(
    {
        **{name: "int" for name in INT_RANGES},
        **{name: "double" for name in NUMBER_TYPES},
        "Edm.String": "string",
        "Edm.Guid": "guid",
        "Edm.Boolean": "bool",
        "Edm.DateTime": "datetime",
        "Edm.DateTimeOffset": "datetime",
        "Edm.Binary": "binary",
    }
)


def operand_kind(edm_type: str) -> OperandKind:
    """What a field of ``edm_type`` is as an operand in a ``$filter``: ``complex`` for collections,
    navigation targets and types Exact's filters cannot compare."""
    return _KINDS.get(edm_type, "complex")


def accepts(edm_type: str, literal_kind: str) -> bool:
    """Whether Exact compares a field of ``edm_type`` with a literal of ``literal_kind`` (``null``,
    or one of the operand kinds), as its OData service does: numbers with numbers, each other kind
    with itself, any single value with ``null``, and the flag fields with ``true``/``false`` too."""
    field = operand_kind(edm_type)
    if field == "complex":
        return False  # a collection or a navigation target is compared with nothing, not even null
    if literal_kind == "null":
        return True
    if field in ("int", "double") and literal_kind in ("int", "double"):
        return True
    if edm_type == FLAG_TYPE and literal_kind == "bool":
        return True
    return field == literal_kind


def key_kind(edm_type: str | None) -> Literal["guid", "int", "string"]:
    """How a key field of ``edm_type`` is written in a URL: ``(guid'…')``, ``(123)`` or ``('…')``."""
    if edm_type == "Edm.Guid":
        return "guid"
    if edm_type in INTEGER_TYPES:
        return "int"
    return "string"
