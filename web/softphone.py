"""The softphone: a browser phone in the panel, on Twilio's official Voice JavaScript SDK.

``GET /softphone/`` is the page (web/templates/softphone.html, web/static/softphone.js): a dial
pad, a number or name to call, the incoming ring with the caller's ID, accept, reject, mute,
hang up and keys during a call.  It loads the SDK the panel serves (``/sdk/twilio.min.js``,
:mod:`web.voicesdk`) and its sounds from the appliance (the ``sounds`` option), with
``publishEvents: false`` and ``chunderw`` the appliance's HTTPS port: nothing comes from
Twilio's cloud.  A browser gives the microphone only to a secure page, so over plain HTTP
(other than localhost) the page links to itself on the HTTPS port.

``POST /softphone/token`` (the page's fetch, with the CSRF header) mints an Access Token for
the signed-in administrator under ``panel_phone_identity`` with the panel's own API key and
TwiML App (:mod:`web.panelphone`).  Only an administrator's session gets one: no session is
sent to sign in, an API key is nothing to the panel, and the key's secret never leaves.
"""

from __future__ import annotations

import logging
import urllib.parse

from flask import Blueprint, Response, jsonify, render_template, request, url_for

from appliance import logs
from web import panelphone
from web.auth import is_admin
from web.helpers import daemon

LOGGER = logging.getLogger(__name__)
bp = Blueprint("softphone", __name__, url_prefix="/softphone")
KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")
LETTERS = ("", "ABC", "DEF", "GHI", "JKL", "MNO", "PQRS", "TUV", "WXYZ", "", "+", "")


def https_port() -> int:
    """The HTTPS server's bound port (``https_port`` may be 0: any free port)."""
    server = getattr(daemon(), "server", None)
    port = getattr(server, "https_port", None)
    return int(port) if port else daemon().config.https_port


def _host() -> str:
    """The host name the browser used (brackets kept for IPv6), without its port."""
    parts = urllib.parse.urlsplit(f"//{request.host}")
    name = parts.hostname or "localhost"
    return f"[{name}]" if ":" in name else name


def chunderw() -> str:
    """Where the SDK opens ``wss://…/signal``: this host on the HTTPS port."""
    return f"{_host()}:{https_port()}"


def sounds() -> dict[str, str]:
    """The Device's ``sounds`` option: every sound from this appliance, on the page's origin."""
    from appliance.voice import phonesounds  # late: numpy only once the page is asked for

    return {
        key: url_for("voicesdk.sound", file=f"{name}.wav")
        for key, name in phonesounds.OPTION_NAMES.items()
    }


@bp.get("/")
def index() -> str:
    d = daemon()
    problem = ""
    try:
        who = panelphone.identity(d.config.panel_phone_identity)
    except ValueError as e:
        who, problem = "", str(e)
    secure_url = f"https://{chunderw()}{url_for('softphone.index')}"
    return render_template(
        "softphone.html",
        identity=who,
        problem=problem,
        chunderw=chunderw(),
        sounds=sounds(),
        secure_url=secure_url,
        keys=list(zip(KEYS, LETTERS, strict=True)),
    )


@bp.post("/token")
def token() -> tuple[Response, int] | Response:
    """A fresh Access Token for the panel's phone (JSON: token, identity, chunderw, ttl)."""
    if not is_admin():
        return jsonify(error="Only the panel's administrator may use the softphone."), 403
    d = daemon()
    try:
        who = panelphone.identity(d.config.panel_phone_identity)
    except ValueError as e:
        return jsonify(error=str(e)), 409
    creds = panelphone.credentials(d.store, d.account.sid)
    logs.event(
        LOGGER, logging.INFO, "softphone token minted", identity=who, key=creds.key_sid,
        client=request.remote_addr,
    )  # fmt: skip
    return jsonify(
        token=panelphone.mint(creds, d.account.sid, who),
        identity=who,
        chunderw=chunderw(),
        ttl=panelphone.TTL,
    )
