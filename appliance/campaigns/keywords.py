"""Join and leave keywords: their validation, and applying them to inbound SMS.

An inbound SMS whose first word is a list's join keyword ("WEATHER" or "WEATHER Leeds")
adds the sender to the list (with the town, if given) and answers them; one equal to
the leave keyword marks them as left.  Inbound messages are read once, in ``seq``
order, from a cursor kept in the ``subscribers_inbound_seq`` setting.

The cursor moves by compare-and-set, in the transaction that applies the keywords: nodes of a
fleet (or two processes) that read the same cursor apply its messages once, the first to
commit; the others' work rolls back with nothing written (each message would otherwise be
answered once per node).  Still open on a fleet (docs/design.md, "Surprise 3"): with
concurrent writers a lower ``seq`` can commit after a higher one the cursor has passed.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterable

from appliance.campaigns.subscribers import MAX_TOWN, Subscriber, SubscriberError, upsert
from appliance.errors import ApplianceError
from appliance.sms import optout
from appliance.sms.outbox import Outbox, OutboxError
from appliance.store.database import Row, Store

LOGGER = logging.getLogger(__name__)

KEYWORD = re.compile(r"^[A-Z0-9]{2,20}( [A-Z0-9]{2,20})?$")


def check_keyword(text: str, field: str) -> str:
    word = " ".join(text.split()).upper()
    if word and not KEYWORD.match(word):
        raise SubscriberError(
            "A keyword is one or two words of 2 to 20 letters or digits, such as WEATHER", field
        )
    if word in optout.parse_keywords(optout.DEFAULT_OPT_OUT_KEYWORDS + ", START, HELP, INFO"):
        raise SubscriberError(f"{word} is reserved for opt-out and help", field)
    return word


class Keywords:
    """Applies the lists' join/leave keywords to inbound messages not seen yet."""

    def __init__(self, store: Store, outbox: Outbox | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self._lock = threading.Lock()
        # Keywords count from the first start on, not over the whole message history.
        store.ensure_setting(
            "subscribers_inbound_seq",
            lambda: str((store.read_one("SELECT COALESCE(MAX(seq), 0) FROM messages") or [0])[0]),
        )

    def process_inbound(self) -> int:
        """Apply join/leave keywords of inbound messages not seen yet; returns how many matched."""
        with self._lock:
            seen = self.store.setting("subscribers_inbound_seq")
            cursor = int(seen or 0)
            rows = self.store.read(
                "SELECT seq, modem, from_number, to_number, body FROM messages"
                " WHERE seq > ? AND direction = 'inbound' ORDER BY seq LIMIT 500",
                (cursor,),
            )
            last = self.store.read_one("SELECT COALESCE(MAX(seq), 0) FROM messages")
            if not rows:
                if last and int(last[0]) > cursor:
                    self.store.write(lambda conn: self._move(conn, seen, int(last[0])))
                return 0
            lists = self.store.read("SELECT * FROM subscriber_lists")
            now = time.time()

            def fn(conn: sqlite3.Connection) -> int | None:
                if not self._move(conn, seen, int(rows[-1]["seq"])):
                    return None  # another node applied these first
                n = 0
                for msg in rows:
                    n += self._keyword(conn, lists, msg, now)
                return n

            matched: int | None = self.store.write(fn)
            if matched is None:
                return 0
            if matched and self.outbox is not None:
                for modem in {r["modem"] for r in rows}:
                    self.outbox.wake(modem)  # the keyword replies
            return matched

    @staticmethod
    def _move(conn: sqlite3.Connection, seen: str | None, seq: int) -> bool:
        """Move the cursor from ``seen`` (as read) to ``seq``; False if it moved meanwhile.
        The row stays locked to the commit, so a concurrent mover waits, then finds it moved."""
        if seen is None:  # no cursor yet (the setting was removed): make it
            return bool(
                conn.execute(
                    "INSERT INTO settings (key, value) VALUES ('subscribers_inbound_seq', ?)"
                    " ON CONFLICT (key) DO NOTHING",
                    (str(seq),),
                ).rowcount
            )
        return bool(
            conn.execute(
                "UPDATE settings SET value = ? WHERE key = 'subscribers_inbound_seq' AND value = ?",
                (str(seq), seen),
            ).rowcount
        )

    def _keyword(self, conn: sqlite3.Connection, lists: Iterable[Row], msg: Row, now: float) -> int:
        text = " ".join(optout.normalize_body(msg["body"] or "").split())
        sender = msg["from_number"]
        if not sender.startswith("+"):
            return 0
        for lst in lists:
            if lst["modem"] != msg["modem"]:
                continue
            leave, join = lst["leave_keyword"], lst["join_keyword"]
            if leave and text == leave:
                conn.execute(
                    "UPDATE subscribers SET status = 'left', updated = ? WHERE list_id = ? AND phone_number = ?",
                    (now, lst["id"], sender),
                )
                self._reply(
                    conn,
                    msg,
                    f"You have left {lst['name']}. Text {join} to join again."
                    if join
                    else f"You have left {lst['name']}.",
                )
                return 1
            if join and (text == join or text.startswith(join + " ")):
                town = " ".join((msg["body"] or "").split()[len(join.split()) :])[:MAX_TOWN]
                upsert(conn, lst["id"], Subscriber(sender, town=town), now, keep_location=not town)
                self._reply(
                    conn,
                    msg,
                    f"You have joined {lst['name']}."
                    + (f" Text {leave} to leave." if leave else " Reply STOP to unsubscribe."),
                )
                return 1
        return 0

    def _reply(self, conn: sqlite3.Connection, msg: Row, body: str) -> None:
        if self.outbox is None:
            return
        try:
            self.outbox.insert(
                conn,
                modem=msg["modem"],
                from_number=msg["to_number"],
                to=msg["from_number"],
                body=body,
            )
        except (OutboxError, ApplianceError) as e:  # opted out, or a number we cannot send to
            LOGGER.info("no keyword reply to %s: %s", msg["from_number"], e)
