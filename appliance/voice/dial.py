"""``<Dial>``: forward a live call to other phones, on other modems or on the same one.

Other modems (preferred, voice.md 3.3): every ``<Number>`` rings at once, each on its own
free modem (:mod:`appliance.voice.ringing`); the first to answer (and to pass its
``<Number url>`` whisper, :mod:`appliance.voice.whisper`) wins, the others are hung up,
and the appliance copies 20 ms frames both ways between the two audio ports
(:mod:`appliance.voice.bridge`), so timeLimit, hangupOnStar, record and
DialCallDuration are enforced by the appliance.  While the callees ring, a caller whose
call is answered hears the ``ringTone`` ringback (:mod:`appliance.voice.ringtones`);
with ``answerOnBridge`` the caller's call is not answered until a callee wins (the
caller hears the network's ringing meanwhile).

No free modem (voice.md 3.2): the caller's own modem holds it, dials and joins the three
parties (:mod:`appliance.voice.multiparty`), one number after the other; a refusal ends the
dial with ``DialCallStatus=failed`` and the call goes on with the next verb or the action
URL.  ``answerOnBridge`` cannot hold off the answer there (a modem cannot dial beside a call
it has not answered).

While the database is unreachable no number is dialled: a child call's row is written before
its ``ATD`` (:func:`~appliance.voice.dialleg.not_placed`).  The ``<Dial>`` rings its
``<Client>`` nouns, if any (turned away ``busy`` then), else ends ``failed`` at once, and the
call goes on with the action URL (requested with the call's parameters as last read) or the
next verb, as for a dial that cannot be placed on Twilio.

A SIM presents its own number: ``callerId`` cannot be honoured (a warning is recorded).
``<Client>`` nouns ring browser phones (the engine's ``clients`` directory, which needs no
modem) in parallel with the numbers; without it (no HTTPS server or no ``webrtc`` extra)
they are not rung, and a call event says so.

A browser caller (a line that cannot hold and join: ``can_conference`` false) dials through
a claimed modem only, never the one-modem hold-and-join.  Its ``callerId`` must be absent or
a SIM's number, which picks that SIM's modem; any other value is error 13214 and
``DialCallStatus=failed``.  The keys it sends as signalling cross the bridge by
:class:`~appliance.voice.bridge.KeyRelay` (``AT+VTS`` on the callee's modem).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from appliance.errors import StoreUnavailable
from appliance.sms.webhookparams import country
from appliance.voice import ringing
from appliance.voice.bridge import Bridge, KeyRelay
from appliance.voice.channel import CallEnded
from appliance.voice.dialleg import DialLeg, not_placed
from appliance.voice.multiparty import DEFAULT_TIME_LIMIT, TRANSFERRED, dial_in_turn, talk

# ringtones and dialrecording use numpy: imported when a <Dial> runs, so an idle appliance
# never loads it (docs/benchmarks.md, idle memory).
if TYPE_CHECKING:
    from appliance.voice.audio import Playback
    from appliance.voice.dialrecording import DialRecording
    from appliance.voice.phone import Phone
    from appliance.voice.ringleg import ClientDirectory, RingLeg
    from appliance.voice.session import CallSession

LOGGER = logging.getLogger(__name__)


def _nouns(verb: Any) -> list[Any]:
    nouns = [
        n for n in (getattr(verb, "numbers", ()) or ()) if str(getattr(n, "number", n)).strip()
    ]
    if not nouns and getattr(verb, "number", None):
        nouns = [str(verb.number).strip()]
    return nouns


def _number(noun: Any) -> str:
    return str(getattr(noun, "number", noun)).strip()


def dial(session: CallSession, verb: Any, doc: Any) -> Any:
    """Run one ``<Dial>``; returns the action's document, or None to go on."""
    caller_id = str(getattr(verb, "caller_id", None) or "").strip()
    nouns = _nouns(verb)
    sim: str | None = None  # the modem whose SIM has a browser caller's callerId
    refused = False  # a browser caller's callerId is no SIM's number: nothing is dialled
    if caller_id and session.modem is not None:
        session.documents.event(
            "warning",
            13214,
            "Dial callerId is not honoured: a SIM card presents its own number",
        )
    elif caller_id:
        try:
            sim = ringing.modem_numbered(session, caller_id)
            refused = sim is None
        except StoreUnavailable:  # the Numbers resource is away: no number could be dialled
            if nouns:
                not_placed(session, [_number(n) for n in nouns])
            nouns = []
        if refused:
            session.documents.event(
                "error",
                13214,
                f"Dial callerId {caller_id} is not the number of a SIM on this appliance",
            )
    clients = list(getattr(verb, "clients", ()))
    if clients and _directory(session) is None:
        for client in clients:
            session.documents.event(
                "warning",
                None,
                f"<Client>{client.identity}</Client> not rung: browser phones are not available"
                " on this appliance (docs/clients.md)",
            )
        clients = []
    from appliance.voice.dialrecording import DialRecording, wanted

    recording = DialRecording(session, verb) if wanted(verb) else None
    status, child_sid, duration = "failed", "", 0
    try:
        if (nouns or clients) and not refused:
            status, child_sid, duration = _dial_nouns(session, verb, nouns, recording, clients, sim)
        elif not nouns and not getattr(verb, "clients", ()):
            session.documents.event("error", 13223, "Dial has no number to call")
    finally:
        extra_recording = recording.save() if recording is not None else {}
    if status == TRANSFERRED:
        raise CallEnded()  # the caller left the appliance's line with the callee
    if session.leg.live and session.channel.control_pending.is_set():
        # A REST update of the caller's call (Status=completed/canceled, Url, Twiml) ended
        # the <Dial>: as on Twilio, its action is not requested; the flow carries it out.
        LOGGER.info("call %s: <Dial> ended by a REST update of the call", session.sid)
        return None
    if not getattr(verb, "action", None):
        return None  # the next verb, if the caller is still there
    extra = {"DialCallStatus": status, "DialCallDuration": str(duration)}
    if child_sid:
        extra["DialCallSid"] = child_sid
    extra.update(extra_recording)
    if not session.leg.live:
        # The caller hung up: Twilio still requests the action (CallStatus=completed);
        # what it answers is not run, the call is over.
        try:
            session.documents.after_hangup(verb.action, verb.method, extra)
        finally:
            raise CallEnded()
    return session.documents.action(verb.action, verb.method, extra)


