"""Which endpoint's records a ``sync/Deleted`` row removes, by its ``EntityType``.

Exact logs every deletion in ``sync/Deleted`` (kept two months) with the entity type, the record's
key (``EntityKey``) and the division; the numbers are Exact's own. Time and cost entries share one
type (the time-and-cost feed), so a deletion of that type is applied to the time entries' table,
where a cost entry's key simply matches nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

DELETED = "sync/Deleted"

ENTITY_TYPES: Mapping[int, str] = MappingProxyType(
    {
        2: "crm/Accounts",
        9: "logistics/Items",
        14: "project/TimeTransactions",  # TimeCostTransactions: time and cost entries
        21: "project/Projects",
        42: "payroll/Employees",
    }
)
"""``sync/Deleted``'s EntityType -> the base endpoint whose table the deletion applies to."""
