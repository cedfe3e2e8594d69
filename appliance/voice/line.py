"""What the voice engine needs of a line, so that a browser leg can be one (Protocols only).

A *line* is what a call is made on: a modem (:class:`appliance.voice.phone.Phone`) or, for
browser phones, the client line that ``appliance.clients`` will provide (docs/design.md,
"Browser phone calls").  ``voice`` states these Protocols and never imports ``clients``; the
daemon, the composition root, hands the engine its client line (:attr:`VoiceEngine.client_line
<appliance.voice.engine.VoiceEngine.client_line>`).

* :class:`Line`: what the engine's entry points (stop, control, redirect, streams) and a
  call's channel use of a line: its name (``calls.modem``), the live legs and flows, running
  a function on its thread, answering and hanging up a leg, starting and opening its audio.
* :class:`RingLeg`: one callee being rung by a ``<Dial>`` (``Ringer``): a ``<Number>`` on a
  modem (:class:`~appliance.voice.dialleg.DialLeg`), or a ``<Client>``'s browsers.
* :class:`ClientDirectory`: how a ``<Dial>`` makes the ring leg of a ``<Client>``
  (:attr:`VoiceEngine.clients <appliance.voice.engine.VoiceEngine.clients>`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from appliance.voice.call import CallLeg
    from appliance.voice.dialleg import DialLeg
    from appliance.voice.phone import FlowHandle, Phone
    from appliance.voice.ports import AudioPort
    from appliance.voice.session import CallSession

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

    def run(self, fn: Callable[[], T], timeout: float = 60.0) -> T:
        """Run ``fn`` on the line's thread (from a flow thread) and return its result."""
        ...

    def answer(self, leg: CallLeg) -> bool: ...

    def hangup(self, leg: CallLeg, status: str = ...) -> None: ...

    def enable_audio(self) -> bool:
        """Start call audio where the line needs a command for it (on its thread)."""
        ...

    def open_audio(self) -> AudioPort | None:
        """The call's audio port (8 kHz s16 mono), or None when the line has none."""
        ...


class RingLeg(Protocol):
    """One callee a ``<Dial>`` rings, as :class:`appliance.voice.ringing.Ringer` drives it."""

    noun: object  # the TwiML noun (<Number>, <Client>)
    leg: CallLeg
    session: CallSession  # the callee's: its whisper runs there, its media is bridged
    ended_by_rest: bool

    @property
    def sid(self) -> str: ...

    @property
    def answered(self) -> bool: ...

    def dial(self) -> bool: ...

    def wait_answer(self, stop: Callable[[], bool]) -> bool: ...

    def start_media(self) -> None: ...

    def send_digits(self, digits: str) -> None: ...

    def hangup(self, status: str | None = None) -> None: ...

    def close(self) -> None: ...

    def dial_status(self) -> str: ...

    # the bridge (appliance.voice.dial): a REST redirect of the bridged leg may take it out
    def bridge_started(self) -> None: ...

    def leaving(self) -> bool: ...

    def unbridge(self) -> bool: ...

    def bridged_seconds(self) -> int: ...

    def hand_over(self) -> None: ...


class ClientDirectory(Protocol):
    """The browser phones a ``<Dial><Client>`` rings (``appliance.clients`` provides it)."""

    def leg(
        self, parent: CallSession, noun: object, timeout: float, wake: Callable[[], None]
    ) -> RingLeg:
        """The ring leg of one ``<Client>`` noun for ``parent``'s caller (its row written)."""
        ...


if TYPE_CHECKING:  # mypy checks that today's modem classes keep these Protocols

    def _a_phone_is_a_line(phone: Phone) -> Line:
        return phone

    def _a_dial_leg_is_a_ring_leg(leg: DialLeg) -> RingLeg:
        return leg
