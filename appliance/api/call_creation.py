"""Creating a call: an outbound call queued from one of the appliance's numbers.

A created call is a ``calls`` row with status ``queued``, committed before the 201,
after which ``daemon.voice.wake(modem)`` tells the voice engine to place it.
"""

from __future__ import annotations

import logging
import sqlite3
import time

from flask import Response

from appliance import sids
from appliance.api import call_parameters as form
from appliance.api.calls import fetch_row, respond
from appliance.api.common import ApiError, bp, daemon, form_value
from appliance.errors import InvalidNumber
from appliance.numbers import normalize

LOGGER = logging.getLogger(__name__)


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
    url = form.url("Url", 21205)
    twiml = None if url is not None else form.twiml()
    if url is None and twiml is None:
        raise ApiError(
            400,
            21205,
            "Url parameter is required: give the call's instructions as Url or Twiml"
            " (ApplicationSid is not supported).",
        )
    method = form.method("Method")
    fallback_url = form.url("FallbackUrl", 21205) or ""
    fallback_method = form.method("FallbackMethod")
    status_callback = form.url("StatusCallback", 21609) or ""
    status_callback_method = form.method("StatusCallbackMethod")
    events = form.events()
    timeout = form.integer("Timeout", form.DEFAULT_TIMEOUT, 21208, form.MAX_TIMEOUT)
    time_limit = form.integer("TimeLimit", form.DEFAULT_TIME_LIMIT, 20001, form.MAX_TIME_LIMIT)
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
    row = fetch_row(sid)  # read before the engine can move it on: a new call is 'queued'
    LOGGER.info("call %s queued on %s to %s", sid, modem, to_e164)
    d.voice.wake(modem)
    return respond(row, 201)
