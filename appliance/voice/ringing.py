"""Parallel ringing: every ``<Number>`` of a ``<Dial>`` on its own free modem, every ``<Client>``
on its browsers; the first ready wins.

Each number gets a free modem (connected, with an audio port, no call, not claimed by
another ``<Dial>``) and a thread (:class:`appliance.voice.dialleg.DialLeg`); each
``<Client>`` a ring leg from the engine's client directory (``appliance.clients.ringing``):
all legs are dialled at once.  A leg is *ready* when its callee answers and, if the
``<Number>`` has ``sendDigits``, the keys have been sent, and, if it has ``url``, its
whisper (:mod:`appliance.voice.whisper`) ended without hanging up.  The first ready
leg wins; every other leg is hung up at once, in parallel (``canceled`` if it was still
ringing, ``completed`` if its whisper was running).  A leg whose whisper hangs up, or
that is busy, unanswered or refused, or that a REST update ends (``Status=canceled`` or
``completed`` on its child call), drops out while the others keep ringing.

When fewer modems are free than there are numbers, the first ones in document order
are rung and the rest are not dialled (a call event says which): see docs/voice.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from appliance import logs
from appliance.voice.channel import CallEnded
from appliance.voice.whisper import whisper

if TYPE_CHECKING:
    from appliance.voice.phone import Phone
    from appliance.voice.ringleg import RingLeg
    from appliance.voice.session import CallSession

LOGGER = logging.getLogger(__name__)

WHISPER_GRACE = 120.0  # seconds past the ring timeout an answered leg's whisper may run
HANGUP_JOIN = 35.0  # seconds to wait for the losers' hang-ups (each is one AT command)

_claimed: set[str] = set()  # modems a running <Dial> holds (names)
_claim_lock = threading.Lock()


def claim_phones(session: CallSession, wanted: int, only: str | None = None) -> list[Phone]:
    """Up to ``wanted`` free modems other than the caller's line, in the engine's order
    (``only``: that modem alone, the one a browser caller's ``callerId`` names)."""
    out: list[Phone] = []
    with _claim_lock:
        for phone in session.phone.engine.phones.values():
            if len(out) >= wanted:
                break
            name = phone.modem.name
            if phone is session.phone or not phone.audio_port or name in _claimed:
                continue
            if only is not None and name != only:
                continue
            if phone.modem.connected.is_set() and not any(leg.live for leg in phone.legs.values()):
                _claimed.add(name)
                out.append(phone)
    return out


def modem_numbered(session: CallSession, number: str) -> str | None:
    """The name of the modem whose SIM has ``number`` (its setting, or the Numbers resource),
    compared without spaces or punctuation; None if no SIM here has it."""
    want = _plain(number)
    if not want:
        return None
    rows = session.ctx.store.read("SELECT phone_number, modem FROM numbers")
    listed = {str(r["modem"]): _plain(str(r["phone_number"] or "")) for r in rows}
    for name, phone in session.phone.engine.phones.items():
        if want in (_plain(phone.modem.cfg.number or ""), listed.get(name)):
            return name
    return None


def _plain(number: str) -> str:
    return "".join(ch for ch in number if ch.isdigit() or ch == "+")


def release_phones(phones: list[Phone]) -> None:
    with _claim_lock:
        for phone in phones:
            _claimed.discard(phone.modem.name)


class Ringer:
    """Rings ``legs`` at once for ``session``'s caller (each made with ``session.channel.wake``
    as its wake-up, so that the caller's thread hears of their events)."""

    def __init__(self, session: CallSession, legs: Sequence[RingLeg], timeout: float) -> None:
        self.session = session
        self.timeout = timeout
        self.legs = list(legs)
        self.winner: RingLeg | None = None
        self.declined: set[str] = set()  # legs whose whisper hung up
        self.losers_down_at: float | None = None  # monotonic: every other leg hung up
        self._lock = threading.Lock()
        self._out: set[str] = set()  # legs that dropped out
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def wake(self) -> None:
        self.session.channel.wake()

    # -- the caller's thread ----------------------------------------------------------------
    def run(self) -> RingLeg | None:
        """Ring every leg; returns the winner (bridged by the caller), None if nobody won."""
        for leg in self.legs:
            t = threading.Thread(target=self._leg_main, args=(leg,), name=f"dial {leg.sid[:10]}")
            t.daemon = True
            self._threads.append(t)
            t.start()
        caller = self.session
        end = time.monotonic() + self.timeout + WHISPER_GRACE
        with caller.channel.poke:
            while self.winner is None:
                if not caller.leg.live or caller.channel.ended.is_set():
                    break
                if caller.channel.control_pending.is_set():
                    break  # a REST update of the caller's call ends the <Dial>
                if len(self._out) >= len(self.legs) or time.monotonic() >= end:
                    break
                caller.channel.poke.wait(0.05)
        with self._lock:
            self._stop.set()
            winner = self.winner
        self._hang_up_losers(winner)
        return winner

    def _hang_up_losers(self, winner: RingLeg | None) -> None:
        losers = [leg for leg in self.legs if leg is not winner and leg.leg.live]
        threads = [threading.Thread(target=leg.hangup, daemon=True) for leg in losers]
        for t in threads:
            t.start()
        deadline = time.monotonic() + HANGUP_JOIN
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self.losers_down_at = time.monotonic()
        if losers:
            logs.event(
                LOGGER,
                logging.INFO,
                "dial losers hung up",
                sid=self.session.sid,
                legs=len(losers),
                winner=winner.sid if winner else None,
            )

    def status(self) -> tuple[str, str]:
        """(DialCallStatus, DialCallSid) when nobody won: canceled if the caller hung up;
        busy if every callee was busy; no-answer if any rang out or declined in the
        whisper; else failed.  The SID is the first leg (document order) with that status.
        Legs a REST update ended do not count; when it ended them all: canceled (Twilio's
        "canceled via the REST API before it was answered"), completed if one had answered
        (its whisper was running)."""
        if not self.session.leg.live:
            return "canceled", self.legs[0].sid if self.legs else ""
        legs = [leg for leg in self.legs if not leg.ended_by_rest]
        if self.legs and not legs:  # every leg ended by a REST update
            answered = [leg for leg in self.legs if leg.answered]
            if answered:
                return "completed", answered[0].sid
            return "canceled", self.legs[0].sid
        statuses = ["no-answer" if leg.sid in self.declined else leg.dial_status() for leg in legs]
        if statuses and all(s == "busy" for s in statuses):
            pick = "busy"
        elif "no-answer" in statuses or "canceled" in statuses:
            pick = "no-answer"
        else:
            pick = "failed"
        for leg, s in zip(legs, statuses, strict=True):
            if s == pick or (pick == "no-answer" and s == "canceled"):
                return pick, leg.sid
        return pick, ""

    # -- a leg's thread ---------------------------------------------------------------------
    def _leg_main(self, leg: RingLeg) -> None:
        won = False
        try:
            won = self._ring(leg)
        except CallEnded:
            pass
        except Exception:  # noqa: BLE001 - one leg's bug must not take the dial down
            logs.event(LOGGER, logging.ERROR, "dial leg error", sid=leg.sid, exc_info=True)
        finally:
            if not won:
                leg.close()
                with self._lock:
                    self._out.add(leg.sid)
                self.wake()

    def _ring(self, leg: RingLeg) -> bool:
        """Dial, wait for the answer, send the keys, whisper; True if this leg won."""
        if not leg.dial() or not leg.wait_answer(self._stop.is_set):
            return False
        if self._stop.is_set():
            return False
        leg.start_media()
        noun = leg.noun
        digits = getattr(noun, "send_digits", None)
        if digits:
            leg.send_digits(str(digits))
        url = getattr(noun, "url", None)
        if url and not self._stop.is_set():
            if not whisper(leg.session, url, getattr(noun, "method", "POST")):
                if not self._stop.is_set():
                    self.declined.add(leg.sid)  # not merely cut short by another leg's win
                return False
        with self._lock:
            if self.winner is None and not self._stop.is_set() and leg.leg.live:
                self.winner = leg
                won = True
            else:
                won = False
        self.wake()
        return won
