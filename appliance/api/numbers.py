"""The IncomingPhoneNumber resource: one per modem; list, fetch and update its webhooks.

Numbers are created from the configuration (one per modem), so there is no
create or delete.  URLs set in the configuration file are applied again at
every start; leave them empty there to manage them here.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from flask import Response, jsonify, request

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
from appliance.sms.outbox import API_VERSION
from appliance.store.database import Row
from appliance.twimlets import is_twimlet_url

# form parameter -> numbers column
URL_FIELDS = {
    "SmsUrl": "sms_url",
    "SmsFallbackUrl": "sms_fallback_url",
    "VoiceUrl": "voice_url",
    "VoiceFallbackUrl": "voice_fallback_url",
    "StatusCallback": "status_callback",
}
METHOD_FIELDS = {
    "SmsMethod": "sms_method",
    "SmsFallbackMethod": "sms_fallback_method",
    "VoiceMethod": "voice_method",
    "VoiceFallbackMethod": "voice_fallback_method",
    "StatusCallbackMethod": "status_callback_method",
}
MAX_FRIENDLY_NAME = 64


def number_json(row: Row, account: str) -> dict[str, Any]:
    sid = row["sid"]
    return {
        "account_sid": account,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": API_VERSION,
        "beta": False,
        "bundle_sid": None,
        "capabilities": {"voice": True, "sms": True, "mms": False, "fax": False},
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "emergency_status": "Inactive",
        "friendly_name": row["friendly_name"],
        "identity_sid": None,
        "origin": "hosted",
        "phone_number": row["phone_number"],
        "sid": sid,
        "sms_application_sid": None,
        "sms_fallback_method": row["sms_fallback_method"],
        "sms_fallback_url": row["sms_fallback_url"],
        "sms_method": row["sms_method"],
        "sms_url": row["sms_url"],
        "status": "in-use",
        "status_callback": row["status_callback"],
        "status_callback_method": row["status_callback_method"],
        "subresource_uris": {
            "assigned_add_ons": f"{PREFIX}/{account}/IncomingPhoneNumbers/{sid}/AssignedAddOns.json"
        },
        "trunk_sid": None,
        "type": "mobile",
        "uri": f"{PREFIX}/{account}/IncomingPhoneNumbers/{sid}.json",
        "voice_application_sid": None,
        "voice_caller_id_lookup": False,
        "voice_fallback_method": row["voice_fallback_method"],
        "voice_fallback_url": row["voice_fallback_url"],
        "voice_method": row["voice_method"],
        "voice_receive_mode": "voice",
        "voice_url": row["voice_url"],
    }


def _row(sid: str) -> Row:
    row = daemon().store.read_one("SELECT * FROM numbers WHERE sid = ?", (sid,))
    if row is None:
        raise not_found()
    return row


@bp.get("/Accounts/<account_sid>/IncomingPhoneNumbers.json")
def number_list(account_sid: str) -> Response:
    """Filters: PhoneNumber (part of the number; ``*`` matches any digit), FriendlyName (exact)."""
    args = request.args
    page, page_size = page_params()
    where: list[str] = []
    params: list[Any] = []
    if args.get("PhoneNumber"):
        pattern = args["PhoneNumber"].strip()
        escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("phone_number LIKE ? ESCAPE '\\'")
        params.append("%" + escaped.replace("*", "_") + "%")
    if args.get("FriendlyName"):
        where.append("friendly_name = ?")
        params.append(args["FriendlyName"])
    token = args.get("PageToken", "")
    offset = page * page_size
    if token:
        offset = page_token(token, "PAPN")
    sql = "SELECT * FROM numbers"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY date_created, sid LIMIT ? OFFSET ?"
    rows = daemon().store.read(sql, (*params, page_size + 1, offset))
    more = len(rows) > page_size
    rows = rows[:page_size]
    return page_body(
        "incoming_phone_numbers",
        [number_json(r, account_sid) for r in rows],
        page=page,
        page_size=page_size,
        next_token=f"PAPN{offset + page_size}" if more else None,
    )


@bp.get("/Accounts/<account_sid>/IncomingPhoneNumbers/<sid>.json")
def number_fetch(account_sid: str, sid: str) -> Response:
    return jsonify(number_json(_row(sid), account_sid))


VOICE_URLS = ("VoiceUrl", "VoiceFallbackUrl")  # may be a built-in twimlet's /twimlets/… path


@bp.post("/Accounts/<account_sid>/IncomingPhoneNumbers/<sid>.json")
def number_update(account_sid: str, sid: str) -> Response:
    """Update webhooks and FriendlyName; parameters not sent are left as they are,
    an empty URL clears it.  Invalid URL -> 21402, invalid method -> 21403."""
    form = request.form
    changes: dict[str, str] = {}
    for param, column in URL_FIELDS.items():
        if param in form:
            value = form[param].strip()
            relative = param in VOICE_URLS and is_twimlet_url(value)  # the appliance's own
            if value and not relative and not valid_url(value):
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
    if "FriendlyName" in form:
        name = form["FriendlyName"]
        if len(name) > MAX_FRIENDLY_NAME:
            raise ApiError(
                400, 20001, f"FriendlyName must be at most {MAX_FRIENDLY_NAME} characters"
            )
        changes["friendly_name"] = name
    now = time.time()

    def fn(conn: sqlite3.Connection) -> Row | None:
        if changes:
            assignments = ", ".join(f"{column} = ?" for column in changes)  # fixed column names
            conn.execute(
                f"UPDATE numbers SET {assignments}, date_updated = ? WHERE sid = ?",  # noqa: S608
                (*changes.values(), now, sid),
            )
        return conn.execute("SELECT * FROM numbers WHERE sid = ?", (sid,)).fetchone()  # type: ignore[no-any-return]

    row = daemon().store.write(fn)
    if row is None:
        raise not_found()
    return jsonify(number_json(row, account_sid))
