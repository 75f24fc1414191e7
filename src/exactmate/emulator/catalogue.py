"""The emulator's own reading of the endpoint catalogue (``exactmate/data/catalogue.json``).

The client has its own catalogue module; the emulator reads the same package data independently so
that a misreading on one side cannot hide in both. Endpoint paths are looked up case-insensitively
(Exact accepts ``CRM/Accounts`` as well as ``crm/Accounts``); property names stay case-sensitive,
as in OData.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

EDM_KINDS = {
    "Edm.String": "string",
    "Edm.Guid": "guid",
    "Edm.Int16": "int",
    "Edm.Int32": "int",
    "Edm.Int64": "int",
    "Edm.Byte": "int",
    "Edm.SByte": "int",
    "Edm.Double": "double",
    "Edm.Decimal": "double",
    "Edm.Single": "double",
    "Edm.Boolean": "bool",
    "Edm.DateTime": "datetime",
    "Edm.DateTimeOffset": "datetime",
    "Edm.Binary": "binary",
}

# Sync endpoints whose entity is stored under another name than the sync path suggests.
_SYNC_BASES = {
    "sync/project/timecosttransactions": "project/timetransactions",
    "sync/crm/quotationheaders": "crm/quotations",
    "sync/salesorder/salesorderheaders": "salesorder/salesorders",
}

# Webhook topics of line endpoints are their header's topic (api-facts section 8: "Quotations
# (also QuotationLines)", "FinancialTransactions" for transaction lines); other endpoints use their
# own entity name.
_TOPIC_OVERRIDES = {
    "financialtransaction/bankentrylines": "BankEntries",
    "financialtransaction/cashentrylines": "CashEntries",
    "financialtransaction/transactionlines": "FinancialTransactions",
    "financialtransaction/transactions": "FinancialTransactions",
    "generaljournalentry/generaljournalentrylines": "GeneralJournalEntries",
    "purchaseentry/purchaseentrylines": "PurchaseEntries",
    "purchaseorder/purchaseorderlines": "PurchaseOrders",
    "salesentry/salesentrylines": "SalesEntries",
    "salesinvoice/salesinvoicelines": "SalesInvoices",
    "salesorder/goodsdeliverylines": "GoodsDeliveries",
    "salesorder/salesorderlines": "SalesOrders",
    "subscription/subscriptionlines": "Subscriptions",
}


@dataclass(frozen=True, slots=True)
class Field:
    """One property of an endpoint's entity."""

    name: str
    type: str  # "Edm.Guid", "Collection", or a complex type name
    readonly: bool = False
    mandatory: bool = False
    key: bool = False
    insert_only: bool = False

    @property
    def kind(self) -> str:
        """string, guid, int, double, bool, datetime, binary, or complex (collections and the rest)."""
        return EDM_KINDS.get(self.type, "complex")


