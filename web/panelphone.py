"""The panel's own browser phone: its API key, its TwiML App, and the Access Tokens it mints.

The softphone page (:mod:`web.softphone`) is a browser phone like any other: the official SDK
with an Access Token, checked by :mod:`appliance.clients.tokens`.  The panel owns what such a
token needs, made on first use and kept:

* an API key (``SK…``, friendly name "Panel phone"), its SID in the setting
  ``panel_phone_key``; its secret stays where every key's signing secret is
  (``api_keys.signing_secret``) and is never shown, logged or sent: only tokens signed with it
  leave the appliance.  A revoked key is replaced at the next token;
* a TwiML App ("Panel phone", SID in ``panel_phone_app``) whose VoiceUrl is the signed
  twimlet ``/twimlets/softphone`` (a number through the SIM, or a browser).  Deleted, it is
  made again; a VoiceUrl changed over REST is kept (that is how a test points it elsewhere).

Tokens are minted as Twilio's helper library mints them (the same header and claims), with
PyJWT, which the runtime already has (the ``twilio`` package is a test dependency only).
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time

from appliance import sids
from appliance.clients import identity as client_identity
from appliance.store import apikeys
from appliance.store.database import Store

KEY_SETTING = "panel_phone_key"
APP_SETTING = "panel_phone_app"
NAME = "Panel phone"
VOICE_URL = "/twimlets/softphone"
TTL = 3600  # seconds a token lasts; the page asks for a new one before (tokenWillExpire)
_LOCK = threading.Lock()  # two first uses at once make one key and one App


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What the panel signs its phone's tokens with.  ``repr`` leaves the secret out."""

    key_sid: str
    secret: str = dataclasses.field(repr=False)
    app_sid: str


def _put(store: Store, key: str, value: str) -> None:
    store.write(
        lambda conn: conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
    )


def _app(store: Store, account_sid: str) -> str:
    sid = store.setting(APP_SETTING)
    if sid and store.read_one("SELECT sid FROM applications WHERE sid = ?", (sid,)):
        return sid
    sid, now = sids.new("AP"), time.time()

    def fn(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO applications (sid, account_sid, friendly_name, voice_url, voice_method,"
            " date_created, date_updated) VALUES (?, ?, ?, ?, 'POST', ?, ?)",
            (sid, account_sid, NAME, VOICE_URL, now, now),
        )

    store.write(fn)
    _put(store, APP_SETTING, sid)
    return sid


def credentials(store: Store, account_sid: str) -> Credentials:
    """The panel's key and App, made now if missing (or revoked, or deleted)."""
    with _LOCK:
        key_sid = store.setting(KEY_SETTING) or ""
        secret = apikeys.signing_secret(store, key_sid) if key_sid else None
        if secret is None:
            key, secret = apikeys.create(store, NAME)
            key_sid = key.sid
            _put(store, KEY_SETTING, key_sid)
        return Credentials(key_sid, secret, _app(store, account_sid))


def identity(configured: str) -> str:
    """The phone's identity (the ``panel_phone_identity`` setting), or a ValueError saying why
    it cannot be one (preflight refuses such a setting at start-up)."""
    why = client_identity.problem(configured)
    if why is not None:
        raise ValueError(f"panel_phone_identity {configured!r} is not a valid identity: {why}")
    return configured


def mint(creds: Credentials, account_sid: str, who: str, now: float | None = None) -> str:
    """An Access Token for ``who``: incoming calls allowed, outgoing through the panel's App."""
    issued = int(time.time() if now is None else now)
    claims = {
        "jti": f"{creds.key_sid}-{issued}",
        "iss": creds.key_sid,
        "sub": account_sid,
        "nbf": issued,
        "exp": issued + TTL,
        "grants": {
            "identity": who,
            "voice": {
                "incoming": {"allow": True},
                "outgoing": {"application_sid": creds.app_sid},
            },
        },
    }
    headers = {"typ": "JWT", "cty": "twilio-fpa;v=1"}
    import jwt  # late: PyJWT loads cryptography, which an idle daemon never maps (tests/clients/test_https.py)

    return jwt.encode(claims, creds.secret, algorithm="HS256", headers=headers)
