"""Writes: body parsing, field validation from the catalogue, and Exact's business rules.

Validation runs in Exact's two phases. Reading the request stream (broken JSON, an unknown property,
a value of the wrong type) stops at the first problem, as WCF's deserializer does. Business
validation (mandatory fields, the project time transaction rules) collects every message and joins
them with CRLF, as Exact does. Read-only fields are dropped silently, on POST and on PUT.

Project time transactions (api-facts section 7): Item (an hour type: a logistics/Items item with
IsTime = 1, in the same division) and Quantity are required, plus one of Account, Project or
Subscription; referenced records must exist in the division; HourStatus may be written only as 1, 2
or 10 (default 1); entries with status 20 (final) can be neither changed nor deleted (an assumption
the sources support indirectly: Exact offers project/TimeCorrections to correct final entries).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from exactmate.emulator.catalogue import Catalogue, Endpoint, Field
from exactmate.emulator.config import DEMO_FULL_NAME
from exactmate.emulator.serialize import parse_datetime_text
from exactmate.emulator.store import TIMESTAMP, DataStore, Row, Table

REQUEST_STREAM = "Error processing request stream. The request should be a valid top-level resource object."
FINAL_ENTRY = (
    "This time transaction has status 20 (final) and can no longer be changed or deleted; "
    "correct it with project/TimeCorrections."
)
_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INT_RANGES = {
    "Edm.Byte": (0, 255),
    "Edm.SByte": (-128, 127),
    "Edm.Int16": (-(2**15), 2**15 - 1),
    "Edm.Int32": (-(2**31), 2**31 - 1),
    "Edm.Int64": (-(2**63), 2**63 - 1),
}
# sync/Deleted EntityType of the tables whose deletions it records (api-facts 4.4)
DELETED_ENTITY_TYPES = {
    "crm/accounts": 2,
    "logistics/items": 9,
    "project/timetransactions": 14,
    "project/costtransactions": 14,
    "project/projects": 21,
    "payroll/employees": 42,
}
WRITABLE_HOUR_STATUSES = (1, 2, 10)
FINAL_HOUR_STATUS = 20


class WriteError(Exception):
    """A refused write: the status and Exact's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class WriteContext:
    """Who writes where, and when."""

    store: DataStore
    catalogue: Catalogue
    division: int
    division_description: str
    user_id: str
    client_id: str
    now_ms: int  # stored wall-clock milliseconds
    today_ms: int
    demo_employee: str | None  # the payroll/Employees ID linked to the user in this division

    def table(self, name: str) -> Table:
        endpoint = self.catalogue.lookup(name)
        key = endpoint.key if endpoint and endpoint.key else "ID"
        return self.store.table(self.division, name, key)


# ---------------------------------------------------------------------------------- reading
def parse_body(body: bytes) -> dict[str, Any]:
    """The JSON object of a POST/PUT body; anything else is Exact's request-stream error."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WriteError(400, REQUEST_STREAM) from None
    if not isinstance(value, dict):
        raise WriteError(400, REQUEST_STREAM)
    return value


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON: Python's reader accepts them, Exact's does not."""
    raise ValueError(name)


def _system_type(spec: Field) -> str:
    return "System." + spec.type.removeprefix("Edm.") if spec.type.startswith("Edm.") else spec.type


def _conversion_error(spec: Field, value: Any, expected: str) -> WriteError:
    return WriteError(
        400,
        "Error processing request stream. Error encountered in converting the value from request payload "
        f"for property '{spec.name}' to type '{_system_type(spec)}', which is the property's type. "
        f"Expected {expected}, got {json.dumps(value)[:80]}.",
    )


def _convert_int(spec: Field, value: Any) -> int:
    if spec.type == "Edm.Int64" and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        value = int(value)  # OData v2 JSON may write Int64 as a string
    low, high = _INT_RANGES.get(spec.type, _INT_RANGES["Edm.Int64"])
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _conversion_error(spec, value, f"a whole number from {low} to {high}")
    return value


