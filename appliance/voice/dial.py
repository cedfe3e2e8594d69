"""``<Dial>``: forward a live call to another phone, on a second modem or on the same one.

Two modems (preferred, voice.md 3.3): the other modem dials the target and the
appliance copies 20 ms frames both ways between the two audio ports, so timeLimit,
hangupOnStar and DialCallDuration are enforced by the appliance.

One modem (voice.md 3.2): ``AT+CHLD=2`` holds the caller, ``ATD`` dials the target,
and on answer ``AT+CHLD=3`` joins the three parties (the appliance stays on the line
to enforce the limits); if the network refuses multiparty but the profile has
explicit call transfer, ``AT+CHLD=4`` hands the caller over instead.  When the profile or the operator refuses hold or
multiparty (``+CME ERROR``), the dial ends with ``DialCallStatus=failed`` and the
caller is taken off hold: the call goes on with the next verb or the action URL.

A SIM presents its own number: ``callerId`` cannot be honoured (a warning is recorded).
Several ``<Number>`` nouns are tried one after the other, not in parallel (one line).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import TYPE_CHECKING, Any

from appliance import sids
from appliance.voice import call
from appliance.voice.bridge import Bridge
from appliance.voice.call import CallLeg
from appliance.voice.channel import CallEnded

if TYPE_CHECKING:
    from appliance.voice.phone import Phone
    from appliance.voice.session import CallSession

LOGGER = logging.getLogger(__name__)

# What _conference_one answers after an explicit call transfer: the network joined the two
# parties and dropped the appliance, so the <Dial> never ends here (no action request).
TRANSFERRED = "transferred"


def _numbers(verb: Any) -> list[str]:
    nouns = getattr(verb, "numbers", ()) or ()
    out = [str(getattr(n, "number", n)).strip() for n in nouns]
    out = [n for n in out if n]
    if not out and getattr(verb, "number", None):
        out = [str(verb.number).strip()]
    return out


def _idle_phone(session: CallSession) -> Phone | None:
    """Another connected modem with no call on it, for a two-modem bridge."""
    for phone in session.phone.engine.phones.values():
        if phone is session.phone or not phone.audio_port:
            continue
        if phone.modem.connected.is_set() and not any(leg.live for leg in phone.legs.values()):
            return phone
    return None


def dial(session: CallSession, verb: Any, doc: Any) -> Any:
    """Run one ``<Dial>``; returns the action's document, or None to go on."""
    if getattr(verb, "caller_id", None):
        session.documents.event(
            "warning",
            13214,
            "Dial callerId is not honoured: a SIM card presents its own number",
        )
    numbers = _numbers(verb)
    status, child_sid, duration = "failed", "", 0
    for number in numbers:
        status, child_sid, duration = _dial_one(session, verb, number)
        if status in ("completed", "answered") or not session.leg.live:
            break
    if not numbers:
        session.documents.event("error", 13223, "Dial has no number to call")
    if status == TRANSFERRED:
        raise CallEnded()  # the caller left the appliance's line with the callee
    if not getattr(verb, "action", None):
        return None  # the next verb, if the caller is still there
    extra = {"DialCallStatus": status, "DialCallDuration": str(duration)}
    if child_sid:
        extra["DialCallSid"] = child_sid
    if not session.leg.live:
        # The caller hung up: Twilio still requests the action (CallStatus=completed);
        # what it answers is not run, the call is over.
        try:
            session.documents.after_hangup(verb.action, verb.method, extra)
        finally:
            raise CallEnded()
    return session.documents.action(verb.action, verb.method, extra)


def _new_leg(session: CallSession, phone: Phone, number: str, timeout: float) -> CallLeg:
    sid = sids.new("CA")
    now = time.time()
    parent = session.documents.row()
    ours = phone.store.read_one(
        "SELECT phone_number FROM numbers WHERE modem = ?", (phone.modem.name,)
    )

    def fn(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status, date_created,"
            " date_updated, parent_call_sid, timeout) VALUES (?,?,?,?,?,?,?,?,?,?)",
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
            ),
        )

    phone.store.write(fn)
    leg = CallLeg(sid, incoming=False, number=number, status=call.QUEUED)
    return leg


def _dial_one(session: CallSession, verb: Any, number: str) -> tuple[str, str, int]:
    timeout = float(getattr(verb, "timeout", 30) or 30)
    other = _idle_phone(session)
    if other is not None:
        return _bridge_two(session, verb, other, number, timeout)
    return _conference_one(session, verb, number, timeout)


def _wait(session: CallSession, child: CallLeg, until: float, *, star: bool) -> str:
    """Wait while the child leg is up; answers why the wait ended."""
    while True:
        if not session.leg.live:
            return "caller-gone"
        if not child.live:
            return "child-ended"
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
        with session.channel.poke:
            session.channel.poke.wait(0.1)
    return child.status == call.IN_PROGRESS


def _unanswered(session: CallSession) -> str:
    """How a dialled leg that was not answered ends when the appliance lets it go: no-answer
    (our ring timeout), or canceled when the caller hung up first (Twilio's call statuses)."""
    return call.NO_ANSWER if session.leg.live else call.CANCELED


def _dial_status(child: CallLeg) -> str:
    if child.answered_at is not None:
        return "completed"
    if child.status in (call.BUSY, call.NO_ANSWER, call.FAILED, call.CANCELED):
        return child.status
    return "failed"


def _bridge_two(
    session: CallSession, verb: Any, phone: Phone, number: str, timeout: float
) -> tuple[str, str, int]:
    from appliance.voice.audio import Media
    from appliance.voice.ports import open_audio_port

    child = _new_leg(session, phone, number, timeout)
    phone.legs[child.sid] = child
    if not phone.run(lambda: phone.dial(child, number, timeout), timeout=40):
        return "failed", child.sid, 0
    if not _wait_answer(session, child, timeout):
        if child.live:
            phone.run(lambda: phone.hangup(child, _unanswered(session)))
        return _dial_status(child), child.sid, 0
    phone.run(phone.enable_audio, timeout=30)
    media_b = Media(open_audio_port(phone.audio_port))
    media_b.start()
    bridge = Bridge(session.channel.media, media_b)
    try:
        limit = time.monotonic() + float(getattr(verb, "time_limit", 14400) or 14400)
        why = _wait(session, child, limit, star=bool(getattr(verb, "hangup_on_star", False)))
        LOGGER.info("call %s: bridge to %s ended (%s)", session.sid, child.sid, why)
    finally:
        bridge.stop()
        media_b.stop()
        if child.live:
            phone.run(lambda: phone.hangup(child), timeout=30)
    return "completed", child.sid, child.duration()


def _conference_one(
    session: CallSession, verb: Any, number: str, timeout: float
) -> tuple[str, str, int]:
    phone = session.phone
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
    child = _new_leg(session, phone, number, timeout)
    phone.legs[child.sid] = child
    resumed = False
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
        limit = time.monotonic() + float(getattr(verb, "time_limit", 14400) or 14400)
        why = _wait(session, child, limit, star=bool(getattr(verb, "hangup_on_star", False)))
        LOGGER.info("call %s: three-way call with %s ended (%s)", session.sid, child.sid, why)
        if child.live:
            phone.run(lambda: phone.hangup(child), timeout=30)
        return "completed", child.sid, child.duration()
    finally:
        if not resumed and session.leg.live:
            phone.run(lambda: phone.chld("2"), timeout=30)  # take the caller off hold
