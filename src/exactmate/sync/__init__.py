"""``exactmate sync``: Exact Online's records in the user's own database, incrementally.

- ``tables``: one table per endpoint, laid out from the catalogue (``crm_accounts``, typed columns,
  ``_division`` in the primary key, ``_timestamp`` and ``_synced_at``), and the cursor table; a field
  Exact adds later becomes a new column.
- ``deletes``: which endpoint a ``sync/Deleted`` entity type belongs to.
- ``plan``: ``--plan``, what a run would read and cost, before it reads;
- ``run``: reading each endpoint's change feed (``Resource.changes``: the one Timestamp reader) page
  by page, each page's rows and the cursor moving in one transaction, then the deletes.
"""

from __future__ import annotations

from exactmate.sync.plan import PlannedFeed, plan_sync
from exactmate.sync.run import EndpointReport, SyncReport, default_target, sync_endpoints, syncable

__all__ = [
    "EndpointReport",
    "PlannedFeed",
    "SyncReport",
    "default_target",
    "plan_sync",
    "sync_endpoints",
    "syncable",
]