def convert(spec: Field, value: Any) -> Any:
    """A body value as stored for a field of this type; raises WriteError (400) if it is not one."""
    if value is None:
        return None
    kind = spec.kind
    if kind == "int":
        return _convert_int(spec, value)
    if kind == "double":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _conversion_error(spec, value, "a finite number")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise _conversion_error(spec, value, "true or false")
        return value
    if not isinstance(value, str) and kind != "complex":
        raise _conversion_error(spec, value, "a string")
    if kind == "guid":
        if not _GUID_RE.match(value):
            raise _conversion_error(spec, value, "a GUID such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301")
        return value.lower()
    if kind == "datetime":
        try:
            return parse_datetime_text(value)
        except ValueError:
            raise _conversion_error(
                spec, value, "a date such as 2024-05-01T09:00:00 or /Date(1714554000000)/"
            ) from None
    if kind == "binary":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _conversion_error(spec, value, "base64 data") from None
        return value
    if kind == "complex":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise _conversion_error(spec, value, "a list of objects")
        return value
    return value


def read_fields(endpoint: Endpoint, body: Mapping[str, Any], *, update: bool) -> Row:
    """The writable values of a body: unknown properties refused, read-only ones dropped, and on
    PUT the key and insert-only fields dropped too.
    """
    values: Row = {}
    for name, value in body.items():
        if name == "__metadata":
            continue
        spec = endpoint.fields.get(name)
        if spec is None:
            raise WriteError(
                400,
                f"The property '{name}' does not exist on type '{endpoint.entity_type}'. "
                "Make sure to only use property names that are defined by the type.",
            )
        if spec.readonly or (update and (spec.key or spec.insert_only)):
            continue
        values[name] = convert(spec, value)
    return values


def missing_mandatory(endpoint: Endpoint, row: Mapping[str, Any]) -> list[str]:
    """``Mandatory: Field`` for each required field without a value."""
    return [
        f"Mandatory: {name}"
        for name, spec in endpoint.fields.items()
        if spec.mandatory and not spec.readonly and row.get(name) in (None, "", [])
    ]


# ------------------------------------------------------------------------ time transactions
def _reference(ctx: WriteContext, table: str, key: Any, label: str, errors: list[str]) -> Row | None:
    if key is None:
        return None
    row = ctx.table(table).get(key)
    if row is None:
        errors.append(f"{label} {key} does not exist in division {ctx.division}.")
    return row


def _check_time(ctx: WriteContext, row: Row, errors: list[str]) -> dict[str, Row | None]:
    refs = {
        "Item": _reference(ctx, "logistics/items", row.get("Item"), "Item", errors),
        "Account": _reference(ctx, "crm/accounts", row.get("Account"), "Account", errors),
        "Project": _reference(ctx, "project/projects", row.get("Project"), "Project", errors),
        "Subscription": _reference(
            ctx, "subscription/subscriptions", row.get("Subscription"), "Subscription", errors
        ),
        "Employee": _reference(ctx, "payroll/employees", row.get("Employee"), "Employee", errors),
    }
    item = refs["Item"]
    if item is not None and item.get("IsTime") != 1:
        errors.append(
            f"Item {item.get('Code') or row['Item']} is not an hour type: use an item with IsTime = 1 "
            "(see read/project/HourTypes)."
        )
    if not any(row.get(name) for name in ("Account", "Project", "Subscription")):
        errors.append("Mandatory: Account, Project or Subscription")
    return refs


def _derive_time(ctx: WriteContext, row: Row, refs: Mapping[str, Row | None]) -> None:
    item, project, account = refs["Item"], refs["Project"], refs["Account"]
    if project is not None and row.get("Account") is None and project.get("Account"):
        row["Account"] = project["Account"]
        account = ctx.table("crm/accounts").get(project["Account"])
    row["AccountName"] = account.get("Name") if account else None
    row["ProjectCode"] = project.get("Code") if project else None
    row["ProjectDescription"] = project.get("Description") if project else None
    row["ProjectAccount"] = project.get("Account") if project else None
    row["ProjectAccountCode"] = project.get("AccountCode") if project else None
    row["ProjectAccountName"] = project.get("AccountName") if project else None
    subscription = refs["Subscription"]
    row["SubscriptionDescription"] = subscription.get("Description") if subscription else None
    row["SubscriptionNumber"] = subscription.get("Number") if subscription else None
    row["ItemDescription"] = item.get("Description") if item else None
    row["ItemDivisable"] = item.get("IsFractionAllowedItem") if item else None
    price = float(item.get("StandardSalesPrice") or 0.0) if item else 0.0
    row["PriceFC"] = price
    row["AmountFC"] = float(row.get("Quantity") or 0.0) * price
    row["Currency"] = row.get("Currency") or "EUR"
    row["Type"] = 1
    row["DivisionDescription"] = ctx.division_description


