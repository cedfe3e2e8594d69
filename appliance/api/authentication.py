"""Who may call the REST API: Basic auth with the AccountSid and AuthToken or an API key,
the per-credential rate limit, a request another node of the fleet forwarded (its
signature), and the ``before_request`` hooks that apply them with the body checks of
:mod:`appliance.api.common`."""

from __future__ import annotations

import base64
import hmac
import threading
import time
from typing import TYPE_CHECKING

from flask import Response, current_app, g, request

from appliance.api.common import check_body, daemon, error_response, forwarded
from appliance.system import nodeproxy

if TYPE_CHECKING:
    from appliance.store.account import Account
    from appliance.store.apikeys import Verifier

RATE = 100.0  # requests per second per credential
BURST = 200


class RateLimiter:
    """One token bucket per credential: ``rate`` tokens a second, at most ``burst``."""

    def __init__(self, rate: float = RATE, burst: int = BURST) -> None:
        self.rate, self.burst = rate, burst
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        if self.rate <= 0:
            return True  # limit switched off
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            return True


def basic_credentials(header: str) -> tuple[str, str] | None:
    """The (user, password) of a ``Basic`` Authorization header, or None."""
    if not header.startswith("Basic "):
        return None
    try:
        user, sep, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def verified_user(header: str, account: Account, keys: Verifier) -> str | None:
    """The credential's user name (``AC…`` or ``SK…``) when ``header`` is valid Basic auth
    with the AccountSid and AuthToken or a live API key, else None."""
    creds = basic_credentials(header)
    if creds is None:
        return None
    user, password = creds
    if user.startswith("SK"):
        return user if keys.verify(user, password) else None
    ok = hmac.compare_digest(user.encode(), account.sid.encode()) & hmac.compare_digest(
        password.encode(), account.auth_token.encode()
    )
    return user if ok else None


def check_credentials() -> Response | None:
    """Basic auth (:func:`verified_user`) and the per-credential rate limit; sets
    ``g.account_sid`` and ``g.credential``.  The error response, or None to go on."""
    d = daemon()
    user = verified_user(
        request.headers.get("Authorization", ""), d.account, current_app.config["API_KEYS"]
    )
    if user is None:
        return error_response(401, 20003, "Authenticate")
    if not current_app.config["RATE_LIMITER"].allow(user):
        rv = error_response(429, 20429, "Too Many Requests")
        rv.headers["Retry-After"] = "1"
        return rv
    g.account_sid = d.account.sid
    g.credential = user
    return None


PUBLIC_MEDIA = frozenset({"api.recording_wav", "api.recording_mp3"})
# What another node of the fleet forwards here, signed (appliance.system.nodeproxy): it
# checked the caller's credentials, this node checks the node's signature.
NODE_FORWARDED = PUBLIC_MEDIA | {
    "admin.modem_at",
    "admin.modem_ussd",
    "api.call_update",
    "api.stream_create",
    "api.stream_update",
    "api.user_defined_message_create",
}


def node_signed() -> Response | None:
    """A forwarded request: the node's signature (the AuthToken's HMAC) over this one, or
    401.  Sets ``g.account_sid`` and ``g.credential`` (the AccountSid: the forwarding node
    took the AuthToken or a key allowed there)."""
    d = daemon()
    body = request.get_data(cache=True)
    ok = nodeproxy.verify(
        d.account.auth_token,
        request.headers.get(nodeproxy.HEADER, ""),
        request.method,
        request.path,
        body,
        time.time(),
    )
    if not ok:
        return error_response(401, 20003, "Authenticate (the node signature is not valid)")
    g.account_sid = d.account.sid
    g.credential = d.account.sid
    return None


def authenticate() -> Response | None:
    """``before_request``: Basic auth with ``AC…:AuthToken`` or ``SK…:secret``,
    then the rate limit, then the request body's size and type.

    Recording media are public unless ``recording_media_auth`` is set, as on Twilio
    (whose "HTTP Basic Authentication for media" is off by default): a RecordingUrl
    handed to an app works in an <audio> tag or a <Play>; its SID is 128 random bits."""
    d = daemon()
    if request.endpoint in NODE_FORWARDED and forwarded():
        refused = check_body() or node_signed()
        if refused is not None:
            return refused
        if (request.view_args or {}).get("account_sid", d.account.sid) != d.account.sid:
            return error_response(
                404, 20404, f"The requested resource {request.path} was not found"
            )
        return None
    if request.endpoint in PUBLIC_MEDIA and not d.config.recording_media_auth:
        if (request.view_args or {}).get("account_sid") != d.account.sid:
            return error_response(
                404, 20404, f"The requested resource {request.path} was not found"
            )
        return check_body()
    refused = check_credentials()
    if refused is not None:
        return refused
    account = (request.view_args or {}).get("account_sid")
    if account is not None and account != d.account.sid:
        return error_response(404, 20404, f"The requested resource {request.path} was not found")
    return check_body()


def is_api_key() -> bool:
    """Whether this request authenticated with an API key (``SK…``), not the AuthToken."""
    return str(g.get("credential", "")).startswith("SK")


def key_refused() -> Response:
    """403 for an API key on the admin surface (Twilio's standard keys cannot use the
    Accounts resource either)."""
    return error_response(
        403,
        20003,
        "API keys cannot use this endpoint: it needs the AccountSid and AuthToken",
    )


def require_auth_token() -> Response | None:
    """``before_request`` of the admin surface: :func:`authenticate`, and then only the
    AccountSid and AuthToken will do; an API key gets 403 / 20003."""
    refused = authenticate()
    if refused is not None:
        return refused
    return key_refused() if is_api_key() else None
