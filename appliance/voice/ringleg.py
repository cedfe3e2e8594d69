"""What a ``<Dial>`` needs of a callee it rings, so that a browser can be one (Protocols only).

* :class:`RingLeg`: one callee being rung by a ``<Dial>`` (``Ringer``): a ``<Number>`` on a
  modem (:class:`~appliance.voice.dialleg.DialLeg`), or a ``<Client>``'s browsers
  (``appliance.clients.ringing``).
* :class:`ClientDirectory`: how a ``<Dial>`` makes the ring leg of a ``<Client>``
  (:attr:`VoiceEngine.clients <appliance.voice.engine.VoiceEngine.clients>`).
* :class:`ChildLeg`: the state both kinds of ring leg keep (the child call's leg, the callee's
  session, its :class:`ChildHandle`, ``ended_by_rest``, ``media_started``), their base class.
* :class:`ChildHandle`: a dialled child call as its line and the engine see a flow.

Apart from :mod:`appliance.voice.line`, since these name the callee's ``CallSession``, which
is itself made on a ``Line``: one module would make an import cycle.  The session is handed
in, so this module imports no session at run time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from appliance.errors import StreamRefused
from appliance.voice import call

if TYPE_CHECKING:
    from appliance.twiml.stream import Stream
    from appliance.voice.call import CallLeg, Step
    from appliance.voice.mediastream import StreamState
    from appliance.voice.session import CallSession


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


class ChildHandle:
    """A dialled child call as its line and the engine see a flow: the line's events and the
    callee's keys go to the leg's ``session`` (none for the held call of a one-modem
    ``<Dial>``) and wake the ``<Dial>``; a REST update runs ``on_control``."""

    def __init__(
        self,
        session: CallSession | None,
        wake: Callable[[], None],
        on_control: Callable[[], object],
        bridged: Callable[[], bool] = lambda: False,
    ) -> None:
        self.session = session
        self._wake = wake
        self._on_control = on_control
        self.bridged = bridged  # only a leg bridged to its caller can be redirected

    def start(self) -> None:
        return None

    def join(self, timeout: float | None = None) -> None:
        return None

    def notify(self, step: Step) -> None:
        if self.session is not None:
            self.session.channel.notify(step)
        self._wake()

    def digit(self, digit: str, source: str) -> None:
        if self.session is not None:
            self.session.channel.digit(digit, source)

    def stop(self) -> None:
        if self.session is not None:
            self.session.channel.stop()
        self._wake()

    def control(self) -> None:
        """The REST API wrote the child's ``calls.control``: carried out on a thread of its
        own (one AT command), so the HTTP request does not wait for the modem."""
        threading.Thread(target=self._on_control, name="dial leg update", daemon=True).start()

    def start_stream(self, spec: Stream) -> StreamState | None:
        raise StreamRefused(
            "This call is a leg dialled by <Dial>: this appliance starts Media Streams only on"
            " a call that runs its own TwiML. Start it on the parent call instead."
        )

    def wake(self) -> None:
        self._wake()


class ChildLeg:
    """What every ring leg keeps, a ``<Number>``'s on a modem or a ``<Client>``'s browsers:
    the child call's ``leg``, the callee's ``session`` (its whisper, its media) and the
    :class:`ChildHandle` its line knows it by, and what the ``<Dial>`` reads of it."""

    def __init__(
        self,
        leg: CallLeg,
        session: CallSession,
        wake: Callable[[], None],
        on_control: Callable[[], object],
        bridged: Callable[[], bool] = lambda: False,
    ) -> None:
        self.leg = leg
        self.session = session
        self._handle = ChildHandle(session, wake, on_control, bridged)
        self.ended_by_rest = False  # a REST update (Status=canceled/completed) ended it
        self.media_started = False

    @property
    def sid(self) -> str:
        return self.leg.sid

    @property
    def answered(self) -> bool:
        return self.leg.answered_at is not None

    def start_media(self) -> None:
        """The callee's audio (whisper prompts, keys, then the bridge)."""
        self.session.channel.start_media()
        self.media_started = True

    def bridged_seconds(self) -> int:
        """Whole seconds since the callee answered (DialCallDuration of a leg that leaves)."""
        answered = self.leg.answered_at
        return 0 if answered is None else max(0, round(time.monotonic() - answered))

    def dial_status(self) -> str:
        """DialCallStatus of this leg alone."""
        if self.answered:
            return "completed"
        if self.leg.status in (call.BUSY, call.NO_ANSWER, call.FAILED, call.CANCELED):
            return self.leg.status
        return "failed"
