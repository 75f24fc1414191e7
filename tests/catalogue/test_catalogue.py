"""The catalogue API: look-ups, suggestions, methods, fields, URL paths and twins."""

from __future__ import annotations

import pytest

from exactmate.catalogue import Catalogue, Endpoint, Field, normalise_path
from exactmate.errors import CatalogueError, ValidationError


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


def _endpoint(
    path: str, *, kind: str = "rest", methods: tuple[str, ...] = ("GET",), **extra: object
) -> Endpoint:
    fields = {
        "ID": Field(name="ID", type="Edm.Guid"),
        "Name": Field(name="Name", type="Edm.String"),
        "Modified": Field(name="Modified", type="Edm.DateTime"),
    }
    return Endpoint(
        path=path,
        service=path.split("/")[0].lower(),
        name=path.rsplit("/", 1)[-1],
        kind=kind,  # type: ignore[arg-type]
        methods=frozenset(methods),
        key="ID",
        key_type="guid",
        keys=("ID",),
        fields=extra.pop("fields", fields),  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def test_load_is_cached_and_complete(catalogue: Catalogue) -> None:
    assert Catalogue.load() is catalogue
    assert len(catalogue) == 455
    assert [e.path for e in catalogue][:1] == [next(iter(catalogue)).path]


@pytest.mark.parametrize(
    "given",
    [
        "project/TimeTransactions",
        "PROJECT/timetransactions",
        "/project/TimeTransactions/",
        "api/v1/123456/project/TimeTransactions",
        "/api/v1/123456/project/TimeTransactions",
        "https://start.exactonline.nl/api/v1/123456/project/TimeTransactions",
        "api/v1/{division}/project/TimeTransactions",
        "  project//TimeTransactions ",
    ],
)
def test_endpoint_lookup_is_tolerant(catalogue: Catalogue, given: str) -> None:
    assert catalogue.endpoint(given).path == "project/TimeTransactions"
    assert given in catalogue


def test_beta_and_me_prefixes_resolve(catalogue: Catalogue) -> None:
    assert catalogue.endpoint("api/v1/beta/7/budget/BudgetScenarios").path == "budget/BudgetScenarios"
    assert catalogue.endpoint("/api/v1/current/Me").path == "current/Me"


def test_unknown_endpoint_names_suggestions(catalogue: Catalogue) -> None:
    with pytest.raises(CatalogueError) as caught:
        catalogue.endpoint("crm/Acounts")
    message = str(caught.value)
    assert message.startswith("Unknown endpoint 'crm/Acounts'. Did you mean: crm/Accounts")
    assert "?" in message
    assert isinstance(caught.value, ValidationError)


def test_empty_endpoint_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(CatalogueError, match="No endpoint given"):
        catalogue.endpoint(" / ")
    assert "" not in catalogue
    assert 42 not in catalogue


def test_suggestions_for_bare_names_prefer_the_regular_endpoint(catalogue: Catalogue) -> None:
    assert catalogue.suggest("Acounts") == ["crm/Accounts", "bulk/CRM/Accounts", "sync/CRM/Accounts"]
    assert catalogue.suggest("project/TimeTransaction")[0] == "project/TimeTransactions"
    assert catalogue.suggest("bulk/CRM/Acounts")[0] == "bulk/CRM/Accounts"
    assert catalogue.suggest("zzzzqqq") == []
    assert len(catalogue.suggest("Accounts", n=1)) == 1


def test_search_by_text_scope_and_method(catalogue: Catalogue) -> None:
    paths = [e.path for e in catalogue.search("timetransactions")]
    assert "project/TimeTransactions" in paths and "manufacturing/TimeTransactions" in paths
    by_scope = catalogue.search("projects billing")
    assert by_scope and all("projects billing" in (e.scope or "").lower() for e in by_scope)
    deletable = catalogue.search("crm/", method="delete")
    assert deletable and all(e.allows("DELETE") for e in deletable)
    assert all(e.path.lower().find("crm/") >= 0 for e in deletable)
    with pytest.raises(CatalogueError, match="Unknown HTTP method 'PATCH'"):
        catalogue.search(method="PATCH")


def test_search_hides_removed_endpoints_unless_asked(catalogue: Catalogue) -> None:
    removed = next(e for e in catalogue if e.status == "probably_removed")
    assert removed not in catalogue.search("")
    assert removed in catalogue.search("", include_removed=True)
    assert catalogue.search(removed.path.upper()) == [removed]
    assert len(catalogue.search()) < len(catalogue)


def test_endpoint_facts(catalogue: Catalogue) -> None:
    tt = catalogue.endpoint("project/TimeTransactions")
    assert (tt.service, tt.name, tt.kind, tt.key, tt.key_type, tt.keys) == (
        "project",
        "TimeTransactions",
        "rest",
        "ID",
        "guid",
        ("ID",),
    )
    assert tt.methods == {"GET", "POST", "PUT", "DELETE"} and tt.page_size == 60 and tt.webhook
    sync = catalogue.endpoint("sync/CRM/Accounts")
    assert (sync.kind, sync.key, sync.key_type, sync.record_id, sync.page_size) == (
        "sync",
        "Timestamp",
        "int",
        "ID",
        1000,
    )
    composite = catalogue.endpoint("openingbalance/CurrentYear/AfterEntry")
    assert composite.keys == ("Division", "GLAccount", "ReportingYear")
    assert catalogue.endpoint("read/project/HoursByDate").function_params == ("checkDate",)
    assert catalogue.endpoint("read/project/HoursByDate").kind == "read"
    assert catalogue.endpoint("current/Me").kind == "me"
    assert catalogue.endpoint("users/UserHasRights").keys == ()


def test_field_lookup_is_case_insensitive_with_suggestions(catalogue: Catalogue) -> None:
    tt = catalogue.endpoint("project/TimeTransactions")
    assert tt.field("hourstatus").name == "HourStatus"
    assert tt.field("Date").type == "Edm.DateTime"
    assert tt.field("AccountName").read_only and not tt.field("Account").read_only
    with pytest.raises(
        CatalogueError,
        match=r"Unknown field 'HourStatuss' on project/TimeTransactions\. "
        r"Did you mean: HourStatus",
    ):
        tt.field("HourStatuss")
    assert set(tt.date_fields) >= {"Date", "Created", "Modified"}
    assert all(tt.fields[name].type == "Edm.DateTime" for name in tt.date_fields)


def test_field_flags_are_read_from_the_data(catalogue: Catalogue) -> None:
    invoices = catalogue.endpoint("salesinvoice/SalesInvoices")
    lines = invoices.field("SalesInvoiceLines")
    assert lines.is_collection and lines.collection_of
    assert not invoices.field("InvoiceID").is_collection
    assert any(f.mandatory for f in invoices.fields.values())
    assert any(f.obsolete for e in catalogue for f in e.fields.values())
    assert any(f.insert_only for e in catalogue for f in e.fields.values())
    assert any(f.type_guess == "sibling" for e in catalogue for f in e.fields.values())


def test_resolve_fields_reports_every_unknown_at_once(catalogue: Catalogue) -> None:
    accounts = catalogue.endpoint("crm/Accounts")
    assert accounts.resolve_fields(["id", "NAME"]) == ("ID", "Name")
    with pytest.raises(CatalogueError) as caught:
        accounts.resolve_fields(["Nmae", "ID", "Cod"])
    assert len(caught.value.problems) == 2
    assert "Did you mean: Name" in caught.value.problems[0]
    invoices = catalogue.endpoint("salesinvoice/SalesInvoices")
    assert invoices.resolve_fields(["salesinvoicelines/Quantity"]) == ("SalesInvoiceLines/Quantity",)


def test_endpoint_without_field_list_accepts_names_but_field_explains(catalogue: Catalogue) -> None:
    rights = catalogue.endpoint("users/UserHasRights")
    assert rights.resolve_fields(["Anything"]) == ("Anything",)
    with pytest.raises(CatalogueError, match="no known field list"):
        rights.field("Anything")


def test_methods(catalogue: Catalogue) -> None:
    bulk = catalogue.endpoint("bulk/CRM/Accounts")
    assert bulk.allows("get") and not bulk.allows("POST")
    bulk.require_method("GET")
    with pytest.raises(CatalogueError, match=r"bulk/CRM/Accounts does not support POST; it allows GET\."):
        bulk.require_method("post")
    crud = catalogue.endpoint("crm/Accounts")
    with pytest.raises(CatalogueError, match="it allows GET, POST, PUT, DELETE"):
        crud.require_method("PATCH")


def test_url_paths(catalogue: Catalogue) -> None:
    assert catalogue.endpoint("crm/Accounts").url_path(123456) == "/api/v1/123456/crm/Accounts"
    assert catalogue.endpoint("crm/Accounts").url_path(" 42 ") == "/api/v1/42/crm/Accounts"
    assert catalogue.endpoint("budget/BudgetScenarios").url_path(7) == "/api/v1/beta/7/budget/BudgetScenarios"
    assert catalogue.endpoint("current/Me").url_path() == "/api/v1/current/Me"
    assert catalogue.endpoint("current/Me").url_path(99) == "/api/v1/current/Me"
    for bad in (None, 0, -3, "12a", True, 1.5):
        with pytest.raises(ValidationError, match="needs a division number"):
            catalogue.endpoint("crm/Accounts").url_path(bad)  # type: ignore[arg-type]


def test_twins_from_any_member(catalogue: Catalogue) -> None:
    for member in ("crm/Accounts", "BULK/crm/accounts", "sync/CRM/Accounts"):
        group = catalogue.twins(member)
        assert group.base.path == "crm/Accounts"
        assert group.bulk is not None and group.bulk.path == "bulk/CRM/Accounts"
        assert group.sync is not None and group.sync.path == "sync/CRM/Accounts"
    lines = catalogue.twins("financialtransaction/TransactionLines")
    assert (lines.bulk and lines.bulk.path, lines.sync and lines.sync.path) == (
        "bulk/Financial/TransactionLines",
        "sync/Financial/TransactionLines",
    )


def test_time_transactions_are_read_through_the_time_and_cost_feed(catalogue: Catalogue) -> None:
    group = catalogue.twins("project/TimeTransactions")
    assert group.bulk is None and group.sync is None  # no same-records twin
    assert group.rows is not None and group.rows.path == "sync/Project/TimeCostTransactions"
    assert group.row_rule is not None and (group.row_rule.kind_field, group.row_rule.kind) == ("Type", 1)
    assert group.twin_for() is group.rows
    assert group.twin_for(["ID", "Quantity", "Activity"]) is group.rows  # WBS under the base's name
    assert group.twin_for(["ID", "Price"]) is None  # the feed lacks Price: stay on 60-row pages
    common = group.common_fields(group.rows)
    assert "Activity" in common and "Price" not in common and "Amount" not in common
    lone = catalogue.twins("sync/Project/TimeCostTransactions")
    assert lone.base.path == "sync/Project/TimeCostTransactions" and lone.bulk is None and lone.sync is None


def test_twin_for_prefers_bulk_and_respects_the_selection(catalogue: Catalogue) -> None:
    items = catalogue.twins("logistics/Items")
    assert items.twin_for() is items.bulk
    assert items.twin_for(["ID", "Code"]) is items.bulk
    assert items.twin_for(["id", "code"]) is items.bulk
    schedules = catalogue.twins("hrm/Schedules")
    assert schedules.twin_for() is schedules.sync
    assert schedules.twin_for(["ID"]) is schedules.sync
    assert schedules.twin_for(["ID", "Employee"]) is None  # the sync twin lacks Employee
    assert catalogue.twins("crm/Accounts").twin_for(["ID", "NoSuchField"]) is None


def test_common_fields_leave_out_collections_and_twin_only_fields(catalogue: Catalogue) -> None:
    quotations = catalogue.twins("crm/Quotations")
    assert quotations.sync is not None
    common = quotations.common_fields(quotations.sync)
    assert "QuotationID" in common and "Timestamp" not in common and "QuotationLines" not in common
    assert list(common) == [n for n in quotations.base.fields if n in common]


def test_catalogue_from_constructed_endpoints() -> None:
    base = _endpoint("things/Things", methods=("GET", "POST"))
    bulk = _endpoint("bulk/Things/Things", kind="bulk", page_size=1000)
    small = Catalogue([base, bulk], twins={"things/Things": ("bulk/Things/Things", None)})
    assert small.twins("things/things").bulk is bulk
    assert small.endpoint("bulk/things/things") is bulk
    assert base.url_path(1) == "/api/v1/1/things/Things"
    with pytest.raises(CatalogueError, match="appears twice"):
        Catalogue([base, _endpoint("THINGS/things")], twins={})
    with pytest.raises(CatalogueError, match="Unknown endpoint 'bulk/Missing'"):
        Catalogue([base], twins={"things/Things": ("bulk/Missing", None)})


def test_endpoint_fields_are_read_only_and_hashable() -> None:
    endpoint = _endpoint("things/Things")
    with pytest.raises(TypeError):
        endpoint.fields["X"] = Field(name="X", type="Edm.String")  # type: ignore[index]
    assert hash(endpoint) == hash(_endpoint("things/Things"))
    assert endpoint == _endpoint("things/Things")


def test_bad_catalogue_data_is_refused() -> None:
    entry: dict[str, object] = {
        "service": "x",
        "methods": ["GET", "PATCH"],
        "key": None,
        "key_type": None,
        "fields": {},
    }
    with pytest.raises(CatalogueError, match="bad methods"):
        Catalogue.from_data({"endpoints": {"x/Y": entry}})
    entry = {"service": "x", "methods": ["GET"], "key": "ID", "key_type": "uuid", "fields": {}}
    with pytest.raises(CatalogueError, match="bad key_type"):
        Catalogue.from_data({"endpoints": {"x/Y": entry}})


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("crm/Accounts", "crm/Accounts"),
        ("//crm//Accounts//", "crm/Accounts"),
        ("http://localhost:8080/api/v1/5/crm/Accounts", "crm/Accounts"),
        ("api/v1/beta/5/budget/BudgetScenarios", "budget/BudgetScenarios"),
        ("api/v1/current/Me", "current/Me"),
        ("5/crm/Accounts", "crm/Accounts"),
    ],
)
def test_normalise_path(given: str, expected: str) -> None:
    assert normalise_path(given) == expected



