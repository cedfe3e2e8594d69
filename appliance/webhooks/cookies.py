"""Cookie jars of webhook conversations, serialised to JSON for the database.

A cookie jar (:class:`http.cookiejar.CookieJar`, its default policy) is loaded from / saved
to a JSON string so the caller can keep one jar per From/To pair in its database, expiring
it after :data:`COOKIE_IDLE_SECONDS` of inactivity.  :func:`cookie_request` and
:func:`store_cookies` are the jar's two uses around one HTTP exchange.

:mod:`http.cookiejar` (and the :mod:`urllib.request` it needs) are imported by the first
webhook, not with this module: an idle appliance does not load them (docs/design.md, "What
an idle appliance loads").
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import http.cookiejar
    import urllib.request

__all__ = [
    "COOKIE_IDLE_SECONDS",
    "MAX_COOKIES",
    "cookie_request",
    "deserialize_cookies",
    "serialize_cookies",
    "store_cookies",
]

#: Twilio keeps cookies per From/To pair and forgets them after 4 h without traffic.
COOKIE_IDLE_SECONDS = 4 * 3600
#: At most this many cookies are kept in a serialized jar (a hostile server cannot
#: make the stored jar grow without bound).
MAX_COOKIES = 50

_COOKIE_FIELDS = (
    "version",
    "name",
    "value",
    "port",
    "port_specified",
    "domain",
    "domain_specified",
    "domain_initial_dot",
    "path",
    "path_specified",
    "secure",
    "expires",
    "discard",
    "comment",
    "comment_url",
    "rfc2109",
)


def serialize_cookies(jar: http.cookiejar.CookieJar) -> str:
    """JSON form of ``jar`` (expired cookies dropped, at most :data:`MAX_COOKIES`).

    Session cookies (no Expires/Max-Age) are kept: Twilio keeps them for the whole
    conversation.  The output is deterministic (sorted keys).
    """
    jar.clear_expired_cookies()
    items: list[dict[str, Any]] = []
    for cookie in jar:
        item = {name: getattr(cookie, name) for name in _COOKIE_FIELDS}
        item["rest"] = dict(getattr(cookie, "_rest", {}))
        items.append(item)
    items.sort(key=lambda c: (str(c["domain"]), str(c["path"]), str(c["name"])))
    return json.dumps(items[:MAX_COOKIES], sort_keys=True, separators=(",", ":"))


def deserialize_cookies(data: str | None) -> http.cookiejar.CookieJar:
    """Inverse of :func:`serialize_cookies`; ``None``, ``""`` or garbage → empty jar."""
    import http.cookiejar  # here: see the module docstring

    jar = http.cookiejar.CookieJar()
    if not data:
        return jar
    try:
        items = json.loads(data)
    except ValueError:
        return jar
    if not isinstance(items, list):
        return jar
    for item in items[:MAX_COOKIES]:
        if not isinstance(item, dict):
            continue
        try:
            kwargs = {name: item[name] for name in _COOKIE_FIELDS}
            rest = item.get("rest") or {}
            cookie = http.cookiejar.Cookie(rest=dict(rest), **kwargs)
        except (KeyError, TypeError, ValueError):
            continue
        jar.set_cookie(cookie)
    jar.clear_expired_cookies()
    return jar


def cookie_request(jar: http.cookiejar.CookieJar, url: str) -> urllib.request.Request:
    """What the jar knows of a request to ``url`` (give it without user info): its
    ``Cookie`` header, when the jar has cookies for ``url``, is in ``unredirected_hdrs``."""
    import urllib.request  # here: see the module docstring

    request = urllib.request.Request(url)
    jar.add_cookie_header(request)
    return request


def store_cookies(
    jar: http.cookiejar.CookieJar, request: urllib.request.Request, response: Any
) -> None:
    """Keep the ``Set-Cookie`` headers of ``response`` (an object with ``info()`` whose
    result has ``get_all``, as urllib3's responses have) the jar accepts for ``request``."""
    jar.extract_cookies(response, request)
