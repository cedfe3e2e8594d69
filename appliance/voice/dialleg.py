"""One ``<Number>`` of a ``<Dial>`` on its own modem: the child call, from ATD to its end.

A :class:`DialLeg` writes the child call's row (``outbound-dial``, with the
``<Number>``'s status callback), registers itself in the phone's flows so that the
modem thread's events and the callee's keys reach it, dials, waits for the answer,
sends ``sendDigits`` (``AT+VTS``, or ``AT^DTMF`` on Huawei), and hangs up.  It runs
on the thread of whoever drives it (:mod:`appliance.voice.ringing`); AT work goes
through :meth:`appliance.voice.phone.Phone.run`.  While the database is unreachable the row
cannot be written, so the leg is never made (:class:`~appliance.errors.StoreUnavailable`) and
its number is not dialled (:func:`not_placed`).

A REST update of a child call, written to its ``calls.control``, reaches the leg through
its :class:`~appliance.voice.ringleg.ChildHandle` (the state every ring leg keeps is its base,
:class:`~appliance.voice.ringleg.ChildLeg`), on a thread of its own.
``Status=canceled``/``completed`` ends that leg alone: whoever drives the ``<Dial>`` sees it
end as if the callee had hung up (or the network had given up ringing): the other legs keep
ringing, a bridge ends ``completed``.  ``Url``/``Twiml`` (which the API allows only while the
leg is bridged to its caller) ends the bridge, and a flow of its own runs the new TwiML on
the leg (:meth:`DialLeg.hand_over`) while the parent's ``<Dial>`` ends ``completed``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from appliance import logs, sids
from appliance.errors import CommandRejected
from appliance.voice import call, restupdate
from appliance.voice.call import CallLeg
from appliance.voice.restupdate import ends, is_redirect
from appliance.voice.ringleg import ChildLeg
from appliance.voice.session import CallSession

if TYPE_CHECKING:
    from appliance.voice.phone import Phone
    from appliance.voice.ringleg import RingLeg

LOGGER = logging.getLogger(__name__)

DIAL_SUBMIT_TIMEOUT = 40.0  # seconds for the modem thread to take ATD (its own 30 s + slack)
HANGUP_TIMEOUT = 30.0
DIGIT_PAUSE = 0.5  # "w" in sendDigits: half a second (Twilio)
KEYS = frozenset("0123456789*#")  # what may reach AT+VTS / AT^DTMF, one key per command
NOT_PLACED = 20503  # a number not dialled: the database was unreachable (as a call turned away)


def new_child_row(
    session: CallSession, phone: Phone, number: str, timeout: float, noun: Any = None
) -> CallLeg:
    """The child call's row (queued) and its leg: ``outbound-dial``, parent the caller;
    :class:`~appliance.errors.StoreUnavailable` while the database is unreachable."""
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
            " status_callback_events, node_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                sid,
                phone.modem.name,
                "outbound-dial",
                ours["phone_number"] if ours else phone.modem.cfg.number or parent["to_number"],
                number,
                call.QUEUED,
                now,
                now,
                session.sid,
                int(timeout),
                callback or "",
                method,
                events,
                phone.records.node or None,  # the node holding the leg (docs/fleet.md)
            ),
        )

    phone.store.write(fn)
    return CallLeg(sid, incoming=False, number=number, status=call.QUEUED)


def not_placed(session: CallSession, numbers: list[str]) -> None:
    """``numbers`` are not dialled: the database is unreachable, and a child call's row is
    written before its ``ATD`` (so a crash never leaves a call nobody knows of, or dials it
    twice).  No call is placed and no row is made; one ``dial-refused`` event (20503) on the
    caller's call says which, written once the database is back.  The ``<Dial>`` goes on
    with its other nouns, else ends ``failed`` (docs/reliability.md)."""
    session.documents.event(
        "dial-refused",
        NOT_PLACED,
        f"not dialled: {', '.join(numbers)}: the database is unreachable"
        " (a dialled call's row is written before its ATD)",
    )


def read_update(phone: Phone, sid: str, *, keep_redirect: bool = False) -> dict[str, Any]:
    """The REST update written to the child call's ``calls.control`` ({} if none), cleared
    unless it is a redirect and ``keep_redirect`` (the flow taking the leg over reads it)."""
    return restupdate.take(phone.store, sid, keep_redirect=keep_redirect) or {}


def hang_up_by_rest(parent: CallSession, phone: Phone, leg: CallLeg) -> None:
    """End the dialled ``leg`` a REST update asked to end: ``canceled`` if it was not
    answered, else ``completed`` (Twilio's statuses of a call so updated).  Any thread
    but the modem's."""
    if not leg.live:
        return
    status = call.COMPLETED if leg.answered_at is not None else call.CANCELED
    parent.documents.event(
        "info", None, f"dialled leg {leg.sid} to {leg.number} ended by a REST update ({status})"
    )
    try:
        phone.run(lambda: phone.hangup(leg, status), timeout=HANGUP_TIMEOUT)
    except Exception:  # noqa: BLE001 - the modem may be gone; its phone ends the leg then
        logs.event(LOGGER, logging.WARNING, "dial leg hang-up failed", sid=leg.sid)


class DialLeg(ChildLeg):
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
        leg = new_child_row(parent, phone, self.number, timeout, noun)
        super().__init__(
            leg, CallSession(phone, leg, parent.ctx), wake, self.rest_update, self.is_bridged
        )
        self.dialled_at: float | None = None  # monotonic, ATD taken
        self.handed_over = False  # a REST redirect took the leg out of the <Dial>
        self._bridged = False  # bridged to the caller: a REST redirect may take it out
        self._leaving = False  # a REST redirect asked to leave the bridge
        self._lock = threading.Lock()

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
        if ok:
            self.rest_update()  # an update written before the leg joined the phone's flows
        return bool(ok) and leg.live

    def rest_update(self) -> None:
        """A REST update of this child call: ``Status=canceled``/``completed`` ends it; a
        redirect (``Url``/``Twiml``, which the API allows only while the leg is bridged)
        makes it leave the bridge: :meth:`unbridge` then tells the ``<Dial>``."""
        with self._lock:
            update = read_update(self.phone, self.sid, keep_redirect=self._bridged)
            if is_redirect(update):
                if self._bridged:
                    self._leaving = True
                    self._handle.wake()
                else:  # the bridge ended meanwhile: the leg is being hung up
                    self.parent.documents.event(
                        "warning", None, f"redirect of dialled leg {self.sid} came too late"
                    )
                return
        if ends(update):
            self.ended_by_rest = True  # before the hang-up: the <Dial> may end as it lands
            hang_up_by_rest(self.parent, self.phone, self.leg)

    def bridge_started(self) -> None:
        with self._lock:
            self._bridged = True

    def is_bridged(self) -> bool:
        """Bridged to the caller, so that a REST redirect can take the leg over?"""
        return (
            self._bridged and not self._leaving and self.leg.live and self.parent.adopt is not None
        )

    def leaving(self) -> bool:
        """Did a REST redirect ask this (bridged) leg to leave the ``<Dial>``?"""
        return self._leaving

    def unbridge(self) -> bool:
        """The bridge is over: True if a REST redirect takes the leg (:meth:`hand_over`)."""
        with self._lock:
            self._bridged = False
            return self._leaving

    def hand_over(self) -> None:
        """A REST redirect took the leg out of the bridge: from now on a flow of its own
        (:func:`appliance.voice.flow.adopt_leg`) runs the new TwiML, written in
        ``calls.control``, on the leg's session, audio included, and ends the call."""
        adopt = self.parent.adopt
        if adopt is None:  # is_bridged() said no: the API refused the redirect
            self.hangup()
            return
        self.handed_over = True
        self.parent.documents.event(
            "info", None, f"dialled leg {self.sid} left the <Dial> for new TwiML (REST update)"
        )
        self.session.channel.control()  # the flow starts with the update's TwiML
        adopt(self.session)

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
        """Hang up if need be, stop the callee's audio, leave the phone's flows (unless a
        REST redirect handed the leg to a flow of its own)."""
        if self.handed_over:
            return
        self.hangup()
        self.session.channel.stop_media()
        self.phone.flows.pop(self.leg.sid, None)


if TYPE_CHECKING:  # mypy checks that a modem's leg keeps the RingLeg Protocol (here, not in
    # line.py: line -> dialleg -> session -> line would be an import cycle in voice)

    def _a_dial_leg_is_a_ring_leg(leg: DialLeg) -> RingLeg:
        return leg
