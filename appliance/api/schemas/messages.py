"""The OpenAPI description of the Message resource (:mod:`appliance.api.messages`)."""

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

MESSAGE: Schema = {
    "type": "object",
    "properties": {
        "account_sid": sid("AC"),
        "api_version": string(),
        "body": string(),
        "date_created": DATE,
        "date_sent": DATE,
        "date_updated": DATE,
        "direction": string(enum=["inbound", "outbound-api", "outbound-call", "outbound-reply"]),
        "error_code": {"type": "integer", "nullable": True},
        "error_message": nullable(string()),
        "from": string(),
        "messaging_service_sid": nullable(string()),
        "num_media": string(),
        "num_segments": string(),
        "price": nullable(string()),
        "price_unit": string(),
        "sid": sid("SM"),
        "status": string(
            enum=[
                "queued",
                "sending",
                "sent",
                "failed",
                "delivered",
                "undelivered",
                "receiving",
                "received",
                "accepted",
                "scheduled",
                "read",
                "partially_delivered",
                "canceled",
            ]
        ),
        "subresource_uris": {"type": "object", "additionalProperties": {"type": "string"}},
        "to": string(),
        "uri": URI,
    },
    "required": ["sid", "status", "to", "from", "body", "uri"],
}

SCHEMAS: dict[str, Schema] = {
    "Message": MESSAGE,
    "MessagePage": page("messages", "Message"),
    "SmsMessagePage": page("sms_messages", "Message"),
}


def paths() -> dict[str, Any]:
    """The Messages paths, and the same under the legacy ``/SMS/Messages`` prefix."""
    return {
        **_paths(f"{ACCOUNT}/Messages", "messages", legacy=False),
        **_paths(f"{ACCOUNT}/SMS/Messages", "sms_messages", legacy=True),
    }


def _paths(base: str, key: str, legacy: bool) -> dict[str, Any]:
    tag = ["Messages (legacy /SMS path)" if legacy else "Messages"]
    sid_param = param("Sid", "path", "The message's SID", string())
    create = {
        "tags": tag,
        "summary": "Send an SMS (now, or at SendAt with ScheduleType=fixed)",
        "operationId": f"{'legacy' if legacy else ''}createMessage",
        "requestBody": form(
            {
                "To": string("Destination in E.164"),
                "From": string("One of the appliance's numbers"),
                "Body": string("Up to 1600 characters", maxLength=1600),
                "StatusCallback": string("URL for status callbacks"),
                "StatusCallbackMethod": METHOD,
                "ScheduleType": string(enum=["fixed"]),
                "SendAt": string("ISO 8601 UTC time, 15 minutes to 35 days ahead"),
                "MediaUrl": string("Not supported (21620)"),
            },
            ["To", "From", "Body"],
        ),
        "responses": {
            **ok("The queued (or scheduled) message", "Message", "201"),
            "400": error(
                "Invalid request (21211, 21602, 21603, 21604, 21606, 21609, 21610, 21617, 21620, 35111, 35114, 35115, 35126)"
            ),
            **ERRORS,
        },
    }
    listing = {
        "tags": tag,
        "summary": "List messages, newest first",
        "operationId": f"{'legacy' if legacy else ''}listMessages",
        "parameters": [
            param("To", "query", "Only messages to this number"),
            param("From", "query", "Only messages from this number"),
            param("DateSent", "query", "Sent on this UTC day (YYYY-MM-DD)"),
            param("DateSent<", "query", "Sent on or before this UTC day"),
            param("DateSent>", "query", "Sent on or after this UTC day"),
            *PAGING,
        ],
        "responses": {
            **ok("One page", "SmsMessagePage" if legacy else "MessagePage"),
            "400": error("Invalid filter or paging parameter (20001)"),
            **ERRORS,
        },
    }
    fetch = {
        "tags": tag,
        "summary": "Fetch a message",
        "operationId": f"{'legacy' if legacy else ''}fetchMessage",
        "responses": {**ok("The message", "Message"), **ERRORS},
    }
    update = {
        "tags": tag,
        "summary": "Cancel a queued or scheduled message (Status=canceled) or redact its body (Body=)",
        "operationId": f"{'legacy' if legacy else ''}updateMessage",
        "requestBody": form({"Status": string(enum=["canceled"]), "Body": string(maxLength=0)}),
        "responses": {
            **ok("The updated message", "Message"),
            "400": error("Cannot cancel (30409) or invalid value (20001)"),
            "409": error("Still being processed (20009)"),
            **ERRORS,
        },
    }
    delete = {
        "tags": tag,
        "summary": "Delete a finished message",
        "operationId": f"{'legacy' if legacy else ''}deleteMessage",
        "responses": {
            "204": {"description": "Deleted"},
            "409": error("Still queued, scheduled or sending (20009)"),
            **ERRORS,
        },
    }
    return {
        f"{base}.json": {"parameters": [ACCOUNT_PARAM], "get": listing, "post": create},
        f"{base}/{{Sid}}.json": {
            "parameters": [ACCOUNT_PARAM, sid_param],
            "get": fetch,
            "post": update,
            "delete": delete,
        },
    }
