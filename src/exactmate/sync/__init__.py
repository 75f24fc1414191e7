"""``exactmate sync``: Exact Online's records in the user's own database, incrementally.

- ``tables``: one table per endpoint, laid out from the catalogue (``crm_accounts``, typed columns,
  ``_division`` in the primary key, ``_timestamp`` and ``_synced_at``), and the cursor table; a field
  Exact adds later becomes a new column.
- ``deletes``: which endpoint a ``sync/Deleted`` entity type belongs to.
- ``plan``: ``--plan``, what a run would read and cost, before it reads;
- ``run``: reading each endpoint's change feed (``Resource.changes``: the one Timestamp reader) page
  by page, each page's rows and the cursor moving in one transaction, then the deletes;
- ``writer``: a load's writes into a SQLite target, in a process of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exactmate.lazy import on_first_use

if TYPE_CHECKING:  # imported on first use (``__getattr__``): the writer process imports this package
    from exactmate.sync.plan import PlannedFeed, plan_sync
    from exactmate.sync.run import EndpointReport, SyncReport, default_target, sync_endpoints, syncable

_HOMES = {
    "EndpointReport": "exactmate.sync.run",
    "PlannedFeed": "exactmate.sync.plan",
    "SyncReport": "exactmate.sync.run",
    "default_target": "exactmate.sync.run",
    "plan_sync": "exactmate.sync.plan",
    "sync_endpoints": "exactmate.sync.run",
    "syncable": "exactmate.sync.run",
}


__getattr__ = on_first_use(__name__, _HOMES)


__all__ = [
    "EndpointReport",
    "PlannedFeed",
    "SyncReport",
    "default_target",
    "plan_sync",
    "sync_endpoints",
    "syncable",
]