def _hour_status(values: Mapping[str, Any], errors: list[str]) -> None:
    if "HourStatus" in values and values["HourStatus"] not in WRITABLE_HOUR_STATUSES:
        errors.append(
            f"HourStatus {values['HourStatus']} cannot be written: "
            "use 1 (draft), 2 (rejected) or 10 (submitted)."
        )


class TimeTransactionRules:
    """Exact's rules for project/TimeTransactions."""

    def create(self, ctx: WriteContext, endpoint: Endpoint, row: Row) -> list[str]:
        errors = missing_mandatory(endpoint, row)
        _hour_status(row, errors)
        if row.get("HourStatus") is None:
            row["HourStatus"] = 1
        if row.get("Employee") is None:
            row["Employee"] = ctx.demo_employee
        if row.get("Date") is None:
            row["Date"] = ctx.today_ms
        refs = _check_time(ctx, row, errors)
        if not errors:
            _derive_time(ctx, row, refs)
        return errors

    def update(
        self, ctx: WriteContext, endpoint: Endpoint, existing: Row, values: Row, row: Row
    ) -> list[str]:
        if existing.get("HourStatus") == FINAL_HOUR_STATUS:
            raise WriteError(400, FINAL_ENTRY)
        errors = missing_mandatory(endpoint, row)
        _hour_status(values, errors)
        refs = _check_time(ctx, row, errors)
        if not errors:
            _derive_time(ctx, row, refs)
        return errors

    def delete(self, ctx: WriteContext, existing: Row) -> None:
        if existing.get("HourStatus") == FINAL_HOUR_STATUS:
            raise WriteError(400, FINAL_ENTRY)


# ---------------------------------------------------------------------- webhook subscriptions
class WebhookRules:
    """webhooks/WebhookSubscriptions: a known topic, an http(s) callback that answers the probe."""

    def __init__(self, probe: Callable[[str], int] | None) -> None:
        self.probe = probe

    def create(self, ctx: WriteContext, endpoint: Endpoint, row: Row) -> list[str]:
        errors = missing_mandatory(endpoint, row)
        topic = row.get("Topic")
        if topic:
            known = {t.lower(): t for t in ctx.catalogue.webhook_topics}
            if topic.lower() not in known:
                errors.append(
                    f"Topic '{topic}' is not a webhook topic. "
                    f"Known topics: {', '.join(sorted(known.values()))}."
                )
            else:
                row["Topic"] = known[topic.lower()]
        url = row.get("CallbackURL")
        if url and (urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc):
            errors.append(f"CallbackURL '{url}' is not an absolute http or https URL.")
        if errors:
            return errors
        if self.probe is not None:
            status = self.probe(str(url))
            if not 200 <= status < 300:
                raise WriteError(500, f"Invalid: Post to callback URL endpoint returns {status}")
        row["ClientID"] = ctx.client_id or None
        row["UserID"] = row.get("UserID") or ctx.user_id or None
        row["Description"] = f"{row['Topic']} -> {url}"
        return []

    def update(
        self, ctx: WriteContext, endpoint: Endpoint, existing: Row, values: Row, row: Row
    ) -> list[str]:
        return self.create(ctx, endpoint, row) if {"Topic", "CallbackURL"} & values.keys() else []

    def delete(self, ctx: WriteContext, existing: Row) -> None:
        return None


