"""The socket to a Media Streams bot: opening it, and Twilio's error codes when that fails.

:func:`open_socket` connects to a ``ws://`` or ``wss://`` URL with the ``websockets``
client: the upgrade carries ``X-Twilio-Signature`` (computed by the caller), no proxy from
the environment is used, and ``wss://`` is verified against the system's CAs plus, when the
``stream_ca_file`` setting names one, a private CA (:func:`tls_context`).  A failure raises
:class:`ConnectFailed` with Twilio's Stream code (:data:`CONNECT_ERRORS`).
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from appliance.voice import streamproto

__all__ = [
    "CLOSE_TIMEOUT",
    "CONNECT_ERRORS",
    "HANDSHAKE_ERROR",
    "OPEN_TIMEOUT",
    "REFUSED",
    "TIMEOUT",
    "TLS_ERROR",
    "ConnectFailed",
    "connect_error",
    "open_socket",
    "tls_context",
]

OPEN_TIMEOUT = 10.0  # seconds for TCP + TLS + the HTTP upgrade (then 31901)
CLOSE_TIMEOUT = 2.0  # seconds to wait for the bot's close frame after ours
USER_AGENT = "sim-appliance media-streams"

TIMEOUT, REFUSED, TLS_ERROR, HANDSHAKE_ERROR = 31901, 31902, 31910, 31920
CONNECT_ERRORS = {
    TIMEOUT: "Stream - WebSocket - Connection Timeout",
    REFUSED: "Stream - WebSocket - Connection Refused",
    TLS_ERROR: "Stream - WebSocket - SSL Protocol Error",
    HANDSHAKE_ERROR: "Stream - WebSocket - Handshake Error",
}


class ConnectFailed(Exception):
    """The bot could not be reached; ``code`` is Twilio's Stream error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@functools.lru_cache(maxsize=4)
def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The client context for ``wss://``: certificate and host name verified against the
    system's CAs, and also against ``ca_file`` (PEM) when given.  Raises
    :class:`ConnectFailed` (31910) if ``ca_file`` cannot be read or holds no certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise ConnectFailed(
                TLS_ERROR, f"stream_ca_file {ca_file} cannot be loaded: {reason}"
            ) from None
    return context


def connect_error(exc: BaseException, open_timeout: float = OPEN_TIMEOUT) -> tuple[int, str]:
    """Twilio's Stream error code and a message for a failed connection."""
    if isinstance(exc, ConnectFailed):
        return exc.code, exc.message
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        return HANDSHAKE_ERROR, f"the server answered HTTP {status} to the upgrade, not 101"
    if isinstance(exc, InvalidURI | InvalidHandshake):
        return HANDSHAKE_ERROR, f"WebSocket handshake failed: {exc}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLS_ERROR, f"TLS failed: the certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return TLS_ERROR, f"TLS failed: {exc}"
    if isinstance(exc, TimeoutError):
        return TIMEOUT, f"no answer within {open_timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return REFUSED, "connection refused"
    return REFUSED, f"cannot connect: {exc}"


def open_socket(
    url: str,
    *,
    signature: str,
    ca_file: Path | None = None,
    open_timeout: float = OPEN_TIMEOUT,
) -> ClientConnection:
    """Connect to the bot at ``url``; :class:`ConnectFailed` if it cannot be reached."""
    try:
        context = tls_context(ca_file) if urlsplit(url).scheme.lower() == "wss" else None
        return connect(
            url,
            additional_headers={"X-Twilio-Signature": signature},
            ssl=context,
            open_timeout=open_timeout,
            close_timeout=CLOSE_TIMEOUT,
            max_size=streamproto.MAX_FRAME_BYTES,
            compression=None,
            proxy=None,
            user_agent_header=USER_AGENT,
            legacy=True,  # a connection that outlives this call (closed by its stream's stop())
        )
    except Exception as exc:  # noqa: BLE001 - every failure is a Stream error on the call
        code, message = connect_error(exc, open_timeout)
        raise ConnectFailed(code, message) from exc
