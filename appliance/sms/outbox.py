"""The outbound queue: durable, FIFO per modem, sent at most once.

Theory of operation
-------------------
A message is a row in ``messages`` (status ``queued``) with one ``segments``
row per SMS part, all written in one transaction before anyone is told the
message was accepted (this module: validating, inserting, waking the modem thread).
The modem thread takes the oldest due message of its modem and sends its parts one by
one (:mod:`appliance.sms.sendqueue`: claiming, refused parts, opt-outs that came in while
a message waited), journaling each (:mod:`appliance.sms.journal`: what a crash in the
middle of a part means).

A number may have an outbound budget (messages per hour, :mod:`appliance.sms.budget`):
a message over it is stored ``failed`` with 30001 by ``insert`` and never sent.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable

from appliance import logs, sids
from appliance.errors import ApplianceError
from appliance.numbers import normalize
from appliance.sms import codec as sms
from appliance.sms import optout
from appliance.sms.budget import QUEUE_OVERFLOW, over_budget
from appliance.sms.directinsert import insert_at_once
from appliance.sms.sendqueue import Claimed, SendQueue
from appliance.sms.statuscallback import API_VERSION, dumps
from appliance.store.database import Row, Store

__all__ = ["API_VERSION", "Claimed", "Outbox", "OutboxError", "dumps"]

LOGGER = logging.getLogger(__name__)


class OutboxError(ApplianceError):
    """A message cannot be accepted (carries the Twilio error code)."""

    def __init__(self, message: str, code: int, status: int = 400) -> None:
        super().__init__(message, code=code)
        self.status = status


class UnknownSender(OutboxError):
    """The From number is none of this appliance's (Twilio's 21606)."""

    def __init__(self, number: str) -> None:
        super().__init__(f"The From phone number {number} is not one of this appliance's", 21606)
        self.number = number


class Outbox(SendQueue):
    """Queue operations on the store: accepting messages here, sending them in
    :class:`~appliance.sms.sendqueue.SendQueue`.  ``listeners`` wake the sending modem thread."""

    def __init__(
        self, store: Store, account_sid: Callable[[], str], *, enforce_opt_outs: bool = True
    ) -> None:
        super().__init__(store, enforce_opt_outs=enforce_opt_outs)
        self._account_sid = account_sid
        self.listeners: list[Callable[[str], None]] = []

    def _notify(self, modem: str) -> None:
        for listener in self.listeners:
            listener(modem)

    # -- accepting ---------------------------------------------------------------------------

    def validate(self, to: str, body: str) -> tuple[str, list[sms.Segment]]:
        if body is None or body == "":
            raise OutboxError("Message body is required.", 21602)
        to_e164 = normalize(to, field="To")
        try:
            segments = sms.split(body)
        except sms.BodyTooLong:
            raise OutboxError(
                "The concatenated message body exceeds the 1600 character limit.", 21617
            ) from None
        return to_e164, segments

    def insert(
        self,
        conn: sqlite3.Connection,
        *,
        modem: str,
        from_number: str,
        to: str,
        body: str,
        direction: str = "outbound-api",
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        send_at: float | None = None,
        opt_out_exempt: bool = False,
        validated: tuple[str, list[sms.Segment]] | None = None,
    ) -> str:
        """Insert a validated message inside the caller's transaction; return its SID.

        :meth:`insert_row` is the same, returning the new ``messages`` row.
        """
        row = self.insert_row(
            conn,
            modem=modem,
            from_number=from_number,
            to=to,
            body=body,
            direction=direction,
            status_callback=status_callback,
            status_callback_method=status_callback_method,
            send_at=send_at,
            opt_out_exempt=opt_out_exempt,
            validated=validated,
        )
        return str(row["sid"])

    def insert_row(
        self,
        conn: sqlite3.Connection,
        *,
        modem: str,
        from_number: str,
        to: str,
        body: str,
        direction: str = "outbound-api",
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        send_at: float | None = None,
        opt_out_exempt: bool = False,
        validated: tuple[str, list[sms.Segment]] | None = None,
        sender: tuple[str, int | None] | None = None,
        opted_out: bool | None = None,
    ) -> Row:
        """Insert a validated message inside the caller's transaction; return its new row.

        ``sender``: the modem's (phone_number, outbound_budget_per_hour) if the caller has
        read them already in this transaction; ``opted_out``: whether ``to`` opted out of it,
        read likewise (with them, in one statement).

        Raises :class:`OutboxError` 21610 when ``to`` has opted out of ``from_number``
        (checked in the same transaction, so a STOP committed before is always seen).
        ``opt_out_exempt`` is for the appliance's own STOP/START/HELP confirmations.
        A message over the number's outbound budget is stored ``failed`` with 30001
        (and its status callback queued) instead of ``queued``.
        """
        to_e164, segments = validated or self.validate(to, body)
        # The modem's number, read once for the opt-out check and the outbound budget.
        ours = (
            sender
            or conn.execute(
                "SELECT phone_number, outbound_budget_per_hour FROM numbers WHERE modem = ?",
                (modem,),
            ).fetchone()
        )
        if self.enforce_opt_outs and not opt_out_exempt:
            # Opt-outs are keyed on the number as stored for the modem (E.164), whatever
            # spelling of it the caller passed as From.
            number = str(ours[0]) if ours is not None else from_number
            if opted_out if opted_out is not None else optout.is_opted_out(conn, number, to_e164):
                raise OutboxError(optout.UNSUBSCRIBED_MESSAGE, optout.UNSUBSCRIBED_CODE, 400)
        sid = sids.new("SM")
        now = time.time()
        budget = over_budget(conn, modem, now, int(ours[1] or 0) if ours is not None else 0)
        error: tuple[int, str] | None = None
        if budget is not None:
            error = (
                QUEUE_OVERFLOW,
                f"Queue overflow: {from_number} has reached its outbound budget of {budget}"
                " messages per hour",
            )
        # RETURNING: the stored row without a second lookup (nothing below changes it).
        insert = (
            "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number, body,"
            " status, num_segments, status_callback, status_callback_method, send_at,"
            " error_code, error_message, date_created, date_updated)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING *"
        )
        parts = "INSERT INTO segments (message_sid, part, state) VALUES " + ", ".join(
            ["(?, ?, 'pending')"] * len(segments)
        )
        part_values = [v for i in range(len(segments)) for v in (sid, i + 1)]
        together = self.store.dialect.dml_in_with
        if together:  # the message and its parts in one statement (one round trip)
            insert = f"WITH m AS ({insert}), s AS ({parts}) SELECT * FROM m"
        (row,) = conn.execute(
            insert,
            (
                sid,
                self._account_sid(),
                direction,
                modem,
                from_number,
                to_e164,
                body,
                "failed" if error else "scheduled" if send_at else "queued",
                len(segments),
                status_callback or None,
                status_callback_method,
                send_at,
                error[0] if error else None,
                error[1] if error else None,
                now,
                now,
                *(part_values if together else ()),
            ),
        ).fetchall()
        if not together:  # one statement for all the parts (executemany costs more)
            conn.execute(parts, part_values)
        logs.event(
            LOGGER,
            logging.INFO,
            "message scheduled" if send_at and not error else "message queued",
            sid=sid,
            modem=modem,
            from_=from_number,
            to=to_e164,
            segments=len(segments),
            direction=direction,
            send_at=_utc(send_at) if send_at else None,
        )
        logs.event(LOGGER, logging.DEBUG, "message body", sid=sid, body=body)
        if error is not None:
            self._status_changed(conn, sid)  # logs "message failed" with the 30001
        return row  # type: ignore[no-any-return]

    def enqueue(self, **kwargs: object) -> str:
        """Validate and durably queue a message; returns its SID once it is on disk."""
        return str(self.enqueue_row(**kwargs)["sid"])

    def enqueue_row(self, **kwargs: object) -> Row:
        """:meth:`enqueue`, returning the committed ``messages`` row (the REST API answers with it)."""
        # Validate outside the writer thread (fail fast, keep the writer's work short), once.
        return self.enqueue_checked(self.validate(str(kwargs["to"]), str(kwargs["body"])), **kwargs)

    def enqueue_from(
        self, checked: tuple[str, list[sms.Segment]], from_number: str, **kwargs: object
    ) -> Row:
        """:meth:`enqueue_checked` for a From number not looked up yet: the write finds its
        modem (raising :class:`UnknownSender`, with nothing stored, when it is not ours)."""
        if self.store.dialect.dml_in_with:
            at_once = insert_at_once(
                self.store, self._account_sid, self.enforce_opt_outs, checked, from_number, **kwargs
            )
            if at_once is not None:
                self._notify(str(at_once["modem"]))
                return at_once

        def fn(conn: sqlite3.Connection) -> Row:
            # The number and the recipient's opt-out of it, in one statement.
            ours = conn.execute(
                "SELECT modem, phone_number, outbound_budget_per_hour, EXISTS (SELECT 1"
                " FROM opt_outs o WHERE o.phone_number = numbers.phone_number AND o.sender = ?)"
                " FROM numbers WHERE phone_number = ?",
                (checked[0], from_number),
            ).fetchone()
            if ours is None:
                raise UnknownSender(from_number)
            return self.insert_row(
                conn,
                modem=str(ours[0]),
                from_number=str(ours[1]),
                validated=checked,
                sender=(ours[1], ours[2]),
                opted_out=bool(ours[3]),
                **kwargs,  # type: ignore[arg-type]
            )

        row: Row = self.store.write(fn)
        self._notify(str(row["modem"]))
        return row

    def enqueue_checked(self, checked: tuple[str, list[sms.Segment]], **kwargs: object) -> Row:
        """:meth:`enqueue_row` for a message :meth:`validate` has passed (``checked``)."""
        row: Row = self.store.write(lambda conn: self.insert_row(conn, validated=checked, **kwargs))  # type: ignore[arg-type]
        self._notify(str(kwargs["modem"]))
        return row

    def wake(self, modem: str) -> None:
        self._notify(modem)


def _utc(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))
