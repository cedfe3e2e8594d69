"""A REST create on PostgreSQL in two round trips (:func:`insert_at_once`).

The transaction's path (:meth:`Outbox.enqueue_from`) costs six: BEGIN, the number, the
opt-out, the message, its parts, COMMIT, each a round trip and, on the server, a statement.
Here the number and the opt-out are read at once, then the message and its parts are inserted
by one statement (data-modifying ``WITH``) that commits on its own, durable before it answers
(``synchronous_commit = on``).  The insert is guarded by the read's conditions, so a STOP, a
budget or a move to another modem committed in between makes it insert nothing, and the
transaction's path decides as before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from appliance import logs, sids
from appliance.sms import codec as sms
from appliance.store.database import Row, Store

LOGGER = logging.getLogger("appliance.sms.outbox")  # the same lines as the other path's


def insert_at_once(
    store: Store,
    account_sid: Callable[[], str],
    enforce_opt_outs: bool,
    checked: tuple[str, list[sms.Segment]],
    from_number: str,
    **kwargs: object,
) -> Row | None:
    """PostgreSQL's create in two round trips rather than six (BEGIN, the number, the
    opt-out, the message, its parts, COMMIT): the number and the opt-out read at once, then
    the message and its parts inserted by one statement committed on its own (durable
    before it answers), guarded so that it inserts nothing if the read no longer holds (a
    STOP, a budget or another modem committed meanwhile).  None: the transaction's path
    decides (an unknown From, an opt-out, a number with a budget, a guard that failed)."""
    to_e164, segments = checked
    ours = store.read_one(
        "SELECT modem, phone_number, outbound_budget_per_hour, EXISTS (SELECT 1"
        " FROM opt_outs o WHERE o.phone_number = numbers.phone_number AND o.sender = ?)"
        " FROM numbers WHERE phone_number = ?",
        (to_e164, from_number),
    )
    if ours is None or ours[2] or (enforce_opt_outs and ours[3]):
        return None
    modem, number = str(ours[0]), str(ours[1])
    sid, now, send_at = sids.new("SM"), time.time(), kwargs.get("send_at")
    guard = (
        "EXISTS (SELECT 1 FROM numbers WHERE modem = ? AND phone_number = ?"
        " AND COALESCE(outbound_budget_per_hour, 0) = 0)"
    )
    guarded: tuple[object, ...] = (modem, number)
    if enforce_opt_outs:
        guard += " AND NOT EXISTS (SELECT 1 FROM opt_outs WHERE phone_number = ? AND sender = ?)"
        guarded += (number, to_e164)
    parts = ", ".join(f"({i + 1})" for i in range(len(segments)))
    rows = store.commit_one(
        "WITH m AS (INSERT INTO messages (sid, account_sid, direction, modem, from_number,"
        " to_number, body, status, num_segments, status_callback, status_callback_method,"
        " send_at, date_created, date_updated) SELECT ?, ?, 'outbound-api', ?, ?, ?, ?, ?,"
        f" {len(segments)}, ?, ?, CAST(? AS DOUBLE PRECISION), ?, ? WHERE {guard} RETURNING *),"
        " s AS (INSERT INTO segments (message_sid, part, state)"
        f" SELECT m.sid, p.part, 'pending' FROM m, (VALUES {parts}) AS p (part))"
        " SELECT * FROM m",
        (
            sid,
            account_sid(),
            modem,
            number,
            to_e164,
            str(kwargs["body"]),
            "scheduled" if send_at else "queued",
            kwargs.get("status_callback") or None,
            kwargs.get("status_callback_method") or "POST",
            send_at,
            now,
            now,
            *guarded,
        ),
    )
    if not rows:
        return None
    logs.event(
        LOGGER,
        logging.INFO,
        "message scheduled" if send_at else "message queued",
        sid=sid,
        modem=modem,
        from_=number,
        to=to_e164,
        segments=len(segments),
        direction="outbound-api",
        send_at=_utc(float(send_at)) if isinstance(send_at, (int, float)) else None,
    )
    logs.event(LOGGER, logging.DEBUG, "message body", sid=sid, body=kwargs["body"])
    return rows[0]


def _utc(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
