"""The four actions (create and update project time transactions, delete any record by key, list or
get any endpoint) and the Data Manager behind them. The command line and the web UI only call these.

Each action takes an ``ActionContext`` (``open_connection(credential_name)``) and a division (a number,
``"current"`` or ``"all"``), validates everything it can before the first call, and returns plain
data. Test Connect lives beside the actions, in ``exactmate.connect``, and is offered here too
(``run_test_connect``), so a caller finds every operation of the product in one place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exactmate.lazy import on_first_use

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports a name's module on first use
    from exactmate.actions.context import ActionContext, open_connection, pick_credential
    from exactmate.actions.custom import custom_call
    from exactmate.actions.delete import DeleteResult, delete_record
    from exactmate.actions.divisions import DivisionChoice, parse_division
    from exactmate.actions.dryrun import PlannedRequest
    from exactmate.actions.journal import CreateOutcome
    from exactmate.actions.listget import Listing, by_key, get_record, list_records
    from exactmate.actions.picker import describe_endpoints, describe_fields
    from exactmate.actions.sources import EntrySource, read_entries
    from exactmate.actions.timecreate import CreateResult, create_time_transactions
    from exactmate.actions.timeupdate import UpdateResult, update_time_transaction
    from exactmate.connect import ConnectCheck, run_test_connect

# Where each name lives: importing ``exactmate.actions`` (or one of its light modules, such as
# ``plain`` or ``picker``) does not pull in the client, the store and SQLAlchemy until an action that
# needs them is used, which keeps the command line's start-up short.
_HOMES = {
    "ActionContext": "exactmate.actions.context",
    "open_connection": "exactmate.actions.context",
    "pick_credential": "exactmate.actions.context",
    "custom_call": "exactmate.actions.custom",
    "DeleteResult": "exactmate.actions.delete",
    "delete_record": "exactmate.actions.delete",
    "DivisionChoice": "exactmate.actions.divisions",
    "parse_division": "exactmate.actions.divisions",
    "PlannedRequest": "exactmate.actions.dryrun",
    "CreateOutcome": "exactmate.actions.journal",
    "Listing": "exactmate.actions.listget",
    "by_key": "exactmate.actions.listget",
    "get_record": "exactmate.actions.listget",
    "list_records": "exactmate.actions.listget",
    "describe_endpoints": "exactmate.actions.picker",
    "describe_fields": "exactmate.actions.picker",
    "EntrySource": "exactmate.actions.sources",
    "read_entries": "exactmate.actions.sources",
    "CreateResult": "exactmate.actions.timecreate",
    "create_time_transactions": "exactmate.actions.timecreate",
    "UpdateResult": "exactmate.actions.timeupdate",
    "update_time_transaction": "exactmate.actions.timeupdate",
    # Test Connect belongs to the vault's connect layer; it is offered here beside the four actions so
    # a script finds every operation of the product in one place.
    "ConnectCheck": "exactmate.connect",
    "run_test_connect": "exactmate.connect",
}


__getattr__ = on_first_use(__name__, _HOMES)


__all__ = [
    "ActionContext",
    "CreateOutcome",
    "CreateResult",
    "DeleteResult",
    "DivisionChoice",
    "EntrySource",
    "Listing",
    "PlannedRequest",
    "ConnectCheck",
    "UpdateResult",
    "create_time_transactions",
    "custom_call",
    "delete_record",
    "describe_endpoints",
    "describe_fields",
    "by_key",
    "get_record",
    "list_records",
    "open_connection",
    "parse_division",
    "pick_credential",
    "read_entries",
    "run_test_connect",
    "update_time_transaction",
]
