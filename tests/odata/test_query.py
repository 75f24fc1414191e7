"""Query options built in a stable order, every problem reported at once (odata/query.py)."""

from __future__ import annotations

import pytest

from exactmate.errors import ValidationError
from exactmate.odata import (
    F,
    Query,
    build_query,
)

GUID = "c5d3a5f2-1b2c-4d5e-8f90-0a1b2c3d4e5f"



def test_build_query_params_in_stable_order() -> None:
    query = build_query(
        select=["ID", "Name", "ID"],
        filter=F("Name") == "x",
        top=5,
        order_by=["Name desc", "ID"],
        expand="SalesInvoiceLines",
        skip=10,
        inline_count=True,
    )
    assert query.params() == [
        ("$select", "ID,Name"),
        ("$filter", "Name eq 'x'"),
        ("$expand", "SalesInvoiceLines"),
        ("$orderby", "Name desc,ID"),
        ("$top", "5"),
        ("$skip", "10"),
        ("$inlinecount", "allpages"),
    ]
    assert build_query().params() == []
    assert build_query(select="ID, Name") == Query(select=("ID", "Name"))
    assert build_query(top=0).params() == [("$top", "0")]


def test_build_query_filter_forms() -> None:
    assert build_query(filter="Timestamp gt 1").filter == "Timestamp gt 1"
    assert build_query(filter="  ").filter is None
    assert build_query(filter={}).filter is None
    mapped = build_query(filter={"Name": "O'Brien", "Status": [20, 50], "Blocked": False})
    assert mapped.filter == "Name eq 'O''Brien' and (Status eq 20 or Status eq 50) and Blocked eq false"
    typed = build_query(
        filter={"account": GUID, "Timestamp": 5},
        field_types={"Account": "Edm.Guid", "TimeStamp": "Edm.Int64"},
    )
    assert typed.filter == f"account eq guid'{GUID}' and Timestamp eq 5L"


def test_build_query_reports_every_problem_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        build_query(
            select=["ID", "*", "Bad Name"],
            filter={"ID": "nope", "Na'me": 1},
            top=-1,
            order_by=["Name sideways"],
            expand=["x)"],
            skip=True,
            field_types={"ID": "Edm.Guid"},
        )
    problems = caught.value.problems
    assert len(problems) == 8
    assert any("'*' is not a field name (list the fields you need)" in p for p in problems)
    assert any(p.startswith("$filter: ID: Expected a GUID") for p in problems)
    assert any(p.startswith("$top:") for p in problems) and any(p.startswith("$skip:") for p in problems)
    assert any(p.startswith("$orderby:") for p in problems) and any(
        p.startswith("$expand:") for p in problems
    )
