"""The wire form of a webhook request: checked URL, query or form body, Twilio's headers, signature.

What a request looks like on the wire (Twilio reference A5/A6/A7):

* ``POST`` with an ``application/x-www-form-urlencoded`` UTF-8 body, or ``GET`` with the
  parameters appended to the query string (``&`` if the URL already has a query).
* ``X-Twilio-Signature`` (:mod:`appliance.webhooks.signature`): HMAC-SHA1 over the URL
  *as sent on the wire* (the URL that ``requests`` actually puts in the request line,
  without ``user:password@`` and without the ``#fragment``) plus, for POST only, the
  sorted parameters.  For GET the URL already carries the parameters and no parameters
  are appended to the signed string.
* ``I-Twilio-Idempotency-Token`` (the same value on retries of one request),
  ``User-Agent: TwilioProxy/1.1``, ``Accept: */*``.

A URL that cannot be sent raises :class:`~appliance.webhooks.failures.Failure` 11100.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from appliance.webhooks.failures import INVALID_URL_FORMAT, Failure
from appliance.webhooks.signature import signature

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


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


def prepare(
    session: requests.Session,
    url: str,
    method: str,
    pairs: list[tuple[str, str]],
    *,
    token: str,
    user_agent: str,
    auth_token: Callable[[], str],
) -> requests.PreparedRequest:
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
    try:
        prepared = session.prepare_request(
            requests.Request(method, url, headers=headers, data=body)
        )
    except (requests.exceptions.RequestException, ValueError, UnicodeError) as exc:
        raise Failure(INVALID_URL_FORMAT, f"Invalid URL format: {url!r} ({exc})") from exc
    wire_url = strip_userinfo(prepared.url or url)
    signed_params: dict[str, list[str]] = {}
    if method == "POST":
        for key, value in pairs:
            signed_params.setdefault(key, []).append(value)
    prepared.headers["X-Twilio-Signature"] = signature(auth_token(), wire_url, signed_params)
    return prepared
