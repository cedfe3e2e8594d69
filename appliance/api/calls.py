"""The Call resource: create (queue an outbound call), fetch, list, update, delete.

The API only writes rows: a created call is a ``calls`` row with status ``queued``,
committed before the 201, after which ``daemon.voice.wake(modem)`` tells the voice
engine to place it.  Redirecting or hanging up a live call writes ``calls.control``
(JSON) and calls ``daemon.voice.control(sid)``; the engine does the rest.  A queued
call is canceled (or re-pointed at a new Url/Twiml) directly in the database.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
import urllib.parse
from typing import Any

import phonenumbers
from flask import Response, jsonify, request

from appliance import sids
from appliance.api.common import (
    PREFIX,
    ApiError,
    bp,
    daemon,
    form_value,
    not_found,
    page_body,
    page_params,
    rfc2822,
)
from appliance.api.messages import _utc_day as utc_day  # the DateSent rule, reused for StartTime
from appliance.errors import InvalidNumber
from appliance.numbers import normalize
from appliance.sms.outbox import API_VERSION
from appliance.store.database import Row
from appliance.twiml import voice as voice_twiml

LOGGER = logging.getLogger(__name__)

ENDED = ("completed", "busy", "failed", "no-answer", "canceled")
LIVE = ("ringing", "in-progress")
STATUSES = ("queued", "ringing", "in-progress", *ENDED)
EVENTS = ("initiated", "ringing", "answered", "completed")
MAX_TWIML_CHARS = 4000  # Twilio refuses a longer Twiml parameter (32018)
MAX_TIMEOUT = 600  # Twilio caps Timeout at 600 seconds
DEFAULT_TIMEOUT = 60
DEFAULT_TIME_LIMIT = 14400
MAX_TIME_LIMIT = 86400
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

# --------------------------------------------------------------------------- shared helpers

_KEYSET_TOKEN = re.compile(r"^PA((?:CA|RE)[0-9a-f]{32})_([0-9]{1,12}(?:\.[0-9]{1,20})?)$")


def keyset_token(row: Row) -> str:
    """The PageToken after ``row`` in a newest-first (date_created, sid) listing."""
    return f"PA{row['sid']}_{row['date_created']!r}"


def keyset_where(token: str, table: str) -> tuple[str, list[Any]]:
    """SQL (and parameters) selecting the rows after a :func:`keyset_token`."""
    match = _KEYSET_TOKEN.match(token)
    if match is None:
        raise ApiError(400, 20001, f"Invalid PageToken {token!r}")
    sid, created = match.group(1), float(match.group(2))
    return (
        f"({table}.date_created < ? OR ({table}.date_created = ? AND {table}.sid < ?))",
        [created, created, sid],
    )


def valid_url(url: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


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


def call_json(row: Row, account: str) -> dict[str, Any]:
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


def _fetch_row(sid: str) -> Row:
    row = daemon().store.read_one(f"{CALL_SQL} WHERE calls.sid = ?", (sid,))
    if row is None:
        raise not_found()
    return row


def _respond(row: Row, status: int = 200) -> Response:
    rv = jsonify(call_json(row, daemon().account.sid))
    rv.status_code = status
    return rv


# --------------------------------------------------------------------------- validation


def _method(name: str, code: int = 21209) -> str:
    value = form_value(name)
    if value is None or value == "":
        return "POST"
    method = value.strip().upper()
    if method not in ("GET", "POST"):
        raise ApiError(400, code, f"{name} must be GET or POST, not {value!r}.")
    return method


def _url(name: str, code: int) -> str | None:
    value = form_value(name)
    if value is None or value == "":
        return None
    if not valid_url(value):
        raise ApiError(
            400, code, f"{name} {value!r} is not a valid URL: use an absolute http(s) URL."
        )
    return value


def _twiml() -> str | None:
    value = form_value("Twiml")
    if value is None or not value.strip():
        return None
    if len(value) > MAX_TWIML_CHARS:
        raise ApiError(
            400,
            32018,
            f"Twiml size exceeded maximum allowed value of {MAX_TWIML_CHARS} characters.",
        )
    try:
        voice_twiml.parse(value, "")
    except voice_twiml.TwimlError as e:
        raise ApiError(400, e.code, f"Twiml is not valid TwiML: {e.message}") from None
    return value


def _integer(name: str, default: int, code: int, maximum: int) -> int:
    value = form_value(name)
    if value is None or value.strip() == "":
        return default
    text = value.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 9) or int(text) < 1:
        raise ApiError(400, code, f"{name} must be a positive whole number of seconds.")
    return min(int(text), maximum)


def _events() -> str:
    values = request.form.getlist("StatusCallbackEvent")
    words = [w for v in values for w in re.split(r"[\s,]+", v) if w]
    if not words:
        return "completed"
    unknown = sorted(set(words) - set(EVENTS))
    if unknown:
        raise ApiError(
            400,
            21626,
            f"Invalid StatusCallbackEvent {', '.join(unknown)}: use initiated, ringing,"
            " answered, completed.",
        )
    return " ".join(e for e in EVENTS if e in words)


# --------------------------------------------------------------------------- create


@bp.post("/Accounts/<account_sid>/Calls.json")
def call_create(account_sid: str) -> Response:
    """Queue an outbound call from one of the appliance's numbers."""
    d = daemon()
    to = form_value("To") or ""
    from_ = form_value("From") or ""
    if not to.strip():
        raise ApiError(400, 21201, "No 'To' number is specified")
    if not from_.strip():
        raise ApiError(400, 21213, "No 'From' number is specified")
    try:
        to_e164 = normalize(to, field="To")
    except InvalidNumber as e:
        raise ApiError(400, 21211, e.message) from None
    modem = d.account.modem_for_number(from_)
    if modem is None:
        try:
            normalize(from_, field="From")
        except InvalidNumber:
            raise ApiError(
                400, 21212, f"The 'From' number {from_} is not a valid phone number."
            ) from None
        raise ApiError(
            400,
            21210,
            f"The source phone number provided, {from_}, is not yet verified for your account."
            " You may only make calls from the appliance's own numbers.",
        )
    from_number = d.account.number_of(modem)["phone_number"]
    url = _url("Url", 21205)
    twiml = None if url is not None else _twiml()
    if url is None and twiml is None:
        raise ApiError(
            400,
            21205,
            "Url parameter is required: give the call's instructions as Url or Twiml"
            " (ApplicationSid is not supported).",
        )
    method = _method("Method")
    fallback_url = _url("FallbackUrl", 21205) or ""
    fallback_method = _method("FallbackMethod")
    status_callback = _url("StatusCallback", 21609) or ""
    status_callback_method = _method("StatusCallbackMethod")
    events = _events()
    timeout = _integer("Timeout", DEFAULT_TIMEOUT, 21208, MAX_TIMEOUT)
    time_limit = _integer("TimeLimit", DEFAULT_TIME_LIMIT, 20001, MAX_TIME_LIMIT)
    sid = sids.new("CA")
    now = time.time()

    def fn(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status,"
            " date_created, date_updated, url, method, fallback_url, fallback_method, twiml,"
            " status_callback, status_callback_method, status_callback_events, timeout,"
            " time_limit) VALUES (?, ?, 'outbound-api', ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?, ?)",
            (
                sid,
                modem,
                from_number,
                to_e164,
                now,
                now,
                url or "",
                method,
                fallback_url,
                fallback_method,
                twiml,
                status_callback,
                status_callback_method,
                events,
                timeout,
                time_limit,
            ),
        )

    d.store.write(fn)
    row = _fetch_row(sid)  # read before the engine can move it on: a new call is 'queued'
    LOGGER.info("call %s queued on %s to %s", sid, modem, to_e164)
    d.voice.wake(modem)
    return _respond(row, 201)


