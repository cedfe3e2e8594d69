"""Multipart inbound SMS, reassembled in the database; error 30009 for parts that never come.

Each part is a row of ``inbound_parts`` keyed by (modem, sender, reference, total, part),
written in the transaction that ingests its PDU (:meth:`appliance.sms.inbox.Inbox.ingest`).
When the last part arrives, the text is joined and the parts removed in that same
transaction, which also creates the message.  Parts older than the reassembly timeout are
delivered as they are, with error 30009 (Missing inbound segment).
"""

from __future__ import annotations

import dataclasses
import sqlite3

from appliance.sms import codec as sms
from appliance.store.database import Store

MISSING_SEGMENT = 30009  # Twilio's "Missing inbound segment"


@dataclasses.dataclass(frozen=True)
class Overdue:
    """What came of a multipart message whose other parts did not arrive in time."""

    modem: str
    sender: str
    text: str  # the parts that came, in order
    segments: int  # how many parts came
    error: tuple[int, str]  # (30009, which parts never arrived)


def add_part(
    conn: sqlite3.Connection,
    modem: str,
    sender: str,
    concat: sms.Concat,
    text: str,
    now: float,
    lock: str = "",
) -> str | None:
    """Store one part (a repeat is ignored); once every part is in, the whole text (and the
    parts are removed), else None.  Runs inside the transaction that ingests the part.

    ``lock`` is the store's ``Dialect.lock``: on PostgreSQL the parts are read ``FOR
    UPDATE``, so a part that comes while an expiry (another modem's thread, another node)
    is taking the others waits for it and then finds them gone, rather than joining parts
    the expiry delivers too."""
    conn.execute(
        "INSERT INTO inbound_parts (modem, sender, ref, total, part, text, received_at)"
        " VALUES (?,?,?,?,?,?,?) ON CONFLICT (modem, sender, ref, total, part) DO NOTHING",
        (modem, sender, concat.ref, concat.total, concat.seq, text, now),
    )
    rows = conn.execute(
        "SELECT part, text FROM inbound_parts WHERE modem = ? AND sender = ? AND ref = ?"
        f" AND total = ?{lock}",
        (modem, sender, concat.ref, concat.total),
    ).fetchall()
    if len(rows) < concat.total:
        return None
    whole, _missing = sms.reassemble({r["part"]: r["text"] for r in rows}, concat.total)
    conn.execute(
        "DELETE FROM inbound_parts WHERE modem = ? AND sender = ? AND ref = ? AND total = ?",
        (modem, sender, concat.ref, concat.total),
    )
    return whole


def take_overdue(conn: sqlite3.Connection, cutoff: float) -> list[Overdue]:
    """Remove the parts of every message whose first part came at or before ``cutoff``, and
    return what each message has.  Runs inside the transaction that delivers them."""
    groups = conn.execute(
        "SELECT modem, sender, ref, total, MIN(received_at) AS first FROM inbound_parts"
        " GROUP BY modem, sender, ref, total HAVING MIN(received_at) <= ?",
        (cutoff,),
    ).fetchall()
    overdue = []
    for g in groups:
        key = (g["modem"], g["sender"], g["ref"], g["total"])
        # Taken by deleting: another transaction expiring the same parts concurrently (another
        # modem's thread, another node) waits here for its commit and then gets no row back.
        rows = conn.execute(
            "DELETE FROM inbound_parts WHERE modem = ? AND sender = ? AND ref = ? AND total = ?"
            " RETURNING part, text",
            key,
        ).fetchall()
        if not rows:
            continue
        text, missing = sms.reassemble({r["part"]: r["text"] for r in rows}, g["total"])
        note = f"Missing inbound segment: parts {missing} of {g['total']} never arrived"
        overdue.append(Overdue(g["modem"], g["sender"], text, len(rows), (MISSING_SEGMENT, note)))
    return overdue


def oldest_part(store: Store) -> float | None:
    """When the oldest part still waiting for the rest came (``time.time()``), or None."""
    row = store.read_one("SELECT MIN(received_at) FROM inbound_parts")
    return None if row is None or row[0] is None else float(row[0])
