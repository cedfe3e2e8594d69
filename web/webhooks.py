"""The webhook log, Twilio's debugger: every request (failures first) with Twilio's error code,
its parameters and the response (status, headers, body, duration); replay a request, signed
afresh, or send a number's URLs a test request (admin only: :mod:`appliance.webhooks.debugger`)."""

from __future__ import annotations

import json
import logging
from typing import Any, cast

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from appliance import logs, sids
from appliance.sms.webhookparams import sms_webhook_params
from appliance.store.database import Row
from appliance.twimlets import is_twimlet_url
from appliance.voice.callbacks import call_params
from appliance.webhooks import debugger, failures
from appliance.webhooks.joblog import MAX_LOGGED_BODY
from web import export, filters
from web.auth import is_admin
from web.helpers import PAGE_SIZE, daemon, page

LOGGER = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
# The sender of a test request: Twilio's magic test number that passes validation
# (twilio.com/docs/iam/test-credentials), so no real subscriber appears in the app's data.
TEST_FROM = "+15005550006"
TEST_BODY = "Test webhook from the appliance's panel"
TEST_KINDS = {"sms": ("sms_url", "sms_method"), "voice": ("voice_url", "voice_method")}
CSV_COLUMNS = (
    "id",
    "at",
    "message_sid",
    "call_sid",
    "method",
    "url",
    "status",
    "error_code",
    "error_message",
    "request",
    "response",
    "duration",
    "source",
    "replay_of",
)
FREE_TEXT = frozenset({"url", "error_message", "request", "response"})


# Twilio's names for the codes the webhook client records (twilio.com/docs/api/errors).
ERRORS = {
    failures.INVALID_URL_FORMAT: "Invalid URL format",
    failures.HTTP_RETRIEVAL_FAILURE: "HTTP retrieval failure",
    failures.HTTP_CONNECTION_FAILURE: "HTTP connection failure",
    failures.HTTP_PROTOCOL_VIOLATION: "HTTP protocol violation",
    failures.HTTP_BAD_HOST_NAME: "HTTP bad host name",
    failures.HTTP_TOO_MANY_REDIRECTS: "HTTP too many redirects",
    failures.TLS_HANDSHAKE_ERROR: "TLS handshake error",
    12100: "Document parse failure",
    12200: "Schema validation warning",
    12300: "Invalid Content-Type",
    21617: "Message body too long",
}


def _describe(code: int | None) -> str:
    return "" if code is None else ERRORS.get(int(code), "")


@bp.get("/")
def index() -> str:
    d = daemon()
    p = page()
    show_all = request.args.get("all") == "1"
    f = filters.Filter.parse(request.args)
    where, params = _where(f, show_all)
    rows = d.store.read(
        "SELECT id, message_sid, call_sid, url, method, status, error_code, error_message, at,"  # noqa: S608
        f" duration, source FROM webhook_log WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
        (*params, PAGE_SIZE + 1, p * PAGE_SIZE),
    )
    return render_template(
        "webhooks.html",
        rows=rows[:PAGE_SIZE],
        page=p,
        more=len(rows) > PAGE_SIZE,
        show_all=show_all,
        describe=_describe,
        f=f,
        codes=sorted(ERRORS),
    )


def _where(f: filters.Filter, show_all: bool) -> tuple[str, list[Any]]:
    where, params = f.where(filters.WEBHOOKS, like=daemon().store.dialect.like)
    if not show_all:
        where = f"error_code IS NOT NULL AND {where}"
    return where, params


@bp.get("/export.csv")
def export_csv() -> BaseResponse:
    """The webhook requests matching the filter (failures only unless ``all=1``) as CSV."""
    f = filters.Filter.parse(request.args)
    where, params = _where(f, request.args.get("all") == "1")
    rows = export.keyset_rows(
        daemon().store, "SELECT id AS _key, * FROM webhook_log", where, params, key="id"
    )
    return export.csv_response("webhooks.csv", CSV_COLUMNS, rows, FREE_TEXT)


