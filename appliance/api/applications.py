"""The Application resource (TwiML Apps): create, list, fetch, update and delete.

A TwiML App is a named set of webhooks that is not a phone number: a browser phone's
Access Token names one (``grants.voice.outgoing.application_sid``), and the calls it places
ask that App's VoiceUrl for their TwiML.  Fields and JSON follow Twilio's
``/2010-04-01/Accounts/{AC}/Applications``; a URL not set is ``null``.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from flask import Response, jsonify, request

from appliance import sids
from appliance.api.common import (
    PREFIX,
    ApiError,
    bp,
    daemon,
    not_found,
    page_body,
    page_params,
    page_token,
    rfc2822,
    valid_url,
)
from appliance.store.database import Row
from appliance.twimlets import is_twimlet_url

# form parameter -> applications column
URL_FIELDS = {
    "VoiceUrl": "voice_url",
    "VoiceFallbackUrl": "voice_fallback_url",
    "StatusCallback": "status_callback",
    "SmsUrl": "sms_url",
    "SmsFallbackUrl": "sms_fallback_url",
    "SmsStatusCallback": "sms_status_callback",
    "MessageStatusCallback": "message_status_callback",
}
METHOD_FIELDS = {
    "VoiceMethod": "voice_method",
    "VoiceFallbackMethod": "voice_fallback_method",
    "StatusCallbackMethod": "status_callback_method",
    "SmsMethod": "sms_method",
    "SmsFallbackMethod": "sms_fallback_method",
}
BOOL_FIELDS = {
    "VoiceCallerIdLookup": "voice_caller_id_lookup",
    "PublicApplicationConnectEnabled": "public_application_connect_enabled",
}
VOICE_URLS = ("VoiceUrl", "VoiceFallbackUrl")  # may be a built-in twimlet's /twimlets/… path
API_VERSIONS = ("2010-04-01", "2008-08-01")  # the two Twilio accepts
MAX_FRIENDLY_NAME = 64
MAX_URL = 2048


def application_json(row: Row, account: str) -> dict[str, Any]:
    """An Application as Twilio writes it."""

    def url(column: str) -> str | None:
        return row[column] or None

    return {
        "account_sid": account,
        "api_version": row["api_version"],
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "friendly_name": row["friendly_name"],
        "message_status_callback": url("message_status_callback"),
        "public_application_connect_enabled": bool(row["public_application_connect_enabled"]),
        "sid": row["sid"],
        "sms_fallback_method": row["sms_fallback_method"],
        "sms_fallback_url": url("sms_fallback_url"),
        "sms_method": row["sms_method"],
        "sms_status_callback": url("sms_status_callback"),
        "sms_url": url("sms_url"),
        "status_callback": url("status_callback"),
        "status_callback_method": row["status_callback_method"],
        "uri": f"{PREFIX}/{account}/Applications/{row['sid']}.json",
        "voice_caller_id_lookup": bool(row["voice_caller_id_lookup"]),
        "voice_fallback_method": row["voice_fallback_method"],
        "voice_fallback_url": url("voice_fallback_url"),
        "voice_method": row["voice_method"],
        "voice_url": url("voice_url"),
    }


def _boolean(param: str, value: str) -> int:
    text = value.strip().lower()
    if text in ("true", "1"):
        return 1
    if text in ("false", "0"):
        return 0
    raise ApiError(400, 20001, f"{param} must be true or false, not {value!r}")


def _changes() -> dict[str, Any]:
    """The columns the form sets, validated; parameters not sent are not in it."""
    form = request.form
    changes: dict[str, Any] = {}
    for param, column in URL_FIELDS.items():
        if param in form:
            value = form[param].strip()
            relative = param in VOICE_URLS and is_twimlet_url(value)  # the appliance's own
            if value and not relative and (len(value) > MAX_URL or not valid_url(value)):
                raise ApiError(
                    400, 21402, f"{param} is not a valid URL: {value} (use http:// or https://)"
                )
            changes[column] = value
    for param, column in METHOD_FIELDS.items():
        if param in form:
            value = form[param].strip().upper()
            if value not in ("GET", "POST"):
                raise ApiError(400, 21403, f"{param} must be GET or POST, not {form[param]!r}")
            changes[column] = value
    for param, column in BOOL_FIELDS.items():
        if param in form:
            changes[column] = _boolean(param, form[param])
    if "FriendlyName" in form:
        name = form["FriendlyName"]
        if len(name) > MAX_FRIENDLY_NAME:
            raise ApiError(
                400, 20001, f"FriendlyName must be at most {MAX_FRIENDLY_NAME} characters"
            )
        changes["friendly_name"] = name
    if "ApiVersion" in form:
        version = form["ApiVersion"].strip()
        if version not in API_VERSIONS:
            raise ApiError(
                400, 20001, f"ApiVersion must be one of {', '.join(API_VERSIONS)}, not {version!r}"
            )
        changes["api_version"] = version
    return changes


def _select(conn: sqlite3.Connection, sid: str) -> Row | None:
    return conn.execute("SELECT * FROM applications WHERE sid = ?", (sid,)).fetchone()  # type: ignore[no-any-return]


@bp.post("/Accounts/<account_sid>/Applications.json")
def application_create(account_sid: str) -> Response:
    """Create an App; it is on disk before the 201.  Without a FriendlyName it is named by
    its SID, so the panel and lists always have something to show."""
    changes = _changes()
    sid = sids.new("AP")
    now = time.time()
    changes.setdefault("friendly_name", "")
    if not changes["friendly_name"]:
        changes["friendly_name"] = sid
    columns = ["sid", "account_sid", *changes, "date_created", "date_updated"]
    values = [sid, account_sid, *changes.values(), now, now]

    def fn(conn: sqlite3.Connection) -> Row | None:
        marks = ", ".join("?" for _ in columns)
        conn.execute(
            f"INSERT INTO applications ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608 - fixed column names
            values,
        )
        return _select(conn, sid)

    row = daemon().store.write(fn)
    assert row is not None
    rv = jsonify(application_json(row, account_sid))
    rv.status_code = 201
    return rv


@bp.get("/Accounts/<account_sid>/Applications.json")
def application_list(account_sid: str) -> Response:
    """Oldest first; filter FriendlyName (exact)."""
    page, page_size = page_params()
    where, params = "", []
    if request.args.get("FriendlyName"):
        where, params = " WHERE friendly_name = ?", [request.args["FriendlyName"]]
    token = request.args.get("PageToken", "")
    offset = page_token(token, "PAAP") if token else page * page_size
    rows = daemon().store.read(
        f"SELECT * FROM applications{where} ORDER BY date_created, sid LIMIT ? OFFSET ?",  # noqa: S608 - fixed text
        (*params, page_size + 1, offset),
    )
    more = len(rows) > page_size
    return page_body(
        "applications",
        [application_json(r, account_sid) for r in rows[:page_size]],
        page=page,
        page_size=page_size,
        next_token=f"PAAP{offset + page_size}" if more else None,
    )


def _row(sid: str) -> Row:
    row = daemon().store.read_one("SELECT * FROM applications WHERE sid = ?", (sid,))
    if row is None:
        raise not_found()
    return row


@bp.get("/Accounts/<account_sid>/Applications/<sid>.json")
def application_fetch(account_sid: str, sid: str) -> Response:
    return jsonify(application_json(_row(sid), account_sid))


@bp.post("/Accounts/<account_sid>/Applications/<sid>.json")
def application_update(account_sid: str, sid: str) -> Response:
    """Parameters not sent are left as they are; an empty URL clears it."""
    changes = _changes()
    if changes.get("friendly_name") == "":
        changes["friendly_name"] = sid
    now = time.time()

    def fn(conn: sqlite3.Connection) -> Row | None:
        if changes:
            assignments = ", ".join(f"{column} = ?" for column in changes)  # fixed column names
            conn.execute(
                f"UPDATE applications SET {assignments}, date_updated = ? WHERE sid = ?",  # noqa: S608
                (*changes.values(), now, sid),
            )
        return _select(conn, sid)

    row = daemon().store.write(fn)
    if row is None:
        raise not_found()
    return jsonify(application_json(row, account_sid))


@bp.delete("/Accounts/<account_sid>/Applications/<sid>.json")
def application_delete(account_sid: str, sid: str) -> Response:
    def fn(conn: sqlite3.Connection) -> int:
        return conn.execute("DELETE FROM applications WHERE sid = ?", (sid,)).rowcount

    if daemon().store.write(fn) != 1:
        raise not_found()
    return Response(status=204)
