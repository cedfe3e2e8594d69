"""Outbound HTTP client for webhooks and status callbacks, the way Twilio sends them.

What a request looks like on the wire (headers, signature, body) is
:mod:`appliance.webhooks.wire`.  Behaviour:

* 301/302/303/307/308 are followed (at most ``max_redirects`` hops), each hop re-signed
  for its own URL.  307/308 keep the method and the body; 301/302/303 turn the request
  into a GET of the ``Location`` (like a browser; the parameters are not re-sent).
* Timeouts: connect, read (per socket read) and a *total* wall-clock budget that also
  bounds a server trickling its headers or body one byte at a time.  The total budget is
  enforced on every ``recv()`` by a thin socket wrapper (:mod:`appliance.webhooks.deadline`).
* Retries as in Twilio's connection overrides (``#ct=..&rt=..&tt=..&rc=..&rp=..``,
  :mod:`appliance.webhooks.timeouts`): by default one retry, only when the TCP connection
  could not be made.
* Never raises for network or HTTP failures: the outcome is a :class:`WebhookResult`
  (:mod:`appliance.webhooks.result`) carrying a Twilio error code (the ``HTTP_*``
  constants; mapping in :mod:`appliance.webhooks.failures`).
* Response bodies are read up to ``max_body`` bytes; a longer body is cut to
  ``max_body`` bytes and flagged ``truncated=True`` (Twilio's 11750 "response body too
  large" situation; deciding what to do about it is the caller's job).
* Cookies: a cookie jar (:mod:`http.cookiejar`'s rules) is loaded from / saved to a JSON
  string so the caller can keep one jar per From/To pair
  in its database, expiring it after :data:`COOKIE_IDLE_SECONDS` of inactivity
  (:mod:`appliance.webhooks.cookies`).
* Connections (:mod:`appliance.webhooks.transport`, urllib3): TLS verified against the
  system's CAs (and ``ca_file``), the environment's proxies, one pool per origin for the
  hops of one request, closed when it ends.

The other names of this module are re-exported from :mod:`appliance.webhooks.signature`,
:mod:`appliance.webhooks.cookies`, :mod:`appliance.webhooks.timeouts`,
:mod:`appliance.webhooks.result` and :mod:`appliance.webhooks.failures`.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import urllib3

from appliance import logs
from appliance.sids import idempotency_token
from appliance.webhooks.cookies import (
    COOKIE_IDLE_SECONDS,
    MAX_COOKIES,
    cookie_request,
    deserialize_cookies,
    serialize_cookies,
    store_cookies,
)
from appliance.webhooks.deadline import DEADLINE, TotalTimeout
from appliance.webhooks.failures import (
    HTTP_BAD_HOST_NAME,
    HTTP_CONNECTION_FAILURE,
    HTTP_PROTOCOL_VIOLATION,
    HTTP_RETRIEVAL_FAILURE,
    HTTP_TOO_MANY_REDIRECTS,
    INVALID_URL_FORMAT,
    TLS_HANDSHAKE_ERROR,
    Failure,
    classify,
)
from appliance.webhooks.result import WebhookResult
from appliance.webhooks.signature import ParamValue, param_values, signature
from appliance.webhooks.timeouts import RETRY_POLICIES, Timeouts, parse_overrides
from appliance.webhooks.transport import Pools
from appliance.webhooks.wire import check_url, prepare, strip_userinfo

if TYPE_CHECKING:
    import http.cookiejar

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

DEFAULT_USER_AGENT = "TwilioProxy/1.1"
DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_MAX_REDIRECTS = 5

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
LOGGER = logging.getLogger(__name__)
LOGGED_BODY = 2000  # characters of a request's parameters or an answer written at DEBUG

_new_token = idempotency_token  # request() has a parameter of the same name


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


class WebhookClient:
    """Makes Twilio-style webhook requests; one instance can be shared by threads.

    ``auth_token`` may be a callable so that a rotated token is picked up on the next
    request.  Each :meth:`request` has its own connection pools (:class:`Pools`), closed
    when it returns; ``ca_file`` (PEM) is a private CA trusted besides the system's.
    """

    def __init__(
        self,
        auth_token: str | Callable[[], str],
        *,
        timeouts: Timeouts = Timeouts(),  # noqa: B008 - frozen dataclass
        user_agent: str = DEFAULT_USER_AGENT,
        max_body: int = DEFAULT_MAX_BODY,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        ca_file: str | None = None,
    ) -> None:
        self._auth_token = auth_token
        self.timeouts = timeouts
        self.user_agent = user_agent
        self.max_body = max_body
        self.max_redirects = max_redirects
        self.ca_file = ca_file
        # Told of every finished request (params as given, result), e.g. to time it (metrics).
        self.observers: list[Callable[[Mapping[str, ParamValue], WebhookResult], None]] = []

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
        pairs = [(key, v) for key, value in params.items() for v in param_values(value)]
        request_params = {key: param_values(value) for key, value in params.items()}
        deadline = started + timeouts.total
        jar = deserialize_cookies(cookies)

        attempts = 0
        pools = Pools(ca_file=self.ca_file)
        try:
            while True:
                attempts += 1
                attempt = self._attempt(pools, jar, target, verb, pairs, token, timeouts, deadline)
                if (
                    attempt.error_code is not None
                    and attempts <= timeouts.retries
                    and timeouts.retries_on(attempt.retry_kind)
                    and time.monotonic() < deadline
                ):
                    continue
                break
        finally:
            pools.close()

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
        for observe in self.observers:
            observe(params, result)
        _log(params, result)
        saved = serialize_cookies(jar) if len(jar) else None
        return result, saved

    # ----------------------------------------------------------------- one attempt

    def _attempt(
        self,
        pools: Pools,
        jar: http.cookiejar.CookieJar,
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
        reset = DEADLINE.set(deadline)
        try:
            for hop in range(self.max_redirects + 1):
                attempt.final_url, attempt.final_method = current_url, current_method
                attempt.status, attempt.content_type, attempt.headers = None, None, {}
                sent_url, response = self._send(
                    pools, jar, current_url, current_method, pairs if send_params else [],
                    token, timeouts, deadline,
                )  # fmt: skip
                try:
                    attempt.status = response.status
                    attempt.headers = dict(response.headers)
                    attempt.content_type = response.headers.get("Content-Type")
                    location = response.headers.get("Location")
                    if response.status in _REDIRECT_STATUSES and location:
                        if hop == self.max_redirects:
                            raise Failure(
                                HTTP_TOO_MANY_REDIRECTS,
                                f"HTTP too many redirects: more than {self.max_redirects}",
                            )
                        next_url = urljoin(sent_url, location.strip()).partition("#")[0]
                        check_url(next_url)
                        attempt.redirects.append(next_url)
                        if response.status not in (307, 308):
                            current_method = "GET"
                        if current_method == "GET":
                            send_params = False
                        current_url = next_url
                        continue
                    attempt.body, attempt.truncated = self._read_body(response)
                finally:
                    response.close()  # not reused: a cut body may be left on the socket
                    response.release_conn()
                status = response.status
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
        except Failure as failure:
            attempt.error_code = failure.code
            attempt.error_message = failure.message
            attempt.retry_kind = failure.retry_kind
        except Exception as exc:  # noqa: BLE001 - never raise on network errors
            classified = classify(exc, deadline, timeouts, attempt.status is not None)
            attempt.error_code = classified.code
            attempt.error_message = classified.message
            attempt.retry_kind = classified.retry_kind
        finally:
            DEADLINE.reset(reset)
        return attempt

    def _send(
        self,
        pools: Pools,
        jar: http.cookiejar.CookieJar,
        url: str,
        method: str,
        pairs: list[tuple[str, str]],
        token: str,
        timeouts: Timeouts,
        deadline: float,
    ) -> tuple[str, urllib3.BaseHTTPResponse]:
        """One hop: the URL as sent (user info kept) and the response, its body unread."""
        prepared = prepare(
            url,
            method,
            pairs,
            token=token,
            user_agent=self.user_agent,
            auth_token=self._token,
        )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TotalTimeout("total timeout exceeded")
        judged = cookie_request(jar, strip_userinfo(prepared.url))
        cookie = judged.unredirected_hdrs.get("Cookie")
        if cookie:
            prepared.headers["Cookie"] = cookie
        response = pools.urlopen(
            method,
            prepared.url,
            headers=prepared.headers,
            body=prepared.body,
            timeout=urllib3.Timeout(
                connect=min(timeouts.connect, remaining), read=min(timeouts.read, remaining)
            ),
        )
        store_cookies(jar, judged, response)
        return prepared.url, response

    def _read_body(self, response: urllib3.BaseHTTPResponse) -> tuple[bytes, bool]:
        raw = response
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


def _log(params: Mapping[str, ParamValue], result: WebhookResult) -> None:
    """One line per request: INFO when answered 2xx, WARNING with the Twilio error code if not.

    The parameters and the answer (message bodies, TwiML) are personal data: DEBUG only.
    """
    sid = next(
        (param_values(params[k])[0] for k in ("MessageSid", "CallSid") if params.get(k)), None
    )
    logs.event(
        LOGGER,
        logging.INFO if result.ok else logging.WARNING,
        "webhook requested" if result.ok else "webhook failed",
        sid=sid,
        method=result.requested_method,
        url=result.requested_url,
        status=result.status,
        ms=round(result.elapsed * 1000),
        redirects=len(result.redirects) or None,
        attempts=result.attempts if result.attempts > 1 else None,
        error_code=result.error_code,
        error=result.error_message,
    )
    if LOGGER.isEnabledFor(logging.DEBUG):
        logs.event(
            LOGGER,
            logging.DEBUG,
            "webhook exchange",
            sid=sid,
            params=json.dumps(result.request_params, ensure_ascii=False)[:LOGGED_BODY],
            content_type=result.content_type,
            answer=result.body[:LOGGED_BODY].decode("utf-8", "replace"),
        )
