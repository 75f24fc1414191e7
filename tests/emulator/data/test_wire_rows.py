"""How a record becomes a JSON row: every selected field in the order asked for, null where the
record has none, nothing else (not the store's Timestamp, unless selected), always from the
record's current values."""

from __future__ import annotations

import gc
from typing import Any

import httpx
import orjson
import pytest

from exactmate.emulator.catalogue import load_catalogue
from exactmate.emulator.serialize import Shape, json_row, json_rows
from tests.emulator.data.support import FIRST, results

ACCOUNTS = f"/api/v1/{FIRST}/crm/Accounts"
BULK = f"/api/v1/{FIRST}/bulk/CRM/Accounts"
FIELDS = list(load_catalogue().lookup("crm/Accounts").fields)  # type: ignore[union-attr]


def _by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["ID"]: row for row in rows}


@pytest.mark.parametrize(
    "url, params",
    [(ACCOUNTS, {}), (ACCOUNTS, {"$select": "*"}), (BULK, {"$select": ",".join(FIELDS)})],
    ids=["no select", "star", "bulk, every field named"],
)
def test_a_page_of_every_field_lists_the_catalogue_fields_in_order_and_nothing_else(
    api: httpx.Client, url: str, params: dict[str, str]
) -> None:
    rows = results(api.get(url, params=params))
    assert len(rows) == 60 if url == ACCOUNTS else len(rows) == 150
    for row in rows:
        assert list(row) == ["__metadata", *FIELDS]
    first = rows[0]
    assert first["Created"].startswith("/Date(") and first["Remarks"] is None
    assert first["BankAccounts"] == {"__deferred": {"uri": first["__metadata"]["uri"] + "/BankAccounts"}}


@pytest.mark.parametrize(
    "names",
    [
        FIELDS[:40],  # wide: the record holds fields beyond these, dropped one by one
        ["Name", "ID", "Created", "BankAccounts"],  # narrow, not in the catalogue's order
        FIELDS[::-1],  # every field, backwards
        ["Remarks", "StartDate", "ID"],  # fields the demo records do not hold
    ],
    ids=["first 40", "narrow", "reversed", "unheld"],
)
def test_a_selection_is_the_every_field_row_cut_down(api: httpx.Client, names: list[str]) -> None:
    full = results(api.get(ACCOUNTS))
    chosen = results(api.get(ACCOUNTS, params={"$select": ",".join(names)}))
    assert [row["__metadata"] for row in chosen] == [row["__metadata"] for row in full]
    for whole, cut in zip(full, chosen, strict=True):
        expected = [("__metadata", whole["__metadata"]), *((name, whole[name]) for name in names)]
        assert list(cut.items()) == expected


def test_a_written_record_is_rendered_from_its_new_values_in_the_same_places(api: httpx.Client) -> None:
    before = results(api.get(ACCOUNTS))
    changed, deleted = before[0]["ID"], before[1]["ID"]
    update = {"Name": "Renamed B.V.", "Remarks": "a note", "StartDate": "2026-05-01T00:00:00"}
    assert api.put(f"{ACCOUNTS}(guid'{changed}')", json=update).status_code == 204
    assert api.delete(f"{ACCOUNTS}(guid'{deleted}')").status_code == 204
    created = api.post(ACCOUNTS, json={"Name": "New One", "City": "Zürich"})
    assert created.status_code == 201, created.text
    new_id = created.json()["d"]["ID"]

    listings = {"crm": api.get(ACCOUNTS), "bulk": api.get(BULK, params={"$select": ",".join(FIELDS)})}
    for name, listing in listings.items():
        after = _by_id(results(listing))
        assert deleted not in after, name
        row = after[changed]
        assert list(row) == ["__metadata", *FIELDS], name
        assert (row["Name"], row["Remarks"]) == ("Renamed B.V.", "a note")
        assert row["StartDate"].startswith("/Date(") and row["Modified"] != before[0]["Modified"]
        kept = [k for k in FIELDS if k not in ("Name", "Remarks", "StartDate", "Modified", "BankAccounts")]
        assert {k: row[k] for k in kept} == {k: before[0][k] for k in kept}, name
    new = results(api.get(ACCOUNTS, params={"$filter": f"ID eq guid'{new_id}'"}))[0]
    assert list(new) == ["__metadata", *FIELDS]
    assert (new["Name"], new["City"], new["Phone"]) == ("New One", "Zürich", None)


