"""What a browser's signalling session says about its calls, handed to the hub's calls.

A :class:`~appliance.clients.session.Session` owns who the browser is (its token, its
registration); the messages about calls go to its :class:`CallRequests`, which hands them to
the registry's :class:`~appliance.clients.calls.ClientCalls`: calls from the browser
(``invite``, then its ``hangup`` and ``dtmf``), the browser's ``answer`` and ``reject`` of a
call the appliance rang it with (``<Dial><Client>``), a ``reinvite`` (the SDK's ICE restart)
and a ``message`` (a user-defined message, ``call.sendMessage``, to the calls'
:class:`~appliance.clients.usermessages.UserMessages`).  An ``invite`` before a good
``listen``, or after the token ran out, gets the token's code and ``hangup``; without
``ClientCalls`` (a server built without a voice engine) it is hung up with 31480.  An
``answer`` for no ringing call, a ``dtmf``, ``reinvite`` or ``message`` for no call on the
socket get 31404; a ``hangup`` or ``reject`` of a call that ended is ignored.

The session is seen through :class:`Caller` (a Protocol): this module imports nothing of
the session's, so the two have no import cycle.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from appliance import logs
from appliance.clients import medialoop, pstream
from appliance.clients.line import Device

if TYPE_CHECKING:
    from appliance.clients.calls import ClientCalls
    from appliance.clients.tokens import ClientGrant

LOGGER = logging.getLogger(__name__)

EXPIRED = (
    "The token expired: refresh it with device.updateToken() before it does"
    " (the Device's tokenWillExpire event)"
)
INVITE_REFUSAL = "Calls from a browser are not available on this server (no voice engine)"


class Caller(Device, Protocol):
    """The session the call messages came on: the socket a call sends to, and its token."""

    grant: ClientGrant | None  # the last good listen's grant (None: none, or it ran out)
    expired: bool  # the token ran out during a call

    def refuse(self, e: pstream.ProtocolError) -> None: ...


class CallRequests:
    """The call messages of one session (its connection's thread)."""

    TYPES = frozenset({"invite", "hangup", "dtmf", "answer", "reject", "reinvite", "message"})

    def __init__(self, caller: Caller, calls: Callable[[], ClientCalls | None]) -> None:
        self.caller, self.calls = caller, calls

    def handle(self, message: pstream.Message) -> None:
        """One message whose type is in :data:`TYPES`."""
        getattr(self, "_on_" + message.type)(message)

    def _on_invite(self, message: pstream.Message) -> None:
        callsid = message.callsid or ""
        grant = self.caller.grant
        if grant is None:
            if self.caller.expired:
                why, code = EXPIRED, pstream.TOKEN_EXPIRED
            else:
                why, code = "Send a listen message with a valid token first", pstream.TOKEN_INVALID
            self.caller.push(pstream.error(code, why, callsid))  # the Device raises it
            self.caller.push(pstream.hangup(callsid))  # and the Call ends
            return
        calls = self.calls()
        if calls is None:
            why = medialoop.missing() or INVITE_REFUSAL
            logs.event(
                LOGGER, logging.INFO, "client call refused", connection=self.caller.number, why=why
            )
            self.caller.push(pstream.hangup(callsid, pstream.UNAVAILABLE, why))
            return
        calls.invite(self.caller, grant, message)

    def _on_hangup(self, message: pstream.Message) -> None:
        calls = self.calls()
        if calls is not None:  # hanging up a call that ended (or never was) is harmless
            calls.hangup(self.caller, message.callsid or "")

    def _on_dtmf(self, message: pstream.Message) -> None:
        calls = self.calls()
        callsid = message.callsid or ""
        if calls is None or not calls.dtmf(self.caller, callsid, message.payload["dtmf"]):
            self._no_call(message)

    def _on_answer(self, message: pstream.Message) -> None:
        calls = self.calls()
        callsid = message.callsid or ""
        if calls is None or not calls.answer(self.caller, callsid, message.payload["sdp"]):
            self._no_call(message)

    def _on_reject(self, message: pstream.Message) -> None:
        calls = self.calls()
        if calls is not None:  # rejecting a call that was cancelled meanwhile is harmless
            calls.reject(self.caller, message.callsid or "")

    def _on_reinvite(self, message: pstream.Message) -> None:
        calls = self.calls()
        callsid = message.callsid or ""
        if calls is None or not calls.reinvite(self.caller, callsid, message.payload["sdp"]):
            self._no_call(message)

    def _on_message(self, message: pstream.Message) -> None:
        calls = self.calls()
        if calls is None or calls.messages is None:
            self._no_call(message)
            return
        calls.messages.receive(self.caller, message)

    def _no_call(self, message: pstream.Message) -> None:
        self.caller.refuse(
            pstream.ProtocolError(
                f"No call {message.callsid} on this connection",
                pstream.NOT_FOUND,
                message.callsid,
            )
        )
