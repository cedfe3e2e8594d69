"""Calls from browsers: a browser's ``invite`` becomes a ``calls`` row and a flow running the
TwiML App's TwiML; its ``hangup`` and ``dtmf`` reach that call.

:meth:`ClientCalls.invite` checks, in this order, what the SDK's ``Device.connect()`` sent
(docs/clients.md, "Calls from a browser"): an outgoing grant in the token (31201), the
``webrtc`` extra (31480), the token's Application (31001: unknown, or deleted since the token
was minted), the number of browser calls at once (31480), ``twilio.params`` (31103 too long,
31100 malformed) and the SDP (31100, :mod:`~appliance.clients.offer`).  A refusal is an
``error`` carrying the browser's ``TJS…`` id (the Device raises it: 31201 as
AuthenticationFailed) and then a plain ``hangup`` that ends the SDK's Call.  A call placed
while the database is unreachable is refused so too, with 31480 (docs/reliability.md), and
its row is written once the database is back.

A call that passes gets a row (``inbound``, From ``client:<identity>``, To the ``To``
parameter, the App's VoiceUrl, fallback and StatusCallback), a
:class:`~appliance.clients.line.ClientCall` on the client line, and a flow.  While the flow
asks the VoiceUrl, the media loop (started here, at the first browser call) makes the
appliance's answer SDP; the flow's answer sends it.  The first request adds
``ApplicationSid``, the grant's ``outgoing.params`` and the page's connect params (grant
params win over page params of the same name; Twilio's own names win over both).

A socket that drops with an answered call on it does not end the call at once: the call
outlives it for ``client_reconnect_grace`` seconds and a reconnect takes it back
(:mod:`~appliance.clients.reconnection`, which also serves a legacy 1.x Device's ``listen``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from appliance import logs, sids
from appliance.clients import invitation, medialoop, offer, pstream
from appliance.clients.line import ClientCall, ClientLine, Device
from appliance.clients.reconnection import RECONNECT_GRACE, Reconnections
from appliance.errors import StoreUnavailable, TokenError
from appliance.voice import call
from appliance.voice.call import CallEvent, CallLeg
from appliance.voice.records import TURNED_AWAY

if TYPE_CHECKING:
    from appliance.clients.directory import ClientRinging
    from appliance.clients.tokens import ClientGrant
    from appliance.clients.usermessages import UserMessages
    from appliance.store.database import Row, Store
    from appliance.voice.phone import FlowHandle

LOGGER = logging.getLogger(__name__)

MAX_CALLS = 4  # browser calls at once (client_calls): the CPU budget of a Raspberry Pi
RESTART_TIMEOUT = 10.0  # s for aiortc to answer a reinvite (no candidates to gather again)
DIGIT_PAUSE = 0.5  # seconds a "w" in sendDigits waits (the SDK's own pause)
ANONYMOUS = "Anonymous"  # the identity of a token that has none (Twilio's client:Anonymous)
OUTAGE = (
    "The appliance cannot place calls now: its database is unreachable. Try again in a few seconds"
)

FlowFactory = Callable[[ClientCall, CallLeg, Mapping[str, str]], "FlowHandle"]


class ClientCalls:
    """Routes the call messages of every browser socket to the client line's calls."""

    def __init__(
        self,
        line: ClientLine,
        store: Store,
        flow_factory: FlowFactory,
        limit: int = MAX_CALLS,
        grace: float = RECONNECT_GRACE,
    ) -> None:
        self.line, self.store, self.flow_factory = line, store, flow_factory
        self.limit = limit
        # calls outliving their dropped socket, and the sockets that take them back
        self.reconnections = Reconnections(line, grace)
        # the browsers the appliance rings (<Dial><Client>: appliance.clients.ringing)
        self.ringing: ClientRinging | None = None
        # user-defined messages both ways (call.sendMessage, REST UserDefinedMessages)
        self.messages: UserMessages | None = None

    def invite(self, device: Device, grant: ClientGrant, message: pstream.Message) -> None:
        """A browser places a call (``Device.connect``)."""
        tjs = message.callsid or ""
        try:
            token = pstream.reconnect_token(message.payload)
        except pstream.ProtocolError as e:
            self.reconnections.refuse(device, tjs, e.message)
            return
        if token is not None:
            self.reconnections.reattach(device, grant.identity or ANONYMOUS, tjs, token)
            return
        try:
            placed = self._place(device, grant, message, tjs)
        except StoreUnavailable:
            self._turn_away(device, grant, message, tjs)
            return
        except pstream.ProtocolError as e:
            logs.event(
                LOGGER,
                logging.INFO,
                "client call refused",
                connection=device.number,
                code=e.code,
                why=e.message,
            )
            device.push(pstream.error(e.code, e.message, tjs))
            device.push(pstream.hangup(tjs))
            return
        logs.event(
            LOGGER,
            logging.INFO,
            "client call placed",
            sid=placed.sid,
            connection=device.number,
            from_=placed.leg.number,
        )

    def _turn_away(
        self, device: Device, grant: ClientGrant, message: pstream.Message, tjs: str
    ) -> None:
        """A call placed while the database is away (PostgreSQL): its App's VoiceUrl and its
        row are in the store, so no flow could run it.  It is refused at once as one the
        appliance cannot take now (``error`` 31480, then ``hangup``: the SDK's Call ends,
        the socket stays up), nothing of it is left (``_place`` closed its PeerConnection),
        and its row (``busy``, error 20503, as a GSM call turned away has) is written once
        the database is back."""
        caller = f"client:{grant.identity or ANONYMOUS}"
        try:
            to = pstream.connect_params(message.payload).get("To", "")
        except pstream.ProtocolError:
            to = ""
        device.push(pstream.error(pstream.UNAVAILABLE, OUTAGE, tjs))
        device.push(pstream.hangup(tjs))
        self.line.records.insert_rejected(
            CallEvent("ring", number=caller, source="browser"), error=TURNED_AWAY, to=to[:256]
        )
        logs.event(
            LOGGER,
            logging.WARNING,
            "client call turned away: database unreachable",
            connection=device.number,
            from_=caller,
            code=pstream.UNAVAILABLE,
        )

    def _place(
        self, device: Device, grant: ClientGrant, message: pstream.Message, tjs: str
    ) -> ClientCall:
        from appliance.clients import tokens  # late: PyJWT and cryptography
        from appliance.clients.audioport import WebRtcAudioPort
        from appliance.clients.peer import Peer

        payload = message.payload
        try:
            app_sid = grant.require_outgoing()
        except TokenError as e:
            raise pstream.ProtocolError(e.message, pstream.AUTHORIZATION) from None
        why = medialoop.missing()
        if why is not None:
            raise pstream.ProtocolError(why, pstream.UNAVAILABLE)
        try:
            app = tokens.application(self.store, app_sid)
        except TokenError as e:
            raise pstream.ProtocolError(e.message, e.code) from None
        if self.line.find(tjs, device) is not None:
            raise pstream.ProtocolError(f"The call {tjs} is already placed")
        if self.line.count() >= self.limit:
            raise pstream.ProtocolError(
                f"At most {self.limit} browser call{'s' if self.limit != 1 else ''} at once on"
                " this appliance (client_calls)",
                pstream.UNAVAILABLE,
            )
        params = pstream.connect_params(payload)
        checked = offer.check(str(payload["sdp"]))
        try:
            loop = self.line.media.start()
        except RuntimeError as e:
            raise pstream.ProtocolError(str(e), pstream.UNAVAILABLE) from None

        caller = f"client:{grant.identity or ANONYMOUS}"
        sid = sids.new("CA")
        leg = CallLeg(sid, incoming=True, number=caller, status=call.RINGING)
        leg.caller_id_seen = True  # a browser's identity is known from the first message
        peer = Peer(WebRtcAudioPort(loop), name=sid)
        found = ClientCall(self.line, device, tjs, leg, peer)
        peer.on_end = found.media_ended
        found.answer_sdp = self.line.media.submit(peer.answer(checked.sdp))  # while asking
        try:
            self._start(found, app, params, grant.params, app_sid)
        except BaseException:
            self.line.media.submit(peer.close())  # a store failure: no PeerConnection is left
            self.line.discard(found)  # nor its reconnect token
            raise
        return found

    def _start(
        self,
        found: ClientCall,
        app: Row,
        params: Mapping[str, str],
        grant_params: Mapping[str, str],
        app_sid: str,
    ) -> None:
        """The row, then the flow (which asks the App's VoiceUrl first)."""
        sid, leg = found.sid, found.leg
        self.line.records.insert_call(
            sid,
            direction="inbound",
            from_number=str(leg.number),
            to_number=params.get("To", ""),
            status=call.RINGING,
            webhooks={
                "url": app["voice_url"],
                "method": app["voice_method"],
                "fallback_url": app["voice_fallback_url"],
                "fallback_method": app["voice_fallback_method"],
                "status_callback": app["status_callback"],
                "status_callback_method": app["status_callback_method"],
            },
        )
        first = {**params, **grant_params, "ApplicationSid": app_sid}
        flow = self.line.add(found, lambda: self.flow_factory(found, leg, first))
        flow.start()

    def hangup(self, device: Device, callsid: str) -> None:
        """The browser hung up (its CA sid, or its TJS id before ``answer``); an unknown or
        ended call is ignored, as hanging up twice is harmless."""
        found = self.line.find(callsid, device)
        if found is not None:
            self.line.released(found, "hung up by the browser")

    def dtmf(self, device: Device, callsid: str, digits: str) -> bool:
        """``sendDigits`` over signalling (the SDK's path without telephone-event): each key
        goes to the call's flow as an out-of-band digit; ``w`` waits half a second.  False
        when this socket has no such call."""
        found = self.line.find(callsid, device)
        if found is None:
            return False
        flow = self.line.flows.get(found.sid)
        if flow is None:
            return True
        if "w" not in digits.lower():
            for d in digits:
                flow.digit(d.upper(), "signal")
            return True

        def paced() -> None:
            for d in digits:
                if d in "wW":
                    time.sleep(DIGIT_PAUSE)
                elif found.leg.live:
                    flow.digit(d.upper(), "signal")

        threading.Thread(target=paced, name=f"dtmf {found.sid[:10]}", daemon=True).start()
        return True

    def reinvite(self, device: Device, callsid: str, sdp: object) -> bool:
        """The SDK's ICE restart after a media failure (call.ts, ``iceRestart``): ``answer``
        with the appliance's SDP (and the call's reconnect token), which the SDK's
        PeerConnection takes as the restart's answer.  A malformed SDP gets ``error`` 31100
        and the call goes on; a restart aiortc refuses ends the call with ``hangup`` 53405
        (the SDK's media ConnectionError).  False when this socket has no such call."""
        found = self.line.find(callsid, device)
        if found is None:
            return False
        try:
            checked = offer.check(sdp)
        except pstream.ProtocolError as e:
            device.push(pstream.error(e.code, e.message, found.sid))
            return True
        restart = found.peer.restart(checked.sdp, checked.ice)
        try:
            answer = self.line.media.submit(restart).result(RESTART_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - aiortc refused it, or the loop is gone
            restart.close()  # never awaited if the loop was gone
            why = f"The media could not be restarted: {e or type(e).__name__}"
            logs.event(LOGGER, logging.INFO, "client ice restart failed", sid=found.sid, why=why)
            device.push(pstream.hangup(found.sid, pstream.MEDIA_FAILED, why))
            self.line.released(found, "ICE restart failed")
            return True
        device.push(pstream.answer(found.sid, answer, reconnect=found.reconnect))
        logs.event(LOGGER, logging.INFO, "client ice restart", sid=found.sid)
        return True

    def answer(self, device: Device, callsid: str, sdp: object) -> bool:
        """The browser accepted a call the appliance rang it with; False for no such ring."""
        return self.ringing is not None and self.ringing.answer(device, callsid, sdp)

    def reject(self, device: Device, callsid: str) -> bool:
        """The browser declined a call it was rung with (or its page closed); False for no
        such ring."""
        return self.ringing is not None and self.ringing.reject(device, callsid)

    def on(self, device: Device) -> bool:
        """Whether this socket carries a live call."""
        return bool(self.line.of_device(device))

    def dropped(self, device: Device, closing: bool = False) -> None:
        """The browser's socket closed: it stops ringing; an answered call outlives it for
        ``grace`` seconds (its media keeps flowing) and a reconnect ``invite`` re-attaches
        it, else it ends then, so none is left in progress.  A call not yet answered (the
        browser has no reconnect token yet) ends at once, as does every call when the
        appliance is ``closing``."""
        if self.ringing is not None:
            self.ringing.dropped(device)
        for found in self.line.of_device(device):
            if closing or self.reconnections.grace <= 0 or found.leg.answered_at is None:
                self.line.released(found, "socket closed")
            else:
                self.reconnections.detach(found, device)

    def resume(self, device: Device, holder: invitation.Holder) -> None:
        """A legacy 1.x Device listened on a new socket (:meth:`Reconnections.resume
        <appliance.clients.reconnection.Reconnections.resume>`)."""
        self.reconnections.resume(device, holder)

    def stop(self) -> None:
        """The daemon stops: no grace timer outlives it (the engine ends the calls)."""
        self.reconnections.stop()
