"""The Call resource's records: their JSON shape, fetch, list and delete.

The API only writes rows; the voice engine places and runs the calls.  Creating a
call is :mod:`appliance.api.call_creation`, updating one (cancel, hang up,
redirect) :mod:`appliance.api.call_control`; both validate their form with
:mod:`appliance.api.call_parameters`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import phonenumbers
from flask import Response, jsonify, request

from appliance.api.common import (
    PREFIX,
    ApiError,
    bp,
    daemon,
    not_found,
    page_body,
    page_params,
    rfc2822,
)
from appliance.api.listing import day_filters, keyset_page, number_filter
from appliance.sms.outbox import API_VERSION
from appliance.store import usermessages
from appliance.store.database import Row

ENDED = ("completed", "busy", "failed", "no-answer", "canceled")
LIVE = ("ringing", "in-progress")
STATUSES = ("queued", "ringing", "in-progress", *ENDED)
SUBRESOURCES = {
    "notifications": "Notifications",
    "recordings": "Recordings",
    "payments": "Payments",
    "events": "Events",
    "siprec": "Siprec",
    "streams": "Streams",
    "user_defined_messages": "UserDefinedMessages",
    "user_defined_message_subscriptions": "UserDefinedMessageSubscriptions",
    "transcriptions": "Transcriptions",
}
CALL_SQL = (
    "SELECT calls.*, numbers.sid AS phone_number_sid FROM calls"
    " LEFT JOIN numbers ON numbers.modem = calls.modem"
)


def formatted(number: str) -> str:
    """A number as Twilio's ``*_formatted`` fields show it: ``(415) 867-5308`` for
    North American numbers, the international format otherwise, else as given."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    if parsed.country_code == 1:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


# --------------------------------------------------------------------------- JSON


def call_json(row: Row | dict[str, Any], account: str) -> dict[str, Any]:
    sid = row["sid"]
    base = f"{PREFIX}/{account}/Calls/{sid}"
    duration = row["duration"]
    return {
        "account_sid": account,
        "annotation": None,
        "answered_by": None,
        "api_version": API_VERSION,
        "caller_name": row["caller_name"] or None,
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "direction": row["direction"],
        "duration": None if duration is None else str(duration),
        "end_time": rfc2822(row["end_time"]),
        "forwarded_from": None,
        "from": row["from_number"],
        "from_formatted": formatted(row["from_number"]),
        "group_sid": None,
        "parent_call_sid": row["parent_call_sid"],
        "phone_number_sid": row["phone_number_sid"],
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": sid,
        "start_time": rfc2822(row["start_time"]),
        "status": row["status"],
        "subresource_uris": {key: f"{base}/{name}.json" for key, name in SUBRESOURCES.items()},
        "to": row["to_number"],
        "to_formatted": formatted(row["to_number"]),
        "trunk_sid": None,
        "uri": f"{base}.json",
    }


def fetch_row(sid: str) -> Row:
    """The call ``sid`` as :func:`call_json` needs it, or a 404."""
    row = daemon().store.read_one(f"{CALL_SQL} WHERE calls.sid = ?", (sid,))
    if row is None:
        raise not_found()
    return row


def respond(row: Row | dict[str, Any], status: int = 200) -> Response:
    """``row`` as the JSON answer, with ``status``."""
    rv = jsonify(call_json(row, daemon().account.sid))
    rv.status_code = status
    return rv


# --------------------------------------------------------------------------- fetch, list


@bp.get("/Accounts/<account_sid>/Calls/<sid>.json")
def call_fetch(account_sid: str, sid: str) -> Response:
    return respond(fetch_row(sid))


@bp.get("/Accounts/<account_sid>/Calls.json")
def call_list(account_sid: str) -> Response:
    """Newest first.  Filters: To, From, Status, ParentCallSid, StartTime[<|>],
    EndTime[<|>] (UTC days, as Twilio's).  Paging: PageSize, Page, PageToken."""
    args = request.args
    page, page_size = page_params()
    where: list[str] = []
    params: list[Any] = []
    for key, column in (
        ("To", "to_number"),
        ("From", "from_number"),
        ("ParentCallSid", "parent_call_sid"),
    ):
        if args.get(key):
            where.append(f"calls.{column} = ?")
            params.append(number_filter(args[key]))
    if args.get("Status"):
        status = args["Status"].strip()
        if status not in STATUSES:
            raise ApiError(
                400, 20001, f"Invalid Status {status!r}: use one of {', '.join(STATUSES)}"
            )
        where.append("calls.status = ?")
        params.append(status)
    for name, column in (("StartTime", "start_time"), ("EndTime", "end_time")):
        day_where, day_params = day_filters(args, name, f"calls.{column}")
        where += day_where
        params += day_params
    rows, next_token = keyset_page(
        CALL_SQL,
        "calls",
        where,
        params,
        token=args.get("PageToken", ""),
        page=page,
        page_size=page_size,
    )
    account = daemon().account.sid
    return page_body(
        "calls",
        [call_json(r, account) for r in rows],
        page=page,
        page_size=page_size,
        next_token=next_token,
    )


# --------------------------------------------------------------------------- delete


@bp.delete("/Accounts/<account_sid>/Calls/<sid>.json")
def call_delete(account_sid: str, sid: str) -> Response:
    """Delete an ended call and its events (its recordings stay, as on Twilio)."""

    def fn(conn: sqlite3.Connection) -> bool:
        row = conn.execute("SELECT status FROM calls WHERE sid = ?", (sid,)).fetchone()
        if row is None:
            return False
        if row["status"] not in ENDED:
            raise ApiError(
                409,
                20009,
                f"Cannot delete this resource before it is complete (status {row['status']});"
                " cancel or hang up the call first",
            )
        conn.execute("DELETE FROM call_events WHERE call_sid = ?", (sid,))
        usermessages.purge(conn, "?", (sid,))
        conn.execute("DELETE FROM calls WHERE sid = ?", (sid,))
        return True

    if not daemon().store.write(fn):
        raise not_found()
    return Response(status=204)
