"""The sync tables' layout: names, typed columns, and a field added later becoming a column with no
row lost (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    MetaData,
    String,
    Text,
    create_engine,
    insert,
    select,
    text,
)

from exactmate.catalogue import Catalogue
from exactmate.sync.tables import DIVISION, SYNCED_AT, TIMESTAMP, ensure, record_table, table_name

CATALOGUE = Catalogue.load()


def test_names_and_types_come_from_the_catalogue() -> None:
    accounts = CATALOGUE.endpoint("crm/Accounts")
    assert table_name(accounts) == "crm_accounts"
    assert table_name(CATALOGUE.endpoint("project/TimeTransactions")) == "project_timetransactions"
    fields = ["ID", "Name", "Created", "Blocked", "CreditLinePurchase", "Type"]
    table = record_table(MetaData(), accounts, fields)
    kinds = {column.name: type(column.type) for column in table.columns}
    assert kinds["ID"] is String and kinds["Name"] is Text and kinds["Created"] is DateTime
    assert kinds["Blocked"] is Boolean and kinds["CreditLinePurchase"] is Float
    assert [c.name for c in table.primary_key.columns] == [DIVISION, "ID"]
    assert kinds[TIMESTAMP] is BigInteger and kinds[SYNCED_AT] is DateTime


def test_a_field_added_later_becomes_a_column_and_no_row_is_lost(target: str) -> None:
    accounts = CATALOGUE.endpoint("crm/Accounts")
    engine = create_engine(target)
    try:
        first = record_table(MetaData(), accounts, ["ID", "Name"])
        assert ensure(engine, first) == []
        with engine.begin() as db:
            row = {DIVISION: 1, "ID": "a", "Name": "Acme", SYNCED_AT: datetime.now(UTC)}
            db.execute(insert(first).values(row))
        later = record_table(MetaData(), accounts, ["ID", "Name", "City", "Blocked"])
        assert ensure(engine, later) == ["City", "Blocked"]
        with engine.connect() as db:
            columns = set(db.execute(text("SELECT * FROM crm_accounts WHERE 1 = 0")).keys())
        assert {"City", "Blocked"} <= columns
        with engine.connect() as db:
            assert db.execute(select(later.c.Name, later.c.City)).all() == [("Acme", None)]
        assert ensure(engine, later) == []  # nothing left to add
    finally:
        engine.dispose()
