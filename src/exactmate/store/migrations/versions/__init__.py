"""The store's revisions, oldest first by their numbered names (Alembic ignores this file)."""
