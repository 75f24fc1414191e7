"""The store's Alembic migrations: ``env.py`` and one file per revision in ``versions/``.

Shipped inside the package and run by ``store/upgrade.py``; see docs/architecture.md ("The store's
schema") for adding a revision.
"""