def test_fields_described_alike_are_one_shared_field_and_unlike_ones_stay_apart() -> None:
    """Loading shares a ``Field`` between endpoints whose entries describe it alike (half the time of
    loading the catalogue); a field described otherwise anywhere keeps its own."""
    import json
    from importlib import resources

    from exactmate.catalogue import _shared_field

    catalogue = Catalogue.load()
    accounts, items = catalogue.endpoint("crm/Accounts"), catalogue.endpoint("logistics/Items")
    assert accounts.fields["Created"] is items.fields["Created"]
    data = json.loads(resources.files("exactmate.data").joinpath("catalogue.json").read_text("utf-8"))
    objects: dict[tuple[object, ...], set[int]] = {}
    for path, entry in data["endpoints"].items():
        fields = catalogue.endpoint(path).fields
        for name, raw in entry["fields"].items():
            objects.setdefault((name, *raw.items()), set()).add(id(fields[name]))
    assert all(len(ids) == 1 for ids in objects.values())  # described alike: one object
    assert len({next(iter(ids)) for ids in objects.values()}) == len(objects) > 3000  # unlike: apart
    made: dict = {}
    odd = _shared_field("ID", {"type": "Edm.Guid", "x": []}, made)  # not hashable: made apart
    assert not made
    assert odd == _shared_field("ID", {"type": "Edm.Guid"}, made)
    assert list(made) == [("ID", (("type", "Edm.Guid"),))]
