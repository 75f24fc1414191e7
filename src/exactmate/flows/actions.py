"""What a flow step can do: each action's arguments (checked before a run) and how it runs.

The Exact actions are the product's own (``exactmate.actions``), called with the step's resolved
arguments, so every guarantee they keep (validation before any call, the rate governor, the error
budget, audit snapshots, the create journal) holds inside flows too. Nothing here runs Python or a
shell command from a flow file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from exactmate.actions import ActionContext
    from exactmate.catalogue import Catalogue
    from exactmate.config import Settings

log = logging.getLogger("exactmate.flows")

MAX_RECORDS = 5_000
"""Records a list_or_get step keeps for later steps; more is a mistake a filter or ``top`` fixes
(``exactmate sync`` is made for whole endpoints)."""

TIME_TRANSACTIONS = "project/TimeTransactions"


@dataclass(frozen=True)
class Call:
    """One action to run: its resolved arguments, and what the run decided around it."""

    connection: ActionContext | None
    args: Mapping[str, Any]
    division: Any
    dry_run: bool
    journal_scope: str
    settings: Settings | None = None


Runner = Callable[[Call], dict[str, Any]]


@dataclass(frozen=True)
class ActionSpec:
    """An action's arguments: ``required`` must be given, ``optional`` may; ``exact`` says whether it
    talks to Exact (and so needs a credential); ``batch`` whether a ``for_each`` over it sends its
    items together in one call (time entries) rather than one call per item."""

    run: Runner
    required: frozenset[str] = frozenset()
    optional: frozenset[str] = frozenset()
    exact: bool = True
    batch: bool = False
    writes: bool = False
    free_arguments: bool = False  # ``set``: any name

    @property
    def allowed(self) -> frozenset[str]:
        return self.required | self.optional | {"division"} if self.exact else self.required | self.optional


def plain(value: Any) -> Any:
    """``value`` as JSON data: dates as ISO text, decimals as numbers, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return plain(as_dict())
    return str(value)


def _conn(call: Call) -> ActionContext:
    if call.connection is None:  # pragma: no cover - the engine opens one for every Exact action
        raise RuntimeError("an Exact action ran without a connection")
    return call.connection


def _list_or_get(call: Call) -> dict[str, Any]:
    from exactmate.actions import by_key, get_record, list_records

    a = call.args
    filter, top, order_by, everything = a.get("filter"), a.get("top"), a.get("order_by"), bool(a.get("all"))
    if by_key(a["endpoint"], a.get("key"), filter=filter, top=top, order_by=order_by, all=everything):
        conn = _conn(call)
        found = get_record(conn, a["endpoint"], a["key"], division=call.division, select=a.get("select"))
        record = plain(found)
        return {"record": record, "records": [record], "count": 1}
    listing = list_records(
        _conn(call),
        a["endpoint"],
        division=call.division,
        select=a.get("select"),
        filter=filter,
        top=top,
        order_by=order_by,
        all=everything,
    )
    records: list[Any] = []
    for record in listing:
        if len(records) == MAX_RECORDS:
            from exactmate.errors import ValidationError

            raise ValidationError(
                f"{a['endpoint']} gave more than {MAX_RECORDS:,} records to one flow step",
                hint="narrow it with filter or top; for whole endpoints use: exactmate sync",
            )
        records.append(plain(record))
    return {"records": records, "count": len(records), "record": records[0] if records else None}


def _create(call: Call) -> dict[str, Any]:
    from exactmate.actions import create_time_transactions

    entries = call.args["entries"]
    result = create_time_transactions(
        _conn(call),
        entries,
        division=call.division,
        match_on=call.args.get("match_on"),
        rebook_changed=bool(call.args.get("rebook_changed", False)),
        dry_run=call.dry_run,
        scope=call.journal_scope,
    )
    out = plain(result.summary())
    out["ok"] = result.ok
    if call.dry_run:
        out["requests"] = [plain(o) for o in result.outcomes]
    return dict(out)


