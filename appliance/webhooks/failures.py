"""Twilio error codes of failed webhook requests, and how exceptions map onto them.

Error code mapping (Twilio debugger codes):

==========  ===============================================================
11100       URL not usable: not http(s), no host, unparsable
11200       HTTP retrieval failure: 3xx without a usable redirect, 4xx, 5xx,
            read timeout, total timeout
11205       HTTP connection failure: connection refused / reset / unreachable,
            connect timeout, server closed the connection without answering
11206       HTTP protocol violation: garbage status line, bad headers, bad
            chunked encoding, body shorter than Content-Length, undecodable
            Content-Encoding
11210       HTTP bad host name: DNS resolution failed
11215       too many redirects
11220       TLS handshake / certificate failure
==========  ===============================================================
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator

import urllib3.exceptions

from appliance.webhooks.deadline import TotalTimeout
from appliance.webhooks.timeouts import Timeouts

__all__ = [
    "HTTP_BAD_HOST_NAME",
    "HTTP_CONNECTION_FAILURE",
    "HTTP_PROTOCOL_VIOLATION",
    "HTTP_RETRIEVAL_FAILURE",
    "HTTP_TOO_MANY_REDIRECTS",
    "INVALID_URL_FORMAT",
    "TLS_HANDSHAKE_ERROR",
    "Failure",
    "classify",
]

INVALID_URL_FORMAT = 11100
HTTP_RETRIEVAL_FAILURE = 11200
HTTP_CONNECTION_FAILURE = 11205
HTTP_PROTOCOL_VIOLATION = 11206
HTTP_BAD_HOST_NAME = 11210
HTTP_TOO_MANY_REDIRECTS = 11215
TLS_HANDSHAKE_ERROR = 11220


class Failure(Exception):
    """One attempt of a webhook request failed with a Twilio error code."""

    def __init__(self, code: int, message: str, retry_kind: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_kind = retry_kind


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        nxt = current.__cause__ or current.__context__
        if nxt is None and current.args and isinstance(current.args[0], BaseException):
            nxt = current.args[0]
        if nxt is None:
            reason = getattr(current, "reason", None)
            nxt = reason if isinstance(reason, BaseException) else None
        current = nxt


def _detail(exc: BaseException) -> str:
    """The most specific description in an exception chain ("Connection refused")."""
    text = str(exc) or type(exc).__name__
    for inner in _chain(exc):
        if isinstance(inner, OSError) and inner.strerror:
            text = inner.strerror
        elif str(inner) and not isinstance(inner, urllib3.exceptions.HTTPError):
            text = str(inner)
    return text


def _find(exc: BaseException, kinds: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
    return any(isinstance(e, kinds) for e in _chain(exc))


def classify(exc: BaseException, deadline: float, timeouts: Timeouts, answered: bool) -> Failure:
    """Map an exception raised while talking to the server onto a Twilio error."""
    text = _detail(exc)
    out_of_time = time.monotonic() >= deadline - 0.005 or _find(exc, TotalTimeout)
    if _find(exc, urllib3.exceptions.NameResolutionError) or _find(exc, socket.gaierror):
        return Failure(HTTP_BAD_HOST_NAME, f"HTTP bad host name: {text}")
    if _find(exc, urllib3.exceptions.NewConnectionError):  # refused, unreachable, ...
        return Failure(HTTP_CONNECTION_FAILURE, f"HTTP connection failure: {text}", "ct")
    if _find(exc, urllib3.exceptions.ConnectTimeoutError):
        return Failure(
            HTTP_CONNECTION_FAILURE,
            f"HTTP connection failure: connect timeout ({timeouts.connect:g} s)"
            + (f", total timeout of {timeouts.total:g} s exceeded" if out_of_time else ""),
            "ct",
        )
    if _find(exc, urllib3.exceptions.SSLError):
        return Failure(TLS_HANDSHAKE_ERROR, f"SSL/TLS handshake error: {text}")
    if out_of_time:
        return Failure(
            HTTP_RETRIEVAL_FAILURE,
            f"HTTP retrieval failure: total timeout of {timeouts.total:g} s exceeded",
            "rt",
        )
    if _find(
        exc,
        (urllib3.exceptions.ReadTimeoutError, TimeoutError),
    ):
        return Failure(
            HTTP_RETRIEVAL_FAILURE,
            f"HTTP retrieval failure: read timeout ({timeouts.read:g} s) waiting for the server",
            "rt",
        )
    if _find(
        exc,
        (
            http.client.BadStatusLine,
            http.client.LineTooLong,
            http.client.IncompleteRead,
            http.client.HTTPException,
            urllib3.exceptions.DecodeError,
            urllib3.exceptions.InvalidChunkLength,
            urllib3.exceptions.InvalidHeader,
        ),
    ) and not _find(exc, http.client.RemoteDisconnected):
        return Failure(HTTP_PROTOCOL_VIOLATION, f"HTTP protocol violation: {text}")
    if _find(exc, urllib3.exceptions.LocationParseError):
        return Failure(INVALID_URL_FORMAT, f"Invalid URL format: {text}")
    if not answered and _find(exc, (ConnectionError, OSError, urllib3.exceptions.ProtocolError)):
        return Failure(HTTP_CONNECTION_FAILURE, f"HTTP connection failure: {text}")
    if answered:
        return Failure(HTTP_PROTOCOL_VIOLATION, f"HTTP protocol violation: {text}")
    return Failure(HTTP_RETRIEVAL_FAILURE, f"HTTP retrieval failure: {text}")
