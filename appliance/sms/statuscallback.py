"""A message's status callback: Twilio's parameters for a message row, their stored form, and
the webhook job that posts them (queued in the transaction that changed the status)."""

from __future__ import annotations

import json
import sqlite3
import time

from appliance.sids import idempotency_token
from appliance.store.database import Row

API_VERSION = "2010-04-01"


def status_callback_params(row: Row) -> dict[str, str]:
    """Twilio's status callback parameters for a message row."""
    params = {
        "MessageSid": row["sid"],
        "SmsSid": row["sid"],
        "AccountSid": row["account_sid"],
        "From": row["from_number"],
        "To": row["to_number"],
        "MessageStatus": row["status"],
        "SmsStatus": row["status"],
        "ApiVersion": API_VERSION,
    }
    if row["status"] in ("failed", "undelivered") and row["error_code"]:
        params["ErrorCode"] = str(row["error_code"])
    if row["status"] in ("delivered", "undelivered"):
        params["RawDlrDoneDate"] = time.strftime("%y%m%d%H%M", time.gmtime(row["date_updated"]))
    return params


def dumps(params: dict[str, str]) -> str:
    """Webhook parameters as stored in ``webhook_jobs.params`` (sorted-key JSON)."""
    return json.dumps(params, sort_keys=True)


def queue_status_callback(conn: sqlite3.Connection, row: Row) -> bool:
    """Outbox hook: a message changed status; queue its StatusCallback, if it has one.

    Whether a job was queued: only then has a worker anything to look for."""
    if not row["status_callback"]:
        return False
    now = time.time()
    conn.execute(
        "INSERT INTO webhook_jobs (kind, message_sid, url, method, params, token, state, next_attempt_at,"
        " created) VALUES ('status',?,?,?,?,?,'pending',?,?)",
        (
            row["sid"],
            row["status_callback"],
            row["status_callback_method"] or "POST",
            dumps(status_callback_params(row)),
            idempotency_token(),
            now,
            now,
        ),
    )
    return True