def _directory(session: CallSession) -> ClientDirectory | None:
    """What rings browsers (``<Client>``), if the appliance has it."""
    return getattr(getattr(session.phone, "engine", None), "clients", None)


def _dial_nouns(
    session: CallSession,
    verb: Any,
    nouns: list[Any],
    recording: DialRecording | None,
    clients: list[Any] | None = None,
    sim: str | None = None,
) -> tuple[str, str, int]:
    timeout = float(getattr(verb, "timeout", 30) or 30)
    clients = clients or []
    if nouns and not session.ctx.store.available:  # no ATD without the child's row
        not_placed(session, [_number(n) for n in nouns])
        nouns = []
        if not clients:
            return "failed", "", 0
    phones = ringing.claim_phones(session, len(nouns), only=sim) if nouns else []
    if phones or clients:  # browsers need no modem: they ring beside the numbers
        try:
            if len(phones) < len(nouns):
                skipped = ", ".join(_number(n) for n in nouns[len(phones) :])
                rang = (
                    f"rang the first {len(phones)} in document order"
                    if phones
                    else "rang only the <Client> nouns"
                )
                session.documents.event(
                    "warning",
                    None,
                    f"only {len(phones)} free modem(s) for {len(nouns)} numbers: {rang};"
                    f" not dialled: {skipped}",
                )
            return _ring_parallel(
                session, verb, nouns[: len(phones)], phones, timeout, recording, clients
            )
        finally:
            ringing.release_phones(phones)
    phone = session.modem
    if phone is None or not session.phone.can_conference:  # a browser caller: no hold-and-join
        which = f"modem {sim} (the callerId's SIM)" if sim else "modem"
        session.documents.event("dial-refused", None, f"no free {which} to dial from")
        return "failed", "", 0
    session.answer_now()  # one modem: it cannot dial beside an unanswered call
    return dial_in_turn(session, phone, verb, [_number(n) for n in nouns], timeout, recording)


