"""Meta-tests over the WHOLE catalogue through its API: every endpoint, key, field and twin."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from typing import Any

import pytest

from exactmate.catalogue import HTTP_METHODS, NO_BASE, TWINS, Catalogue, Endpoint
from exactmate.odata import F

CATALOGUE = Catalogue.load()
ENDPOINTS = list(CATALOGUE)
KEY_EDM_TYPES = {
    "guid": {"Edm.Guid"},
    "int": {"Edm.Byte", "Edm.Int16", "Edm.Int32", "Edm.Int64"},
    "string": {"Edm.String"},
}
SCALAR_TYPES = {
    "Edm.Guid",
    "Edm.String",
    "Edm.Int16",
    "Edm.Int32",
    "Edm.Int64",
    "Edm.Byte",
    "Edm.Double",
    "Edm.DateTime",
    "Edm.Boolean",
    "Edm.Binary",
}
# Sync twins whose own record_id is not the base key; the base key is still one of their fields.
SYNC_RECORD_ID_DIFFERS = {
    "sync/CRM/QuotationHeaders": "ID",  # base crm/Quotations is keyed by QuotationID
    "sync/SalesOrder/SalesOrderHeaders": "ID",  # base salesorder/SalesOrders is keyed by OrderID
    "sync/Manufacturing/MaterialIssues": None,  # the source names no record_id
    "sync/SalesOrder/GoodsDeliveries": None,
    "sync/Subscription/Subscriptions": None,
}


def _raw() -> dict[str, Any]:
    text = resources.files("exactmate.data").joinpath("catalogue.json").read_text("utf-8")
    endpoints: dict[str, Any] = json.loads(text)["endpoints"]
    return endpoints


def _ids(endpoints: list[Endpoint]) -> list[str]:
    return [e.path for e in endpoints]


def test_every_raw_entry_loads_and_resolves_in_any_case() -> None:
    raw = _raw()
    assert _ids(ENDPOINTS) == list(raw)
    for path in raw:
        assert CATALOGUE.endpoint(path).path == path
        assert CATALOGUE.endpoint(path.upper()).path == path
        assert CATALOGUE.endpoint(f"/api/v1/1/{path.lower()}/").path == path
        assert list(CATALOGUE.endpoint(path).fields) == list(raw[path]["fields"])


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids(ENDPOINTS))
def test_endpoint_is_consistent(endpoint: Endpoint) -> None:
    assert endpoint.methods and endpoint.methods <= set(HTTP_METHODS)
    assert endpoint.name == endpoint.path.rsplit("/", 1)[-1]
    expected_kind = {"bulk": "bulk", "sync": "sync", "read": "read"}.get(endpoint.service, "rest")
    assert endpoint.kind == ("me" if endpoint.path == "current/Me" else expected_kind)
    if endpoint.kind in ("bulk", "sync"):
        assert endpoint.path.startswith(endpoint.kind + "/")
        assert endpoint.methods == {"GET"} and endpoint.page_size == 1000
    if endpoint.function_params:
        assert endpoint.kind == "read" or endpoint.path == "users/UserHasRights"
    assert endpoint.url_path(1).endswith("/" + endpoint.path)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids(ENDPOINTS))
def test_keys_exist_among_fields_with_matching_types(endpoint: Endpoint) -> None:
    if endpoint.key is None:
        assert endpoint.key_type is None and endpoint.keys == ()
        return
    assert endpoint.keys[0] == endpoint.key
    for key in endpoint.keys:
        assert key in endpoint.fields, key
    key_edm = endpoint.fields[endpoint.key].type
    if endpoint.key_type is None:
        # Only the SyncTimestamp function: keyed by a date, which no key type can address.
        assert key_edm == "Edm.DateTime", endpoint.path
    else:
        assert key_edm in KEY_EDM_TYPES[endpoint.key_type]
    if endpoint.kind == "sync":
        assert (endpoint.key, key_edm) == ("Timestamp", "Edm.Int64")
        assert endpoint.record_id is None or endpoint.record_id in endpoint.fields


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=_ids(ENDPOINTS))
def test_fields_are_well_formed(endpoint: Endpoint) -> None:
    for name, field in endpoint.fields.items():
        assert field.name == name
        assert endpoint.field(name.lower()) is field
        F(name)  # every catalogue field name is usable in a filter
        if field.is_collection:
            assert field.type == "Collection" and field.collection_of
        else:
            assert field.type in SCALAR_TYPES or field.type.startswith("Exact.Web.Api.Models."), field.type
        assert field.type_guess in (None, "sibling", "name")


@pytest.mark.parametrize(("index", "endpoint"), list(enumerate(ENDPOINTS)), ids=_ids(ENDPOINTS))
def test_near_misses_always_suggest_the_endpoint(index: int, endpoint: Endpoint) -> None:
    # One kind of typo per endpoint, taking turns (difflib is slow enough to make all three costly).
    path = endpoint.path
    middle = len(path) - len(endpoint.name) + (len(endpoint.name) - 1) // 2
    variant = [
        path[:middle] + path[middle + 1 :],  # a letter dropped
        path[:middle] + path[middle + 1] + path[middle] + path[middle + 2 :],  # two letters swapped
        path + "s",  # one letter too many
    ][index % 3]
    if variant.lower() == path.lower() or variant in CATALOGUE:
        variant = path[:middle] + path[middle + 1 :]
    assert variant not in CATALOGUE
    suggestions = CATALOGUE.suggest(variant)
    assert suggestions, variant
    assert path in suggestions, (variant, suggestions)


def _twin_groups() -> list[tuple[str, str, str]]:
    groups = []
    for base, (bulk, sync) in TWINS.items():
        groups += [(base, bulk, "bulk")] if bulk else []
        groups += [(base, sync, "sync")] if sync else []
    return groups


def test_every_bulk_and_sync_endpoint_is_paired_or_explained() -> None:
    paired = Counter(twin for _, twin, _ in _twin_groups())
    assert all(count == 1 for count in paired.values()), paired
    for endpoint in CATALOGUE:
        if endpoint.kind not in ("bulk", "sync"):
            continue
        in_twins, in_no_base = endpoint.path in paired, endpoint.path in NO_BASE
        assert in_twins != in_no_base, f"{endpoint.path}: pair it in TWINS or explain it in NO_BASE"
    for path, reason in NO_BASE.items():
        assert CATALOGUE.endpoint(path).path == path and CATALOGUE.endpoint(path).kind in ("bulk", "sync")
        assert len(reason) > 15


def test_bases_are_regular_endpoints_named_like_their_twins() -> None:
    for base_path in TWINS:
        base = CATALOGUE.endpoint(base_path)
        assert base.path == base_path and base.kind == "rest" and base.key_type == "guid"
    for base_path, twin_path, kind in _twin_groups():
        twin = CATALOGUE.endpoint(twin_path)
        assert twin.path == twin_path and twin.kind == kind
        base_name = base_path.rsplit("/", 1)[-1]
        assert twin.name in (base_name, base_name.removesuffix("s") + "Headers")


@pytest.mark.parametrize(
    ("base_path", "twin_path", "kind"), _twin_groups(), ids=[g[1] for g in _twin_groups()]
)
def test_twins_share_key_and_compatible_fields(base_path: str, twin_path: str, kind: str) -> None:
    base, twin = CATALOGUE.endpoint(base_path), CATALOGUE.endpoint(twin_path)
    assert base.key is not None and base.key in twin.fields
    assert twin.fields[base.key].type == base.fields[base.key].type
    if kind == "bulk":
        assert (twin.key, twin.key_type) == (base.key, base.key_type)
    elif twin_path in SYNC_RECORD_ID_DIFFERS:
        assert twin.record_id == SYNC_RECORD_ID_DIFFERS[twin_path]
    else:
        assert twin.record_id == base.key
    common = set(base.fields) & set(twin.fields)
    mismatched = {
        n: (base.fields[n].type, twin.fields[n].type)
        for n in common
        if base.fields[n].type != twin.fields[n].type
    }
    assert not mismatched
    plain = [n for n, f in base.fields.items() if not f.is_collection]
    share = sum(n in twin.fields for n in plain) / len(plain)
    assert share >= 0.6, f"{twin_path} carries only {share:.0%} of {base_path}'s fields: same records?"
    extra = set(twin.fields) - set(base.fields)
    if kind == "bulk":
        assert not extra
    else:
        assert "Timestamp" in extra and len(extra) <= 15, sorted(extra)  # no line-level row shapes


@pytest.mark.parametrize(
    ("base_path", "twin_path", "kind"), _twin_groups(), ids=[g[1] for g in _twin_groups()]
)
def test_twins_resolve_from_every_member(base_path: str, twin_path: str, kind: str) -> None:
    for member in (base_path, twin_path):
        group = CATALOGUE.twins(member)
        assert group.base.path == base_path
        assert getattr(group, kind).path == twin_path
    group = CATALOGUE.twins(base_path)
    twin = group.twin_for([group.base.key or ""])
    assert twin is not None and twin.path == (group.bulk or group.sync).path  # type: ignore[union-attr]
    common = group.common_fields(CATALOGUE.endpoint(twin_path))
    assert group.twin_for(common) is not None


def test_known_line_level_syncs_are_not_twins() -> None:
    for path in (
        "sync/SalesInvoice/SalesInvoices",
        "sync/PurchaseOrder/PurchaseOrders",
        "sync/CRM/Quotations",
    ):
        assert "LineNumber" in CATALOGUE.endpoint(path).fields and path in NO_BASE
        assert CATALOGUE.twins(path).base.path == path
    assert CATALOGUE.twins("project/TimeTransactions").sync is None
    assert "Type" in CATALOGUE.endpoint("sync/Project/TimeCostTransactions").fields
