"""User-defined messages' rows: a call's subscriptions, the messages sent to its browser, and
the webhook jobs that post a browser's message to each subscription (migration 0026).

One SQL text for SQLite and PostgreSQL.  An ``IdempotencyKey`` is unique per call (the
tables' UNIQUE indexes): a repeated create finds the row the first one made, in the same
transaction, so two requests racing with one key make one row between them.  The cap of
:data:`MAX_SUBSCRIPTIONS` is counted under the call's row lock on PostgreSQL (``FOR UPDATE``),
so racing creates on one call take turns and cannot each see room for the last one (SQLite
has one writer).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from appliance import sids
from appliance.store.database import Row, Store
from appliance.store.dialect import SQLITE

KIND = "user-message"  # webhook_jobs.kind of a browser's message posted to a subscription
MAX_SUBSCRIPTIONS = 10  # subscriptions of one call: each message is posted to every one


class TooMany(Exception):
    """The call has :data:`MAX_SUBSCRIPTIONS` subscriptions already."""


def subscribe(
    store: Store, call_sid: str, callback: str, method: str, key: str | None
) -> tuple[Row, bool]:
    """A new subscription of ``call_sid`` (its row, True), or the one made before with
    ``key`` (its row, False); :class:`TooMany` past :data:`MAX_SUBSCRIPTIONS`."""
    sid, now = sids.new("ZY"), time.time()

    def fn(conn: sqlite3.Connection) -> tuple[Row, bool]:
        lock = getattr(conn, "dialect", SQLITE).lock
        if lock:
            # Concurrent writers (PostgreSQL, READ COMMITTED): creates on one call wait here
            # for each other's commit, so the count below sees every committed row.  The API
            # makes subscriptions only on a call it found, so the row is there to lock.
            conn.execute("SELECT 1 FROM calls WHERE sid = ?" + lock, (call_sid,))
        if key is not None:
            found = conn.execute(
                "SELECT * FROM user_message_subscriptions WHERE call_sid = ?"
                " AND idempotency_key = ?",
                (call_sid, key),
            ).fetchone()
            if found is not None:
                return found, False
        count = conn.execute(
            "SELECT COUNT(*) FROM user_message_subscriptions WHERE call_sid = ?", (call_sid,)
        ).fetchone()[0]
        if count >= MAX_SUBSCRIPTIONS:
            raise TooMany(call_sid)
        made = conn.execute(
            "INSERT INTO user_message_subscriptions"
            " (sid, call_sid, callback, method, idempotency_key, date_created)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (call_sid, idempotency_key) DO NOTHING",
            (sid, call_sid, callback, method, key, now),
        ).rowcount
        row = conn.execute(
            "SELECT * FROM user_message_subscriptions WHERE sid = ?"
            if made
            else "SELECT * FROM user_message_subscriptions WHERE call_sid = ?"
            " AND idempotency_key = ?",
            (sid,) if made else (call_sid, key),
        ).fetchone()
        return row, bool(made)

    return store.write(fn)


def unsubscribe(store: Store, call_sid: str, sid: str) -> bool:
    """Deletes subscription ``sid`` of ``call_sid``; False if there was none."""
    return bool(
        store.write(
            lambda conn: (
                conn.execute(
                    "DELETE FROM user_message_subscriptions WHERE sid = ? AND call_sid = ?",
                    (sid, call_sid),
                ).rowcount
            )
        )
    )


def record_sent(store: Store, call_sid: str, key: str | None) -> tuple[Row, bool]:
    """The row of a message the API sends to ``call_sid``'s browser (True: new, send it), or
    the row made before with ``key`` (False: sent already, do not send again)."""
    sid, now = sids.new("KX"), time.time()

    def fn(conn: sqlite3.Connection) -> tuple[Row, bool]:
        made = conn.execute(
            "INSERT INTO user_defined_messages (sid, call_sid, idempotency_key, date_created)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (call_sid, idempotency_key) DO NOTHING",
            (sid, call_sid, key, now),
        ).rowcount
        row = conn.execute(
            "SELECT * FROM user_defined_messages WHERE sid = ?"
            if made
            else "SELECT * FROM user_defined_messages WHERE call_sid = ? AND idempotency_key = ?",
            (sid,) if made else (call_sid, key),
        ).fetchone()
        return row, bool(made)

    return store.write(fn)


def forget_sent(store: Store, sid: str) -> None:
    """A message recorded but not sent (its call ended meanwhile): its key may be used again."""
    store.write(
        lambda conn: conn.execute("DELETE FROM user_defined_messages WHERE sid = ?", (sid,))
    )


def queue(store: Store, call_sid: str, params: Mapping[str, Any]) -> int:
    """One webhook job per subscription of ``call_sid``, posting ``params`` to its Callback,
    all in one transaction; how many (0: no subscription, the message is dropped).  The jobs
    of one subscription keep their order (the dispatcher orders jobs by ``message_sid``,
    here the subscription's SID), and a slow Callback never holds up the call's status
    callbacks."""
    now = time.time()
    body = json.dumps(dict(params), sort_keys=True)

    def fn(conn: sqlite3.Connection) -> int:
        rows = conn.execute(
            "SELECT sid, callback, method FROM user_message_subscriptions WHERE call_sid = ?"
            " ORDER BY date_created, sid",
            (call_sid,),
        ).fetchall()
        for row in rows:
            conn.execute(
                "INSERT INTO webhook_jobs (kind, message_sid, url, method, params, token, state,"
                " next_attempt_at, created) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (
                    KIND,
                    row["sid"],
                    row["callback"],
                    row["method"],
                    body,
                    sids.idempotency_token(),
                    now,
                    now,
                ),
            )
        return len(rows)

    return store.write(fn)


def purge(conn: sqlite3.Connection, marks: str, call_sids: tuple[str, ...] | list[str]) -> None:
    """Deletes the rows of the calls ``call_sids`` (``marks``: their ``?`` placeholders), in the
    caller's transaction: a call's REST delete and the retention purge."""
    conn.execute(f"DELETE FROM user_message_subscriptions WHERE call_sid IN ({marks})", call_sids)
    conn.execute(f"DELETE FROM user_defined_messages WHERE call_sid IN ({marks})", call_sids)
