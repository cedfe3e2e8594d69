"""What the voice engine needs of a line, so that a browser leg can be one (Protocols only).

A *line* is what a call is made on: a modem (:class:`appliance.voice.phone.Phone`) or, for
browser phones, the client line that ``appliance.clients`` will provide (docs/design.md,
"Browser phone calls").  ``voice`` states these Protocols and never imports ``clients``; the
daemon, the composition root, hands the engine its client line (:attr:`VoiceEngine.client_line
<appliance.voice.engine.VoiceEngine.client_line>`).

* :class:`Line`: what the engine's entry points (stop, control, redirect, streams) and a
  call's flow, session and channel use of a line: its name (``calls.modem``), the live legs
  and flows, the engine (whose modems a ``<Dial>`` claims), running a function on its thread,
  answering and hanging up a leg, early media, starting and opening its audio.  What only a
  modem has (its SIM, AT commands, hold and join) is reached by narrowing to ``Phone``.

The callee side of a ``<Dial>`` (``RingLeg``, ``ClientDirectory``) is in
:mod:`appliance.voice.ringleg`: it names ``CallSession``, which is made on a ``Line``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from appliance.voice.call import CallLeg
    from appliance.voice.phone import FlowHandle, Phone, Switchboard
    from appliance.voice.ports import AudioPort

T = TypeVar("T")


class Line(Protocol):
    """A line calls are made on (a modem's phone, or the browser phones' client line)."""

    @property
    def name(self) -> str:
        """The line's name, as ``calls.modem`` holds it (``modem1``, ``client``)."""
        ...

    legs: dict[str, CallLeg]  # live calls by SID
    flows: dict[str, FlowHandle]  # their flows by SID

    #: False where the network cannot hold one call and join another (a browser leg): such a
    #: caller never falls back to the one-modem hold-and-join ``<Dial>``.
    can_conference: bool

    @property
    def engine(self) -> Switchboard:
        """The voice engine: its modems are what a ``<Dial>`` from this line claims."""
        ...

    def run(self, fn: Callable[[], T], timeout: float = 60.0) -> T:
        """Run ``fn`` on the line's thread (from a flow thread) and return its result."""
        ...

    def answer(self, leg: CallLeg) -> bool: ...

    def hangup(self, leg: CallLeg, status: str = ...) -> None: ...

    def early_media(self, leg: CallLeg) -> bool:
        """Let a ringing caller hear the call's audio before the answer (``<Dial
        answerOnBridge>``); False where the line cannot (a modem answers with ATA only)."""
        ...

    def enable_audio(self) -> bool:
        """Start call audio where the line needs a command for it (on its thread)."""
        ...

    def open_audio(self) -> AudioPort | None:
        """The call's audio port (8 kHz s16 mono), or None when the line has none."""
        ...


if TYPE_CHECKING:  # mypy checks that a modem's phone keeps the Protocol (a DialLeg: dialleg.py)

    def _a_phone_is_a_line(phone: Phone) -> Line:
        return phone
