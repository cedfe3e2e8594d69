"""The voice engine: the registry of phones, and the entry points of the API and the panel.

The REST API and the panel only write rows (``calls`` with status ``queued``, or a
``calls.control`` JSON for an update) and then tell the engine to look: they never
touch a modem.  Media Streams started and stopped through the REST API (the Stream
resource) go through :meth:`VoiceEngine.start_stream` and :meth:`VoiceEngine.stop_stream`:
open streams live in memory, with their call.  Each modem has a :class:`appliance.voice.phone.Phone` in its own
thread that places queued calls and answers inbound ones; each live call has a
:class:`appliance.voice.flow.CallFlow` thread that fetches and runs its TwiML.  Browser phones
will add one more line (:attr:`VoiceEngine.client_line`, a :class:`~appliance.voice.line.Line`
the daemon hands in): stop, control, redirects and streams reach every line's calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from appliance.voice.call import CallLeg
from appliance.voice.phone import FlowHandle, Phone

if TYPE_CHECKING:
    from appliance.twiml.stream import Stream
    from appliance.voice.line import Line
    from appliance.voice.mediastream import StreamState
    from appliance.voice.ringleg import ClientDirectory


class CallNotLive(Exception):
    """No flow runs this call here: it is not (or no longer) in progress."""


class StreamNameTaken(Exception):
    """The call already has an open stream of that name."""


class VoiceEngine:
    """Entry points used by the REST API and the panel; the registry of phones."""

    def __init__(self) -> None:
        self.phones: dict[str, Phone] = {}
        self.flow_factory: Callable[[Phone, CallLeg], FlowHandle] | None = None
        # the browser phones' line (docs/design.md, "Browser phone calls"): None until the
        # daemon wires it; never among `phones`, so a <Dial> never claims it as a modem
        self.client_line: Line | None = None
        # what rings browsers for <Dial><Client> (the daemon wires it); None: not rung
        self.clients: ClientDirectory | None = None
        # a call queued on a modem of another node (a fleet): the daemon tells that node
        # (NOTIFY appliance_calls); None: nobody to tell
        self.elsewhere: Callable[[str], None] | None = None
        # a REST update of a call no flow here runs (a fleet: the call is another node's):
        # the daemon tells every node (NOTIFY appliance_control, payload the call SID)
        self.control_elsewhere: Callable[[str], None] | None = None

    def lines(self) -> list[Line]:
        """Every line calls run on: the modems' phones, then the client line."""
        out: list[Line] = list(self.phones.values())
        if self.client_line is not None:
            out.append(self.client_line)
        return out

    def wake(self, modem: str) -> None:
        """A call was queued on ``modem`` (``calls.status = 'queued'``): place it when idle;
        a modem of another node is told through :attr:`elsewhere`."""
        phone = self.phones.get(modem)
        if phone is not None:
            phone.modem.wake()
        elif self.elsewhere is not None:
            self.elsewhere(modem)

    def stop(self, timeout: float = 15.0) -> None:
        """Shutting down: every live call is hung up and its flow thread ends."""
        flows = [flow for line in self.lines() for flow in list(line.flows.values())]
        for flow in flows:
            flow.stop()
        deadline = time.monotonic() + timeout
        for flow in flows:
            flow.join(max(0.1, deadline - time.monotonic()))

    def control(self, call_sid: str, *, tell: bool = True) -> bool:
        """``calls.control`` of ``call_sid`` was written (redirect, or end the call): the
        flow running it looks.  None runs here: the other nodes are told (``tell``, through
        :attr:`control_elsewhere`; False for what another node told this one, or the nodes
        would tell each other forever).  Whether a flow here took it."""
        flow = self._flow(call_sid)
        if flow is not None:
            flow.control()
            return True
        if tell and self.control_elsewhere is not None:
            self.control_elsewhere(call_sid)
        return False

    def control_all(self) -> None:
        """Every flow here looks at its ``calls.control`` (wake-ups may have been missed: a
        flow with no update finds none)."""
        for line in self.lines():
            for flow in list(line.flows.values()):
                flow.control()

    def redirectable(self, call_sid: str) -> bool:
        """Can a REST redirect of ``call_sid`` be carried out now?  Yes for a call running
        its own TwiML; a ``<Dial>``'s child call only while it is bridged to its caller (a
        redirect then takes it out of the ``<Dial>``), not while it rings or whispers."""
        from appliance.voice.ringleg import ChildHandle  # late: the dial machinery

        flow = self._flow(call_sid)
        if isinstance(flow, ChildHandle):
            return flow.bridged()
        return flow is not None

    def _flow(self, call_sid: str) -> FlowHandle | None:
        for line in self.lines():
            flow = line.flows.get(call_sid)
            if flow is not None:
                return flow
        return None

    def start_stream(self, call_sid: str, spec: Stream) -> StreamState:
        """Fork a live call's audio to a bot, as ``<Start><Stream>`` does (the REST Stream
        resource).  Returns at once, as Twilio answers: ``in-progress`` while the socket
        connects on the stream's thread (a failure then stops it, the error recorded on
        the call and sent as ``stream-error``); ``stopped`` if the modem has no audio port.
        Raises :class:`CallNotLive` or :class:`StreamNameTaken`."""
        from appliance.voice import mediastream  # late: numpy and websockets only when used

        flow = self._flow(call_sid)
        if flow is None:
            raise CallNotLive(call_sid)
        if spec.name and any(c.name == spec.name for c in mediastream.streams_of(call_sid)):
            raise StreamNameTaken(spec.name)
        state = flow.start_stream(spec)
        if state is None:  # named the same as one started meanwhile
            raise StreamNameTaken(spec.name)
        return state

    def stop_stream(self, call_sid: str, key: str) -> StreamState | None:
        """Stop a call's one-way stream by SID or name (it sends ``stop`` and closes);
        None if the call has no such open stream."""
        from appliance.voice import mediastream  # late: numpy and websockets only when used

        client = mediastream.find(call_sid, key, one_way=True)
        if client is None:
            return None
        client.stop()
        return client.state()