# --------------------------------------------------------------------------- fetch, list


@bp.get("/Accounts/<account_sid>/Calls/<sid>.json")
def call_fetch(account_sid: str, sid: str) -> Response:
    return _respond(_fetch_row(sid))


def _number_filter(value: str) -> str:
    if value[:1] == " ":
        return "+" + value.strip()  # an unencoded '+' in a query string
    return value


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
            params.append(_number_filter(args[key]))
    if args.get("Status"):
        status = args["Status"].strip()
        if status not in STATUSES:
            raise ApiError(
                400, 20001, f"Invalid Status {status!r}: use one of {', '.join(STATUSES)}"
            )
        where.append("calls.status = ?")
        params.append(status)
    for name, column in (("StartTime", "start_time"), ("EndTime", "end_time")):
        for key in (name, f"{name}<", f"{name}>"):
            if not args.get(key):
                continue
            start, end = utc_day(key, args[key])
            if key == name:
                where.append(f"calls.{column} >= ? AND calls.{column} < ?")
                params += [start, end]
            elif key.endswith("<"):
                where.append(f"calls.{column} < ?")
                params.append(end)
            else:
                where.append(f"calls.{column} >= ?")
                params.append(start)
    token = args.get("PageToken", "")
    offset = page * page_size
    if token:
        clause, values = keyset_where(token, "calls")
        where.append(clause)
        params += values
        offset = 0
    sql = CALL_SQL
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY calls.date_created DESC, calls.sid DESC LIMIT ? OFFSET ?"
    d = daemon()
    rows = d.store.read(sql, (*params, page_size + 1, offset))
    more = len(rows) > page_size
    rows = rows[:page_size]
    return page_body(
        "calls",
        [call_json(r, d.account.sid) for r in rows],
        page=page,
        page_size=page_size,
        next_token=keyset_token(rows[-1]) if more and rows else None,
    )


