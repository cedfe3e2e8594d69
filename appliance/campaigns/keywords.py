"""Join and leave keywords: their validation, and applying them to inbound SMS.

An inbound SMS whose first word is a list's join keyword ("WEATHER" or "WEATHER Leeds")
adds the sender to the list (with the town, if given) and answers them; one equal to
the leave keyword marks them as left.

Each inbound message is a ``keyword_jobs`` row (its ``seq``), inserted by the inbox in the
transaction that creates the message.  A keyword pass deletes up to :data:`BATCH` of them
(``DELETE … RETURNING``, whose rows PostgreSQL picks ``FOR UPDATE SKIP LOCKED``), applies
their messages' keywords and commits, all in one transaction: a job is applied once, by the
node whose delete took it, and a pass that fails leaves its jobs for the next.  Jobs are taken
whenever they commit, so a message whose ``seq`` commits after a higher one (concurrent
PostgreSQL writers) is not skipped, as it was by the ``seq`` cursor this replaces
(docs/design.md, "Surprise 3").
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
BATCH = 500  # keyword jobs taken by one transaction (a pass takes batches until none is left)


def check_keyword(text: str, field: str) -> str:
    word = " ".join(text.split()).upper()
    if word and not KEYWORD.match(word):
        raise SubscriberError(
            "A keyword is one or two words of 2 to 20 letters or digits, such as WEATHER", field
        )
    if word in optout.parse_keywords(optout.DEFAULT_OPT_OUT_KEYWORDS + ", START, HELP, INFO"):
        raise SubscriberError(f"{word} is reserved for opt-out and help", field)
    return word


def best_match(text: str, lists: Iterable[Row]) -> tuple[Row, bool] | None:
    """The list ``text`` (normalised) selects on one number, and whether it leaves it.

    A whole keyword, join or leave, wins over a join keyword followed by a town; among joins
    with a town the longest keyword wins (``WEATHER LEEDS NORTH`` joins ``WEATHER LEEDS`` for
    the town NORTH, not ``WEATHER`` for LEEDS NORTH), so the choice never depends on the order
    the lists were read in.  A keyword belongs to one list per number (migration 0027)."""
    best: tuple[tuple[int, int], Row, bool] | None = None
    for lst in lists:
        leave, join = lst["leave_keyword"], lst["join_keyword"]
        if leave and text == leave:
            rank, leaving = (2, len(leave)), True
        elif join and text == join:
            rank, leaving = (2, len(join)), False
        elif join and text.startswith(join + " "):
            rank, leaving = (1, len(join)), False
        else:
            continue
        if best is None or rank > best[0]:
            best = (rank, lst, leaving)
    return None if best is None else (best[1], best[2])


class Keywords:
    """Applies the lists' join/leave keywords to inbound messages not seen yet."""

    def __init__(self, store: Store, outbox: Outbox | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self.batch = BATCH
        self._lock = threading.Lock()

    def process_inbound(self) -> int:
        """Apply join/leave keywords of inbound messages not seen yet; returns how many matched."""
        with self._lock:
            matched = 0
            while True:
                # Most looks find nothing: a read, not a write transaction.
                if self.store.read_one("SELECT 1 FROM keyword_jobs LIMIT 1") is None:
                    return matched
                n, taken = self._pass()
                matched += n
                if taken < self.batch:  # jobs locked by another node's pass are its own
                    return matched

    def _pass(self) -> tuple[int, int]:
        """One transaction: take up to ``batch`` jobs, apply them; (matched, jobs taken)."""
        now = time.time()
        modems: set[str] = set()
        claim = self.store.dialect.claim

        def fn(conn: sqlite3.Connection) -> tuple[int, int]:
            modems.clear()
            seqs = sorted(
                r[0]
                for r in conn.execute(
                    "DELETE FROM keyword_jobs WHERE seq IN (SELECT seq FROM keyword_jobs"
                    f" ORDER BY seq LIMIT ?{claim}) RETURNING seq",
                    (self.batch,),
                ).fetchall()
            )
            if not seqs:
                return 0, 0  # another node's pass took them
            rows = conn.execute(  # a message deleted meanwhile just has no row
                "SELECT seq, modem, from_number, to_number, body FROM messages WHERE seq IN ("
                + ", ".join("?" * len(seqs))
                + ") AND direction = 'inbound' ORDER BY seq",
                tuple(seqs),
            ).fetchall()
            lists = conn.execute("SELECT * FROM subscriber_lists").fetchall() if rows else []
            n = 0
            for msg in rows:
                if self._keyword(conn, lists, msg, now):
                    n += 1
                    modems.add(msg["modem"])
            return n, len(seqs)

        matched, taken = self.store.write(fn)
        if self.outbox is not None:
            for modem in sorted(modems):
                self.outbox.wake(modem)  # the keyword replies
        return matched, taken

    def _keyword(self, conn: sqlite3.Connection, lists: Iterable[Row], msg: Row, now: float) -> int:
        text = " ".join(optout.normalize_body(msg["body"] or "").split())
        sender = msg["from_number"]
        if not sender.startswith("+"):
            return 0
        found = best_match(text, (lst for lst in lists if lst["modem"] == msg["modem"]))
        if found is None:
            return 0
        lst, leaving = found
        leave, join = lst["leave_keyword"], lst["join_keyword"]
        if leaving:
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
        town = " ".join((msg["body"] or "").split()[len(join.split()) :])[:MAX_TOWN]
        upsert(conn, lst["id"], Subscriber(sender, town=town), now, keep_location=not town)
        self._reply(
            conn,
            msg,
            f"You have joined {lst['name']}."
            + (f" Text {leave} to leave." if leave else " Reply STOP to unsubscribe."),
        )
        return 1

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
