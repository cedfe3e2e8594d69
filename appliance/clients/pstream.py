"""Twilio's browser-phone signalling protocol, the server's side: pure (no I/O).

The Voice JavaScript SDK (``@twilio/voice-sdk`` 2.x, ``lib/twilio/pstream.ts`` and
``wstransport.ts``) opens ``wss://<chunderw>/signal`` and exchanges JSON text frames
``{"type": …, "version": "1.6", "payload": {…}}``.  A lone ``"\\n"`` is a heartbeat: the server
sends one, the SDK echoes it, and the SDK reconnects when it hears nothing for 15 s.  The legacy
twilio.js 1.x (``twilio-client`` 1.15.1, ``pstream.js``) sends the same messages as version
``"1.5"``, so the version is not checked (docs/clients.md, "The legacy twilio-client 1.x SDK"),
only kept: :attr:`Message.legacy` tells a 1.x Device, which re-attaches its call after a
dropped socket without a ``reconnect`` token.

The SDK sends ``listen`` (its token, on every open and every ``updateToken``), ``register``
(``media.audio`` true or false), and for calls ``invite``, ``answer``, ``dtmf``, ``hangup``,
``reject``, ``reinvite`` and ``message``.  The server answers ``connected`` (the token's
identity and remaining ``ttl``), ``ready`` (registered), ``offline`` (unregistered), ``error``
(``payload.error.code`` / ``.message``, with ``callsid`` when it concerns a call), ``hangup``
and ``close`` (the SDK drops the stream and stops reconnecting).

This module parses and checks what a browser sends (:func:`parse`; an outgoing call's
``twilio.params`` with :func:`connect_params`, a ``reconnect`` token with
:func:`reconnect_token`), builds what the server sends (calls: :func:`invite`,
:func:`ringing`, :func:`answer`, :func:`cancel`, :func:`hangup`), maps token failures to the codes the SDK turns into its documented errors
(:func:`token_error`), rate-limits a connection (:class:`RateLimit`) and keeps the
registration table, identity → live connections (:class:`Registrations`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
from collections.abc import Hashable, Iterator, Mapping
from typing import Any

VERSION = "1.6"  # the SDK's PSTREAM_VERSION
RECONNECT_VERSION = (1, 6)  # the first PStream version whose SDK sends a reconnect invite
HEARTBEAT = "\n"
MAX_MESSAGE = 64 * 1024  # characters in one message; Chrome's SDP offers are ~5-10 KB
MAX_CALLSID = 64
MAX_DIGITS = 64
CLIENT_TYPES = frozenset(
    {"listen", "register", "invite", "answer", "dtmf", "hangup", "reject", "reinvite", "message"}
)
CALL_TYPES = frozenset({"invite", "answer", "dtmf", "hangup", "reject", "reinvite", "message"})
REGION = "appliance"  # the SDK only echoes the region it is told

# The codes the server sends (appliance.errors.CLIENT_ERRORS) and what the SDK raises for them
# (device.ts, _onSignalingError): 31204 -> AccessTokenInvalid (20101), 31205 ->
# AccessTokenExpired (20104), 31201 -> AuthenticationFailed (20151); the other 31xxx reach the
# page with their code under enableImprovedSignalingErrorPrecision, else as a ConnectionError.
GENERIC = 31000
CONNECTION = 31005  # the SDK's ConnectionError, raised as is (a listen the outage holds)
MALFORMED = 31100
CLIENT_NAME = 31105
AUTHORIZATION = 31201
TOKEN_INVALID = 31204
TOKEN_EXPIRED = 31205
RATE_EXCEEDED = 31206
NOT_FOUND = 31404
UNAVAILABLE = 31480
PARAMETER_TOO_LONG = 31103  # the SDK's MaxParameterLengthExceededError
RECONNECT_REFUSED = 31209  # the SDK's ReconnectAttemptError
BUSY = 31486
DECLINED = 31603
MEDIA_FAILED = 53405  # the SDK's MediaErrors.ConnectionError (a failed reinvite)

MAX_PARAMS = 40  # custom parameters of one call (connect() params, <Parameter>s)
MAX_PARAM_NAME, MAX_PARAM_VALUE = 256, 800
MAX_PARAMS_TEXT = 64 * 1024
MAX_RECONNECT = 256  # characters of a reconnect token (the appliance makes ~43)
API_VERSION = "2010-04-01"

_DTMF = re.compile(r"[0-9A-Da-d*#wW]+")
_VERSION = re.compile(r"([0-9]{1,4})\.([0-9]{1,4})")


class ProtocolError(ValueError):
    """A message the server refuses: ``code`` and ``message`` go back to the browser."""

    def __init__(self, message: str, code: int = MALFORMED, callsid: str | None = None) -> None:
        super().__init__(message)
        self.message, self.code, self.callsid = message, code, callsid


@dataclasses.dataclass(frozen=True)
class Message:
    """One checked message from a browser."""

    type: str
    payload: Mapping[str, Any]
    version: str = ""

    @property
    def callsid(self) -> str | None:
        value = self.payload.get("callsid")
        return value if isinstance(value, str) else None

    @property
    def legacy(self) -> bool:
        """Sent by twilio-client 1.x (PStream ``"1.5"``): it re-sends ``listen`` on a new socket
        and keeps its call, but never sends a ``reconnect`` invite (1.x ``pstream.js``)."""
        found = _VERSION.fullmatch(self.version)
        return found is not None and (int(found[1]), int(found[2])) < RECONNECT_VERSION


def parse(text: str | bytes) -> Message:
    """The message in one text frame, or a :class:`ProtocolError` naming what is wrong."""
    if isinstance(text, bytes):
        raise ProtocolError("Signalling messages are JSON text frames, not binary frames")
    if len(text) > MAX_MESSAGE:
        raise ProtocolError(f"The message is {len(text)} characters long (at most {MAX_MESSAGE})")
    try:
        data = json.loads(text)
    except ValueError:
        raise ProtocolError("The message is not JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("The message is not a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_TYPES:
        shown = repr(kind)[:40] if kind is not None else "missing"
        raise ProtocolError(
            f"Unknown message type {shown}: expected one of {', '.join(sorted(CLIENT_TYPES))}"
        )
    payload = data.get("payload", {})
    if not isinstance(payload, dict):
        raise ProtocolError(f"The {kind} message's payload is not a JSON object")
    _check(kind, payload)
    version = data.get("version")
    return Message(kind, payload, version[:16] if isinstance(version, str) else "")


def _check(kind: str, payload: Mapping[str, Any]) -> None:
    callsid: str | None = None
    if kind in CALL_TYPES:
        value = payload.get("callsid")
        if not isinstance(value, str) or not 0 < len(value) <= MAX_CALLSID:
            raise ProtocolError(f"The {kind} message has no valid callsid")
        callsid = value
    if kind == "listen":
        token = payload.get("token")
        if not isinstance(token, str) or not token.strip():
            raise ProtocolError("The listen message has no token", code=TOKEN_INVALID)
    elif kind == "register":
        media = payload.get("media")
        if not isinstance(media, dict) or not isinstance(media.get("audio"), bool):
            raise ProtocolError("The register message's media.audio is not true or false")
    elif kind in ("invite", "answer", "reinvite"):
        if not isinstance(payload.get("sdp"), str) or not payload["sdp"]:
            raise ProtocolError(f"The {kind} message has no SDP", callsid=callsid)
    elif kind == "dtmf":
        digits = payload.get("dtmf")
        if not isinstance(digits, str) or len(digits) > MAX_DIGITS or not _DTMF.fullmatch(digits):
            raise ProtocolError(
                "The dtmf message's digits are not 0-9, A-D, *, # or w", callsid=callsid
            )


def encode(kind: str, payload: Mapping[str, Any] | None = None) -> str:
    """A server message as the SDK reads it (pstream.ts, _handleTransportMessage)."""
    return json.dumps(
        {"type": kind, "version": VERSION, "payload": dict(payload or {})},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def connected(identity: str | None, ttl: float, account_sid: str) -> str:
    """The answer to a good ``listen``: the SDK takes ``token.identity`` as Device.identity
    and fires ``tokenWillExpire`` ``tokenRefreshMs`` before ``token.ttl`` (seconds) runs out."""
    token: dict[str, Any] = {"ttl": max(0, int(ttl)), "accountSid": account_sid}
    if identity is not None:
        token["identity"] = identity
    return encode("connected", {"region": REGION, "token": token})


def ready() -> str:
    """Registered: the SDK's Device goes to ``registered``."""
    return encode("ready")


