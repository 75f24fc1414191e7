"""A manual run's trigger, built from the inputs a person gives: the one check of those inputs
against what the flow declares, for the command line (``--input`` / ``--input-file``) and the web
UI's Run now form alike.

A value input becomes ``trigger.inputs.NAME`` (a number input is parsed as a number); a file input
is the rows of the file, as ``trigger.inputs.NAME``, and the rows of the first file input are also
``trigger.rows``. Every problem is listed at once, and nothing runs until there are none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from exactmate.errors import ValidationError
from exactmate.flows.definition import Flow


@dataclass(frozen=True)
class Given:
    """One input as given: a value (``text``), or a file's rows (``rows``)."""

    name: str
    text: str | None = None
    rows: list[dict[str, Any]] | None = None

    @property
    def is_file(self) -> bool:
        return self.rows is not None


Spell = Callable[[str, str], str]
"""How the caller's user gives an input: (name, type) -> e.g. ``--input-file rows=…``."""


def manual_trigger(flow: Flow, given: Sequence[Given], spell: Spell) -> dict[str, Any]:
    """The trigger of a manual run of ``flow`` with ``given``; a ValidationError lists every problem."""
    declared = flow.trigger.inputs
    inputs: dict[str, Any] = {}
    rows: list[dict[str, Any]] | None = None
    problems: list[str] = []
    for item in given:
        kind = str(declared.get(item.name, {}).get("type", "string"))
        if declared and item.name not in declared:
            problems.append(
                f"input {item.name!r} is not one the flow declares ({', '.join(declared) or 'none'})"
            )
            continue
        if item.is_file != (kind == "file"):
            problems.append(f"input {item.name!r} is a {kind}: give it with {spell(item.name, kind)}")
            continue
        if item.rows is not None:
            inputs[item.name] = item.rows
            rows = item.rows if rows is None else rows
        elif kind == "number":
            try:
                text = str(item.text).strip()
                inputs[item.name] = float(text) if "." in text else int(text)
            except ValueError:
                problems.append(f"input {item.name!r} is a number, not {item.text!r}")
        else:
            inputs[item.name] = item.text
    for name, spec in declared.items():
        if name not in inputs and spec.get("required", True) and not _refused(name, given):
            problems.append(f"input {name!r} is missing: {spell(name, str(spec.get('type', 'string')))}")
    if problems:
        raise ValidationError(f"Cannot run flow {flow.name}; nothing was sent", problems=problems)
    trigger: dict[str, Any] = {"kind": "manual", "inputs": inputs}
    if rows is not None:
        trigger["rows"] = rows
    return trigger


def _refused(name: str, given: Sequence[Given]) -> bool:
    """Whether ``name`` was given but refused above (already a problem: not also "missing")."""
    return any(item.name == name for item in given)
