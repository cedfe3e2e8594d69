"""The webhook log (Twilio's debugger): one row per request a job made, or per warning it raised.

A row is filed under what the job is about: ``message_sid`` for an inbound SMS webhook
or a message's status callback, ``call_sid`` for a call's status callback (the job's
SID column holds the CallSid then), so the panel's message and call pages find them.
"""

from __future__ import annotations

import sqlite3

from appliance.store.database import Row

__all__ = ["MAX_LOGGED_BODY", "log_entry", "subject"]

MAX_LOGGED_BODY = 4096  # bytes of a response body kept in the log


def subject(sid: str | None) -> tuple[str | None, str | None]:
    """``(message_sid, call_sid)`` of a job's SID."""
    if sid and sid.startswith("CA"):
        return None, sid
    return sid, None


def log_entry(
    conn: sqlite3.Connection,
    job: Row,
    *,
    url: str,
    method: str,
    request: str,
    status: int | None,
    response: bytes | None,
    code: int | None,
    message: str | None,
    now: float,
) -> None:
    message_sid, call_sid = subject(job["message_sid"])
    conn.execute(
        "INSERT INTO webhook_log (job_id, message_sid, call_sid, url, method, request, status,"
        " response, error_code, error_message, at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            job["id"],
            message_sid,
            call_sid,
            url,
            method,
            request,
            status,
            None if response is None else response[:MAX_LOGGED_BODY].decode("utf-8", "replace"),
            code,
            message,
            now,
        ),
    )
