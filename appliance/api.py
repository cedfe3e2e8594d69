"""Twilio-compatible REST API (the part the SMS foundation needs): a Flask blueprint.

``POST/GET /2010-04-01/Accounts/{AccountSid}/Messages.json`` and
``/Messages/{Sid}.json``, the Account resource, Basic auth with the account's
AuthToken, and errors shaped as Twilio's ``{code, message, more_info, status}``.
A created message is on disk (committed by the store's writer) before the 201
goes out.
"""

from __future__ import annotations

import base64
import email.utils
import hmac
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from appliance.errors import ApplianceError
from appliance.outbox import API_VERSION, OutboxError
from appliance.store import Row

if TYPE_CHECKING:
    from appliance.daemon import Daemon

bp = Blueprint("api", __name__, url_prefix="/2010-04-01")
PREFIX = "/2010-04-01/Accounts"
MAX_PAGE_SIZE = 1000


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def daemon() -> Daemon:
    return current_app.config["DAEMON"]  # type: ignore[no-any-return]


def rfc2822(ts: float | None) -> str | None:
    if ts is None:
        return None
    return email.utils.format_datetime(datetime.fromtimestamp(ts, UTC).replace(tzinfo=UTC)).replace(
        "-0000", "+0000"
    )


def error_response(status: int, code: int, message: str) -> Response:
    rv = jsonify(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    )
    rv.status_code = status
    if status == 401:
        rv.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return rv


def message_json(row: Row) -> dict[str, Any]:
    account, sid = row["account_sid"], row["sid"]
    uri = f"{PREFIX}/{account}/Messages/{sid}.json"
    return {
        "account_sid": account,
        "api_version": API_VERSION,
        "body": row["body"],
        "date_created": rfc2822(row["date_created"]),
        "date_sent": rfc2822(row["date_sent"]),
        "date_updated": rfc2822(row["date_updated"]),
        "direction": row["direction"],
        "error_code": row["error_code"],
        "error_message": row["error_message"],
        "from": row["from_number"],
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": str(row["num_segments"]),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": row["status"],
        "subresource_uris": {"media": f"{PREFIX}/{account}/Messages/{sid}/Media.json"},
        "to": row["to_number"],
        "uri": uri,
    }


@bp.before_request
def authenticate() -> Response | None:
    d = daemon()
    header = request.headers.get("Authorization", "")
    ok = False
    if header.startswith("Basic "):
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        ok = hmac.compare_digest(user, d.account.sid) and hmac.compare_digest(
            password, d.account.auth_token
        )
    if not ok:
        return error_response(401, 20003, "Authenticate")
    account = (request.view_args or {}).get("account_sid")
    if account is not None and account != d.account.sid:
        return error_response(404, 20404, f"The requested resource {request.path} was not found")
    g.account_sid = d.account.sid
    return None


@bp.errorhandler(ApiError)
def api_error(e: ApiError) -> Response:
    return error_response(e.status, e.code, e.message)


@bp.get("/Accounts/<account_sid>.json")
def account_fetch(account_sid: str) -> Response:
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
            "subresource_uris": {"messages": f"{PREFIX}/{account_sid}/Messages.json"},
            "type": "Full",
            "uri": f"{PREFIX}/{account_sid}.json",
        }
    )


@bp.post("/Accounts/<account_sid>/Messages.json")
@bp.post("/Accounts/<account_sid>/SMS/Messages.json")
def message_create(account_sid: str) -> Response:
    d = daemon()
    form = request.form
    to = form.get("To", "")
    from_ = form.get("From", "")
    body = form.get("Body", "")
    if not to:
        raise ApiError(400, 21604, "A 'To' phone number is required.")
    if not from_:
        raise ApiError(400, 21603, "A 'From' phone number is required.")
    modem = d.account.modem_for_number(from_)
    from_ = d.account.number_of(modem)["phone_number"] if modem else from_
    if modem is None:
        raise ApiError(
            400,
            21606,
            f"The From phone number {from_} is not a valid, SMS-capable inbound phone number or short code for your account.",
        )
    if form.get("MediaUrl"):
        raise ApiError(400, 21620, "This appliance sends SMS only: MediaUrl is not supported.")
    try:
        sid = d.outbox.enqueue(
            modem=modem,
            from_number=from_,
            to=to,
            body=body,
            status_callback=form.get("StatusCallback") or None,
            status_callback_method=(form.get("StatusCallbackMethod") or "POST").upper(),
        )
    except OutboxError as e:
        raise ApiError(e.status, e.code or 30008, e.message) from None
    except ApplianceError as e:
        raise ApiError(400, e.code or 21211, e.message) from None
    row = d.store.read_one("SELECT * FROM messages WHERE sid = ?", (sid,))
    assert row is not None
    rv = jsonify(message_json(row))
    rv.status_code = 201
    return rv


@bp.get("/Accounts/<account_sid>/Messages/<sid>.json")
@bp.get("/Accounts/<account_sid>/SMS/Messages/<sid>.json")
def message_fetch(account_sid: str, sid: str) -> Response:
    row = daemon().store.read_one("SELECT * FROM messages WHERE sid = ?", (sid,))
    if row is None:
        raise ApiError(404, 20404, f"The requested resource {request.path} was not found")
    return jsonify(message_json(row))