@bp.get("/<int:log_id>")
def detail(log_id: int) -> str:
    store = daemon().store
    row = store.read_one("SELECT * FROM webhook_log WHERE id = ?", (log_id,))
    if row is None:
        abort(404)
    replays = store.read(
        "SELECT id, at, status, error_code FROM webhook_log WHERE replay_of = ? ORDER BY id",
        (log_id,),
    )
    return render_template(
        "webhook.html",
        w=row,
        describe=_describe,
        params=debugger.logged_params(row["request"]),
        headers=_headers(row["response_headers"]),
        replays=replays,
        admin=is_admin(),
        body_cap=MAX_LOGGED_BODY,
    )


def _headers(raw: str | None) -> list[tuple[str, str]] | None:
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return [(str(k), str(v)) for k, v in value.items()]


def _require_admin() -> None:
    if not is_admin():
        abort(403)


@bp.post("/<int:log_id>/replay")
def replay(log_id: int) -> BaseResponse:
    """Send a logged request again, signed afresh; show the new entry (linked to this one)."""
    _require_admin()
    d = daemon()
    if d.store.read_one("SELECT id FROM webhook_log WHERE id = ?", (log_id,)) is None:
        abort(404)
    try:
        new_id = debugger.replay(d.store, d.client, log_id)
    except debugger.NotReplayable as e:
        flash(f"Not replayed: {e}.")
        return redirect(url_for("webhooks.detail", log_id=log_id))
    logs.event(LOGGER, logging.INFO, "webhook replayed from the panel", of=log_id, entry=new_id)
    flash(f"Replayed request {log_id}: this is the new request.")
    return redirect(url_for("webhooks.detail", log_id=new_id))


@bp.post("/test/<sid>")
def test_number(sid: str) -> BaseResponse:
    """Send a number's SMS or Voice URL a request shaped like Twilio's (an inbound message
    from, or a call ringing from, Twilio's test number), signed; show what came back."""
    _require_admin()
    d = daemon()
    number = d.store.read_one("SELECT * FROM numbers WHERE sid = ?", (sid,))
    if number is None:
        abort(404)
    kind = request.form.get("kind", "")
    if kind not in TEST_KINDS:
        abort(400, "kind must be sms or voice")
    url_field, method_field = TEST_KINDS[kind]
    url = str(number[url_field] or "")
    if not url:
        flash(f"{number['phone_number']} has no {kind.upper()} URL to test.")
        return redirect(url_for("numbers.edit", sid=sid))
    if is_twimlet_url(url):  # a built-in twimlet, served by this appliance
        url = request.url_root.rstrip("/") + url
    params = test_params(kind, number, d.account.sid)
    new_id = debugger.send(
        d.store,
        d.client,
        url,
        number[method_field] or "POST",
        params,
        source=debugger.TEST,
    )
    logs.event(LOGGER, logging.INFO, "test webhook sent from the panel", sid=sid, entry=new_id)
    flash(f"Test {kind.upper()} webhook sent to {number['phone_number']}'s URL.")
    return redirect(url_for("webhooks.detail", log_id=new_id))


def test_params(kind: str, number: Row, account_sid: str) -> dict[str, str]:
    """Twilio's parameters for an inbound SMS or a ringing inbound call to ``number``.

    Built by the functions the real requests use (a message or a call row's fields), with
    a new SID, so the app sees exactly the names it will see in production."""
    if kind == "sms":
        message = {
            "sid": sids.new("SM"),
            "account_sid": account_sid,
            "from_number": TEST_FROM,
            "to_number": number["phone_number"],
            "body": TEST_BODY,
            "num_segments": 1,
        }
        return sms_webhook_params(cast(Row, message))  # only read by key, like a Row
    call = {
        "sid": sids.new("CA"),
        "to_number": number["phone_number"],
        "from_number": TEST_FROM,
        "direction": "inbound",
        "status": "ringing",
        "parent_call_sid": None,
        "caller_name": "",
    }
    return call_params(cast(Row, call), account_sid, "ringing")
