"""Which bulk/ and sync/ endpoints are twins of which regular endpoint: a reviewed table, not a guess.

Built by hand from every bulk/ and sync/ endpoint in the catalogue: a twin must carry one row per
base record, with the base's key field, under the same field names. Several sync endpoints share a
name with a regular endpoint but carry other rows (document lines, time AND cost), so names alone
would pair them wrongly. tests/meta/test_catalogue_api.py checks that each bulk/ and sync/ endpoint
is either here or in ``NO_BASE``, that keys match and that shared fields have the same types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

TWINS: Mapping[str, tuple[str | None, str | None]] = MappingProxyType(
    {  # base: (bulk twin, sync twin)
        "cashflow/Payments": ("bulk/Cashflow/Payments", None),
        "cashflow/Receivables": ("bulk/Cashflow/Receivables", None),
        "crm/Accounts": ("bulk/CRM/Accounts", "sync/CRM/Accounts"),
        "crm/Addresses": ("bulk/CRM/Addresses", "sync/CRM/Addresses"),
        "crm/Contacts": ("bulk/CRM/Contacts", "sync/CRM/Contacts"),
        "crm/QuotationLines": ("bulk/CRM/QuotationLines", "sync/CRM/QuotationLines"),
        # The sync twin is the *Headers* endpoint: sync/CRM/Quotations holds quotation lines. Its own
        # record_id is ID; the base key QuotationID is carried as a field too.
        "crm/Quotations": ("bulk/CRM/Quotations", "sync/CRM/QuotationHeaders"),
        "documents/DocumentAttachments": (
            "bulk/Documents/DocumentAttachments",
            "sync/Documents/DocumentAttachments",
        ),
        "documents/Documents": ("bulk/Documents/Documents", "sync/Documents/Documents"),
        "financial/GLAccounts": ("bulk/Financial/GLAccounts", "sync/Financial/GLAccounts"),
        "financial/GLClassifications": (
            "bulk/Financial/GLClassifications",
            "sync/Financial/GLClassifications",
        ),
        "financialtransaction/TransactionLines": (
            "bulk/Financial/TransactionLines",
            "sync/Financial/TransactionLines",
        ),
        "hrm/AbsenceRegistrationTransactions": (None, "sync/HRM/AbsenceRegistrationTransactions"),
        "hrm/AbsenceRegistrations": (None, "sync/HRM/AbsenceRegistrations"),
        "hrm/LeaveAbsenceHoursByDay": (None, "sync/HRM/LeaveAbsenceHoursByDay"),
        "hrm/LeaveBuildUpRegistrations": (None, "sync/HRM/LeaveBuildUpRegistrations"),
        "hrm/LeaveRegistrations": (None, "sync/HRM/LeaveRegistrations"),
        "hrm/Schedules": (None, "sync/HRM/Schedules"),
        "inventory/ItemWarehouses": (None, "sync/Inventory/ItemWarehouses"),
        "logistics/Items": ("bulk/Logistics/Items", "sync/Logistics/Items"),
        "logistics/SalesItemPrices": ("bulk/Logistics/SalesItemPrices", "sync/Logistics/SalesItemPrices"),
        "logistics/SupplierItem": (None, "sync/Logistics/SupplierItem"),
        "manufacturing/BillOfMaterialMaterials": (None, "sync/Manufacturing/BillOfMaterialMaterials"),
        "manufacturing/BillOfMaterialVersions": (None, "sync/Manufacturing/BillOfMaterialVersions"),
        # No record_id in the source for this sync endpoint; the base key StockTransactionId is a field.
        "manufacturing/MaterialIssues": (None, "sync/Manufacturing/MaterialIssues"),
        "manufacturing/ShopOrderMaterialPlans": (None, "sync/Manufacturing/ShopOrderMaterialPlans"),
        "manufacturing/ShopOrderRoutingStepPlans": (None, "sync/Manufacturing/ShopOrderRoutingStepPlans"),
        "manufacturing/ShopOrders": (None, "sync/Manufacturing/ShopOrders"),
        "payroll/Employees": (None, "sync/Payroll/Employees"),
        "payroll/EmploymentContracts": (None, "sync/Payroll/EmploymentContracts"),
        "payroll/EmploymentOrganizations": (None, "sync/Payroll/EmploymentOrganizations"),
        "payroll/EmploymentSalaries": (None, "sync/Payroll/EmploymentSalaries"),
        "payroll/EmploymentTaxAuthoritiesGeneral": (None, "sync/Payroll/EmploymentTaxAuthoritiesGeneral"),
        "payroll/Employments": (None, "sync/Payroll/Employments"),
        "project/ProjectPlanning": (None, "sync/Project/ProjectPlanning"),
        "project/Projects": (None, "sync/Project/Projects"),
        # project/TimeTransactions has NO twin: see sync/Project/TimeCostTransactions in NO_BASE.
        "sales/SalesPriceListVolumeDiscounts": (None, "sync/Sales/SalesPriceListVolumeDiscounts"),
        "salesinvoice/SalesInvoiceLines": ("bulk/SalesInvoice/SalesInvoiceLines", None),
        "salesinvoice/SalesInvoices": ("bulk/SalesInvoice/SalesInvoices", None),
        # No record_id in the source for this sync endpoint; the base key EntryID is a field.
        "salesorder/GoodsDeliveries": ("bulk/SalesOrder/GoodsDeliveries", "sync/SalesOrder/GoodsDeliveries"),
        "salesorder/GoodsDeliveryLines": (
            "bulk/SalesOrder/GoodsDeliveryLines",
            "sync/SalesOrder/GoodsDeliveryLines",
        ),
        "salesorder/SalesOrderLines": ("bulk/SalesOrder/SalesOrderLines", "sync/SalesOrder/SalesOrderLines"),
        # As for quotations, the sync twin is the Headers endpoint (sync/SalesOrder/SalesOrders: lines).
        "salesorder/SalesOrders": ("bulk/SalesOrder/SalesOrders", "sync/SalesOrder/SalesOrderHeaders"),
        "subscription/SubscriptionLines": (None, "sync/Subscription/SubscriptionLines"),
        # No record_id in the source for this sync endpoint; the base key EntryID is a field.
        "subscription/Subscriptions": (None, "sync/Subscription/Subscriptions"),
    }
)

_LINE_LEVEL = "one row per document LINE (ID, LineNumber, Item…) with header fields repeated, not one per "
NO_BASE: Mapping[str, str] = MappingProxyType(
    {  # bulk/ or sync/ endpoint: why it is nobody's twin
        "bulk/Project/ProjectWBS": "no regular project/ProjectWBS (read/project/ functions serve WBS)",
        "sync/CRM/Quotations": _LINE_LEVEL + "quotation; superseded by sync/CRM/QuotationHeaders",
        "sync/Cashflow/PaymentTerms": "cashflow/Receivables + cashflow/Payments together",
        "sync/Deleted": "the deletion log of every entity, keyed by EntityType",
        "sync/HRM/ScheduleEntries": "no regular endpoint: schedule entries are a collection of hrm/Schedules",
        "sync/Inventory/ItemStorageLocations": "no regular endpoint; inventory/ItemWarehouseStorageLocations "
        "holds stock per location (10 shared fields), not these item-location settings",
        "sync/Inventory/SerialBatchNumbers": "inventory/SerialNumbers + BatchNumbers together",
        "sync/Inventory/StockPositions": "no regular endpoint (read/logistics/StockPosition is per item)",
        "sync/Inventory/StockSerialBatchNumbers": "inventory/StockSerialNumbers + StockBatchNumbers together",
        "sync/Inventory/StorageLocationStockPositions": "no regular endpoint with stock per storage location",
        "sync/Logistics/PurchaseItemPrices": "no regular logistics/PurchaseItemPrices endpoint",
        "sync/Manufacturing/ShopOrderPurchasePlanning": "no regular endpoint",
        "sync/Manufacturing/ShopOrderSubOrders": "no regular endpoint",
        "sync/Payroll/BankAccounts": "employees' bank accounts; crm/BankAccounts holds relations' ones",
        "sync/Payroll/EmploymentCLAs": "no regular payroll/EmploymentCLAs endpoint",
        "sync/Project/ProjectWBS": "no regular project/ProjectWBS; bulk/Project/ProjectWBS differs "
        "in fields and types (BlockEntry Byte vs Boolean), so they are not paired either",
        # Not a same-records twin of project/TimeTransactions: it is that endpoint's ROW_TWINS entry.
        "sync/Project/TimeCostTransactions": "time (Type 1) AND cost (Type 2) transactions together, "
        "Type cannot be filtered server-side, and it lacks Price and Amount: not the same "
        "records or fields as project/TimeTransactions or project/CostTransactions (see ROW_TWINS)",
        "sync/PurchaseOrder/PurchaseOrders": _LINE_LEVEL + "purchase order",
        "sync/SalesInvoice/SalesInvoices": _LINE_LEVEL + "invoice",
        "sync/SalesOrder/SalesOrders": _LINE_LEVEL + "order; superseded by sync/SalesOrder/SalesOrderHeaders",
    }
)


@dataclass(frozen=True)
class RowTwin:
    """A sync endpoint that carries a base endpoint's records among others, 1,000 a call: the rows
    whose ``kind_field`` holds ``kind`` are the base's, and ``renames`` gives the base's name of a
    field the twin names otherwise. Fields the twin lacks cannot be read through it. ``others``:
    the endpoints whose records are the twin's other rows, read and dropped by a read through it
    (what such a read costs counts them too)."""

    path: str
    kind_field: str
    kind: int
    renames: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    others: tuple[str, ...] = ()

    def base_name(self, twin_field: str) -> str:
        return self.renames.get(twin_field, twin_field)

    def twin_name(self, base_field: str) -> str:
        for twin_field, base in self.renames.items():
            if base == base_field:
                return twin_field
        return base_field


ROW_TWINS: Mapping[str, RowTwin] = MappingProxyType(
    {
        # Time entries are the Type 1 rows of the time-and-cost feed; its WBS is the entry's Activity
        # (the project's work breakdown element), under the name the feed gives it. It lacks Price,
        # Amount and SkipValidation (the last is write-only anyway): a read asking for those stays on
        # the 60-row endpoint.
        "project/TimeTransactions": RowTwin(
            "sync/Project/TimeCostTransactions",
            kind_field="Type",
            kind=1,
            renames=MappingProxyType({"WBS": "Activity", "WBSDescription": "ActivityDescription"}),
            others=("project/CostTransactions",),  # its Type 2 rows
        ),
    }
)
