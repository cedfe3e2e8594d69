"""Outbound HTTP client for webhooks and status callbacks, the way Twilio sends them.

What a request looks like on the wire (Twilio reference A5/A6/A7):

* ``POST`` with an ``application/x-www-form-urlencoded`` UTF-8 body, or ``GET`` with the
  parameters appended to the query string (``&`` if the URL already has a query).
* ``X-Twilio-Signature``: HMAC-SHA1 over the URL *as sent on the wire* (the URL that
  ``requests`` actually puts in the request line, without ``user:password@`` and without
  the ``#fragment``) plus, for POST only, the sorted parameters.  For GET the URL
  already carries the parameters and no parameters are appended to the signed string.
* ``I-Twilio-Idempotency-Token`` (the same value on retries of one request),
  ``User-Agent: TwilioProxy/1.1``, ``Accept: */*``.

Behaviour:

* 301/302/303/307/308 are followed (at most ``max_redirects`` hops), each hop re-signed
  for its own URL.  307/308 keep the method and the body; 301/302/303 turn the request
  into a GET of the ``Location`` (like a browser; the parameters are not re-sent).
* Timeouts: connect, read (per socket read) and a *total* wall-clock budget that also
  bounds a server trickling its headers or body one byte at a time.  The total budget is
  enforced on every ``recv()`` by a thin socket wrapper (no threads, no signals).
* Retries as in Twilio's connection overrides (``#ct=..&rt=..&tt=..&rc=..&rp=..``):
  by default one retry, only when the TCP connection could not be made.
* Never raises for network or HTTP failures: the outcome is a :class:`WebhookResult`
  carrying a Twilio error code (see the ``HTTP_*`` constants below).
* Response bodies are read up to ``max_body`` bytes; a longer body is cut to
  ``max_body`` bytes and flagged ``truncated=True`` (Twilio's 11750 "response body too
  large" situation; deciding what to do about it is the caller's job).
* Cookies: a ``requests`` cookie jar (RFC 6265 rules from :mod:`http.cookiejar`) is
  loaded from / saved to a JSON string so the caller can keep one jar per From/To pair
  in its database, expiring it after :data:`COOKIE_IDLE_SECONDS` of inactivity.

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

import base64
import contextvars
import hashlib
import hmac
import http.client
import http.cookiejar
import io
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
import requests.adapters
import requests.cookies
import urllib3
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions

__all__ = [
    "COOKIE_IDLE_SECONDS",
    "DEFAULT_USER_AGENT",
    "HTTP_BAD_HOST_NAME",
    "HTTP_CONNECTION_FAILURE",
    "HTTP_PROTOCOL_VIOLATION",
    "HTTP_RETRIEVAL_FAILURE",
    "HTTP_TOO_MANY_REDIRECTS",
    "INVALID_URL_FORMAT",
    "MAX_COOKIES",
    "RETRY_POLICIES",
    "TLS_HANDSHAKE_ERROR",
    "Timeouts",
    "WebhookClient",
    "WebhookResult",
    "deserialize_cookies",
    "idempotency_token",
    "parse_overrides",
    "serialize_cookies",
    "signature",
]

#: Twilio keeps cookies per From/To pair and forgets them after 4 h without traffic.
COOKIE_IDLE_SECONDS = 4 * 3600
#: At most this many cookies are kept in a serialized jar (a hostile server cannot
#: make the stored jar grow without bound).
MAX_COOKIES = 50

DEFAULT_USER_AGENT = "TwilioProxy/1.1"
DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_MAX_REDIRECTS = 5

INVALID_URL_FORMAT = 11100
HTTP_RETRIEVAL_FAILURE = 11200
HTTP_CONNECTION_FAILURE = 11205
HTTP_PROTOCOL_VIOLATION = 11206
HTTP_BAD_HOST_NAME = 11210
HTTP_TOO_MANY_REDIRECTS = 11215
TLS_HANDSHAKE_ERROR = 11220

#: Values of the ``rp`` connection override: retry on 4xx, on 5xx, on connect
#: failure/timeout (``ct``), on read timeout (``rt``), or on all of them.
RETRY_POLICIES = frozenset({"4xx", "5xx", "ct", "rt", "all"})

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

ParamValue = str | Sequence[str]


# --------------------------------------------------------------------------- signature


def _values(value: ParamValue) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def signature(auth_token: str, url: str, params: Mapping[str, ParamValue]) -> str:
    """Twilio's ``X-Twilio-Signature`` (HMAC-SHA1, base64) for ``url`` and ``params``.

    ``url`` + for each key in code-point order, for each *distinct* value of that key in
    code-point order: key + value.  Pass ``{}`` as ``params`` for GET requests.
    """
    data = url
    for key in sorted(params):
        for value in sorted(set(_values(params[key]))):
            data += key + value
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def idempotency_token() -> str:
    """A fresh value for the ``I-Twilio-Idempotency-Token`` header."""
    return str(uuid.uuid4())


_new_token = idempotency_token  # request() has a parameter of the same name


# --------------------------------------------------------------------------- timeouts


@dataclass(frozen=True)
class Timeouts:
    """Connection settings of one webhook request (seconds; ``retries`` is a count).

    Defaults are Twilio's: connect 5 s, read 15 s, total 15 s (all attempts included),
    one retry, retried only when the connection could not be made (``rp=ct``).
    """

    connect: float = 5.0
    read: float = 15.0
    total: float = 15.0
    retries: int = 1
    retry_policy: frozenset[str] = frozenset({"ct"})

    def retries_on(self, kind: str | None) -> bool:
        if kind is None:
            return False
        return "all" in self.retry_policy or kind in self.retry_policy


# (key, attribute, min ms or count, max ms or count); values outside are clamped.
_OVERRIDE_LIMITS = {
    "ct": ("connect", 100, 10000),
    "rt": ("read", 100, 15000),
    "tt": ("total", 100, 15000),
    "rc": ("retries", 0, 5),
}


def parse_overrides(url: str, default: Timeouts) -> tuple[str, Timeouts]:
    """Split Twilio's connection-override fragment off ``url``.

    ``https://x/y?q=1#ct=1000&rt=2000&tt=3000&rc=2&rp=ct,5xx`` →
    ``("https://x/y?q=1", Timeouts(connect=1.0, read=2.0, total=3.0, retries=2, ...))``.
    ``ct``/``rt``/``tt`` are milliseconds; values outside Twilio's ranges (ct 100–10000,
    rt/tt 100–15000, rc 0–5) are clamped, unparsable values and unknown keys (``e``,
    ``sni``, ``edge``, …) are ignored.  The fragment is always removed (it is never
    sent over HTTP, so it is not part of the signed URL either).
    """
    base, sep, fragment = url.partition("#")
    if not sep:
        return url, default
    changes: dict[str, Any] = {}
    for key, raw in parse_qsl(fragment, keep_blank_values=True):
        key = key.strip().lower()
        raw = raw.strip()
        if key in _OVERRIDE_LIMITS:
            attr, low, high = _OVERRIDE_LIMITS[key]
            try:
                number = int(raw)
            except ValueError:
                continue
            number = max(low, min(high, number))
            changes[attr] = number if attr == "retries" else number / 1000.0
        elif key == "rp":
            policies = frozenset(p.strip().lower() for p in raw.split(",")) & RETRY_POLICIES
            if policies:
                changes["retry_policy"] = policies
    return base, replace(default, **changes) if changes else default


# --------------------------------------------------------------------------- cookies

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


def deserialize_cookies(data: str | None) -> requests.cookies.RequestsCookieJar:
    """Inverse of :func:`serialize_cookies`; ``None``, ``""`` or garbage → empty jar."""
    jar = requests.cookies.RequestsCookieJar()
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


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class WebhookResult:
    """What happened to one webhook request (including its redirects and retries).

    ``url``/``method`` are the request that produced ``status`` and ``body``: after
    HTTP redirects, the last hop (so relative URLs in a TwiML answer resolve against
    ``url``).  ``requested_url``/``requested_method`` are what the caller asked for
    (the URL without its ``#`` override fragment); ``redirects`` the hops in between.
    ``request_params`` are the webhook's parameters as given (a 301/302/303 hop turns
    the request into a GET of the ``Location``, which does not carry them).
    ``body`` is at most ``max_body`` bytes (``truncated`` says more was sent).
    """

    url: str
    method: str
    request_params: dict[str, list[str]]
    status: int | None
    content_type: str | None
    body: bytes
    error_code: int | None
    error_message: str | None
    elapsed: float
    requested_url: str = ""
    requested_method: str = ""
    truncated: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    redirects: tuple[str, ...] = ()
    attempts: int = 1
    idempotency_token: str = ""

    @property
    def ok(self) -> bool:
        """True for a 2xx answer read without error."""
        return self.error_code is None and self.status is not None and 200 <= self.status < 300


# --------------------------------------------------------------------------- deadline-aware sockets

#: Monotonic deadline of the request running in this context (None: no total limit).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "appliance_webhook_deadline", default=None
)


class TotalTimeout(TimeoutError):
    """The total time budget of a webhook request ran out."""


class _DeadlineReader(io.RawIOBase):
    """Raw reader over a socket whose every ``recv`` is cut short by the deadline.

    Wraps the socket's own ``SocketIO`` so that the socket's reference counting of
    open files keeps working (http.client closes the socket while the response is
    still reading it when the server said ``Connection: close``).
    """

    def __init__(self, owner: _DeadlineSocket, raw: io.RawIOBase) -> None:
        super().__init__()
        self._owner = owner
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        deadline = _DEADLINE.get()
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TotalTimeout("total timeout exceeded")
            base = self._owner.base_timeout
            self._owner.wrapped.settimeout(remaining if base is None else min(base, remaining))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineSocket:
    """Proxy around a connected (possibly TLS) socket; only ``makefile('rb')`` differs."""

    def __init__(self, sock: socket.socket) -> None:
        self.wrapped = sock
        self.base_timeout: float | None = sock.gettimeout()

    def settimeout(self, value: float | None) -> None:
        self.base_timeout = value
        self.wrapped.settimeout(value)

    def gettimeout(self) -> float | None:
        return self.base_timeout

    def makefile(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if mode != "rb":
            return self.wrapped.makefile(mode, *args, **kwargs)  # type: ignore[call-overload]
        raw = self.wrapped.makefile("rb", buffering=0)
        return io.BufferedReader(_DeadlineReader(self, raw))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


class _DeadlineHTTPConnection(urllib3.connection.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = cast(socket.socket, _DeadlineSocket(self.sock))


class _DeadlineHTTPSConnection(urllib3.connection.HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        self.sock = cast(socket.socket, _DeadlineSocket(self.sock))


class _DeadlineHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_POOL_CLASSES: dict[str, type[urllib3.connectionpool.HTTPConnectionPool]] = {
    "http": _DeadlineHTTPPool,
    "https": _DeadlineHTTPSPool,
}


class _DeadlineAdapter(requests.adapters.HTTPAdapter):
    """HTTPAdapter whose connections honour the context's total deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOL_CLASSES)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> urllib3.PoolManager:
        manager: urllib3.PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is urllib3.ProxyManager:  # leave SOCKS managers alone
            manager.pool_classes_by_scheme = dict(_POOL_CLASSES)
        return manager


