"""Checking the tokens browser phones present: Access Tokens and legacy capability tokens.

**Access Token** (what twilio's ``AccessToken`` + ``VoiceGrant`` mint; the Voice SDK 2.x):
a JWT with header ``{"typ": "JWT", "alg": "HS256", "cty": "twilio-fpa;v=1"}``, HS256 with an
API key's secret; ``iss`` is the key (``SK…``), ``sub`` the account (``AC…``), ``exp`` at most
24 hours ahead, ``nbf`` optional, and ``grants`` = ``{"identity": "alice", "voice":
{"incoming": {"allow": true}, "outgoing": {"application_sid": "AP…", "params": {...}}}}``.

**Capability token** (twilio.js 1.x; twilio's ``ClientCapabilityToken``): HS256 with the
AuthToken, ``iss`` the account, and ``scope`` a space-separated list of
``scope:client:incoming?clientName=alice`` and
``scope:client:outgoing?appSid=AP…&appParams=<urlencoded>&clientName=alice``.

Either way the result is a :class:`ClientGrant`; a refused token is a
:class:`~appliance.errors.TokenError` whose ``code`` is the error Twilio sends and the SDK
raises: 20101 malformed or not yet valid, 20104 expired, 31202 bad signature or unknown key,
31203 another account's, 31207 valid for more than 24 hours, 31105 a bad identity; the legacy
token's 31204 (invalid) and 31205 (expired).  Messages name the reason, never the token or a
secret.  JWT decoding and HMAC checking are PyJWT's.

While the database is unreachable (PostgreSQL), an Access Token signed with a key this
process has already read is checked against the secret it read then (:class:`Tokens` keeps
each key's last read; a read that finds the key revoked or gone drops it).  A key never read
here raises :class:`~appliance.errors.StoreUnavailable`: its token cannot be checked now.  A
capability token needs nothing from the database (the AuthToken is read at start).
"""

from __future__ import annotations

import dataclasses
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Literal

import jwt

from appliance import sids
from appliance.clients import identity as client_identity
from appliance.errors import StoreUnavailable, TokenError
from appliance.store import apikeys
from appliance.store.account import Account
from appliance.store.database import Row, Store

ALGORITHM = "HS256"
ACCESS_TOKEN_CTY = "twilio-fpa;v=1"
MAX_TTL = 24 * 3600  # seconds: Twilio refuses tokens valid for longer (31207)
CLOCK_SKEW = 60  # seconds a token's nbf may be ahead of this clock (the minting server's drift)
MAX_TOKEN_BYTES = 16 * 1024  # far above any real token; a larger one is refused unread
MAX_PARAMS = 100  # outgoing params in one grant

# Twilio's codes (appliance.errors.CLIENT_ERRORS)
INVALID, EXPIRED = 20101, 20104
SIGNATURE, NO_ACCOUNT, TOO_LONG = 31202, 31203, 31207
LEGACY_INVALID, LEGACY_EXPIRED = 31204, 31205
APPLICATION_NOT_FOUND, AUTHORIZATION = 31001, 31201


@dataclasses.dataclass(frozen=True)
class ClientGrant:
    """What a verified token lets a browser phone do."""

    kind: Literal["access", "capability"]
    account_sid: str
    identity: str | None  # None: an outgoing-only token without one
    incoming: bool  # may register and ring (grants.voice.incoming.allow / client:incoming)
    application_sid: str | None  # the TwiML App outgoing calls run (None: no outgoing)
    params: Mapping[str, str]  # the grant's outgoing params, sent with every call
    expires: float  # exp, as a Unix time
    key_sid: str | None = None  # the API key that signed an Access Token

    def require_incoming(self) -> str:
        """The identity to register, or a TokenError when the token may not receive calls."""
        if not self.incoming or self.identity is None:
            raise TokenError(
                "The token has no incoming grant (grants.voice.incoming.allow, or the"
                " client:incoming scope): it cannot register to receive calls",
                code=AUTHORIZATION,
            )
        return self.identity

    def require_outgoing(self) -> str:
        """The TwiML App's SID, or a TokenError when the token may not place calls."""
        if self.application_sid is None:
            raise TokenError(
                "The token has no outgoing grant (grants.voice.outgoing.application_sid, or the"
                " client:outgoing scope): it cannot place calls",
                code=AUTHORIZATION,
            )
        return self.application_sid


