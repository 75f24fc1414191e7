"""The action form's fields, read from the posted form into one checked value.

Field values arrive as ``field:<Name>`` entries (only those with a value are sent, so an empty input
means "leave this field alone"), the fields to return as repeated ``select`` entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.datastructures import FormData

from exactmate.errors import ValidationError
from exactmate.web.datamanager import ActionName, parse_action

FIELD_PREFIX = "field:"
MAX_TOP = 10_000


@dataclass(frozen=True)
class ActionForm:
    """One submitted action form."""

    action: ActionName
    credential: str = ""
    division: str = "current"
    endpoint: str = ""
    key: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    select: tuple[str, ...] = ()
    filter: str = ""
    top: int | None = None
    everything: bool = False
    dry_run: bool = False
    confirmed: bool = False


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def parse_action_form(form: FormData) -> ActionForm:
    """The form as an :class:`ActionForm`; ``ValidationError`` naming every malformed part."""
    problems: list[str] = []
    try:
        action = parse_action(_text(form, "action"))
    except ValueError as exc:
        raise ValidationError("Choose one of the four actions", problems=[str(exc)]) from None
    values: dict[str, str] = {}
    for name, value in form.multi_items():
        if name.startswith(FIELD_PREFIX) and isinstance(value, str) and value.strip():
            values[name.removeprefix(FIELD_PREFIX)] = value.strip()
    top = _top(_text(form, "top"), problems)
    if problems:
        raise ValidationError("The form has problems; nothing was sent", problems=problems)
    return ActionForm(
        action=action,
        credential=_text(form, "credential"),
        division=_text(form, "division") or "current",
        endpoint=_text(form, "endpoint"),
        key=_text(form, "key"),
        values=values,
        select=tuple(v.strip() for v in form.getlist("select") if isinstance(v, str) and v.strip()),
        filter=_text(form, "filter"),
        top=top,
        everything=_text(form, "all") in ("1", "on", "true"),
        dry_run=_text(form, "mode") == "dry_run",
        confirmed=_text(form, "confirm") == "yes",
    )


def _top(text: str, problems: list[str]) -> int | None:
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_TOP:
        problems.append(f"Limit must be a whole number from 1 to {MAX_TOP}, got {text!r}")
        return None
    return int(text)
