"""The OpenAPI description of the Call resource (:mod:`appliance.api.calls` and the modules beside it)."""

from __future__ import annotations

from typing import Any

from appliance.api.schemas.parts import (
    ACCOUNT,
    ACCOUNT_PARAM,
    DATE,
    ERRORS,
    METHOD,
    PAGING,
    URI,
    Schema,
    error,
    form,
    nullable,
    ok,
    page,
    param,
    sid,
    string,
)

CALL_STATUSES = [
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "failed",
    "no-answer",
    "canceled",
]

CALL: Schema = {
    "type": "object",
    "properties": {
        "account_sid": sid("AC"),
        "annotation": nullable(string()),
        "answered_by": nullable(string()),
        "api_version": string(),
        "caller_name": nullable(string()),
        "date_created": DATE,
        "date_updated": DATE,
        "direction": string(enum=["inbound", "outbound-api", "outbound-dial"]),
        "duration": nullable(string("Seconds, as a string")),
        "end_time": DATE,
        "forwarded_from": nullable(string()),
        "from": string(),
        "from_formatted": string(),
        "group_sid": nullable(string()),
        "parent_call_sid": nullable(string()),
        "phone_number_sid": nullable(string()),
        "price": nullable(string()),
        "price_unit": string(),
        "queue_time": string(),
        "sid": sid("CA"),
        "start_time": DATE,
        "status": string(enum=CALL_STATUSES),
        "subresource_uris": {"type": "object", "additionalProperties": {"type": "string"}},
        "to": string(),
        "to_formatted": string(),
        "trunk_sid": nullable(string()),
        "uri": URI,
    },
    "required": ["sid", "status", "to", "from", "direction", "uri"],
}

SCHEMAS: dict[str, Schema] = {
    "Call": CALL,
    "CallPage": page("calls", "Call"),
}


def paths() -> dict[str, Any]:
    """The Calls paths, with a call's Recordings list."""
    tag = ["Calls"]
    sid_param = param("Sid", "path", "The call's SID", string())
    callbacks: dict[str, Schema] = {
        "Method": METHOD,
        "FallbackUrl": string("http(s) URL fetched when Url fails"),
        "FallbackMethod": METHOD,
        "StatusCallback": string("http(s) URL for call status callbacks"),
        "StatusCallbackMethod": METHOD,
        "TimeLimit": {"type": "integer", "minimum": 1, "description": "Seconds (default 14400)"},
    }
    create_fields: dict[str, Schema] = {
        "To": string("Number to call, E.164"),
        "From": string("One of the appliance's numbers"),
        "Url": string("http(s) URL of the call's TwiML"),
        "Twiml": string("The call's TwiML, inline (used when Url is absent)", maxLength=4000),
        **callbacks,
        "StatusCallbackEvent": {
            "type": "array",
            "items": string(enum=["initiated", "ringing", "answered", "completed"]),
            "description": "Repeatable; default completed",
        },
        "Timeout": {
            "type": "integer",
            "minimum": 1,
            "description": "Seconds to ring (default 60, at most 600)",
        },
        "Record": string("Accepted and ignored: use <Record> in the TwiML"),
        "SendDigits": string("Accepted and ignored: use <Play digits> in the TwiML"),
    }
    return {
        f"{ACCOUNT}/Calls.json": {
            "parameters": [ACCOUNT_PARAM],
            "get": {
                "tags": tag,
                "summary": "List calls, newest first",
                "operationId": "listCalls",
                "parameters": [
                    param("To", "query", "Only calls to this number"),
                    param("From", "query", "Only calls from this number"),
                    param(
                        "Status", "query", "Only calls in this status", string(enum=CALL_STATUSES)
                    ),
                    param("ParentCallSid", "query", "Only child legs of this call"),
                    param("StartTime", "query", "Started on this UTC day (YYYY-MM-DD)"),
                    param("StartTime<", "query", "Started on or before this UTC day"),
                    param("StartTime>", "query", "Started on or after this UTC day"),
                    param("EndTime", "query", "Ended on this UTC day (YYYY-MM-DD)"),
                    param("EndTime<", "query", "Ended on or before this UTC day"),
                    param("EndTime>", "query", "Ended on or after this UTC day"),
                    *PAGING,
                ],
                "responses": {
                    **ok("One page", "CallPage"),
                    "400": error("Invalid filter or paging parameter (20001)"),
                    **ERRORS,
                },
            },
            "post": {
                "tags": tag,
                "summary": "Queue an outbound call from one of the appliance's numbers",
                "operationId": "createCall",
                "requestBody": form(create_fields, ["To", "From"]),
                "responses": {
                    **ok("The queued call", "Call", "201"),
                    "400": error(
                        "Invalid request (21201, 21205, 21208, 21209, 21210, 21211, 21212,"
                        " 21213, 21609, 21626, 32018, 12100, 12102, 20001)"
                    ),
                    **ERRORS,
                },
            },
        },
        f"{ACCOUNT}/Calls/{{Sid}}.json": {
            "parameters": [ACCOUNT_PARAM, sid_param],
            "get": {
                "tags": tag,
                "summary": "Fetch a call",
                "operationId": "fetchCall",
                "responses": {**ok("The call", "Call"), **ERRORS},
            },
            "post": {
                "tags": tag,
                "summary": "Cancel (Status=canceled), hang up (Status=completed) or redirect"
                " (Url or Twiml) a call",
                "operationId": "updateCall",
                "requestBody": form(
                    {
                        "Status": string(enum=["canceled", "completed"]),
                        "Url": string("http(s) URL of new TwiML"),
                        "Twiml": string("New TwiML, inline", maxLength=4000),
                        **callbacks,
                    }
                ),
                "responses": {
                    **ok("The updated call", "Call"),
                    "400": error(
                        "Invalid value, or the call has ended, or it is a <Dial>'s child call"
                        " not bridged to its caller that a Url or Twiml would redirect (21220)"
                    ),
                    **ERRORS,
                },
            },
            "delete": {
                "tags": tag,
                "summary": "Delete an ended call",
                "operationId": "deleteCall",
                "responses": {
                    "204": {"description": "Deleted"},
                    "409": error("The call has not ended (20009)"),
                    **ERRORS,
                },
            },
        },
        f"{ACCOUNT}/Calls/{{Sid}}/Recordings.json": {
            "parameters": [ACCOUNT_PARAM, sid_param],
            "get": {
                "tags": tag,
                "summary": "List a call's recordings, newest first",
                "operationId": "listCallRecordings",
                "parameters": [
                    param("DateCreated", "query", "Created on this UTC day (YYYY-MM-DD)"),
                    param("DateCreated<", "query", "Created on or before this UTC day"),
                    param("DateCreated>", "query", "Created on or after this UTC day"),
                    *PAGING,
                ],
                "responses": {
                    **ok("One page", "RecordingPage"),
                    "400": error("Invalid filter or paging parameter (20001)"),
                    **ERRORS,
                },
            },
        },
    }