def _update(call: Call) -> dict[str, Any]:
    from exactmate.actions import update_time_transaction

    result = update_time_transaction(
        _conn(call), call.args["id"], call.args["fields"], division=call.division, dry_run=call.dry_run
    )
    return dict(plain(result.as_dict()))


def _delete(call: Call) -> dict[str, Any]:
    from exactmate.actions import delete_record

    result = delete_record(
        _conn(call), call.args["endpoint"], call.args["key"], division=call.division, dry_run=call.dry_run
    )
    return dict(plain(result.as_dict()))


def _call(call: Call) -> dict[str, Any]:
    from exactmate.actions import custom_call

    a = call.args
    method = str(a["method"]).upper()
    answer = custom_call(
        _conn(call),
        method,
        a["path"],
        division=call.division,
        params=a.get("params"),
        data=a.get("data"),
        dry_run=call.dry_run and method != "GET",
    )
    return {"answer": plain(answer)}


def _test_connection(call: Call) -> dict[str, Any]:
    from exactmate.actions import run_test_connect

    result = run_test_connect(_conn(call).credential_name, settings=call.settings)
    return {"ok": result.ok, "summary": result.summary, "hint": result.hint}


def _log(call: Call) -> dict[str, Any]:
    message = str(call.args["message"])
    log.info("%s", message)
    return {"message": message}


def _set(call: Call) -> dict[str, Any]:
    return dict(plain(dict(call.args)))


ACTIONS: dict[str, ActionSpec] = {
    "list_or_get": ActionSpec(
        _list_or_get,
        frozenset({"endpoint"}),
        frozenset({"key", "select", "filter", "top", "order_by", "all"}),
    ),
    "create_time_transactions": ActionSpec(
        _create, frozenset({"fields"}), frozenset({"match_on", "rebook_changed"}), batch=True, writes=True
    ),
    "update_time_transaction": ActionSpec(_update, frozenset({"id", "fields"}), writes=True),
    "delete_record": ActionSpec(_delete, frozenset({"endpoint", "key"}), writes=True),
    "call": ActionSpec(_call, frozenset({"method", "path"}), frozenset({"params", "data"}), writes=True),
    "test_connection": ActionSpec(_test_connection),
    "log": ActionSpec(_log, frozenset({"message"}), exact=False),
    "set": ActionSpec(_set, exact=False, free_arguments=True),
}


@dataclass
class StaticCheck:
    """What can be checked of an action's literal arguments against the catalogue, before a run."""

    catalogue: Catalogue
    problems: list[tuple[tuple[str | int, ...], str]] = field(default_factory=list)

    def run(self, action: str, args: Mapping[str, Any], where: tuple[str | int, ...]) -> None:
        from exactmate.errors import ValidationError
        from exactmate.flows.expressions import is_template

        def literal(name: str) -> Any:
            value = args.get(name)
            return None if is_template(value) else value

        try:
            if action in ("list_or_get", "delete_record") and isinstance(literal("endpoint"), str):
                endpoint = self.catalogue.endpoint(literal("endpoint"))
                endpoint.require_method("DELETE" if action == "delete_record" else "GET")
                for name in ("select", "order_by"):
                    value = literal(name)
                    names = value.split(",") if isinstance(value, str) else value
                    if isinstance(names, Sequence) and all(isinstance(n, str) for n in names):
                        endpoint.resolve_fields([n.strip().split(" ")[0] for n in names if n.strip()])
            if action in ("create_time_transactions", "update_time_transaction"):
                fields = args.get("fields")
                if isinstance(fields, Mapping):
                    self.catalogue.endpoint(TIME_TRANSACTIONS).resolve_fields(list(fields))
            if action == "call" and isinstance(literal("method"), str) and isinstance(literal("path"), str):
                method = literal("method").upper()
                path = literal("path").split("(")[0].split("?")[0]
                self.catalogue.endpoint(path).require_method(method)
        except ValidationError as exc:
            details = exc.problems or [exc.message]
            self.problems.extend((where, detail) for detail in details)