# --------------------------------------------------------------------------- client


class _Failure(Exception):
    """Internal: one attempt failed with a Twilio error code."""

    def __init__(self, code: int, message: str, retry_kind: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_kind = retry_kind


@dataclass
class _Attempt:
    final_url: str
    final_method: str
    status: int | None = None
    content_type: str | None = None
    body: bytes = b""
    truncated: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    redirects: list[str] = field(default_factory=list)
    error_code: int | None = None
    error_message: str | None = None
    retry_kind: str | None = None


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
        elif str(inner) and not isinstance(
            inner, (requests.RequestException, urllib3.exceptions.HTTPError)
        ):
            text = str(inner)
    return text


def _find(exc: BaseException, kinds: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
    return any(isinstance(e, kinds) for e in _chain(exc))


def _strip_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise _Failure(INVALID_URL_FORMAT, f"Invalid URL format: {url!r} ({exc})") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise _Failure(
            INVALID_URL_FORMAT,
            f"Invalid URL format: {url!r} (only http and https URLs are allowed)",
        )
    if not parts.hostname:
        raise _Failure(INVALID_URL_FORMAT, f"Invalid URL format: {url!r} (no host name)")


def _append_query(url: str, query: str) -> str:
    if not query:
        return url
    if "?" not in url:
        return f"{url}?{query}"
    if url.endswith(("?", "&")):
        return url + query
    return f"{url}&{query}"


class WebhookClient:
    """Makes Twilio-style webhook requests; one instance can be shared by threads.

    ``auth_token`` may be a callable so that a rotated token is picked up on the next
    request.  ``session_factory`` is called once per :meth:`request`; the session gets
    a deadline-aware adapter mounted for http:// and https://.
    """

    def __init__(
        self,
        auth_token: str | Callable[[], str],
        *,
        timeouts: Timeouts = Timeouts(),  # noqa: B008 - frozen dataclass
        user_agent: str = DEFAULT_USER_AGENT,
        max_body: int = DEFAULT_MAX_BODY,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        session_factory: Callable[[], requests.Session] = requests.Session,
    ) -> None:
        self._auth_token = auth_token
        self.timeouts = timeouts
        self.user_agent = user_agent
        self.max_body = max_body
        self.max_redirects = max_redirects
        self._session_factory = session_factory

    def _token(self) -> str:
        token = self._auth_token
        return token() if callable(token) else token

    def request(
        self,
        url: str,
        method: str,
        params: Mapping[str, ParamValue],
        *,
        cookies: str | None = None,
        idempotency_token: str | None = None,
    ) -> tuple[WebhookResult, str | None]:
        """Send one webhook; returns the result and the updated serialized cookie jar.

        ``method`` is ``"GET"`` or ``"POST"`` (any case; anything else is a programming
        error: ``ValueError``).  ``cookies`` is what a previous call returned for the
        same conversation (or None); the returned jar is None when it is empty.
        """
        started = time.monotonic()
        verb = method.strip().upper()
        if verb not in ("GET", "POST"):
            raise ValueError(f"webhook method must be GET or POST, not {method!r}")
        token = idempotency_token or _new_token()
        target, timeouts = parse_overrides(url.strip(), self.timeouts)
        pairs = [(key, v) for key, value in params.items() for v in _values(value)]
        request_params = {key: _values(value) for key, value in params.items()}
        deadline = started + timeouts.total
        jar = deserialize_cookies(cookies)

        attempts = 0
        session = self._session_factory()
        try:
            session.cookies = jar
            adapter = _DeadlineAdapter(max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            while True:
                attempts += 1
                attempt = self._attempt(session, target, verb, pairs, token, timeouts, deadline)
                if (
                    attempt.error_code is not None
                    and attempts <= timeouts.retries
                    and timeouts.retries_on(attempt.retry_kind)
                    and time.monotonic() < deadline
                ):
                    continue
                break
        finally:
            session.close()

        result = WebhookResult(
            url=attempt.final_url,
            method=attempt.final_method,
            request_params=request_params,
            status=attempt.status,
            content_type=attempt.content_type,
            body=attempt.body,
            error_code=attempt.error_code,
            error_message=attempt.error_message,
            elapsed=time.monotonic() - started,
            requested_url=target,
            requested_method=verb,
            truncated=attempt.truncated,
            headers=attempt.headers,
            redirects=tuple(attempt.redirects),
            attempts=attempts,
            idempotency_token=token,
        )
        saved = serialize_cookies(jar) if len(jar) else None
        return result, saved

    # ----------------------------------------------------------------- one attempt

    def _attempt(
        self,
        session: requests.Session,
        url: str,
        method: str,
        pairs: list[tuple[str, str]],
        token: str,
        timeouts: Timeouts,
        deadline: float,
    ) -> _Attempt:
        attempt = _Attempt(final_url=url, final_method=method)
        send_params = True
        current_url, current_method = url, method
        reset = _DEADLINE.set(deadline)
        try:
            for hop in range(self.max_redirects + 1):
                attempt.final_url, attempt.final_method = current_url, current_method
                attempt.status, attempt.content_type, attempt.headers = None, None, {}
                response = self._send(
                    session, current_url, current_method, pairs if send_params else [],
                    token, timeouts, deadline,
                )  # fmt: skip
                try:
                    attempt.status = response.status_code
                    attempt.headers = dict(response.headers)
                    attempt.content_type = response.headers.get("Content-Type")
                    location = response.headers.get("Location")
                    if response.status_code in _REDIRECT_STATUSES and location:
                        if hop == self.max_redirects:
                            raise _Failure(
                                HTTP_TOO_MANY_REDIRECTS,
                                f"HTTP too many redirects: more than {self.max_redirects}",
                            )
                        next_url = urljoin(response.url, location.strip()).partition("#")[0]
                        _check_url(next_url)
                        attempt.redirects.append(next_url)
                        if response.status_code not in (307, 308):
                            current_method = "GET"
                        if current_method == "GET":
                            send_params = False
                        current_url = next_url
                        continue
                    attempt.body, attempt.truncated = self._read_body(response)
                finally:
                    response.close()
                status = response.status_code
                if not 200 <= status < 300:
                    reason = response.reason or http.client.responses.get(status, "")
                    attempt.error_code = HTTP_RETRIEVAL_FAILURE
                    attempt.error_message = (
                        f"HTTP retrieval failure: {current_url} answered {status} {reason}".rstrip()
                    )
                    attempt.retry_kind = (
                        "4xx" if 400 <= status < 500 else "5xx" if status >= 500 else None
                    )
                return attempt
        except _Failure as failure:
            attempt.error_code = failure.code
            attempt.error_message = failure.message
            attempt.retry_kind = failure.retry_kind
        except Exception as exc:  # noqa: BLE001 - never raise on network errors
            classified = _classify(exc, deadline, timeouts, attempt.status is not None)
            attempt.error_code = classified.code
            attempt.error_message = classified.message
            attempt.retry_kind = classified.retry_kind
        finally:
            _DEADLINE.reset(reset)
        return attempt

    def _send(
        self,
        session: requests.Session,
        url: str,
        method: str,
        pairs: list[tuple[str, str]],
        token: str,
        timeouts: Timeouts,
        deadline: float,
    ) -> requests.Response:
        _check_url(url)
        headers = {
            "User-Agent": self.user_agent,
            "Accept": "*/*",
            "I-Twilio-Idempotency-Token": token,
        }
        body: bytes | None = None
        if method == "GET":
            url = _append_query(url, urlencode(pairs))
        else:
            body = urlencode(pairs).encode("ascii")
            headers["Content-Type"] = _FORM_CONTENT_TYPE
        try:
            prepared = session.prepare_request(
                requests.Request(method, url, headers=headers, data=body)
            )
        except (requests.exceptions.RequestException, ValueError, UnicodeError) as exc:
            raise _Failure(INVALID_URL_FORMAT, f"Invalid URL format: {url!r} ({exc})") from exc
        wire_url = _strip_userinfo(prepared.url or url)
        signed_params: dict[str, list[str]] = {}
        if method == "POST":
            for key, value in pairs:
                signed_params.setdefault(key, []).append(value)
        prepared.headers["X-Twilio-Signature"] = signature(self._token(), wire_url, signed_params)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TotalTimeout("total timeout exceeded")
        settings = session.merge_environment_settings(prepared.url, {}, True, None, None)
        return session.send(
            prepared,
            allow_redirects=False,
            timeout=(min(timeouts.connect, remaining), min(timeouts.read, remaining)),
            **settings,
        )

    def _read_body(self, response: requests.Response) -> tuple[bytes, bool]:
        raw = response.raw
        limit = self.max_body
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = raw.read(min(64 * 1024, limit + 1 - size), decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
        if len(data) > limit:
            return data[:limit], True
        return data, False


def _classify(exc: BaseException, deadline: float, timeouts: Timeouts, answered: bool) -> _Failure:
    """Map an exception raised while talking to the server onto a Twilio error."""
    text = _detail(exc)
    out_of_time = time.monotonic() >= deadline - 0.005 or _find(exc, TotalTimeout)
    if _find(exc, urllib3.exceptions.NameResolutionError) or _find(exc, socket.gaierror):
        return _Failure(HTTP_BAD_HOST_NAME, f"HTTP bad host name: {text}")
    if _find(exc, urllib3.exceptions.NewConnectionError):  # refused, unreachable, ...
        return _Failure(HTTP_CONNECTION_FAILURE, f"HTTP connection failure: {text}", "ct")
    if isinstance(exc, requests.exceptions.ConnectTimeout) or _find(
        exc, urllib3.exceptions.ConnectTimeoutError
    ):
        return _Failure(
            HTTP_CONNECTION_FAILURE,
            f"HTTP connection failure: connect timeout ({timeouts.connect:g} s)"
            + (f", total timeout of {timeouts.total:g} s exceeded" if out_of_time else ""),
            "ct",
        )
    if _find(exc, (requests.exceptions.SSLError, urllib3.exceptions.SSLError)):
        return _Failure(TLS_HANDSHAKE_ERROR, f"SSL/TLS handshake error: {text}")
    if out_of_time:
        return _Failure(
            HTTP_RETRIEVAL_FAILURE,
            f"HTTP retrieval failure: total timeout of {timeouts.total:g} s exceeded",
            "rt",
        )
    if _find(
        exc,
        (
            requests.exceptions.ReadTimeout,
            urllib3.exceptions.ReadTimeoutError,
            TimeoutError,
        ),
    ):
        return _Failure(
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
            requests.exceptions.ContentDecodingError,
            requests.exceptions.ChunkedEncodingError,
        ),
    ) and not _find(exc, http.client.RemoteDisconnected):
        return _Failure(HTTP_PROTOCOL_VIOLATION, f"HTTP protocol violation: {text}")
    if _find(exc, (requests.exceptions.InvalidURL, urllib3.exceptions.LocationParseError)):
        return _Failure(INVALID_URL_FORMAT, f"Invalid URL format: {text}")
    if not answered and _find(exc, (ConnectionError, OSError, urllib3.exceptions.ProtocolError)):
        return _Failure(HTTP_CONNECTION_FAILURE, f"HTTP connection failure: {text}")
    if answered:
        return _Failure(HTTP_PROTOCOL_VIOLATION, f"HTTP protocol violation: {text}")
    return _Failure(HTTP_RETRIEVAL_FAILURE, f"HTTP retrieval failure: {text}")