# --------------------------------------------------------------------------- the write flow
class Writer:
    """POST, PUT and DELETE on any endpoint's table, with the special rules where Exact has them."""

    def __init__(self, probe: Callable[[str], int] | None) -> None:
        self._rules: dict[str, TimeTransactionRules | WebhookRules] = {
            "project/timetransactions": TimeTransactionRules(),
            "webhooks/webhooksubscriptions": WebhookRules(probe),
        }

    def create(self, ctx: WriteContext, endpoint: Endpoint, body: bytes) -> Row:
        row = read_fields(endpoint, parse_body(body), update=False)
        table = ctx.table(endpoint.table)
        row[table.key_field] = self._new_key(ctx, endpoint, table, row)
        if endpoint.lower == "crm/accounts":
            _account_code(row, table)
        rules = self._rules.get(endpoint.lower)
        errors = rules.create(ctx, endpoint, row) if rules else missing_mandatory(endpoint, row)
        if errors:
            raise WriteError(400, "\r\n".join(errors))
        row |= _audit(ctx, created=True)
        table.put(row, ctx.store.next_timestamp())
        return row

    def update(self, ctx: WriteContext, endpoint: Endpoint, key: Any, body: bytes) -> Row | None:
        values = read_fields(endpoint, parse_body(body), update=True)
        table = ctx.table(endpoint.table)
        existing = table.get(key)
        if existing is None:
            return None
        row = dict(existing) | values
        rules = self._rules.get(endpoint.lower)
        if rules:
            errors = rules.update(ctx, endpoint, existing, values, row)
        else:  # a PUT may not clear a mandatory field
            errors = [e for e in missing_mandatory(endpoint, row) if e.removeprefix("Mandatory: ") in values]
        if errors:
            raise WriteError(400, "\r\n".join(errors))
        row |= _audit(ctx, created=False)
        table.put(row, ctx.store.next_timestamp())
        return row

    def delete(self, ctx: WriteContext, endpoint: Endpoint, key: Any) -> Row | None:
        table = ctx.table(endpoint.table)
        existing = table.get(key)
        if existing is None:
            return None
        rules = self._rules.get(endpoint.lower)
        if rules:
            rules.delete(ctx, existing)
        table.delete(key)
        entity_type = DELETED_ENTITY_TYPES.get(endpoint.table)
        if entity_type is not None:
            _record_deletion(ctx, entity_type, key)
        return existing

    @staticmethod
    def _new_key(ctx: WriteContext, endpoint: Endpoint, table: Table, row: Row) -> Any:
        key = row.get(table.key_field)
        if key is not None:
            if key in table:
                raise WriteError(400, f"A record with {table.key_field} {key} already exists.")
            return key
        if endpoint.key_type == "int":
            last = table.max_key()
            return (last if isinstance(last, int) else 0) + 1
        if endpoint.key_type == "string":
            raise WriteError(400, f"Mandatory: {table.key_field}")
        return ctx.store.new_guid()


def _account_code(row: Row, table: Table) -> None:
    """Exact stores account codes right-aligned in 18 characters, and numbers them when none is given."""
    code = row.get("Code")
    row["Code"] = (str(code).strip() if code else str(len(table) + 1)).rjust(18)


def _audit(ctx: WriteContext, *, created: bool) -> Row:
    values: Row = {
        "Modified": ctx.now_ms,
        "Modifier": ctx.user_id or None,
        "ModifierFullName": DEMO_FULL_NAME,
        "Division": ctx.division,
    }
    if created:
        values |= {"Created": ctx.now_ms, "Creator": ctx.user_id or None, "CreatorFullName": DEMO_FULL_NAME}
    return values


def _record_deletion(ctx: WriteContext, entity_type: int, key: Any) -> None:
    timestamp = ctx.store.next_timestamp()
    row: Row = {
        TIMESTAMP: timestamp,
        "ID": ctx.store.new_guid(),
        "EntityKey": key,
        "EntityType": entity_type,
        "DeletedBy": ctx.user_id or None,
        "DeletedDate": ctx.now_ms,
        "Division": ctx.division,
    }
    ctx.store.table(ctx.division, "sync/deleted", TIMESTAMP).put(row, timestamp)
