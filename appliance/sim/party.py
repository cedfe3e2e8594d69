"""Scripted remote parties: the person on the far end of a simulated call.

A :class:`RemoteParty` runs its steps (:class:`Say`, :class:`Play`, :class:`Digits`,
:class:`Silence`, :class:`WaitHeard`, :class:`Hangup`) in its own thread once the call
is answered.  A remote party's DTMF digits are tones in the downlink *and*, when the
tone starts to play, the family's DTMF URC (``+DTMF:``, ``+RXDTMF:``, ``+QTONEDET:``)
if the host enabled it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .call import SimCall, check_digits
from .errors import VoiceError
from .pcm import load_audio, render_speech

LOGGER = logging.getLogger(__name__)


class Step(Protocol):
    """One thing a remote party does once the call is answered."""

    def perform(self, call: SimCall) -> None: ...


@dataclass(frozen=True)
class Say:
    """Speak ``text`` (espeak-ng, 8 kHz) and wait until it has been played."""

    text: str
    voice: str = "en-us"

    def perform(self, call: SimCall) -> None:
        call.play(render_speech(self.text, self.voice))
        call.wait_played()


@dataclass(frozen=True)
class Play:
    """Play 8 kHz S16LE PCM bytes or a WAV file, and wait until it has been played."""

    source: bytes | str | Path

    def perform(self, call: SimCall) -> None:
        call.play(load_audio(self.source))
        call.wait_played()


@dataclass(frozen=True)
class Digits:
    """Press keys: in-band tones (plus the family's DTMF URC), ``on_ms``/``off_ms`` each."""

    digits: str
    on_ms: int = 100
    off_ms: int = 100

    def perform(self, call: SimCall) -> None:
        call.send_digits(self.digits, self.on_ms, self.off_ms)
        call.wait_played()


@dataclass(frozen=True)
class Silence:
    """Say nothing for ``seconds``."""

    seconds: float

    def perform(self, call: SimCall) -> None:
        call.wait_state("ended", timeout=self.seconds)


@dataclass(frozen=True)
class Hangup:
    """Hang up."""

    def perform(self, call: SimCall) -> None:
        call.hangup()


@dataclass(frozen=True)
class WaitHeard:
    """Wait until ``seconds`` of non-silent audio came from the appliance (or ``timeout``)."""

    seconds: float = 1.0
    timeout: float = 10.0

    def perform(self, call: SimCall) -> None:
        call.wait_heard(self.seconds, self.timeout)


class RemoteParty:
    """A scripted person on the far end of a call; the steps run once it is answered.

    With no steps the party stays on the line, silent, until someone hangs up.
    """

    def __init__(self, steps: Sequence[Step] = ()) -> None:
        self.steps = tuple(steps)

    def run(self, call: SimCall) -> threading.Thread:
        t = threading.Thread(target=self._run, args=(call,), name=f"sim-party-{call.id}")
        t.daemon = True
        t.start()
        return t

    def _run(self, call: SimCall) -> None:
        for step in self.steps:
            if call.state == "ended":
                return
            try:
                step.perform(call)
            except Exception:
                LOGGER.exception("sim %s: remote party step %r failed", call.id, step)
                return

    @classmethod
    def from_spec(cls, spec: Sequence[Any] | None) -> RemoteParty:
        """Steps from JSON-like dicts: ``{"say": "hi"}``, ``{"play": "/x.wav"}``,
        ``{"digits": "12#", "on_ms": 80, "off_ms": 80}``, ``{"silence": 2}``,
        ``{"wait_heard": 1.0, "timeout": 10}``, ``{"hangup": true}``."""
        steps: list[Step] = []
        for item in spec or ():
            if not isinstance(item, dict) or len(set(item) & _SPEC_KEYS) != 1:
                raise VoiceError(f"a step must be an object with one of {sorted(_SPEC_KEYS)}")
            if "say" in item:
                steps.append(Say(str(item["say"]), str(item.get("voice", "en-us"))))
            elif "play" in item:
                steps.append(Play(str(item["play"])))
            elif "digits" in item:
                digits = str(item["digits"])
                check_digits(digits)
                on, off = int(item.get("on_ms", 100)), int(item.get("off_ms", 100))
                steps.append(Digits(digits, on, off))
            elif "silence" in item:
                steps.append(Silence(float(item["silence"])))
            elif "wait_heard" in item:
                steps.append(WaitHeard(float(item["wait_heard"]), float(item.get("timeout", 10))))
            else:
                steps.append(Hangup())
        return cls(steps)


_SPEC_KEYS = {"say", "play", "digits", "silence", "wait_heard", "hangup"}
