"""The webhook log (Twilio's debugger): one row per request a job made, or per warning it raised.

A row is filed under what the job is about: ``message_sid`` for an inbound SMS webhook
or a message's status callback, ``call_sid`` for a call's status callback (the job's
SID column holds the CallSid then), so the panel's message and call pages find them.

A row made from a :class:`~appliance.webhooks.result.WebhookResult` also keeps what the
panel's request inspector shows: the response headers, how long the request took and what
was asked for before any redirect (what a replay sends again).  The response is not
trusted: its body is cut to :data:`MAX_LOGGED_BODY` bytes and its headers to
:data:`MAX_HEADERS` names of :data:`MAX_HEADER_VALUE` characters.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping

from appliance.store.database import Row
from appliance.webhooks.result import WebhookResult

__all__ = ["MAX_LOGGED_BODY", "log_entry", "log_result", "subject"]

MAX_LOGGED_BODY = 4096  # bytes of a response body kept in the log
MAX_HEADERS = 40  # response headers kept per request (a hostile server may send thousands)
MAX_HEADER_VALUE = 512  # characters of one header name or value kept


def subject(sid: str | None) -> tuple[str | None, str | None]:
    """``(message_sid, call_sid)`` of a job's SID."""
    if sid and sid.startswith("CA"):
        return None, sid
    return sid, None


def headers_json(headers: Mapping[str, str]) -> str:
    """The response headers as a JSON object, capped (see :data:`MAX_HEADERS`)."""
    kept = {
        str(k)[:MAX_HEADER_VALUE]: str(v)[:MAX_HEADER_VALUE]
        for k, v in list(headers.items())[:MAX_HEADERS]
    }
    return json.dumps(kept, ensure_ascii=False)


def log_result(
    conn: sqlite3.Connection,
    result: WebhookResult,
    *,
    request: str,
    code: int | None,
    message: str | None,
    now: float,
    job_id: int | None = None,
    message_sid: str | None = None,
    call_sid: str | None = None,
    replay_of: int | None = None,
    source: str | None = None,
) -> int:
    """Log one request and its answer; returns the new row's id."""
    cursor = conn.execute(
        "INSERT INTO webhook_log (job_id, message_sid, call_sid, url, method, request, status,"
        " response, error_code, error_message, at, response_headers, duration, requested_url,"
        " requested_method, body_truncated, replay_of, source)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
        (
            job_id,
            message_sid,
            call_sid,
            result.url,
            result.method,
            request,
            result.status,
            result.body[:MAX_LOGGED_BODY].decode("utf-8", "replace"),
            code,
            message,
            now,
            headers_json(result.headers) if result.status is not None else None,
            round(result.elapsed, 4),
            result.requested_url or result.url,
            result.requested_method or result.method,
            int(result.truncated or len(result.body) > MAX_LOGGED_BODY),
            replay_of,
            source,
        ),
    )
    return int(cursor.fetchone()[0])


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
    result: WebhookResult | None = None,
) -> None:
    """Log a job's request (``result``, whose fields the other arguments repeat) or a
    warning that made no request (``result`` None)."""
    message_sid, call_sid = subject(job["message_sid"])
    if result is not None:
        log_result(
            conn,
            result,
            request=request,
            code=code,
            message=message,
            now=now,
            job_id=job["id"],
            message_sid=message_sid,
            call_sid=call_sid,
        )
        return
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


def sent_params(result: WebhookResult, params: dict[str, str]) -> dict[str, str]:
    """The parameters ``result``'s request carried, as the request inspector logs them: the
    job's, with what that request added (a fallback's ``ErrorCode`` and ``ErrorUrl``)."""
    sent = dict(params)
    for key, values in result.request_params.items():
        if values:
            sent[key] = values[-1]
    return sent