def offline() -> str:
    """Unregistered: the SDK's Device goes to ``unregistered``."""
    return encode("offline")


def close() -> str:
    """The SDK destroys its stream and does not reconnect (after a refused token)."""
    return encode("close")


def error(code: int, message: str, callsid: str | None = None) -> str:
    payload: dict[str, Any] = {"error": {"code": code, "message": message}}
    if callsid is not None:
        payload["callsid"] = callsid
    return encode("error", payload)


def hangup(callsid: str, code: int | None = None, message: str = "") -> str:
    """Ends a call; with ``code`` the SDK's Call raises that error first (call.ts, _onHangup)."""
    payload: dict[str, Any] = {"callsid": callsid}
    if code is not None:
        payload["error"] = {"code": code, "message": message}
    return encode("hangup", payload)


def invite(
    callsid: str,
    sdp: str,
    *,
    account_sid: str,
    caller: str,
    to: str,
    params: Mapping[str, str] | None = None,
    reconnect: str | None = None,
) -> str:
    """Rings a browser (device.ts, _onSignalingInvite): the SDK's Call takes ``parameters``
    as ``call.parameters`` and the URL-encoded ``Params`` as ``call.customParameters``."""
    parameters = {
        "CallSid": callsid,
        "AccountSid": account_sid,
        "From": caller,
        "To": to,
        "ApiVersion": API_VERSION,
        "Params": urllib.parse.urlencode(dict(params or {}), quote_via=urllib.parse.quote),
    }
    payload: dict[str, Any] = {"callsid": callsid, "sdp": sdp, "parameters": parameters}
    if reconnect is not None:
        payload["reconnect"] = reconnect
    return encode("invite", payload)


