"""The named migrations of the store's schema, and the runner that applies the missing ones.

Each migration is a name and a script of ``;``-separated statements, applied once, in
order, each in its own transaction and recorded in the ``migrations`` table.  The script is
one text for both engines (:meth:`~appliance.store.dialect.Dialect.ddl` translates its column
types for PostgreSQL) or ``{"sqlite": ..., "postgresql": ...}`` where translation is not enough.
On PostgreSQL every step first takes an advisory lock, so two nodes starting together apply
it once.  A ``migrations`` row this code does not know means a newer appliance wrote the
database: the store refuses to start (:class:`~appliance.errors.SchemaNewer`).  Migrations are forward-only; a new one is appended, never
edited: each feature adds its own module to this package (one ``STEPS`` tuple, named
``NNNN_what``) and appends it to :data:`MIGRATIONS` below.
The SQL sticks to what PostgreSQL also has (see :mod:`appliance.store.database`).
A statement whose first result column is named ``notice`` tells what the step changed that an
operator should hear (a row it could not keep as it was): each of its rows is one WARNING line,
logged once the step has committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from appliance.errors import SchemaNewer
from appliance.store.dialect import SQLITE, Dialect
from appliance.store.migrations import (
    alertsperpolicy,
    applications,
    broadcastschedules,
    compose,
    contacts,
    firings,
    fleet,
    initial,
    keywordjobs,
    leaner,
    listkeywords,
    nodetokens,
    oncall,
    oncallpolicies,
    oncallpolicy,
    optouts,
    partialindexes,
    radiohistory,
    usermessages,
    webhookdebug,
)

LOGGER = logging.getLogger(__name__)
LOCK_KEY = 0x4150504C  # "APPL": pg_advisory_xact_lock's key for the migrations

# In order of application; a name is applied once, whatever module holds it.
MIGRATIONS: tuple[tuple[str, str | Mapping[str, str]], ...] = (
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
    *optouts.STEPS,
    *alertsperpolicy.STEPS,
    *partialindexes.STEPS,
    *fleet.STEPS,
    *firings.STEPS,
    *broadcastschedules.STEPS,
    *nodetokens.STEPS,
    *keywordjobs.STEPS,
    *usermessages.STEPS,
    *listkeywords.STEPS,
)


def script(sql: str | Mapping[str, str], dialect: Dialect) -> list[str]:
    """A step's statements in ``dialect``."""
    text = sql if isinstance(sql, str) else sql[dialect.name]
    return [dialect.ddl(s) for s in text.split(";") if s.strip()]


def check_known(done: set[str]) -> None:
    """Refuse a database that has migrations this code does not know."""
    known = [name for name, _sql in MIGRATIONS]
    unknown = sorted(done - set(known))
    if unknown:
        raise SchemaNewer(
            f"the database has migrations {', '.join(unknown)}; this appliance knows up to"
            f" {known[-1]}: it was written by a newer appliance, so upgrade this one"
        )


def migrate(conn: Any) -> None:
    """Apply the migrations ``conn``'s database has not had yet (``conn`` is in autocommit;
    a ``sqlite3.Connection`` or the PostgreSQL store's connection, with ``dialect``)."""
    dialect: Dialect = getattr(conn, "dialect", SQLITE)
    pg = dialect is not SQLITE
    begin = "BEGIN" if pg else "BEGIN IMMEDIATE"

    def locked() -> None:
        conn.execute(begin)
        if pg:  # serialises the nodes of a fleet that start together
            conn.execute("SELECT pg_advisory_xact_lock(?)", (LOCK_KEY,))

    locked()
    conn.execute(
        dialect.ddl(
            "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied REAL NOT NULL)"
        )
    )
    done = {r[0] for r in conn.execute("SELECT name FROM migrations")}
    conn.execute("COMMIT")
    check_known(done)
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        notices: list[str] = []
        locked()
        try:
            if pg and conn.execute("SELECT 1 FROM migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("COMMIT")  # another node applied it meanwhile
                continue
            LOGGER.info("applying migration %s", name)
            for statement in script(sql, dialect):
                cur = conn.execute(statement)
                if cur.description and cur.description[0][0] == "notice":
                    notices += [str(row[0]) for row in cur.fetchall()]
            conn.execute(
                "INSERT INTO migrations (name, applied) VALUES (?, ?)", (name, time.time())
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        for notice in notices:
            LOGGER.warning("migration %s: %s", name, notice)
