"""The four actions (create and update project time transactions, delete any record by key, list or
get any endpoint) and the Data Manager behind them. The command line and the web UI only call these.

Each action takes a ``Connection`` (``open_connection(credential_name)``) and a division (a number,
``"current"`` or ``"all"``), validates everything it can before the first call, and returns plain
data. Test Connect lives beside the actions, in ``exactmate.connect``, and is offered here too
(``test_connection``), so a caller finds every operation of the product in one place.
"""

from __future__ import annotations

from exactmate.actions.connection import Connection, open_connection, pick_credential
from exactmate.actions.custom import custom_call
from exactmate.actions.delete import DeleteResult, delete_record
from exactmate.actions.divisions import DivisionChoice, parse_division
from exactmate.actions.dryrun import PlannedRequest
from exactmate.actions.journal import CreateOutcome
from exactmate.actions.listget import Listing, list_or_get
from exactmate.actions.picker import describe_endpoints, describe_fields
from exactmate.actions.sources import EntrySource, read_entries
from exactmate.actions.timecreate import CreateResult, create_time_transactions
from exactmate.actions.timeupdate import UpdateResult, update_time_transaction

# Test Connect belongs to the vault's connect layer; it is offered here beside the four actions so a
# script finds every operation of the product in one place.
from exactmate.connect import TestResult, test_connection

__all__ = [
    "Connection",
    "CreateOutcome",
    "CreateResult",
    "DeleteResult",
    "DivisionChoice",
    "EntrySource",
    "Listing",
    "PlannedRequest",
    "TestResult",
    "UpdateResult",
    "create_time_transactions",
    "custom_call",
    "delete_record",
    "describe_endpoints",
    "describe_fields",
    "list_or_get",
    "open_connection",
    "parse_division",
    "pick_credential",
    "read_entries",
    "test_connection",
    "update_time_transaction",
]
