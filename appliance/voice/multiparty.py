"""``<Dial>`` on the caller's own modem: hold, dial, then join (GSM multiparty) or transfer.

With no other modem free (voice.md 3.2), ``AT+CHLD=2`` holds the caller, ``ATD`` dials the
target, and on answer ``AT+CHLD=3`` joins the three parties (the appliance stays on the line
to enforce ``timeLimit`` and ``hangupOnStar``); if the network refuses multiparty but the
profile has explicit call transfer, ``AT+CHLD=4`` hands the caller over instead.  When the
profile or the operator refuses hold or multiparty (``+CME ERROR``), the number ends
``failed`` and the caller is taken off hold.  The numbers are tried one after the other
(one line).

The child call's row is written before its ``ATD`` (:func:`~appliance.voice.dialleg.new_child_row`):
while the database is unreachable no number is dialled (the caller is not even held), and a
row that fails just after the hold takes the caller off hold again; the numbers left are not
dialled (:func:`~appliance.voice.dialleg.not_placed`).

:func:`talk` (the wait while two parties talk) serves the two-modem bridge too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appliance.errors import StoreUnavailable
from appliance.voice import call
from appliance.voice.call import CallLeg
from appliance.voice.dialleg import hang_up_by_rest, new_child_row, not_placed, read_update
from appliance.voice.restupdate import ends
from appliance.voice.ringleg import ChildHandle

if TYPE_CHECKING:
    from appliance.voice.dialrecording import DialRecording
    from appliance.voice.phone import Phone
    from appliance.voice.session import CallSession

LOGGER = logging.getLogger(__name__)

# What join_one answers after an explicit call transfer: the network joined the two
# parties and dropped the appliance, so the <Dial> never ends here (no action request).
TRANSFERRED = "transferred"
DEFAULT_TIME_LIMIT = 14400  # seconds (Twilio: four hours)
DONE = ("completed", "answered", TRANSFERRED)


def dial_in_turn(
    session: CallSession,
    phone: Phone,
    verb: Any,
    numbers: list[str],
    timeout: float,
    recording: DialRecording | None,
) -> tuple[str, str, int]:
    """Try ``numbers`` one after the other on the caller's own modem until one is answered
    (or the caller leaves); (DialCallStatus, DialCallSid, DialCallDuration) of the last
    one tried, ``failed`` if none was."""
    result: tuple[str, str, int] = ("failed", "", 0)
    for i, number in enumerate(numbers):
        try:
            session.ctx.store.outage.check()  # a known outage: the caller is not even held
            result = join_one(session, phone, verb, number, timeout, recording)
        except StoreUnavailable:
            not_placed(session, numbers[i:])
            break
        if result[0] in DONE or not session.leg.live:
            break
    return result


def join_one(
    session: CallSession,
    phone: Phone,
    verb: Any,
    number: str,
    timeout: float,
    recording: DialRecording | None,
) -> tuple[str, str, int]:
    """Hold the caller, dial ``number``, join the calls; StoreUnavailable (the caller off
    hold again, nothing dialled) if its row cannot be written."""
    if not (phone.voice.hold and phone.voice.mpty):
        session.documents.event(
            "dial-refused", None, f"{phone.modem.name} cannot hold and join calls"
        )
        return "failed", "", 0
    if not phone.run(lambda: phone.chld("2"), timeout=30):
        session.documents.event(
            "dial-refused", None, "the network refused to hold the call (AT+CHLD=2)"
        )
        return "failed", "", 0
    try:
        child = new_child_row(session, phone, number, timeout)
    except StoreUnavailable:
        if session.leg.live:
            phone.run(lambda: phone.chld("2"), timeout=30)  # take the caller off hold
        raise
    phone.legs[child.sid] = child

    def on_control() -> None:  # a REST update of the child call (Status=canceled/completed)
        if ends(read_update(phone, child.sid)):
            hang_up_by_rest(session, phone, child)

    phone.flows[child.sid] = ChildHandle(None, session.channel.wake, on_control)
    resumed = False
    if recording is not None and recording.from_ringing:
        recording.start(session.channel.media, mono_mix=True)
    try:
        if not phone.run(lambda: phone.dial(child, number, timeout), timeout=40):
            session.documents.event(
                "dial-refused", None, "the network refused a second call (ATD while holding)"
            )
            return "failed", child.sid, 0
        if not _wait_answer(session, child, timeout):
            if child.live:
                phone.run(lambda: phone.hangup(child, _unanswered(session)))
            return _dial_status(child), child.sid, 0
        if not phone.run(lambda: phone.chld("3"), timeout=30):
            session.documents.event(
                "dial-refused", None, "the network refused to join the calls (AT+CHLD=3)"
            )
            if phone.voice.ect and phone.run(lambda: phone.chld("4"), timeout=30):
                # Explicit call transfer: the network connects the two parties and drops the
                # appliance from both; how long they talk is not known here.
                resumed = True
                session.documents.event("info", None, f"call transferred to {number} (AT+CHLD=4)")
                phone.run(lambda: phone.released(child), timeout=30)
                phone.run(lambda: phone.released(session.leg), timeout=30)
                return TRANSFERRED, child.sid, 0
            phone.run(lambda: phone.hangup(child))
            return "failed", child.sid, 0
        resumed = True  # in a multiparty call the caller is active again
        if recording is not None:
            recording.start(session.channel.media, mono_mix=True)
        limit = time.monotonic() + float(getattr(verb, "time_limit", 0) or DEFAULT_TIME_LIMIT)
        why = talk(session, child, limit, star=bool(getattr(verb, "hangup_on_star", False)))
        LOGGER.info("call %s: three-way call with %s ended (%s)", session.sid, child.sid, why)
        if child.live:
            phone.run(lambda: phone.hangup(child), timeout=30)
        return "completed", child.sid, child.duration()
    finally:
        phone.flows.pop(child.sid, None)
        if not resumed and session.leg.live:
            phone.run(lambda: phone.chld("2"), timeout=30)  # take the caller off hold


def talk(
    session: CallSession,
    child: CallLeg,
    until: float,
    *,
    star: bool,
    leaving: Callable[[], bool] = lambda: False,
) -> str:
    """Wait while the caller and the child leg talk; answers why the wait ended."""
    while True:
        if not session.leg.live:
            return "caller-gone"
        if not child.live:
            return "child-ended"
        if leaving():
            return "child-redirected"
        if session.channel.control_pending.is_set():
            return "rest-update"  # of the caller's call: ended, or given new TwiML
        if star and "*" in list(session.channel.digits.queue):
            session.channel.clear_digits()
            return "star"
        if time.monotonic() >= until:
            return "limit"
        with session.channel.poke:
            session.channel.poke.wait(0.1)


def _wait_answer(session: CallSession, child: CallLeg, timeout: float) -> bool:
    end = time.monotonic() + timeout + 1.0  # the phone's own ring timer fires first
    while child.live and child.status != call.IN_PROGRESS:
        if not session.leg.live or time.monotonic() >= end:
            return False
        if session.channel.control_pending.is_set():
            return False  # a REST update of the caller's call ends the <Dial>
        with session.channel.poke:
            session.channel.poke.wait(0.1)
    return child.status == call.IN_PROGRESS


def _unanswered(session: CallSession) -> str:
    """How a dialled leg that was not answered ends when the appliance lets it go: no-answer
    (our ring timeout), or canceled when the caller hung up first or a REST update of the
    caller's call ended the ``<Dial>`` (Twilio's call statuses)."""
    if session.leg.live and not session.channel.control_pending.is_set():
        return call.NO_ANSWER
    return call.CANCELED


def _dial_status(child: CallLeg) -> str:
    if child.answered_at is not None:
        return "completed"
    if child.status in (call.BUSY, call.NO_ANSWER, call.FAILED, call.CANCELED):
        return child.status
    return "failed"
