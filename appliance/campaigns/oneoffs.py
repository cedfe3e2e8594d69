"""One-off scheduled sends from the panel: one message, to one number, at a set time.

A one-off send is what the REST API's ``ScheduleType=fixed`` + ``SendAt`` makes: a
``messages`` row with status ``scheduled`` and ``send_at``, its segments written with
it, on disk before the panel answers.  The outbox promotes it to ``queued`` when due,
inside the transaction that claims it for the modem (:meth:`appliance.sms.outbox.Outbox.claim`),
so it fires exactly once however often the appliance restarts, and a cancel (status
``canceled``, as Twilio's ``Status=canceled`` update) is a single row update that the
writer thread orders against that claim: whichever commits first wins.  The modem
thread already sleeps until the next due ``send_at``, so no second timer is needed.

The window is Twilio's (error 35114): at least 15 minutes and at most 35 days ahead.
The time is entered as a local date and time in a named zone.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance import logs
from appliance.errors import ApplianceError
from appliance.sms.outbox import Outbox
from appliance.store.database import Row, Store

LOGGER = logging.getLogger(__name__)

SCHEDULE_MIN = 900.0  # seconds: SendAt at least 15 minutes ahead (Twilio 35114)
SCHEDULE_MAX = 35 * 86400.0  # seconds: and at most 35 days ahead (Twilio 35114)
PENDING_SHOWN = 200  # scheduled messages listed on the broadcasts page (soonest first)
LOCAL_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")


class ScheduleError(ApplianceError):
    """A one-off send the panel cannot schedule or cancel; ``field`` names its form field."""

    def __init__(self, message: str, field: str = "", code: int | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name.strip() or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"Unknown time zone {name!r}: use a name such as Europe/London", "timezone"
        ) from None


def local_time(text: str, timezone: str) -> float:
    """``2026-12-24T18:30`` in ``timezone`` as an epoch; a time the clocks skip is refused."""
    tz = zone(timezone)
    text = text.strip()
    if not text:
        raise ScheduleError("Choose the date and time to send at", "send_at")
    for fmt in LOCAL_FORMATS:
        try:
            naive = datetime.strptime(text, fmt)  # noqa: DTZ007 - the zone is attached below
            break
        except ValueError:
            continue
    else:
        raise ScheduleError(f"{text!r} is not a date and time (YYYY-MM-DD HH:MM)", "send_at")
    aware = naive.replace(tzinfo=tz)
    if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        raise ScheduleError(
            f"{text} does not exist in {tz.key}: the clocks skip it; choose another time",
            "send_at",
        )
    return aware.timestamp()


def check_window(when: float, now: float) -> None:
    """Twilio's SendAt window: 15 minutes to 35 days ahead, inclusive (error 35114)."""
    ahead = when - now
    if ahead <= 0:
        raise ScheduleError("That time has passed: choose a time in the future", "send_at", 35114)
    if not SCHEDULE_MIN <= ahead <= SCHEDULE_MAX:
        raise ScheduleError(
            "Choose a time between 15 minutes and 35 days from now"
            f" (it is {_span(ahead)} away; error 35114)",
            "send_at",
            35114,
        )


def _span(seconds: float) -> str:
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


class OneOffSends:
    """Schedule, list and cancel single messages (rows of ``messages``, status ``scheduled``)."""

    def __init__(self, store: Store, outbox: Outbox) -> None:
        self.store = store
        self.outbox = outbox

    def schedule(
        self, *, modem: str, to: str, body: str, when: float, now: float | None = None
    ) -> Row:
        """Durably schedule ``body`` from ``modem``'s number to ``to`` at ``when`` (epoch).

        Raises :class:`ScheduleError` for an unknown From number or a time outside the
        window, and :class:`appliance.sms.outbox.OutboxError` (with Twilio's code) for a
        bad To, an empty or too long body, or a recipient who opted out.
        """
        row = self.store.read_one("SELECT phone_number FROM numbers WHERE modem = ?", (modem,))
        if row is None:
            raise ScheduleError("Choose one of this appliance's numbers to send from", "modem")
        check_window(when, time.time() if now is None else now)
        return self.outbox.enqueue_row(
            modem=modem, from_number=str(row["phone_number"]), to=to, body=body, send_at=when
        )

    def pending(self, limit: int = PENDING_SHOWN) -> list[Row]:
        """Messages waiting for their SendAt (from the panel or the REST API), soonest first."""
        return self.store.read(
            "SELECT * FROM messages WHERE status = 'scheduled' ORDER BY send_at, seq LIMIT ?",
            (limit,),
        )

    def count(self) -> int:
        row = self.store.read_one("SELECT COUNT(*) FROM messages WHERE status = 'scheduled'")
        return 0 if row is None else int(row[0])

    def cancel(self, sid: str) -> Row:
        """Cancel a scheduled message not yet due, as ``Status=canceled`` does (Twilio 30409)."""
        callbacks = self.outbox.callbacks

        def fn(conn: sqlite3.Connection) -> Row:
            row = conn.execute(
                "UPDATE messages SET status = 'canceled', date_updated = ?"
                " WHERE sid = ? AND status = 'scheduled' AND segments_sent = 0 RETURNING *",
                (time.time(), sid),
            ).fetchone()
            if row is None:
                now = conn.execute("SELECT status FROM messages WHERE sid = ?", (sid,)).fetchone()
                if now is None:
                    raise ScheduleError(f"There is no message {sid}", code=20404)
                raise ScheduleError(
                    f"{sid} cannot be canceled: it is {now['status']} (error 30409)", code=30409
                )
            if callbacks is not None:
                callbacks(conn, row)
            return row  # type: ignore[no-any-return]

        row = self.store.write(fn)
        logs.event(LOGGER, logging.INFO, "message canceled", sid=sid, modem=row["modem"])
        return row