def ringing(callsid: str, sdp: str | None = None) -> str:
    """An outgoing call rings; with ``sdp`` it has early media (the SDK reads the server's SDP
    once, from the first ``ringing`` or ``answer`` that has one; call.ts _onAnswerOrRinging)."""
    payload: dict[str, Any] = {"callsid": callsid}
    if sdp is not None:
        payload["sdp"] = sdp
    return encode("ringing", payload)


def answer(callsid: str, sdp: str | None = None, reconnect: str | None = None) -> str:
    """An outgoing call is answered (its SDP unless ``ringing`` carried it); to a device that
    answered an incoming call, the confirmation.  ``reconnect`` lets the SDK re-attach the
    call after a dropped socket (call.ts, _onAnswer)."""
    payload: dict[str, Any] = {"callsid": callsid}
    if sdp is not None:
        payload["sdp"] = sdp
    if reconnect is not None:
        payload["reconnect"] = reconnect
    return encode("answer", payload)


def cancel(callsid: str) -> str:
    """Stops a ringing incoming call (the only message a pending call heeds: call.ts)."""
    return encode("cancel", {"callsid": callsid})


def connect_params(payload: Mapping[str, Any]) -> dict[str, str]:
    """The custom parameters of an outgoing ``invite``: ``twilio.params``, a URL-encoded
    string (``connect({params})``, made with encodeURIComponent).  At most
    :data:`MAX_PARAMS` pairs, names of at most 256 characters and values of at most 800, else
    31103; a malformed ``twilio`` object is 31100."""
    twilio = payload.get("twilio", {})
    if twilio is None:
        twilio = {}
    if not isinstance(twilio, dict):
        raise ProtocolError("The invite message's twilio field is not a JSON object")
    text = twilio.get("params", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise ProtocolError("The invite message's twilio.params is not a URL-encoded string")
    if len(text) > MAX_PARAMS_TEXT:
        raise ProtocolError(
            f"The call's parameters are {len(text)} characters long (at most {MAX_PARAMS_TEXT})",
            PARAMETER_TOO_LONG,
        )
    try:
        pairs = urllib.parse.parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, errors="strict"
        )
    except (ValueError, UnicodeError):
        raise ProtocolError("The invite message's twilio.params is not URL-encoded") from None
    if len(pairs) > MAX_PARAMS:
        raise ProtocolError(
            f"The call has {len(pairs)} parameters (at most {MAX_PARAMS})", PARAMETER_TOO_LONG
        )
    params: dict[str, str] = {}
    for name, value in pairs:
        if not name:
            raise ProtocolError("A call parameter has an empty name")
        if len(name) > MAX_PARAM_NAME:
            raise ProtocolError(
                f"A call parameter's name is {len(name)} characters long"
                f" (at most {MAX_PARAM_NAME})",
                PARAMETER_TOO_LONG,
            )
        if len(value) > MAX_PARAM_VALUE:
            raise ProtocolError(
                f"The call parameter {name[:40]!r} is {len(value)} characters long"
                f" (at most {MAX_PARAM_VALUE})",
                PARAMETER_TOO_LONG,
            )
        params[name] = value
    return params