@bp.get("/Accounts/<account_sid>/Messages.json")
@bp.get("/Accounts/<account_sid>/SMS/Messages.json")
def message_list(account_sid: str) -> Response:
    d = daemon()
    args = request.args
    try:
        page_size = max(1, min(MAX_PAGE_SIZE, int(args.get("PageSize", 50))))
        page = max(0, int(args.get("Page", 0)))
    except ValueError:
        raise ApiError(400, 20001, "PageSize and Page must be integers") from None
    where: list[str] = ["1 = 1"]
    params: list[Any] = []
    for key, column in (("To", "to_number"), ("From", "from_number")):
        if args.get(key):
            where.append(f"{column} = ?")
            params.append(args[key])
    token = args.get("PageToken", "")
    if token.startswith("PASM") and token[4:].isdigit():
        where.append("seq < ?")
        params.append(int(token[4:]))
    elif page:
        pass  # Page without a token: offset paging
    sql = "SELECT * FROM messages WHERE " + " AND ".join(where) + " ORDER BY seq DESC LIMIT ?"
    offset = 0 if token else page * page_size
    rows = d.store.read(sql + " OFFSET ?", (*params, page_size + 1, offset))
    more = len(rows) > page_size
    rows = rows[:page_size]
    base = request.path
    query = "&".join(
        f"{k}={v}" for k, v in args.items(multi=True) if k not in ("Page", "PageToken", "PageSize")
    )
    query = (query + "&") if query else ""
    next_uri = None
    if more and rows:
        next_uri = (
            f"{base}?{query}PageSize={page_size}&Page={page + 1}&PageToken=PASM{rows[-1]['seq']}"
        )
    key = "sms_messages" if "/SMS/" in base else "messages"
    return jsonify(
        {
            key: [message_json(r) for r in rows],
            "end": page * page_size + len(rows) - 1,
            "first_page_uri": f"{base}?{query}PageSize={page_size}&Page=0",
            "next_page_uri": next_uri,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": None
            if page == 0
            else f"{base}?{query}PageSize={page_size}&Page={page - 1}",
            "start": page * page_size,
            "uri": f"{base}?{query}PageSize={page_size}&Page={page}",
        }
    )


def create_app(d: Daemon) -> Flask:
    """The HTTP application: REST API plus the appliance's own status endpoints."""
    app = Flask("appliance")
    app.config["DAEMON"] = d
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.register_blueprint(bp)

    @app.get("/")
    def index() -> Response:
        return jsonify(
            {
                "appliance": "Twilio in a box",
                "api": f"{PREFIX}/{d.account.sid}/Messages.json",
                "health": "/health",
            }
        )

    @app.get("/health")
    def health() -> Response:
        rows = d.store.read("SELECT * FROM modem_health ORDER BY modem")
        queued = d.store.read_one(
            "SELECT COUNT(*) FROM messages WHERE status IN ('queued', 'sending')"
        )
        body = {
            "modems": [dict(r) for r in rows],
            "queue_depth": queued[0] if queued else 0,
            "ok": all(r["state"] == "ready" for r in rows) and bool(rows),
        }
        rv = jsonify(body)
        rv.status_code = 200 if body["ok"] else 503
        return rv

    admin = Blueprint("admin", __name__, url_prefix="/appliance")
    admin.before_request(authenticate)

    @admin.post("/modems/<name>/at")
    def modem_at(name: str) -> Response:
        """Raw AT console (an admin tool: the command is sent as typed)."""
        modem = d.modems.get(name)
        if modem is None:
            return error_response(404, 20404, f"no modem named {name}")
        command = request.form.get("command", "")
        if not command or any(c in command for c in "\r\n\x1a\x1b"):
            return error_response(
                400, 20001, "one AT command per request, without control characters"
            )
        try:
            lines = modem.submit(lambda drv: drv.write(command, parseError=False, timeout=20) or [])
        except Exception as e:  # noqa: BLE001 - reported to the console user
            return error_response(503, 20001, f"{type(e).__name__}: {e}")
        return jsonify({"lines": lines})

    app.register_blueprint(admin)

    @app.errorhandler(413)
    def too_large(_e: Exception) -> Response:
        return error_response(413, 20001, "Request body too large")

    @app.errorhandler(404)
    def not_found(_e: Exception) -> Response:
        return error_response(404, 20404, f"The requested resource {request.path} was not found")

    @app.errorhandler(405)
    def not_allowed(_e: Exception) -> Response:
        return error_response(405, 20004, "Method not allowed")

    @app.errorhandler(Exception)
    def crashed(e: Exception) -> Response:
        from werkzeug.exceptions import HTTPException

        if isinstance(e, HTTPException) and e.code is not None and e.code < 500:
            return error_response(e.code, 20001, e.description or e.name)
        current_app.logger.exception("request failed")
        return error_response(500, 20500, "Internal error")

    return app
