"""The built-in welcome TwiML: a Voice URL the appliance answers itself, like Twilio's demo URL.

A new Twilio number answers calls with ``https://demo.twilio.com/welcome/voice/``. The
appliance cannot reach that from a Pi without internet, so it serves its own: set a number's
Voice URL to ``<base_url>/welcome/voice`` to hear a greeting, press keys and hear them read
back (docs/voice.md, "Try it").  These two documents are public, as Twilio's demo is: they
read nothing from the store and take no sign-in and no CSRF token (webhooks carry neither).
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, request, url_for

bp = Blueprint("welcome", __name__, url_prefix="/welcome")
PUBLIC = {"welcome.voice", "welcome.keys"}
GATHER_TIMEOUT = 10  # seconds the caller has for the first key (TwiML <Gather timeout>)

GREETING = "Welcome to Twilio in a box. Press a few keys, then the hash key."


def _twiml(body: str) -> Response:
    return Response(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Response>{body}</Response>\n',
        mimetype="text/xml",
    )


@bp.route("/voice", methods=["GET", "POST"])
def voice() -> Response:
    """Greet the caller and gather keys until ``#``; the keys go to :func:`keys`."""
    from xml.sax.saxutils import (
        escape,
    )  # here: it imports urllib.request, which an idle appliance does not load

    return _twiml(
        f'<Gather action="{escape(url_for("welcome.keys"))}" method="POST"'
        f' timeout="{GATHER_TIMEOUT}">'
        f"<Say>{escape(GREETING)}</Say></Gather>"
        "<Say>No keys were pressed. Goodbye.</Say><Hangup/>"
    )


@bp.route("/voice/keys", methods=["GET", "POST"])
def keys() -> Response:
    """Read back the keys of ``Digits`` (only 0-9, * and # are kept), then hang up."""
    from xml.sax.saxutils import escape  # here: see voice

    digits = re.sub(r"[^0-9*#]", "", request.values.get("Digits", ""))[:40]
    names = {"*": "star", "#": "hash"}
    spoken = " ".join(names.get(d, d) for d in digits) or "nothing"
    return _twiml(f"<Say>You pressed {escape(spoken)}. Goodbye.</Say><Hangup/>")