# --------------------------------------------------------------------------- update


@bp.post("/Accounts/<account_sid>/Calls/<sid>.json")
def call_update(account_sid: str, sid: str) -> Response:
    """``Status=canceled`` cancels a queued (or ringing) call; ``Status=completed`` hangs
    up a live one; ``Url``/``Twiml`` redirect it.  Callback parameters and TimeLimit
    are stored for the engine to use."""
    d = daemon()
    status = form_value("Status")
    if status is not None and status not in ("canceled", "completed"):
        raise ApiError(
            400, 20001, f"Status can only be updated to 'canceled' or 'completed', not {status!r}."
        )
    url = _url("Url", 21205)
    method = _method("Method")
    twiml = None if url is not None else _twiml()
    settings: dict[str, Any] = {}
    if form_value("FallbackUrl") is not None:
        settings["fallback_url"] = _url("FallbackUrl", 21205) or ""
    if form_value("FallbackMethod") is not None:
        settings["fallback_method"] = _method("FallbackMethod")
    if form_value("StatusCallback") is not None:
        settings["status_callback"] = _url("StatusCallback", 21609) or ""
    if form_value("StatusCallbackMethod") is not None:
        settings["status_callback_method"] = _method("StatusCallbackMethod")
    if form_value("TimeLimit") is not None:
        settings["time_limit"] = _integer("TimeLimit", DEFAULT_TIME_LIMIT, 20001, MAX_TIME_LIMIT)
    now = time.time()

    def fn(conn: sqlite3.Connection) -> bool | None:
        """Apply the update; None if there is no such call, True if the engine must look."""
        row = conn.execute("SELECT status FROM calls WHERE sid = ?", (sid,)).fetchone()
        if row is None:
            return None
        current = row["status"]
        if current in ENDED:
            if status is None and url is None and twiml is None and not settings:
                return False
            raise ApiError(
                400, 21220, f"Call is not in-progress (status {current}). Cannot update it."
            )
        control: dict[str, str] | None = None
        changes: dict[str, Any] = dict(settings)
        if status is not None and current == "queued":
            # Not placed yet: canceling (or hanging up) is just a row change.
            changes.update(status="canceled", end_time=now)
        elif status == "completed" or (status == "canceled" and current == "ringing"):
            control = {"status": status}
        elif status == "canceled":
            pass  # Twilio: canceled does not affect a call already in progress
        elif url is not None or twiml is not None:
            if current == "queued":
                changes.update(url=url or "", method=method, twiml=twiml)
            else:
                control = (
                    {"url": url, "method": method} if url is not None else {"twiml": twiml or ""}
                )
        if control is not None:
            changes["control"] = json.dumps(control)
        if changes:
            columns = ", ".join(f"{name} = ?" for name in changes)
            conn.execute(
                f"UPDATE calls SET {columns}, date_updated = ? WHERE sid = ?",  # noqa: S608 - fixed names
                (*changes.values(), now, sid),
            )
        return control is not None

    signal = d.store.write(fn)
    if signal is None:
        raise not_found()
    if signal:
        d.voice.control(sid)
    return _respond(_fetch_row(sid))


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
        conn.execute("DELETE FROM calls WHERE sid = ?", (sid,))
        return True

    if not daemon().store.write(fn):
        raise not_found()
    return Response(status=204)
