"""Browser phones in the composition root: their parts, built and wired to the voice engine.

A browser call is a line of the engine (:class:`~appliance.clients.line.ClientLine`); its media
run on one loop thread (:class:`~appliance.clients.medialoop.MediaLoop`), which starts, importing
aiortc, only at the first browser call.  :class:`~appliance.clients.calls.ClientCalls` holds the
calls with their reconnect grace, rings browsers for ``<Dial><Client>`` once the HTTPS server's
hub is known (:meth:`BrowserPhones.ring_through`), and carries the user-defined messages.
The daemon (:mod:`appliance.daemon`) builds one, starts its line and stops its calls and media.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from appliance.clients import medialoop
from appliance.clients.calls import ClientCalls
from appliance.clients.directory import ClientRinging
from appliance.clients.line import ClientCall, ClientLine
from appliance.clients.medialoop import MediaLoop
from appliance.clients.usermessages import UserMessages
from appliance.config import Config
from appliance.store.database import Store
from appliance.voice.call import CallLeg
from appliance.voice.context import Context
from appliance.voice.engine import VoiceEngine
from appliance.voice.flow import CallFlow

if TYPE_CHECKING:
    from appliance.clients.hub import Hub


class BrowserPhones:
    """The media loop, the client line and the browser calls of one daemon."""

    def __init__(
        self,
        config: Config,
        store: Store,
        account_sid: Callable[[], str],
        wake: Callable[[], None],
        voice: VoiceEngine,
        ctx: Context,
        node: str,
    ) -> None:
        self.voice = voice
        self.media = MediaLoop(config.webrtc_address_list)
        line = ClientLine(store, account_sid, wake, self.media, voice)
        voice.client_line = line
        line.records.node = node  # calls.node_id of browser calls (a fleet)

        def flow(found: ClientCall, leg: CallLeg, first: Mapping[str, str]) -> CallFlow:
            # A browser call is the Line its flow runs on; <Message> needs the call's own
            # SIM and is skipped on it (flow.MODEM_VERBS), <Dial> claims a modem.
            made = CallFlow(found, leg, ctx)
            made.documents.first_params = dict(first)
            return made

        self.line = line
        self.calls = ClientCalls(
            line,
            store,
            flow,
            limit=config.client_calls,
            grace=config.client_reconnect_grace,
        )
        # <Dial><Client> rings browsers: wired to the engine with the HTTPS server's hub
        self.calls.ringing = ClientRinging(line, account_sid)
        # call.sendMessage to the subscriptions' Callbacks, REST UserDefinedMessages to browsers
        self.calls.messages = UserMessages(line, store, account_sid, wake)

    def ring_through(self, hub: Hub) -> None:
        """``<Dial><Client>`` rings the hub's registered browsers; without the webrtc extra
        the engine has no client directory, and a ``<Client>`` is skipped with a warning."""
        ringing = self.calls.ringing
        if ringing is not None and medialoop.missing() is None:
            ringing.devices = hub.devices
            self.voice.clients = ringing