class Tokens:
    """Verifies tokens against this appliance's account and API keys, read at each check (a
    revoked key's tokens stop working at once).  The secret each read found is kept in memory
    for the checks made while the database is unreachable (:meth:`_secret`)."""

    def __init__(
        self, store: Store, account: Account, clock: Callable[[], float] = time.time
    ) -> None:
        self.store, self.account, self.clock = store, account, clock
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}  # key SID -> the signing secret last read

    def _secret(self, key: str) -> str | None:
        """The key's signing secret, read from the store; while the store is unreachable, the
        one the last read found (a key never read here: StoreUnavailable, passed on).  Keys
        are never rotated (a new key is a new SID); a read that finds the key revoked or
        gone forgets it, so the memory never outlives a revocation this process has seen."""
        try:
            secret = apikeys.signing_secret(self.store, key)
        except StoreUnavailable:
            with self._lock:
                known = self._secrets.get(key)
            if known is None:
                raise
            return known
        with self._lock:
            if secret is None:
                self._secrets.pop(key, None)
            else:
                self._secrets[key] = secret
        return secret

    def verify(self, token: str) -> ClientGrant:
        """The grant in ``token`` (either kind), or a :class:`TokenError`."""
        if not isinstance(token, str) or not token.strip():
            raise TokenError("No token was given", code=INVALID)
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenError(f"The token is longer than {MAX_TOKEN_BYTES} bytes", code=INVALID)
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("The token is not a JWT", code=INVALID) from None
        if header.get("alg") != ALGORITHM:
            raise TokenError(
                f"The token is signed with {str(header.get('alg'))[:20]!r}, not {ALGORITHM}",
                code=INVALID,
            )
        if "scope" in claims and "grants" not in claims:
            return self._capability(token, claims)
        if header.get("cty") != ACCESS_TOKEN_CTY:
            raise TokenError(
                f"The token is not a Twilio Access Token (its header's cty is not"
                f" {ACCESS_TOKEN_CTY!r}) nor a capability token (no scope claim)",
                code=INVALID,
            )
        return self._access(token, claims)

    # ------------------------------------------------------------------ Access Tokens

    def _access(self, token: str, unverified: dict[str, Any]) -> ClientGrant:
        key, account = unverified.get("iss"), unverified.get("sub")
        if not isinstance(key, str) or not sids.is_sid(key, "SK"):
            raise TokenError("The token's iss is not an API key SID (SK…)", code=INVALID)
        if not isinstance(account, str) or not sids.is_sid(account, "AC"):
            raise TokenError("The token's sub is not an Account SID (AC…)", code=INVALID)
        if account != self.account.sid:
            raise TokenError(
                f"The token is for account {account}, not this appliance's", code=NO_ACCOUNT
            )
        secret = self._secret(key)
        if secret is None:
            raise TokenError(
                f"The token is signed with API key {key}, which this appliance does not have,"
                " has revoked, or made before keys could sign tokens (create a new key:"
                " `appliance apikey create`)",
                code=SIGNATURE,
            )
        claims = self._decode(token, secret, legacy=False)
        grants = claims.get("grants")
        if not isinstance(grants, dict):
            raise TokenError("The token has no grants", code=INVALID)
        name = grants.get("identity")
        if name is not None:
            if not isinstance(name, str):
                raise TokenError("The token's identity is not a string", code=INVALID)
            client_identity.check(name)
        voice = grants.get("voice")
        if not isinstance(voice, dict):
            raise TokenError("The token has no voice grant (grants.voice)", code=INVALID)
        incoming = voice.get("incoming") or {}
        outgoing = voice.get("outgoing") or {}
        if not isinstance(incoming, dict) or not isinstance(outgoing, dict):
            raise TokenError("The token's voice grant is malformed", code=INVALID)
        allow = incoming.get("allow") is True
        if allow and name is None:
            raise TokenError(
                "The token allows incoming calls but has no identity to ring", code=INVALID
            )
        app = outgoing.get("application_sid")
        if app is not None and not (isinstance(app, str) and sids.is_sid(app, "AP")):
            raise TokenError(
                "The token's outgoing application_sid is not an Application SID (AP…)",
                code=INVALID,
            )
        if not allow and app is None:
            raise TokenError(
                "The token's voice grant allows neither incoming nor outgoing calls",
                code=INVALID,
            )
        return ClientGrant(
            kind="access",
            account_sid=account,
            identity=name,
            incoming=allow,
            application_sid=app,
            params=_params(outgoing.get("params")),
            expires=float(claims["exp"]),
            key_sid=key,
        )

    # ------------------------------------------------------------------ capability tokens

    def _capability(self, token: str, unverified: dict[str, Any]) -> ClientGrant:
        account = unverified.get("iss")
        if not isinstance(account, str) or not sids.is_sid(account, "AC"):
            raise TokenError(
                "The capability token's iss is not an Account SID (AC…)", code=LEGACY_INVALID
            )
        if account != self.account.sid:
            raise TokenError(
                f"The capability token is for account {account}, not this appliance's",
                code=NO_ACCOUNT,
            )
        claims = self._decode(token, self.account.auth_token, legacy=True)
        scope = claims.get("scope")
        if not isinstance(scope, str):
            raise TokenError("The capability token's scope is not a string", code=LEGACY_INVALID)
        name: str | None = None
        incoming = False
        app: str | None = None
        params: dict[str, str] = {}
        for item in scope.split():
            service, privilege, query = _scope(item)
            if service != "client":
                continue  # stream:subscribe (the event stream) is not a phone's concern
            values = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
            client_name = values.get("clientName")
            if client_name is not None:
                name = client_identity.check(client_name)
            if privilege == "incoming":
                if client_name is None:
                    raise TokenError(
                        "The client:incoming scope has no clientName", code=LEGACY_INVALID
                    )
                incoming = True
            elif privilege == "outgoing":
                app = values.get("appSid")
                if app is None or not sids.is_sid(app, "AP"):
                    raise TokenError(
                        "The client:outgoing scope's appSid is not an Application SID (AP…)",
                        code=LEGACY_INVALID,
                    )
                params = _params(
                    dict(
                        urllib.parse.parse_qsl(values.get("appParams", ""), keep_blank_values=True)
                    )
                )
        if not incoming and app is None:
            raise TokenError(
                "The capability token has neither a client:incoming nor a client:outgoing scope",
                code=LEGACY_INVALID,
            )
        return ClientGrant(
            kind="capability",
            account_sid=account,
            identity=name,
            incoming=incoming,
            application_sid=app,
            params=params,
            expires=float(claims["exp"]),
        )

    # ------------------------------------------------------------------ shared

    def _decode(self, token: str, secret: str, *, legacy: bool) -> dict[str, Any]:
        """The claims, once the signature, ``exp`` and ``nbf`` hold."""
        invalid, expired = (LEGACY_INVALID, LEGACY_EXPIRED) if legacy else (INVALID, EXPIRED)
        now = self.clock()
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iss"], "verify_exp": False, "verify_nbf": False},
            )
        except jwt.InvalidSignatureError:
            raise TokenError(
                "The token's signature does not match: it was not signed with"
                + (" the AuthToken" if legacy else " the API key's secret"),
                code=LEGACY_INVALID if legacy else SIGNATURE,
            ) from None
        except jwt.MissingRequiredClaimError as e:
            raise TokenError(f"The token has no {e.claim} claim", code=invalid) from None
        except jwt.PyJWTError:
            raise TokenError("The token cannot be decoded", code=invalid) from None
        exp, nbf = _timestamp(claims.get("exp")), _timestamp(claims.get("nbf", 0))
        if exp is None or nbf is None:
            raise TokenError("The token's exp or nbf is not a number", code=invalid)
        if exp <= now:
            raise TokenError(f"The token expired {_ago(now - exp)} ago", code=expired)
        if nbf > now + CLOCK_SKEW:
            raise TokenError(
                f"The token is not valid for another {_ago(nbf - now)} (its nbf)", code=invalid
            )
        if exp - now > MAX_TTL + CLOCK_SKEW:
            raise TokenError(
                "The token is valid for more than 24 hours (its exp is too far ahead)",
                code=TOO_LONG,
            )
        return claims


