"""The Message resource: create (now or scheduled), fetch, list, cancel, redact, delete.

Every path also answers under the legacy ``/SMS/Messages`` prefix that
twilio-ruby 3.x uses; its list key is ``sms_messages``.
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Response, jsonify, request

from appliance.api.common import (
    PREFIX,
    ApiError,
    bp,
    daemon,
    form_value,
    not_found,
    page_body,
    page_params,
    page_token,
    rfc2822,
)
from appliance.api.listing import day_filters, number_filter
from appliance.errors import ApplianceError, InvalidNumber
from appliance.numbers import normalize
from appliance.sms.codec import Segment
from appliance.sms.outbox import API_VERSION, OutboxError, UnknownSender
from appliance.store.database import Row

if TYPE_CHECKING:
    from appliance.system.runtime import Appliance

SCHEDULE_MIN = 900.0  # SendAt at least 15 minutes ahead (Twilio 35114)
SCHEDULE_MAX = 35 * 86400.0  # and at most 35 days
CANCELABLE = ("queued", "scheduled")
IN_PROGRESS = ("queued", "scheduled", "sending", "accepted", "receiving")


def message_json(row: Row) -> dict[str, Any]:
    account, sid = row["account_sid"], row["sid"]
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
        "uri": f"{PREFIX}/{account}/Messages/{sid}.json",
    }


def _fetch_row(sid: str) -> Row:
    row = daemon().store.read_one("SELECT * FROM messages WHERE sid = ?", (sid,))
    if row is None:
        raise not_found()
    return row


def parse_send_at(value: str) -> float:
    """``SendAt`` (ISO 8601, ``YYYY-MM-DDTHH:MM:SSZ`` as the library sends it) -> epoch."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ApiError(
            400,
            35115,
            f"SendAt {value!r} is not a valid timestamp: use ISO 8601 in UTC, YYYY-MM-DDTHH:MM:SSZ",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _valid_callback(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@bp.post("/Accounts/<account_sid>/Messages.json")
@bp.post("/Accounts/<account_sid>/SMS/Messages.json")
def message_create(account_sid: str) -> Response:
    d = daemon()
    row = checked_create(d, request.form).enqueue(d)
    rv = jsonify(message_json(row))
    rv.status_code = 201
    return rv


@dataclass(frozen=True, slots=True)
class CheckedCreate:
    """A message create whose parameters passed every check: what :meth:`enqueue` stores.

    ``modem`` is None when the From number is still to be looked up, in the write itself
    (the fast lane: one read fewer on the HTTP thread)."""

    modem: str | None
    from_number: str
    to: str
    body: str
    checked: tuple[str, list[Segment]]
    status_callback: str | None
    status_callback_method: str
    send_at: float | None

    def enqueue(self, d: Appliance) -> Row:
        """Store it (on disk, and the modem thread woken); the committed row.

        Raises :class:`ApiError` for what only the write can tell (an opt-out, 21610; an
        unknown From, 21606, when the lookup was left to the write)."""
        fields = {
            "to": self.to,
            "body": self.body,
            "status_callback": self.status_callback,
            "status_callback_method": self.status_callback_method,
            "send_at": self.send_at,
        }
        try:
            if self.modem is None:
                return d.outbox.enqueue_from(self.checked, self.from_number, **fields)
            return d.outbox.enqueue_checked(
                self.checked, modem=self.modem, from_number=self.from_number, **fields
            )
        except UnknownSender:
            raise unknown_from(self.from_number) from None
        except OutboxError as e:
            raise ApiError(e.status, e.code or 30008, e.message) from None
        except ApplianceError as e:
            raise ApiError(400, e.code or 21211, e.message) from None


def unknown_from(number: str) -> ApiError:
    return ApiError(
        400,
        21606,
        f"The From phone number {number} is not a valid, SMS-capable inbound phone number or short code for your account.",
    )


def checked_create(d: Appliance, form: Mapping[str, str], *, look_up: bool = True) -> CheckedCreate:
    """Check a create's parameters, in Twilio's order of errors; raises :class:`ApiError`.

    The one definition of what a valid create is, for the route and the fast lane
    (:mod:`appliance.api.fastlane`), which passes ``look_up=False`` to leave the From
    number's lookup to the write; it hands any error to the route, so that error
    precedence stays the route's."""
    to = form.get("To", "")
    from_ = form.get("From", "")
    body = form.get("Body", "")
    if not to:
        raise ApiError(400, 21604, "A 'To' phone number is required.")
    if not from_:
        raise ApiError(400, 21603, "A 'From' phone number is required.")
    try:
        to_e164 = normalize(to, field="To")
    except InvalidNumber as e:
        raise ApiError(400, 21211, e.message) from None
    if from_[:1] == " ":  # an unencoded '+' in a form body arrives as a space
        from_ = "+" + from_.strip()
    modem: str | None = None
    if look_up:
        ours = d.store.read_one(
            "SELECT modem, phone_number FROM numbers WHERE phone_number = ?", (from_,)
        )
        if ours is None:
            raise unknown_from(form.get("From", ""))
        modem, from_ = str(ours["modem"]), str(ours["phone_number"])
    if form.get("MediaUrl"):
        raise ApiError(400, 21620, "This appliance sends SMS only: MediaUrl is not supported.")
    callback = form.get("StatusCallback") or None
    if callback is not None and not _valid_callback(callback):
        raise ApiError(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
    method = (form.get("StatusCallbackMethod") or "POST").upper()
    if method not in ("GET", "POST"):
        raise ApiError(400, 21403, "StatusCallbackMethod must be GET or POST.")
    send_at = _schedule(form.get("ScheduleType"), form.get("SendAt"))
    try:
        checked = d.outbox.validate(to_e164, body)
    except OutboxError as e:
        raise ApiError(e.status, e.code or 30008, e.message) from None
    except ApplianceError as e:
        raise ApiError(400, e.code or 21211, e.message) from None
    return CheckedCreate(modem, from_, to_e164, body, checked, callback, method, send_at)


def _schedule(schedule_type: str | None, send_at: str | None) -> float | None:
    """Validate ``ScheduleType``/``SendAt``; the epoch to send at, or None to send now."""
    if not schedule_type and not send_at:
        return None
    if schedule_type != "fixed":
        raise ApiError(
            400,
            35126,
            "ScheduleType must be 'fixed' to schedule a message with SendAt."
            if send_at
            else f"The ScheduleType value {schedule_type!r} is not supported: use 'fixed'.",
        )
    if not send_at:
        raise ApiError(400, 35111, "You must indicate SendAt timestamp if ScheduleType is 'fixed'.")
    when = parse_send_at(send_at)
    ahead = when - time.time()
    if not SCHEDULE_MIN <= ahead <= SCHEDULE_MAX:
        raise ApiError(
            400,
            35114,
            "SendAt time must be between 900 seconds and 35 days (3024000 seconds) in the future, inclusive.",
        )
    return when


@bp.get("/Accounts/<account_sid>/Messages/<sid>.json")
@bp.get("/Accounts/<account_sid>/SMS/Messages/<sid>.json")
def message_fetch(account_sid: str, sid: str) -> Response:
    return jsonify(message_json(_fetch_row(sid)))


@bp.post("/Accounts/<account_sid>/Messages/<sid>.json")
@bp.post("/Accounts/<account_sid>/SMS/Messages/<sid>.json")
def message_update(account_sid: str, sid: str) -> Response:
    """``Status=canceled`` cancels a queued or scheduled message; ``Body=`` redacts the body."""
    d = daemon()
    status = form_value("Status")
    body = form_value("Body")
    if status is not None and status != "canceled":
        raise ApiError(400, 20001, "Status can only be updated to 'canceled'.")
    if body is not None and body != "":
        raise ApiError(400, 20001, "Body can only be updated to an empty string (redaction).")
    now = time.time()
    callbacks = d.outbox.callbacks
    # PostgreSQL: wait for a claim by the sending node (another node, maybe) to commit, and
    # see its "sending", rather than cancel a message that is going out.
    lock = d.store.dialect.lock

    def fn(conn: sqlite3.Connection) -> Row | None:
        row = conn.execute("SELECT * FROM messages WHERE sid = ?" + lock, (sid,)).fetchone()
        if row is None:
            return None
        if status == "canceled":
            if row["status"] not in CANCELABLE or row["segments_sent"]:
                raise ApiError(400, 30409, "This message cannot be canceled")
            conn.execute(
                "UPDATE messages SET status = 'canceled', date_updated = ? WHERE sid = ?",
                (now, sid),
            )
            if callbacks is not None:
                callbacks(
                    conn, conn.execute("SELECT * FROM messages WHERE sid = ?", (sid,)).fetchone()
                )
        if body == "":
            current = conn.execute("SELECT status FROM messages WHERE sid = ?", (sid,)).fetchone()
            if current["status"] in IN_PROGRESS:
                raise ApiError(
                    409,
                    20009,
                    "Cannot redact the body of a message that is still being processed;"
                    " cancel it first or wait until it is sent",
                )
            conn.execute(
                "UPDATE messages SET body = '', date_updated = ? WHERE sid = ?", (now, sid)
            )
            _redact_copies(conn, sid)
        return conn.execute("SELECT * FROM messages WHERE sid = ?", (sid,)).fetchone()  # type: ignore[no-any-return]

    row = d.store.write(fn)
    if row is None:
        raise not_found()
    return jsonify(message_json(row))


def _without_body(text: str) -> str | None:
    """A JSON object's text with its ``Body`` emptied; None if it has no ``Body`` to empty."""
    try:
        value = json.loads(text)
    except ValueError:
        return None  # not JSON ("<Message>" log rows): carries no copy of a body
    if not isinstance(value, dict) or not value.get("Body"):
        return None
    value["Body"] = ""
    return json.dumps(value, sort_keys=True)


def _redact_copies(conn: sqlite3.Connection, sid: str) -> None:
    """Empty the copies of a message's body kept for its webhooks (job params, log requests)."""
    for table, column in (("webhook_jobs", "params"), ("webhook_log", "request")):
        rows = conn.execute(
            f"SELECT id, {column} FROM {table} WHERE message_sid = ?", (sid,)
        ).fetchall()
        for row in rows:
            redacted = _without_body(row[column])
            if redacted is not None:
                conn.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (redacted, row["id"]))


@bp.delete("/Accounts/<account_sid>/Messages/<sid>.json")
@bp.delete("/Accounts/<account_sid>/SMS/Messages/<sid>.json")
def message_delete(account_sid: str, sid: str) -> Response:
    """Delete a finished message (Twilio refuses one still in progress: 20009)."""

    def fn(conn: sqlite3.Connection) -> bool:
        row = conn.execute("SELECT status FROM messages WHERE sid = ?", (sid,)).fetchone()
        if row is None:
            return False
        if row["status"] in IN_PROGRESS:
            raise ApiError(
                409,
                20009,
                f"Cannot delete this resource before it is complete (status {row['status']});"
                " cancel a queued or scheduled message first",
            )
        conn.execute("DELETE FROM segments WHERE message_sid = ?", (sid,))
        conn.execute("DELETE FROM messages WHERE sid = ?", (sid,))
        return True

    if not daemon().store.write(fn):
        raise not_found()
    return Response(status=204)


@bp.get("/Accounts/<account_sid>/Messages.json")
@bp.get("/Accounts/<account_sid>/SMS/Messages.json")
def message_list(account_sid: str) -> Response:
    """Newest first.  Filters: To, From, DateSent, DateSent< (on or before),
    DateSent> (on or after).  Paging: PageSize, Page, PageToken (``PASM<seq>``)."""
    args = request.args
    page, page_size = page_params()
    where: list[str] = []
    params: list[Any] = []
    for key, column in (("To", "to_number"), ("From", "from_number")):
        if args.get(key):
            where.append(f"{column} = ?")
            params.append(number_filter(args[key]))
    day_where, day_params = day_filters(args, "DateSent", "date_sent")
    where += day_where
    params += day_params
    token = args.get("PageToken", "")
    offset = page * page_size
    if token:
        where.append("seq < ?")
        params.append(page_token(token, "PASM"))
        offset = 0
    sql = "SELECT * FROM messages"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC LIMIT ? OFFSET ?"
    rows = daemon().store.read(sql, (*params, page_size + 1, offset))
    more = len(rows) > page_size
    rows = rows[:page_size]
    next_token = f"PASM{rows[-1]['seq']}" if more and rows else None
    key = "sms_messages" if "/SMS/" in request.path else "messages"
    return page_body(
        key,
        [message_json(r) for r in rows],
        page=page,
        page_size=page_size,
        next_token=next_token,
    )
