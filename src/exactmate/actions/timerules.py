"""The rules of Exact's project time transactions that the catalogue cannot express.

- A new entry needs one of Account, Project or Subscription besides the mandatory Item and Quantity.
- ``HourStatus`` may only be *written* as 1 (Draft), 2 (Rejected) or 10 (Submitted); the other values
  are states Exact's own approval process sets.
- A final entry (``HourStatus`` 20: approved and processed) cannot be changed or deleted through
  ``project/TimeTransactions``: Exact corrects those with ``project/TimeCorrections``. exactmate refuses
  such a write before it is sent, so it never costs a failed call (or a place in the error budget).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from exactmate.actions.fields import AllowedValues, FieldRule, OneOfRequired
from exactmate.errors import ValidationError

TIME_TRANSACTIONS = "project/TimeTransactions"

HOUR_STATUS_LABELS: Mapping[int, str] = {
    1: "Draft",
    2: "Rejected",
    10: "Submitted",
    11: "Failed on approval",
    14: "Processing",
    16: "Processing",
    19: "Failed while undoing approval",
    20: "Final",
}
WRITABLE_HOUR_STATUSES: tuple[int, ...] = (1, 2, 10)
FINAL_HOUR_STATUS = 20

CREATE_RULES: tuple[FieldRule, ...] = (
    OneOfRequired(("Account", "Project", "Subscription")),
    AllowedValues(
        "HourStatus",
        WRITABLE_HOUR_STATUSES,
        tuple(HOUR_STATUS_LABELS[v] for v in WRITABLE_HOUR_STATUSES),
    ),
)
UPDATE_RULES: tuple[FieldRule, ...] = CREATE_RULES[1:]

# The fields a lost create is looked up by (see exactmate.actions.journal). "Project or Account" is
# one slot: the entry's Project when it has one, else its Account, else its Subscription.
DEFAULT_MATCH_FIELDS: tuple[str, ...] = ("Employee", "Date", "Item", "Quantity", "Project", "Notes")
_PARTY_FIELDS = ("Project", "Account", "Subscription")


def hour_status_label(value: object) -> str:
    """``20 (Final)``: a status with its meaning, for messages."""
    label = HOUR_STATUS_LABELS.get(value) if isinstance(value, int) else None
    return f"{value} ({label})" if label else str(value)


def refuse_final(record: Mapping[str, Any], *, action: str, key: object) -> None:
    """Raise when ``record`` (as read from Exact) is a final time entry that ``action`` would change."""
    status = record.get("HourStatus")
    if status == FINAL_HOUR_STATUS:
        raise ValidationError(
            f"Time transaction {key} is final (HourStatus {hour_status_label(status)}): Exact does not "
            f"allow it to be {action} through {TIME_TRANSACTIONS}; nothing was sent",
            hint="correct a final entry with project/TimeCorrections (a negative entry for the original)",
        )


def match_fields(chosen: tuple[str, ...], record: Mapping[str, Any]) -> tuple[str, ...]:
    """The match fields that apply to one entry: the chosen ones it actually sets, with the
    "Project or Account" slot resolved to the party field the entry carries."""
    names: list[str] = []
    for name in chosen:
        if name in _PARTY_FIELDS and name == "Project" and record.get("Project") in (None, ""):
            party = next((p for p in _PARTY_FIELDS if record.get(p) not in (None, "")), None)
            if party is not None and party not in names and party not in chosen:
                names.append(party)
            continue
        if record.get(name) not in (None, "") and name not in names:
            names.append(name)
    return tuple(names)
