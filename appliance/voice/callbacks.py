"""What a call tells its app: the parameters of every voice request, and queued status callbacks.

Both the phone (call progress events) and the call flow (TwiML requests, recording
callbacks) describe a call the same way (voice.md 5.1); the status callbacks are
rows in ``webhook_jobs`` that the webhook dispatcher signs, retries and posts in order.
"""

from __future__ import annotations

import json
import time
from typing import Any

from appliance.sids import idempotency_token
from appliance.sms.webhookparams import country
from appliance.store.database import Row, Store

API_VERSION = "2010-04-01"


def call_params(row: Row, account_sid: str, status: str | None = None) -> dict[str, str]:
    """The parameters of every voice request about a call (voice.md 5.1)."""
    to, from_ = row["to_number"], row["from_number"]
    params = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": row["sid"],
        "CallStatus": status or row["status"],
        "Direction": row["direction"],
        "From": from_,
        "Caller": from_,
        "To": to,
        "Called": to,
        "FromCountry": country(from_) if from_ else "",
        "CallerCountry": country(from_) if from_ else "",
        "ToCountry": country(to) if to else "",
        "CalledCountry": country(to) if to else "",
    }
    if row["parent_call_sid"]:
        params["ParentCallSid"] = row["parent_call_sid"]
    if row["caller_name"]:
        params["CallerName"] = row["caller_name"]
    return params


def rfc2822(ts: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(ts))


def enqueue_status(
    store: Store, sid: str, url: str, method: str | None, params: dict[str, Any]
) -> None:
    """Queue a signed, retried, ordered status callback (the dispatcher posts it).  Once: a
    job with the very same parameters is not queued again (a re-run after an outage cut the
    answer of a COMMIT that landed, appliance.voice.backlog)."""
    now = time.time()
    body = json.dumps(params)

    def fn(conn: Any) -> None:
        if conn.execute(
            "SELECT 1 FROM webhook_jobs WHERE kind = 'status' AND message_sid = ? AND params = ?",
            (sid, body),
        ).fetchone():
            return
        conn.execute(
            "INSERT INTO webhook_jobs (kind, message_sid, url, method, params, token, state,"
            " next_attempt_at, created) VALUES ('status',?,?,?,?,?,'pending',?,?)",
            (sid, url, method or "POST", body, idempotency_token(), now, now),
        )

    store.write(fn)
