"""One ``<Number>`` of a ``<Dial>`` on its own modem: the child call, from ATD to its end.

A :class:`DialLeg` writes the child call's row (``outbound-dial``, with the
``<Number>``'s status callback), registers itself in the phone's flows so that the
modem thread's events and the callee's keys reach it, dials, waits for the answer,
sends ``sendDigits`` (``AT+VTS``, or ``AT^DTMF`` on Huawei), and hangs up.  It runs
on the thread of whoever drives it (:mod:`appliance.voice.ringing`); AT work goes
through :meth:`appliance.voice.phone.Phone.run`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from appliance import sids
from appliance.errors import CommandRejected
from appliance.voice import call
from appliance.voice.call import CallLeg, Step
from appliance.voice.session import CallSession

if TYPE_CHECKING:
    from appliance.twiml.stream import Stream
    from appliance.voice.mediastream import StreamState
    from appliance.voice.phone import Phone

DIAL_SUBMIT_TIMEOUT = 40.0  # seconds for the modem thread to take ATD (its own 30 s + slack)
HANGUP_TIMEOUT = 30.0
DIGIT_PAUSE = 0.5  # "w" in sendDigits: half a second (Twilio)
KEYS = frozenset("0123456789*#")  # what may reach AT+VTS / AT^DTMF, one key per command


def new_child_row(
    session: CallSession, phone: Phone, number: str, timeout: float, noun: Any = None
) -> CallLeg:
    """The child call's row (queued) and its leg: ``outbound-dial``, parent the caller."""
    sid = sids.new("CA")
    now = time.time()
    parent = session.documents.row()
    ours = phone.store.read_one(
        "SELECT phone_number FROM numbers WHERE modem = ?", (phone.modem.name,)
    )
    callback = getattr(noun, "status_callback", None)
    method = getattr(noun, "status_callback_method", "POST")
    events = " ".join(getattr(noun, "status_callback_events", ("completed",)))

    def fn(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status, date_created,"
            " date_updated, parent_call_sid, timeout, status_callback, status_callback_method,"
            " status_callback_events) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                sid,
                phone.modem.name,
                "outbound-dial",
                ours["phone_number"] if ours else parent["to_number"],
                number,
                call.QUEUED,
                now,
                now,
                session.sid,
                int(timeout),
                callback or "",
                method,
                events,
            ),
        )

    phone.store.write(fn)
    return CallLeg(sid, incoming=False, number=number, status=call.QUEUED)


class _LegHandle:
    """The child leg as its phone sees a flow: events and keys go to the leg's channel."""

    def __init__(self, session: CallSession, wake: Callable[[], None]) -> None:
        self.session = session
        self._wake = wake

    def start(self) -> None:
        return None

    def join(self, timeout: float | None = None) -> None:
        return None

    def notify(self, step: Step) -> None:
        self.session.channel.notify(step)
        self._wake()

    def digit(self, digit: str, source: str) -> None:
        self.session.channel.digit(digit, source)

    def stop(self) -> None:
        self.session.channel.stop()
        self._wake()

    def control(self) -> None:
        return None  # a REST update of a child call: the parent's flow owns the dial

    def start_stream(self, spec: Stream) -> StreamState | None:
        return None


class DialLeg:
    """The child call of one ``<Number>`` on ``phone`` (a modem other than the caller's)."""

    def __init__(
        self,
        parent: CallSession,
        phone: Phone,
        noun: Any,
        timeout: float,
        wake: Callable[[], None],
    ) -> None:
        self.parent = parent
        self.phone = phone
        self.noun = noun
        self.number = str(getattr(noun, "number", noun)).strip()
        self.timeout = timeout
        self.leg = new_child_row(parent, phone, self.number, timeout, noun)
        self.session = CallSession(phone, self.leg, parent.ctx)
        self._handle = _LegHandle(self.session, wake)
        self.dialled_at: float | None = None  # monotonic, ATD taken
        self.media_started = False

    @property
    def sid(self) -> str:
        return self.leg.sid

    @property
    def answered(self) -> bool:
        return self.leg.answered_at is not None

    def dial(self) -> bool:
        """ATD on the leg's modem; False if the modem refused (the leg is ended failed)."""
        phone, leg = self.phone, self.leg
        phone.flows[leg.sid] = self._handle
        phone.legs[leg.sid] = leg

        def place() -> bool:
            # Twilio's child calls skip "queued": initiated, then ringing, answered, completed.
            phone.records.emit_callback(leg.sid, "initiated", "initiated")
            return phone.dial(leg, self.number, self.timeout)

        ok = phone.run(place, DIAL_SUBMIT_TIMEOUT)
        self.dialled_at = time.monotonic()
        return bool(ok)

    def wait_answer(self, stop: Callable[[], bool]) -> bool:
        """Wait until the callee answers (True), or the leg ends or ``stop()`` says so."""
        channel = self.session.channel
        end = time.monotonic() + self.timeout + 1.0  # the phone's own ring timer fires first
        with channel.poke:
            while self.leg.live and self.leg.status != call.IN_PROGRESS:
                if stop() or time.monotonic() >= end:
                    return False
                channel.poke.wait(0.1)
        return self.leg.status == call.IN_PROGRESS

    def start_media(self) -> None:
        """The callee's audio (whisper prompts, keys, then the bridge)."""
        self.session.channel.start_media()
        self.media_started = True

    def send_digits(self, digits: str) -> None:
        """``sendDigits`` once answered: one key per AT command, ``w`` waits half a second.
        Only keypad characters ever reach the modem (the parser allows 0-9, *, #, w)."""
        phone, leg = self.phone, self.leg
        huawei = phone.voice.dialect == "huawei"
        for ch in digits:
            self.session.channel.check()
            if ch in "wW":
                self.session.channel.sleep(DIGIT_PAUSE, interruptible=False)
                continue
            if ch not in KEYS:
                continue
            command = f"AT^DTMF={leg.index or 1},{ch}" if huawei else f"AT+VTS={ch}"
            try:
                phone.run(partial(phone.modem.command, command), timeout=HANGUP_TIMEOUT)
            except CommandRejected as e:
                self.parent.documents.event(
                    "warning", None, f"sendDigits to {self.number} stopped: {e}"
                )
                return

    def hangup(self, status: str | None = None) -> None:
        """End the child call (no-op if over): ``status`` or completed once answered,
        canceled before (Twilio's status of a leg the appliance gave up on)."""
        if not self.leg.live:
            return
        if status is None:
            status = call.COMPLETED if self.answered else call.CANCELED
        phone, leg = self.phone, self.leg
        try:
            phone.run(lambda: phone.hangup(leg, status), timeout=HANGUP_TIMEOUT)
        except Exception:  # noqa: BLE001 - the modem may be gone; its phone ends the leg then
            pass

    def close(self) -> None:
        """Hang up if need be, stop the callee's audio, leave the phone's flows."""
        self.hangup()
        self.session.channel.stop_media()
        self.phone.flows.pop(self.leg.sid, None)

    def dial_status(self) -> str:
        """DialCallStatus of this leg alone."""
        if self.answered:
            return "completed"
        if self.leg.status in (call.BUSY, call.NO_ANSWER, call.FAILED, call.CANCELED):
            return self.leg.status
        return "failed"
