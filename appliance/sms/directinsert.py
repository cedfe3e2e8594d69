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

import functools
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
    transaction's path decides (an unknown From, an opt-out, a number with a budget, text
    with a NUL character).

    The row returned is the row stored: the statement returns what only the server knows
    (``seq``, and the modem of the From number), the rest is what it was given and the
    columns' defaults (tests/sms/test_create_from.py compares it with the stored row)."""
    to_e164, segments = checked
    sid, now, send_at = sids.new("SM"), time.time(), kwargs.get("send_at")
    body = str(kwargs["body"])
    callback = kwargs.get("status_callback") or None
    method = kwargs.get("status_callback_method") or "POST"
    if any("\x00" in str(v) for v in (from_number, to_e164, body, callback, method)):
        return None  # PostgreSQL's text cannot hold it: the store replaces it, on the long path
    account, status = account_sid(), "scheduled" if send_at else "queued"
    conditions: tuple[object, ...] = (from_number, to_e164) if enforce_opt_outs else (from_number,)
    rows = store.commit_one(
        _statement(len(segments), enforce_opt_outs),
        (sid, account, to_e164, body, status, callback, method, send_at, now, now, *conditions),
    )
    if not rows:
        return None
    seq, modem = rows[0][0], rows[0][1]
    row = {
        "seq": seq,
        "sid": sid,
        "account_sid": account,
        "direction": "outbound-api",
        "modem": modem,
        "from_number": from_number,  # the number's own: equal to it
        "to_number": to_e164,
        "body": body,
        "status": status,
        "num_segments": len(segments),
        "segments_sent": 0,
        "concat_ref": None,
        "error_code": None,
        "error_message": None,
        "status_callback": callback,
        "status_callback_method": method,
        "send_at": None if send_at is None else float(send_at),  # type: ignore[arg-type]
        "next_attempt_at": None,
        "attempts": 0,
        "date_created": now,
        "date_updated": now,
        "date_sent": None,
    }
    logs.event(
        LOGGER,
        logging.INFO,
        "message scheduled" if send_at else "message queued",
        sid=sid,
        modem=modem,
        from_=from_number,
        to=to_e164,
        segments=len(segments),
        direction="outbound-api",
        send_at=_utc(float(send_at)) if isinstance(send_at, (int, float)) else None,
    )
    logs.event(LOGGER, logging.DEBUG, "message body", sid=sid, body=kwargs["body"])
    return row  # type: ignore[return-value]  # a dict: read by name, as a Row is


@functools.lru_cache(maxsize=64)
def _statement(parts: int, opt_outs: bool) -> str:
    """The create's statement for a message of ``parts`` parts (one text per shape, so the
    store's connections prepare it once)."""
    where = "n.phone_number = ? AND COALESCE(n.outbound_budget_per_hour, 0) = 0"
    if opt_outs:
        where += (
            " AND NOT EXISTS (SELECT 1 FROM opt_outs o"
            " WHERE o.phone_number = n.phone_number AND o.sender = ?)"
        )
    values = ", ".join(f"({i + 1})" for i in range(parts))
    return (
        "WITH m AS (INSERT INTO messages (sid, account_sid, direction, modem, from_number,"
        " to_number, body, status, num_segments, status_callback, status_callback_method,"
        " send_at, date_created, date_updated) SELECT ?, ?, 'outbound-api', n.modem,"
        f" n.phone_number, ?, ?, ?, {parts}, ?, ?, CAST(? AS DOUBLE PRECISION), ?, ?"
        f" FROM numbers n WHERE {where} RETURNING seq, sid, modem),"
        " s AS (INSERT INTO segments (message_sid, part, state)"
        f" SELECT m.sid, p.part, 'pending' FROM m, (VALUES {values}) AS p (part))"
        " SELECT seq, modem FROM m"
    )


def _utc(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
