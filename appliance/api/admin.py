"""The admin surface: endpoints that change the appliance rather than use it.

Only the AccountSid and AuthToken open it (:func:`~appliance.api.common.require_auth_token`):
an API key, like Twilio's standard keys, gets 403 / 20003.  Today that is the raw AT
console, which can dial, wipe SIM storage or reconfigure a modem.  docs/api.md lists
who may call each route outside the Twilio resources.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from appliance.api.common import daemon, error_response, require_auth_token

AT_TIMEOUT = 20.0  # seconds the modem has to answer a console command

bp = Blueprint("admin", __name__, url_prefix="/appliance")
bp.before_request(require_auth_token)


@bp.post("/modems/<name>/at")
def modem_at(name: str) -> Response:
    """Raw AT console (an admin tool: the command is sent as typed)."""
    modem = daemon().modems.get(name)
    if modem is None:
        return error_response(404, 20404, f"no modem named {name}")
    command = request.form.get("command", "")
    if not command or any(c in command for c in "\r\n\x1a\x1b"):
        return error_response(400, 20001, "one AT command per request, without control characters")
    try:
        lines = modem.submit(
            lambda drv: drv.write(command, parseError=False, timeout=AT_TIMEOUT) or []
        )
    except Exception as e:  # noqa: BLE001 - reported to the console user
        return error_response(503, 20001, f"{type(e).__name__}: {e}")
    return jsonify({"lines": lines})
