"""Twilio-compatible REST API: a Flask app over the daemon.

Resources under ``/2010-04-01/Accounts/{AccountSid}/``: the Account,
``Messages`` (:mod:`appliance.api.messages`) and ``IncomingPhoneNumbers``
(:mod:`appliance.api.numbers`).  Basic auth with ``AC…:AuthToken`` or an API key
``SK…:secret`` (:mod:`appliance.store.apikeys`), a per-credential rate limit (20429),
and every error shaped as Twilio's ``{code, message, more_info, status}``.
The OpenAPI document is served without auth at ``/2010-04-01/openapi.json``;
the admin surface (:mod:`appliance.api.admin`) and the Account take the AuthToken
only, never an API key (docs/api.md, "Who may call what").
A created message is on disk (committed by the store's writer) before the 201
goes out.  While the database is unreachable (PostgreSQL) every request that needs it is
answered 503 with error 20503 and ``Retry-After``, and ``/health`` says why.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from appliance.api import (  # noqa: F401 - registers the routes on bp
    admin,
    applications,
    call_control,
    call_creation,
    calls,
    messages,
    metrics,
    numbers,
    oncall,
    recordings,
    streams,
    twimlets,
    usermessages,
)
from appliance.api.authentication import RateLimiter, authenticate, is_api_key, key_refused
from appliance.api.common import (
    MAX_BODY_BYTES,
    PREFIX,
    ApiError,
    bp,
    daemon,
    error_response,
    too_large,
    unavailable,
)
from appliance.api.fastlane import fast_lane
from appliance.api.openapi import spec
from appliance.errors import StoreUnavailable
from appliance.store import fleetview
from appliance.store.apikeys import Verifier
from appliance.system import health as condition

if TYPE_CHECKING:
    from appliance.system.runtime import Appliance

__all__ = ["ApiError", "create_app", "error_response"]

bp.before_request(authenticate)


@bp.errorhandler(ApiError)
def api_error(e: ApiError) -> Response:
    return error_response(e.status, e.code, e.message)


@bp.get("/Accounts/<account_sid>.json")
def account_fetch(account_sid: str) -> Response:
    """The account, with its AuthToken: not for API keys (as on Twilio, whose standard
    keys cannot use the Accounts resource), or a key would open the admin surface."""
    if is_api_key():
        return key_refused()
    d = daemon()
    return jsonify(
        {
            "auth_token": d.account.auth_token,
            "date_created": None,
            "date_updated": None,
            "friendly_name": "appliance",
            "owner_account_sid": account_sid,
            "sid": account_sid,
            "status": "active",
            "subresource_uris": {
                "applications": f"{PREFIX}/{account_sid}/Applications.json",
                "messages": f"{PREFIX}/{account_sid}/Messages.json",
                "incoming_phone_numbers": f"{PREFIX}/{account_sid}/IncomingPhoneNumbers.json",
            },
            "type": "Full",
            "uri": f"{PREFIX}/{account_sid}.json",
        }
    )


def create_app(d: Appliance) -> Flask:
    """The HTTP application: REST API plus the appliance's own status endpoints."""
    app = Flask("appliance")
    app.config["DAEMON"] = d
    # Flask's own limit is a safety net: check_body() answers oversized bodies first.
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["API_KEYS"] = Verifier(d.store)
    rate = d.config.api_rate_limit
    app.config["RATE_LIMITER"] = RateLimiter(rate, max(1, int(2 * rate)))
    app.register_blueprint(bp)
    # A plain message create skips Flask's request machinery (appliance.api.fastlane).
    app.wsgi_app = fast_lane(app, d)  # type: ignore[method-assign,assignment]

    @app.get("/2010-04-01/openapi.json")
    def openapi() -> Response:
        return jsonify(spec())

    @app.get("/")
    def index() -> Response:
        return jsonify(
            {
                "appliance": "Twilio in a box",
                # Public: no AccountSid here (it is the AuthToken's user name).
                "api": f"{PREFIX}/{{AccountSid}}/Messages.json",
                "openapi": "/2010-04-01/openapi.json",
                "health": "/health",
                "metrics": "/metrics",
            }
        )

    @app.get("/health")
    def health() -> Response:
        """Each modem's condition: 200 when all can carry traffic, else 503 with a reason each.

        ``ok`` is the HTTP status (every modem healthy: connected, SIM ready, registered);
        ``ready`` is readiness (the daemon serves and every modem is connected), which a
        network outage does not take away.
        """
        database: dict[str, Any] = {"ok": True}
        members: fleetview.FleetView | None = None
        try:
            rows = condition.health_rows(d.store)
            queued = d.store.read_one(
                "SELECT COUNT(*) FROM messages WHERE status IN ('queued', 'sending')"
            )
            members = fleetview.view(d.store, d.fleet.id)
        except StoreUnavailable as e:  # the modems' live state still tells something
            rows, queued = {}, None
            since = d.store.outage.since
            database = {
                "ok": False,
                "reason": e.message,
                "down_s": None if since is None else round(time.time() - since, 1),
            }
        conditions = condition.assess_all(d.modems, d.store, rows)
        modems = []
        for c in conditions:
            row = dict(rows.get(c.modem) or {"modem": c.modem})
            row.update(
                state=c.state,
                last_error=d.modems[c.modem].last_error,
                condition=c.condition,
                healthy=c.healthy,
                reason=c.reason,
            )
            modems.append(row)
        ok = bool(conditions) and all(c.healthy for c in conditions) and database["ok"]
        body = {
            "ok": ok,
            "status": "ok" if ok else "degraded",
            "ready": bool(conditions) and all(c.state == "ready" for c in conditions),
            "modems": modems,
            "database": database,
            "queue_depth": queued[0] if queued else (None if not database["ok"] else 0),
            "node": {"id": d.fleet.id, "name": d.fleet.name, "id_shared": d.fleet.clash},
            "fleet": None if members is None else fleetview.health_fields(members),
        }
        rv = jsonify(body)
        rv.status_code = 200 if ok else 503
        return rv

    app.register_blueprint(admin.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(oncall.bp)  # /appliance/oncall/…, /appliance/alerts
    app.register_blueprint(oncall.voice_bp)  # /twimlets/oncall: the support number
    app.register_blueprint(twimlets.bp)  # /twimlets/<name>: public, like twimlets.com

    @app.errorhandler(413)
    def request_too_large(_e: Exception) -> Response:
        return too_large()

    @app.errorhandler(404)
    def not_found(_e: Exception) -> Response:
        return error_response(404, 20404, f"The requested resource {request.path} was not found")

    @app.errorhandler(405)
    def not_allowed(_e: Exception) -> Response:
        return error_response(405, 20004, "Method not allowed")

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(_e: StoreUnavailable) -> Response:
        return unavailable()  # the store logged the outage once; no traceback per request

    @app.errorhandler(Exception)
    def crashed(e: Exception) -> Response:
        if isinstance(e, HTTPException) and e.code is not None and e.code < 500:
            return error_response(e.code, 20001, e.description or e.name)
        current_app.logger.exception("request failed")
        return error_response(500, 20500, "Internal error")

    return app
