"""Subscriber lists: lists and their members in the store, the audience of a broadcast.

A list belongs to one modem (its number is the one people text).  People join and
leave by SMS keyword (:mod:`appliance.campaigns.keywords`) or are added by hand or by
CSV import (:mod:`appliance.campaigns.imports`).  A keyword, join or leave, selects one
list per number: the database holds the rule (``list_keywords``, migration 0027), so two
creates racing on two nodes give one list and one form error.  Opt-outs (STOP) are kept by
:mod:`appliance.sms.optout` and checked by the outbox on every send, so a subscriber
who texted STOP is never sent to, whatever their status here.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from appliance.campaigns.imports import SubscriberImports
from appliance.campaigns.keywords import Keywords, check_keyword
from appliance.campaigns.subscribers import MAX_NAME, Subscriber, SubscriberError, upsert
from appliance.sms.outbox import Outbox
from appliance.store.database import Row, Store


def claim(conn: sqlite3.Connection, modem: str, keyword: str, list_id: int) -> bool:
    """Claim ``keyword`` on ``modem`` for the list (``list_keywords``, migration 0027); False
    when another list holds it (the raising caller's transaction is rolled back)."""
    return (
        conn.execute(
            "INSERT INTO list_keywords (modem, keyword, list_id) VALUES (?,?,?)"
            " ON CONFLICT (modem, keyword) DO NOTHING RETURNING list_id",
            (modem, keyword, list_id),
        ).fetchone()
        is not None
    )


class Subscribers:
    """Lists and subscribers in the store; keyword handling for inbound SMS."""

    def __init__(self, store: Store, outbox: Outbox | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.keywords = Keywords(store, outbox)
        self.imports = SubscriberImports(store)

    # -- lists ---------------------------------------------------------------------------------

    def create_list(self, name: str, modem: str, join_keyword: str, leave_keyword: str) -> int:
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise SubscriberError(f"A list needs a name of 1 to {MAX_NAME} characters", "name")
        join = check_keyword(join_keyword, "join_keyword")
        leave = check_keyword(leave_keyword, "leave_keyword")
        if join and join == leave:
            raise SubscriberError(
                "The leave keyword must differ from the join keyword", "leave_keyword"
            )

        def fn(conn: sqlite3.Connection) -> int:
            # The database's unique keys are the check (no read first): of two creates racing
            # on two nodes, the second waits for the first's commit, then inserts nothing.
            row = conn.execute(
                "INSERT INTO subscriber_lists (name, modem, join_keyword, leave_keyword, created)"
                " VALUES (?,?,?,?,?) ON CONFLICT (name) DO NOTHING RETURNING id",
                (name, modem, join, leave, time.time()),
            ).fetchone()
            if row is None:
                raise SubscriberError(f"There is already a list named {name!r}", "name")
            list_id = int(row[0])
            for word, f in ((join, "join_keyword"), (leave, "leave_keyword")):
                if word and modem and not claim(conn, modem, word, list_id):
                    raise SubscriberError(
                        f"{word} is already used by another list on this number", f
                    )
            return list_id

        return self.store.write(fn)

    def lists(self) -> list[Row]:
        return self.store.read(
            "SELECT l.*, (SELECT COUNT(*) FROM subscribers s WHERE s.list_id = l.id"
            " AND s.status = 'active') AS active FROM subscriber_lists l ORDER BY l.name"
        )

    def get_list(self, list_id: int) -> Row | None:
        return self.store.read_one("SELECT * FROM subscriber_lists WHERE id = ?", (list_id,))

    # -- subscribers ---------------------------------------------------------------------------

    def add(self, list_id: int, sub: Subscriber) -> None:
        self.store.write(lambda conn: upsert(conn, list_id, sub, time.time()))

    def set_status(self, list_id: int, phone_number: str, status: str) -> bool:
        def fn(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE subscribers SET status = ?, updated = ? WHERE list_id = ? AND phone_number = ?",
                (status, time.time(), list_id, phone_number),
            )
            return cur.rowcount > 0

        return self.store.write(fn)

    def members(self, list_id: int, *, limit: int = 200, offset: int = 0) -> list[Row]:
        """Subscribers of a list, with ``opted_out`` (1 when they texted STOP to the list's number)."""
        return self.store.read(
            "SELECT s.*, EXISTS (SELECT 1 FROM opt_outs o JOIN numbers n ON n.phone_number = o.phone_number"
            " WHERE n.modem = l.modem AND o.sender = s.phone_number) AS opted_out"
            " FROM subscribers s JOIN subscriber_lists l ON l.id = s.list_id"
            " WHERE s.list_id = ? ORDER BY s.id LIMIT ? OFFSET ?",
            (list_id, limit, offset),
        )

    def count(self, list_id: int) -> int:
        row = self.store.read_one("SELECT COUNT(*) FROM subscribers WHERE list_id = ?", (list_id,))
        return int(row[0]) if row else 0

    def audience(self, list_id: int) -> list[Row]:
        """Active subscribers who have not opted out of the list's number."""
        return self.store.read(
            "SELECT s.* FROM subscribers s JOIN subscriber_lists l ON l.id = s.list_id"
            " WHERE s.list_id = ? AND s.status = 'active' AND NOT EXISTS ("
            "  SELECT 1 FROM opt_outs o JOIN numbers n ON n.phone_number = o.phone_number"
            "  WHERE n.modem = l.modem AND o.sender = s.phone_number)"
            " ORDER BY s.id",
            (list_id,),
        )

    def set_location(self, sub_id: int, lat: float, lon: float, tz: str) -> None:
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE subscribers SET latitude = ?, longitude = ?,"
                " timezone = CASE WHEN timezone = '' THEN ? ELSE timezone END WHERE id = ?",
                (lat, lon, tz, sub_id),
            )
        )

    # -- CSV import and keywords (see their modules) -------------------------------------------

    def start_import(self, list_id: int, text: str) -> int:
        """Record an import and run it on a thread; the page polls :meth:`import_state`."""
        return self.imports.start(list_id, text)

    def run_import(self, job: int, list_id: int, rows: list[list[str]]) -> None:
        self.imports.run(job, list_id, rows)

    def import_state(self, job: int) -> dict[str, Any] | None:
        return self.imports.state(job)

    def process_inbound(self) -> int:
        """Apply join/leave keywords of inbound messages not seen yet; returns how many matched."""
        return self.keywords.process_inbound()
