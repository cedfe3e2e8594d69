"""A REST create on PostgreSQL in one round trip (:func:`insert_at_once`).

The transaction's path (:meth:`Outbox.enqueue_from`) costs six: BEGIN, the number, the
opt-out, the message, its parts, COMMIT, each a round trip and, on the server, a statement.
Here one statement (data-modifying ``WITH``) finds the From number's modem, checks that the
number has no budget and that the recipient has not opted out, inserts the message and its
parts, and commits on its own, durable before it answers (``synchronous_commit = on``).  One
statement sees one snapshot: a STOP, a budget or a move to another modem committed before it
is obeyed, as it would be by the transaction.  When its conditions do not hold it inserts
nothing and the transaction's path decides (an unknown From, an opt-out, a number with a
budget), with that path's errors.
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
    """PostgreSQL's create in one round trip rather than six (BEGIN, the number, the
    opt-out, the message, its parts, COMMIT): one statement, committed on its own (durable
    before it answers), that inserts the message and its parts only when From is ours, has
    no budget and the recipient has not opted out.  None: it inserted nothing, and the
    transaction's path decides (an unknown From, an opt-out, a number with a budget)."""
    to_e164, segments = checked
    sid, now, send_at = sids.new("SM"), time.time(), kwargs.get("send_at")
    where = "n.phone_number = ? AND COALESCE(n.outbound_budget_per_hour, 0) = 0"
    conditions: tuple[object, ...] = (from_number,)
    if enforce_opt_outs:
        where += (
            " AND NOT EXISTS (SELECT 1 FROM opt_outs o"
            " WHERE o.phone_number = n.phone_number AND o.sender = ?)"
        )
        conditions += (to_e164,)
    parts = ", ".join(f"({i + 1})" for i in range(len(segments)))
    rows = store.commit_one(
        "WITH m AS (INSERT INTO messages (sid, account_sid, direction, modem, from_number,"
        " to_number, body, status, num_segments, status_callback, status_callback_method,"
        " send_at, date_created, date_updated) SELECT ?, ?, 'outbound-api', n.modem,"
        f" n.phone_number, ?, ?, ?, {len(segments)}, ?, ?, CAST(? AS DOUBLE PRECISION), ?, ?"
        f" FROM numbers n WHERE {where} RETURNING *),"
        " s AS (INSERT INTO segments (message_sid, part, state)"
        f" SELECT m.sid, p.part, 'pending' FROM m, (VALUES {parts}) AS p (part))"
        " SELECT * FROM m",
        (
            sid,
            account_sid(),
            to_e164,
            str(kwargs["body"]),
            "scheduled" if send_at else "queued",
            kwargs.get("status_callback") or None,
            kwargs.get("status_callback_method") or "POST",
            send_at,
            now,
            now,
            *conditions,
        ),
    )
    if not rows:
        return None
    row = rows[0]
    logs.event(
        LOGGER,
        logging.INFO,
        "message scheduled" if send_at else "message queued",
        sid=sid,
        modem=row["modem"],
        from_=row["from_number"],
        to=to_e164,
        segments=len(segments),
        direction="outbound-api",
        send_at=_utc(float(send_at)) if isinstance(send_at, (int, float)) else None,
    )
    logs.event(LOGGER, logging.DEBUG, "message body", sid=sid, body=kwargs["body"])
    return row


def _utc(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