def application(store: Store, sid: str) -> Row:
    """The TwiML App an outgoing grant names, or a TokenError (31001 Application Not Found)."""
    row = store.read_one("SELECT * FROM applications WHERE sid = ?", (sid,))
    if row is None:
        raise TokenError(
            f"The token's application {sid} is not an Application of this appliance",
            code=APPLICATION_NOT_FOUND,
        )
    return row


def _scope(item: str) -> tuple[str, str, str]:
    """``scope:client:incoming?clientName=alice`` -> ("client", "incoming", "clientName=alice")."""
    head, _, query = item.partition("?")
    parts = head.split(":")
    if len(parts) != 3 or parts[0] != "scope":
        raise TokenError(
            f"The capability token's scope {head[:60]!r} is not scope:<service>:<privilege>",
            code=LEGACY_INVALID,
        )
    return parts[1], parts[2], query


def _params(raw: object) -> dict[str, str]:
    """An outgoing grant's params as strings (JSON numbers and booleans are written as JSON)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_PARAMS:
        raise TokenError(
            f"The token's outgoing params are not an object of at most {MAX_PARAMS} entries",
            code=INVALID,
        )
    params: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, bool):
            params[str(key)] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            params[str(key)] = str(value)
        else:
            raise TokenError(
                f"The token's outgoing param {str(key)[:40]!r} is not a scalar", code=INVALID
            )
    return params


def _timestamp(value: object) -> float | None:
    """A JSON number as a float; None for anything else (a string, a boolean, null)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _ago(seconds: float) -> str:
    seconds = int(abs(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
