"""Which store a configuration asks for: SQLite in data_dir (the default), or PostgreSQL at
``database_url`` (:mod:`appliance.store.pg`, imported only then: a single box never loads
psycopg, so its idle memory does not change)."""

from __future__ import annotations

from appliance.config import Config
from appliance.store.database import SqliteStore, Store


def open_store(config: Config) -> Store:
    """The store ``config`` asks for, migrated and ready; a
    :class:`~appliance.errors.StoreError` (one line, no password) if it cannot be used."""
    url = config.database_url.strip()
    if not url:
        return SqliteStore(config.db_path)
    from appliance.store.pg import PgStore

    return PgStore(url)