@dataclass(frozen=True)
class Endpoint:
    """One REST endpoint as the catalogue describes it, plus what the emulator derives from it."""

    path: str  # canonical "service/Endpoint"
    service: str
    methods: tuple[str, ...]
    key: str | None
    key_type: str | None  # guid, int, string or None
    keys: tuple[str, ...]
    page_size: int | None
    scope: str | None  # the endpoint's own scope, or its base endpoint's for bulk/sync twins
    webhook_topic: str | None
    beta: bool
    record_id: str | None  # sync endpoints: the record's own ID field (the paging key is Timestamp)
    function_params: tuple[str, ...]
    status: str
    fields: Mapping[str, Field]
    entity_type: str  # for __metadata: "Exact.Web.Api.Models.Account"
    table: str  # lower-case path of the endpoint whose records this one reads (itself if none)

    @property
    def lower(self) -> str:
        return self.path.lower()

    @property
    def entity_set(self) -> str:
        """The last path segment, as Exact names the entity set in messages and links."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def is_bulk(self) -> bool:
        return self.service == "bulk"

    @property
    def is_sync(self) -> bool:
        return self.service == "sync"

    @property
    def is_function(self) -> bool:
        return self.service == "read"

    @property
    def key_field(self) -> Field | None:
        return self.fields.get(self.key) if self.key else None


def singular(name: str) -> str:
    """English singular of an entity-set name, good enough for Exact's type names
    (``Accounts`` -> ``Account``, ``Entries`` -> ``Entry``, ``Addresses`` -> ``Address``).
    """
    if name.endswith("ies") and len(name) > 3:
        return name[:-3] + "y"
    for ending in ("sses", "xes", "ches", "shes"):
        if name.endswith(ending):
            return name[:-2]
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


def _entity_type(path: str) -> str:
    parts = path.split("/")
    name = singular(parts[-1])
    if parts[0] in ("bulk", "sync") and len(parts) == 3:
        return f"Exact.Web.Api.Models.{parts[0].capitalize()}.{parts[1]}.{name}"
    if path == "current/Me":
        return "Exact.Web.Api.System.Me"
    return f"Exact.Web.Api.Models.{name}"


def _base_path(lower: str, known: Mapping[str, Any]) -> str | None:
    """The regular endpoint a bulk/ or sync/ twin reads (``bulk/crm/accounts`` -> ``crm/accounts``)."""
    parts = lower.split("/")
    if parts[0] not in ("bulk", "sync") or len(parts) != 3:
        return None
    candidate = _SYNC_BASES.get(lower, f"{parts[1]}/{parts[2]}")
    return candidate if candidate in known else None


def _field(name: str, raw: Mapping[str, Any]) -> Field:
    return Field(
        name=name,
        type=str(raw.get("type", "Edm.String")),
        readonly=bool(raw.get("readonly", False)),
        mandatory=bool(raw.get("mandatory", False)) and not raw.get("key", False),
        key=bool(raw.get("key", False)),
        insert_only=bool(raw.get("insert_only", False)),
    )


class Catalogue:
    """Every endpoint, looked up by path case-insensitively."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        raw: Mapping[str, Mapping[str, Any]] = data["endpoints"]
        lowered = {path.lower(): entry for path, entry in raw.items()}
        self._by_lower: dict[str, Endpoint] = {}
        for lower, entry in lowered.items():
            base = _base_path(lower, lowered)
            scope = entry.get("scope") or (lowered[base].get("scope") if base else None)
            self._by_lower[lower] = self._endpoint(entry, base or lower, scope)
        self._topics = frozenset(e.webhook_topic for e in self._by_lower.values() if e.webhook_topic)

    @staticmethod
    def _endpoint(entry: Mapping[str, Any], table: str, scope: str | None) -> Endpoint:
        path = str(entry["path"])
        lower = path.lower()
        webhook = None
        if entry.get("webhook"):
            webhook = _TOPIC_OVERRIDES.get(lower, path.rsplit("/", 1)[-1])
        fields = {name: _field(name, f) for name, f in entry.get("fields", {}).items()}
        return Endpoint(
            path=path,
            service=str(entry["service"]),
            methods=tuple(entry["methods"]),
            key=entry.get("key"),
            key_type=entry.get("key_type"),
            keys=tuple(entry.get("keys", ())),
            page_size=entry.get("page_size"),
            scope=scope,
            webhook_topic=webhook,
            beta=bool(entry.get("beta", False)),
            record_id=entry.get("record_id"),
            function_params=tuple(entry.get("function_params", ())),
            status=str(entry.get("status", "current")),
            fields=MappingProxyType(fields),
            entity_type=_entity_type(path),
            table=table,
        )

    def lookup(self, path: str) -> Endpoint | None:
        """The endpoint at ``service/Endpoint`` (any casing), or None."""
        return self._by_lower.get(path.strip("/").lower())

    def __iter__(self) -> Iterator[Endpoint]:
        return iter(self._by_lower.values())

    def __len__(self) -> int:
        return len(self._by_lower)

    @property
    def webhook_topics(self) -> frozenset[str]:
        """Every topic a webhook subscription may name."""
        return self._topics

    def sync_endpoint(self, name: str) -> Endpoint | None:
        """The sync endpoint whose entity-set name is ``name`` (case-insensitive), for
        ``read/sync/Sync/SyncTimestamp?endPoint='TimeCostTransactions'``.
        """
        wanted = name.lower()
        for endpoint in self._by_lower.values():
            if (
                endpoint.is_sync
                and endpoint.entity_set.lower() == wanted
                and endpoint.lower != "sync/deleted"
            ):
                return endpoint
        return None


@cache
def load_catalogue() -> Catalogue:
    """The packaged catalogue, read once per process."""
    text = resources.files("exactmate.data").joinpath("catalogue.json").read_text("utf-8")
    return Catalogue(json.loads(text))
