"""A REST update of a live call: what ``POST Calls/{Sid}.json`` wrote to ``calls.control``.

The API (:mod:`appliance.api.call_control`) writes the update as JSON and asks the voice
engine to look; whoever owns the call (its flow, or the ``<Dial>`` leg it dialled) takes it
here.  Taking reads and clears the column in one write transaction, so an update the API
writes in between is never lost: it stays for the next look.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from appliance.voice import call

if TYPE_CHECKING:
    from appliance.store.database import Store


def take(store: Store, sid: str, *, keep_redirect: bool = False) -> dict[str, Any] | None:
    """The update written for call ``sid`` ({} if none; None if the call's row is gone),
    cleared, unless it is a redirect and ``keep_redirect`` (a flow taking over the leg
    reads it again).  Unreadable JSON counts as no update, and is cleared."""

    def fn(conn: sqlite3.Connection) -> dict[str, Any] | None:
        # Locked on PostgreSQL (concurrent writers): an API write waits for this commit, so
        # it is not cleared unread between the read and the clear.
        row = conn.execute(
            "SELECT control FROM calls WHERE sid = ?" + store.dialect.lock, (sid,)
        ).fetchone()
        if row is None:
            return None
        if not row["control"]:
            return {}
        try:
            update = json.loads(row["control"])
        except ValueError:
            update = None
        if not isinstance(update, dict):
            update = {}
        if not (keep_redirect and is_redirect(update)):
            conn.execute("UPDATE calls SET control = NULL WHERE sid = ?", (sid,))
        return update

    return store.write(fn)


def ends(update: dict[str, Any]) -> bool:
    """Does the REST ``update`` end the call (``Status=canceled`` or ``completed``)?"""
    return update.get("status") in (call.CANCELED, call.COMPLETED)


def is_redirect(update: dict[str, Any]) -> bool:
    """Does the REST ``update`` give the call new TwiML (``Url`` or ``Twiml``)?"""
    return not ends(update) and bool(update.get("url") or update.get("twiml"))
