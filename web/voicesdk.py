"""Twilio's Voice JavaScript SDK and its sounds, served by the appliance (docs/clients.md).

A browser phone's page loads ``/sdk/twilio.min.js`` (the SDK's browser bundle from npm, built
by ``make sdk`` or brought by the Ansible role into ``web/sdk/``; never committed) and passes
``sounds`` with the URLs of ``/sdk/sounds/<name>.wav`` (:mod:`appliance.voice.phonesounds`),
so nothing comes from Twilio's CDN: the LAN may have no internet.  ``/sdk/sounds.json`` is
that ``sounds`` object with absolute URLs, for a page served elsewhere.

All three are public JavaScript and tones, the same for everyone: no sign-in (a page on
another site needs them before anything else), and ``Access-Control-Allow-Origin: *`` so
such a page's SDK may fetch the sounds (it reads them with XMLHttpRequest).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from flask import Blueprint, Flask, Response, current_app, request, send_file, url_for

LOGGER = logging.getLogger(__name__)
bp = Blueprint("voicesdk", __name__, url_prefix="/sdk")
OPEN = {"voicesdk.bundle", "voicesdk.sound", "voicesdk.sounds"}  # GET only: no session, no form
BUNDLE = Path(__file__).resolve().parent / "sdk" / "twilio.min.js"
MISSING = (
    "The Voice JavaScript SDK is not installed on this appliance: run `make sdk` in the source"
    " tree (npm installs @twilio/voice-sdk into web/sdk/), or deploy with the Ansible role,"
    " which builds it on the controller and copies it to web/sdk/twilio.min.js."
)
MAX_AGE = 86400  # a day: the bundle changes with an upgrade, the sounds never


def bundle_path(app: Flask) -> Path:
    return Path(app.config.get("SDK_BUNDLE", BUNDLE))


def warn_if_missing(app: Flask) -> None:
    """At start-up: one warning naming the fix when there is no bundle to serve."""
    path = bundle_path(app)
    if not path.is_file():
        LOGGER.warning("%s is missing, so /sdk/twilio.min.js answers 404. %s", path, MISSING)


def _public(rv: Response) -> Response:
    rv.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    rv.headers["Access-Control-Allow-Origin"] = "*"
    return rv


@bp.get("/twilio.min.js")
def bundle() -> Response:
    path = bundle_path(current_app)
    if not path.is_file():
        return Response(MISSING + "\n", status=404, mimetype="text/plain")
    # Streamed from the file, with ETag and Last-Modified: a reload asks "changed?" only.
    rv = send_file(path, mimetype="text/javascript", conditional=True, max_age=MAX_AGE)
    return _public(rv)


@bp.get("/sounds/<file>")
def sound(file: str) -> Response:
    from appliance.voice import phonesounds  # late: numpy only once a page asks for a sound

    name = file.removesuffix(".wav")
    if name == file or name not in phonesounds.DURATIONS:
        known = ", ".join(f"{n}.wav" for n in phonesounds.NAMES)
        return Response(
            f"No sound {file!r} here; the sounds are {known}.\n", 404, mimetype="text/plain"
        )
    return _public(Response(phonesounds.wav(name), mimetype="audio/wav"))


@bp.get("/sounds.json")
def sounds() -> Response:
    """The Device's ``sounds`` option: each SDK sound name and its URL on this appliance."""
    from appliance.voice import phonesounds  # late: numpy only once a page asks for a sound

    base = request.host_url.rstrip("/")
    urls = {
        key: base + url_for("voicesdk.sound", file=f"{name}.wav")
        for key, name in phonesounds.OPTION_NAMES.items()
    }
    return _public(Response(json.dumps(urls), mimetype="application/json"))
