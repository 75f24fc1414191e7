"""Alembic's environment for the store: one set of migrations for SQLite and PostgreSQL.

exactmate runs it through ``store/upgrade.py``, which passes a connection already inside its
transaction (``BEGIN IMMEDIATE`` on SQLite, the advisory lock taken on PostgreSQL) as
``config.attributes["connection"]``. A developer running Alembic's own command from the repository
(``alembic.ini``) migrates or compares the store that ``EXACTMATE_DB`` / ``EXACTMATE_HOME`` name.
SQLite alterations are written in batch mode (``render_as_batch``): SQLite's ALTER TABLE cannot
change columns or constraints, so a batch copies the table.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from exactmate.store.schema import metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("exactmate's migrations run on a database connection; --sql is not supported")
    given = context.config.attributes.get("connection")
    if given is not None:
        run(given)
        return
    from exactmate.config import Settings

    engine = create_engine(Settings.from_env().db_url)
    try:
        with engine.connect() as connection:
            run(connection)
    finally:
        engine.dispose()


main()
