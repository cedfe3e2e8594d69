"""A message's status callback: Twilio's parameters for a message row, and their stored form."""

from __future__ import annotations

import json
import time

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
