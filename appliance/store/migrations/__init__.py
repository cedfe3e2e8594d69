"""The named migrations of the store's schema, and the runner that applies the missing ones.

Each migration is a name and a script of ``;``-separated statements, applied once, in
order, each in its own ``BEGIN IMMEDIATE`` ... ``COMMIT`` and recorded in the
``migrations`` table.  Migrations are forward-only; a new one is appended, never
edited: each feature adds its own module to this package (one ``STEPS`` tuple, named
``NNNN_what``) and appends it to :data:`MIGRATIONS` below.
The SQL sticks to what PostgreSQL also has (see :mod:`appliance.store.database`).
"""

from __future__ import annotations

import logging
import sqlite3
import time

from appliance.store.migrations import (
    alertsperpolicy,
    applications,
    compose,
    contacts,
    initial,
    leaner,
    oncall,
    oncallpolicies,
    oncallpolicy,
    radiohistory,
    webhookdebug,
)

LOGGER = logging.getLogger(__name__)

# In order of application; a name is applied once, whatever module holds it.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    *initial.STEPS,
    *compose.STEPS,
    *webhookdebug.STEPS,
    *applications.STEPS,
    *oncall.STEPS,
    *radiohistory.STEPS,
    *leaner.STEPS,
    *contacts.STEPS,
    *oncallpolicy.STEPS,
    *oncallpolicies.STEPS,
    *alertsperpolicy.STEPS,
)


def migrate(conn: sqlite3.Connection) -> None:
    """Apply the migrations ``conn``'s database has not had yet (``conn`` is in autocommit)."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)"
    )
    done = {r[0] for r in conn.execute("SELECT name FROM migrations")}
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        LOGGER.info("applying migration %s", name)
        conn.execute("BEGIN IMMEDIATE")
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT INTO migrations (name, applied) VALUES (?, ?)", (name, time.time()))
        conn.execute("COMMIT")
