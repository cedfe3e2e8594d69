"""The admin surface: endpoints that change the appliance rather than use it.

Only the AccountSid and AuthToken open it (:func:`~appliance.api.authentication.require_auth_token`):
an API key, like Twilio's standard keys, gets 403 / 20003.  Today that is the raw AT
console, which can dial, wipe SIM storage or reconfigure a modem, USSD (which can spend the
SIM's credit: buy bundles, transfer airtime), and the status page of ``appliance status``
(which shows every webhook URL).  docs/api.md lists who may call each
route outside the Twilio resources.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from appliance.api.authentication import require_auth_token
from appliance.api.common import daemon, error_response, forwarded
from appliance.api.relay import relay
from appliance.errors import ApplianceError
from appliance.modem import ussd
from appliance.modem.ussdsession import UssdBusy, UssdTimeout
from appliance.system import nodeproxy

AT_TIMEOUT = 20.0  # seconds the modem has to answer a console command
LAST_ERRORS = 5  # failures of each kind (messages, calls, webhooks) the status shows

bp = Blueprint("admin", __name__, url_prefix="/appliance")
bp.before_request(require_auth_token)


def _elsewhere(name: str, read_timeout: float) -> Response:
    """A modem this node does not hold: on a fleet, the answer of the node holding it (the
    same request, signed by this node, streamed back); else 404."""
    d = daemon()
    owner = None if forwarded() else nodeproxy.modem_owner(d.store, name)
    if owner is None or owner.node_id == d.fleet.id:
        return error_response(404, 20404, f"no modem named {name}")
    return relay(owner, f"Modem {name}", read_timeout)


@bp.post("/modems/<name>/at")
def modem_at(name: str) -> Response:
    """Raw AT console (an admin tool: the command is sent as typed); a modem of another
    node of the fleet: forwarded to it."""
    modem = daemon().modems.get(name)
    if modem is None:
        return _elsewhere(name, AT_TIMEOUT + 10)
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


@bp.post("/modems/<name>/ussd")
def modem_ussd(name: str) -> Response:
    """USSD: a code (``*100#``) or the answer to the network's menu; ``cancel=1`` ends the
    session.  Answers once the network has (``ussd_timeout`` at most).  A modem of another
    node of the fleet: forwarded to it."""
    modem = daemon().modems.get(name)
    if modem is None:
        return _elsewhere(name, daemon().config.ussd_timeout + 10)
    if request.form.get("cancel", "").strip().lower() in ("1", "true", "yes"):
        try:
            modem.ussd.cancel()
        except ApplianceError as e:
            return error_response(503, 20001, f"{type(e).__name__}: {e}")
        return jsonify({"modem": name, "status": "cancelled", "session_open": False})
    code = request.form.get("code", "").strip()
    problem = ussd.request_problem(code)
    if problem is not None:
        return error_response(400, 20001, f"code: {problem}")
    try:
        reply = modem.ussd.request(code)
    except UssdBusy as e:
        return error_response(409, 20001, str(e))
    except UssdTimeout as e:
        return error_response(504, 20001, str(e))
    except ApplianceError as e:  # not connected, or the modem refused the request
        return error_response(503, 20001, f"{type(e).__name__}: {e}")
    return jsonify(reply.as_dict())


def _when(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _count(sql: str) -> int:
    row = daemon().store.read_one(sql)
    return int(row[0]) if row else 0


@bp.get("/status")
def status() -> Response:
    """What ``appliance status`` prints: modems, queue depths, last errors, URLs in use."""
    d = daemon()
    store = d.store
    health = {r["modem"]: dict(r) for r in store.read("SELECT * FROM modem_health")}
    balances = {r["modem"]: dict(r) for r in store.read("SELECT * FROM sim_balance")}
    modems: list[dict[str, Any]] = []
    for name, modem in d.modems.items():
        row = health.get(name, {})
        modems.append(
            {
                "name": name,
                "number": modem.cfg.number,
                "port": modem.cfg.port,
                "profile": modem.profile.family,
                "state": modem.state,
                "signal": row.get("signal"),
                "registration": row.get("registration"),
                "operator": row.get("operator"),
                "sim": row.get("sim"),
                "last_error": modem.last_error,
                "updated": _when(row.get("updated")),
                "balance": balances.get(name, {}).get("amount"),
                "balance_read": _when(balances.get(name, {}).get("updated")),
            }
        )
    queues = {
        "messages_queued": _count(
            "SELECT COUNT(*) FROM messages WHERE status IN ('queued', 'sending')"
        ),
        "messages_scheduled": _count("SELECT COUNT(*) FROM messages WHERE status = 'scheduled'"),
        "webhooks_pending": _count(
            "SELECT COUNT(*) FROM webhook_jobs WHERE state IN ('pending', 'running')"
        ),
        "calls_queued": _count("SELECT COUNT(*) FROM calls WHERE status = 'queued'"),
    }
    msgs = store.read(
        "SELECT sid, modem, status, error_code, error_message, date_updated FROM messages"
        " WHERE error_code IS NOT NULL ORDER BY date_updated DESC LIMIT ?",
        (LAST_ERRORS,),
    )
    calls = store.read(
        "SELECT sid, modem, status, error_code, error_message, date_updated FROM calls"
        " WHERE error_code IS NOT NULL ORDER BY date_updated DESC LIMIT ?",
        (LAST_ERRORS,),
    )
    webhooks = store.read(
        "SELECT url, status, error_code, error_message, at FROM webhook_log"
        " WHERE error_code IS NOT NULL ORDER BY id DESC LIMIT ?",
        (LAST_ERRORS,),
    )
    base = d.config.public_url.rstrip("/") or request.host_url.rstrip("/")
    numbers = store.read("SELECT * FROM numbers ORDER BY date_created, sid")
    return jsonify(
        {
            "pid": os.getpid(),
            "urls": {"api": base, "panel": base + "/", "health": base + "/health"},
            "modems": modems,
            "queues": queues,
            "numbers": [
                {
                    "phone_number": n["phone_number"],
                    "modem": n["modem"],
                    "sms_url": n["sms_url"],
                    "sms_method": n["sms_method"],
                    "sms_fallback_url": n["sms_fallback_url"],
                    "voice_url": n["voice_url"],
                    "voice_method": n["voice_method"],
                    "status_callback": n["status_callback"],
                }
                for n in numbers
            ],
            "last_errors": {
                "messages": [{**dict(r), "date_updated": _when(r["date_updated"])} for r in msgs],
                "calls": [{**dict(r), "date_updated": _when(r["date_updated"])} for r in calls],
                "webhooks": [{**dict(r), "at": _when(r["at"])} for r in webhooks],
            },
        }
    )