def reconnect_token(payload: Mapping[str, Any]) -> str | None:
    """The ``reconnect`` token of an ``invite`` that re-attaches a call (None: a new call)."""
    value = payload.get("reconnect")
    if value is None or value is False or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_RECONNECT or not value.isprintable():
        raise ProtocolError(
            "The invite message's reconnect token is not a short string",
            RECONNECT_REFUSED,
            payload.get("callsid") if isinstance(payload.get("callsid"), str) else None,
        )
    return value


def token_error(code: int) -> int:
    """The signalling code for a refused token (a TokenError's code): expired ones 31205
    (the SDK's AccessTokenExpired, 20104), a bad client name 31105, any other 31204 (the
    SDK's AccessTokenInvalid, 20101; the message says why: signature, account, lifetime…)."""
    if code in (20104, TOKEN_EXPIRED):
        return TOKEN_EXPIRED
    if code == CLIENT_NAME:
        return CLIENT_NAME
    if code == AUTHORIZATION:
        return AUTHORIZATION
    return TOKEN_INVALID


class RateLimit:
    """A token bucket: ``burst`` messages at once, refilled at ``per_second``."""

    def __init__(self, burst: float, per_second: float, now: float) -> None:
        self.burst, self.rate = burst, per_second
        self.level, self.stamp = burst, now

    def allow(self, now: float) -> bool:
        self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level >= 1:
            self.level -= 1
            return True
        return False


class Registrations:
    """Who can be rung: identity → the live connections registered under it (several
    devices per identity).  Not thread-safe: its owner holds a lock."""

    def __init__(self) -> None:
        self._by_identity: dict[str, list[Hashable]] = {}
        self._identity_of: dict[Hashable, str] = {}

    def register(self, identity: str, connection: Hashable) -> None:
        """Registers ``connection`` under ``identity`` (moving it from another identity)."""
        if self._identity_of.get(connection) == identity:
            return
        self.unregister(connection)
        self._by_identity.setdefault(identity, []).append(connection)
        self._identity_of[connection] = identity

    def unregister(self, connection: Hashable) -> str | None:
        """Removes ``connection``; the identity it was registered under, if any."""
        identity = self._identity_of.pop(connection, None)
        if identity is not None:
            devices = self._by_identity[identity]
            devices.remove(connection)
            if not devices:
                del self._by_identity[identity]
        return identity

    def identity(self, connection: Hashable) -> str | None:
        return self._identity_of.get(connection)

    def devices(self, identity: str) -> tuple[Hashable, ...]:
        """Every connection registered under ``identity``, oldest first."""
        return tuple(self._by_identity.get(identity, ()))

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(self._by_identity))

    def __len__(self) -> int:
        return len(self._identity_of)