def ring_tone(verb: Any, nouns: list[Any]) -> str:
    """``ringTone``, else the first callee's country's tone (Twilio's default)."""
    from appliance.voice import ringtones

    chosen = getattr(verb, "ring_tone", None)
    if chosen in ringtones.TONES:
        return str(chosen)
    return ringtones.tone_for_country(country(_number(nouns[0])) if nouns else "")


def _ring_parallel(
    session: CallSession,
    verb: Any,
    nouns: list[Any],
    phones: list[Phone],
    timeout: float,
    recording: DialRecording | None,
    clients: list[Any] | None = None,
) -> tuple[str, str, int]:
    wake = session.channel.wake
    legs: list[RingLeg] = []
    for i, (noun, phone) in enumerate(zip(nouns, phones, strict=True)):
        try:
            legs.append(DialLeg(session, phone, noun, timeout, wake))
        except StoreUnavailable:  # the database went away: no ATD without the row
            not_placed(session, [_number(n) for n in nouns[i:]])
            break
    directory = _directory(session)
    if directory is not None:
        legs += [directory.leg(session, client, timeout, wake) for client in clients or ()]
    if not legs:
        return "failed", "", 0
    media = session.channel.media
    if recording is not None and recording.from_ringing:
        recording.start(media)
    ringer = ringing.Ringer(session, legs, timeout)
    ringback: Playback | None = None
    if media is not None:  # the caller's call is answered: play the ringback ourselves
        from appliance.voice import ringtones

        ringback = media.play(ringtones.frames(ring_tone(verb, nouns)))
    winner: RingLeg | None = None
    try:
        winner = ringer.run()
    finally:
        if ringback is not None:
            ringback.cancel()
        # The losers' modems are free for another <Dial> while this one is bridged.
        kept = getattr(winner, "phone", None)
        ringing.release_phones([p for p in phones if winner is None or p is not kept])
    if winner is None:
        status, sid = ringer.status()
        return status, sid, 0
    try:
        return _bridge(session, verb, winner, recording)
    finally:
        winner.close()


def _bridge(
    session: CallSession, verb: Any, winner: RingLeg, recording: DialRecording | None
) -> tuple[str, str, int]:
    session.answer_now()  # answerOnBridge: the caller's call is answered now
    media_a = session.channel.media
    media_b = winner.session.channel.media
    if media_b is None:
        return "failed", winner.sid, 0
    if recording is not None:
        recording.start(media_a)
        recording.add_callee(media_a, media_b)
    bridge = Bridge(media_a, media_b)
    relay = KeyRelay(winner.send_digits, f"keys {winner.sid[:10]}")
    session.channel.relay = relay.put  # a browser caller's keys (signalling) to the callee
    winner.bridge_started()
    leaves, duration = False, 0
    try:
        limit = time.monotonic() + float(getattr(verb, "time_limit", 0) or DEFAULT_TIME_LIMIT)
        star = bool(getattr(verb, "hangup_on_star", False))
        why = talk(session, winner.leg, limit, star=star, leaving=winner.leaving)
        LOGGER.info("call %s: bridge to %s ended (%s)", session.sid, winner.sid, why)
    finally:
        session.channel.relay = None
        relay.stop()
        leaves = winner.unbridge()
        bridge.stop()
        if recording is not None:
            recording.stop()
        if leaves:
            # A REST redirect of the child call: it runs its new TwiML, the caller goes on.
            duration = winner.bridged_seconds()
            winner.hand_over()
        else:
            winner.hangup()
            duration = winner.leg.duration()
    return "completed", winner.sid, duration