def _wire(row: dict[str, Any]) -> dict[str, Any]:
    """A rendered row as a client reads it: its JSON text, parsed (keys keep their order)."""
    parsed: dict[str, Any] = orjson.loads(orjson.dumps(row))
    return parsed


def test_json_row_keeps_only_the_shape_whatever_the_record_holds_and_where() -> None:
    endpoint = load_catalogue().lookup("crm/Accounts")
    assert endpoint is not None
    uri = "http://e/api/v1/1/crm/Accounts(guid'k')"
    meta = {"uri": uri, "type": "Exact.Web.Api.Models.Account"}
    # More held than selected: only the selected fields, looked up.
    narrow = Shape.of(endpoint, ("Name", "Created", "ID"))
    held = {"Timestamp": 7, "ID": "k", "Extra": 1, "Name": "N", "Created": 5}
    assert list(_wire(json_row(held, narrow, uri)).items()) == [
        ("__metadata", meta),
        ("Name", "N"),
        ("Created", "/Date(5)/"),
        ("ID", "k"),
    ]
    # Fewer held than selected, some not selected and not at the end: dropped, the rest null.
    wide = Shape.of(endpoint, ("Name", "Created", "ID", "City", "Email", "BankAccounts"))
    held = {"Timestamp": 7, "Extra": 1, "ID": "k", "Name": "N", "Created": None}
    assert list(_wire(json_row(held, wide, uri)).items()) == [
        ("__metadata", meta),
        ("Name", "N"),
        ("Created", None),
        ("ID", "k"),
        ("City", None),
        ("Email", None),
        ("BankAccounts", {"__deferred": {"uri": uri + "/BankAccounts"}}),
    ]
    expanded = Shape.of(endpoint, ("ID", "BankAccounts"), expand=("BankAccounts",))
    row = _wire(json_row({"ID": "k", "BankAccounts": [{"IBAN": "x"}]}, expanded, uri))
    assert row["BankAccounts"] == {"results": [{"IBAN": "x"}]}
    assert held == {"Timestamp": 7, "Extra": 1, "ID": "k", "Name": "N", "Created": None}  # not mutated


def test_rendered_rows_stay_out_of_the_garbage_collectors_sight() -> None:
    """A page's rows hold no container (their ``__metadata`` and deferred links are JSON text), so
    the collector, which runs several times while a 1,000-row page is built, never walks them."""
    endpoint = load_catalogue().lookup("crm/Accounts")
    assert endpoint is not None
    every_field = Shape.of(endpoint, None)
    assert "BankAccounts" in every_field.links
    records = [{"ID": f"k{i}", "Name": "N", "Created": 5, "Timestamp": i} for i in range(3)]
    uris = [f"http://e/api/v1/1/crm/Accounts(guid'k{i}')" for i in range(3)]
    rows = json_rows(records, uris, every_field)
    assert not any(gc.is_tracked(row) for row in rows)
    first = _wire(rows[0])
    assert first["__metadata"] == {"uri": uris[0], "type": "Exact.Web.Api.Models.Account"}
    assert first["BankAccounts"] == {"__deferred": {"uri": uris[0] + "/BankAccounts"}}


def test_a_uri_needing_escapes_is_written_as_valid_json() -> None:
    endpoint = load_catalogue().lookup("crm/Accounts")
    assert endpoint is not None
    uri = "http://e/api/v1/1/crm/Accounts('a\"b\\c\u00e9')"
    row = _wire(json_row({"ID": "k"}, Shape.of(endpoint, ("ID", "BankAccounts")), uri))
    assert row["__metadata"]["uri"] == uri
    assert row["BankAccounts"] == {"__deferred": {"uri": uri + "/BankAccounts"}}
