"""The wire form of a webhook request: checked URL, query or form body, Twilio's headers, signature.

What a request looks like on the wire (Twilio reference A5/A6/A7):

* ``POST`` with an ``application/x-www-form-urlencoded`` UTF-8 body, or ``GET`` with the
  parameters appended to the query string (``&`` if the URL already has a query).
* ``X-Twilio-Signature`` (:mod:`appliance.webhooks.signature`): HMAC-SHA1 over the URL
  *as sent on the wire* (the URL :func:`prepare_url` makes, the one whose path and query
  go in the request line, without ``user:password@`` and without the ``#fragment``) plus, for POST only, the
  sorted parameters.  For GET the URL already carries the parameters and no parameters
  are appended to the signed string.
* ``I-Twilio-Idempotency-Token`` (the same value on retries of one request),
  ``User-Agent: TwilioProxy/1.1``, ``Accept: */*``.

* ``user:password@`` in the URL becomes ``Authorization: Basic`` (both parts needed).

:func:`prepare_url` is the normalisation ``requests`` applied before the appliance moved to
urllib3 (docs/design.md), kept so that a URL is sent, signed and reported as before: the
scheme and host lower-cased (a non-ASCII host IDNA-encoded), ``/`` for an empty path, dot
segments removed, characters a URL cannot carry percent-encoded and needless escapes of
unreserved characters undone.

A URL that cannot be sent raises :class:`~appliance.webhooks.failures.Failure` 11100.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunparse, urlunsplit

import urllib3.exceptions
import urllib3.util

from appliance.webhooks.failures import INVALID_URL_FORMAT, Failure
from appliance.webhooks.signature import signature
from appliance.webhooks.transport import basic_auth

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@dataclass
class Prepared:
    """One hop's request: ``url`` keeps any user info (redirects resolve against it)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


def strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise Failure(INVALID_URL_FORMAT, f"Invalid URL format: {url!r} ({exc})") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise Failure(
            INVALID_URL_FORMAT,
            f"Invalid URL format: {url!r} (only http and https URLs are allowed)",
        )
    if not parts.hostname:
        raise Failure(INVALID_URL_FORMAT, f"Invalid URL format: {url!r} (no host name)")


def append_query(url: str, query: str) -> str:
    if not query:
        return url
    if "?" not in url:
        return f"{url}?{query}"
    if url.endswith(("?", "&")):
        return url + query
    return f"{url}&{query}"


def _unquote_unreserved(uri: str) -> str:
    """``%41`` → ``A`` for unreserved characters; other escapes stay.  ValueError on a
    ``%`` followed by two letters or digits that are not hex."""
    parts = uri.split("%")
    for i in range(1, len(parts)):
        pair = parts[i][:2]
        if len(pair) == 2 and pair.isalnum():
            char = chr(int(pair, 16))  # ValueError: not hex
            parts[i] = char + parts[i][2:] if char in _UNRESERVED else "%" + parts[i]
        else:
            parts[i] = "%" + parts[i]
    return "".join(parts)


def _requote(uri: str) -> str:
    try:
        return quote(_unquote_unreserved(uri), safe="!#$%&'()*+,/:;=?@[]~")
    except ValueError:  # a stray '%': quote it too
        return quote(uri, safe="!#$&'()*+,/:;=?@[]~")


def prepare_url(url: str) -> str:
    """The URL as sent (user info kept); ValueError when it cannot be sent."""
    url = url.lstrip()
    try:
        scheme, auth, host, port, path, query, fragment = urllib3.util.parse_url(url)
    except urllib3.exceptions.LocationParseError as exc:
        raise ValueError(str(exc)) from exc
    if not scheme or not host:
        raise ValueError("no scheme or no host")
    if host.startswith(("*", ".")):
        raise ValueError("URL has an invalid label.")
    netloc = f"{auth}@{host}" if auth else host
    if port:
        netloc += f":{port}"
    return _requote(urlunparse([scheme, netloc, path or "/", None, query, fragment]))


def prepare(
    url: str,
    method: str,
    pairs: list[tuple[str, str]],
    *,
    token: str,
    user_agent: str,
    auth_token: Callable[[], str],
) -> Prepared:
    """The signed request for one hop (``method`` is ``GET`` or ``POST``, ``token`` the idempotency token)."""
    check_url(url)
    headers = {
        "User-Agent": user_agent,
        "Accept": "*/*",
        "I-Twilio-Idempotency-Token": token,
    }
    body: bytes | None = None
    if method == "GET":
        url = append_query(url, urlencode(pairs))
    else:
        body = urlencode(pairs).encode("ascii")
        headers["Content-Type"] = FORM_CONTENT_TYPE
        headers["Content-Length"] = str(len(body))
    try:
        prepared = prepare_url(url)
        parts = urlsplit(prepared)
        if parts.username is not None and parts.password is not None:
            headers["Authorization"] = basic_auth(unquote(parts.username), unquote(parts.password))
    except (ValueError, UnicodeError) as exc:
        raise Failure(INVALID_URL_FORMAT, f"Invalid URL format: {url!r} ({exc})") from exc
    wire_url = strip_userinfo(prepared)
    signed_params: dict[str, list[str]] = {}
    if method == "POST":
        for key, value in pairs:
            signed_params.setdefault(key, []).append(value)
    headers["X-Twilio-Signature"] = signature(auth_token(), wire_url, signed_params)
    return Prepared(method, prepared, headers, body)
