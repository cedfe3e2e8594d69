"""The OpenAPI description of the UserDefinedMessage and UserDefinedMessageSubscription
resources (:mod:`appliance.api.usermessages`)."""

from __future__ import annotations

from typing import Any

from appliance.api.schemas.parts import (
    ACCOUNT,
    ACCOUNT_PARAM,
    DATE,
    ERRORS,
    METHOD,
    URI,
    Schema,
    error,
    form,
    ok,
    param,
    sid,
    string,
)
from appliance.api.usermessages import MAX_KEY
from appliance.clients.callmessage import MAX_CONTENT

SUBSCRIPTION: Schema = {
    "type": "object",
    "properties": {
        "account_sid": sid("AC"),
        "call_sid": sid("CA"),
        "sid": sid("ZY"),
        "date_created": DATE,
        "uri": URI,
    },
    "required": ["account_sid", "call_sid", "sid", "date_created", "uri"],
}
MESSAGE: Schema = {
    "type": "object",
    "properties": {
        "account_sid": sid("AC"),
        "call_sid": sid("CA"),
        "sid": sid("KX"),
        "date_created": DATE,
    },
    "required": ["account_sid", "call_sid", "sid", "date_created"],
}

SCHEMAS: dict[str, Schema] = {
    "UserDefinedMessage": MESSAGE,
    "UserDefinedMessageSubscription": SUBSCRIPTION,
}

KEY = string(
    "A value unique per request: a repeated one answers the first request's resource",
    maxLength=MAX_KEY,
)
NOT_ACTIVE = "the call is not a browser call (no Voice SDK leg) or not active (21220)"


def paths() -> dict[str, Any]:
    """The user-defined message paths of a call."""
    tag = ["UserDefinedMessages"]
    call_param = param("CallSid", "path", "The browser call's SID", string())
    sid_param = param("Sid", "path", "The subscription's SID (ZY…)", string())
    return {
        f"{ACCOUNT}/Calls/{{CallSid}}/UserDefinedMessages.json": {
            "parameters": [ACCOUNT_PARAM, call_param],
            "post": {
                "tags": tag,
                "summary": "Send a message to the browser of a call in progress: the Voice"
                " SDK's Call fires `messageReceived` with the parsed Content",
                "operationId": "createUserDefinedMessage",
                "requestBody": form(
                    {
                        "Content": string(
                            f"A JSON string (at most {MAX_CONTENT} bytes)",
                            example='{"greeting":"hello"}',
                        ),
                        "IdempotencyKey": KEY,
                    },
                    ["Content"],
                ),
                "responses": {
                    **ok("The message sent", "UserDefinedMessage", "201"),
                    "400": error("Content missing, not JSON or too long (20001), or " + NOT_ACTIVE),
                    **ERRORS,
                },
            },
        },
        f"{ACCOUNT}/Calls/{{CallSid}}/UserDefinedMessageSubscriptions.json": {
            "parameters": [ACCOUNT_PARAM, call_param],
            "post": {
                "tags": tag,
                "summary": "Post each message the call's browser sends (call.sendMessage) to"
                " Callback, signed",
                "operationId": "createUserDefinedMessageSubscription",
                "requestBody": form(
                    {
                        "Callback": string("The absolute http(s) URL to post the messages to"),
                        "Method": METHOD,
                        "IdempotencyKey": KEY,
                    },
                    ["Callback"],
                ),
                "responses": {
                    **ok("The subscription", "UserDefinedMessageSubscription", "201"),
                    "400": error(
                        "Callback missing (20001) or invalid (21205), Method not GET or POST"
                        " (21209), ten subscriptions already (20001), or " + NOT_ACTIVE
                    ),
                    **ERRORS,
                },
            },
        },
        f"{ACCOUNT}/Calls/{{CallSid}}/UserDefinedMessageSubscriptions/{{Sid}}.json": {
            "parameters": [ACCOUNT_PARAM, call_param, sid_param],
            "delete": {
                "tags": tag,
                "summary": "End a subscription",
                "operationId": "deleteUserDefinedMessageSubscription",
                "responses": {"204": {"description": "Deleted"}, **ERRORS},
            },
        },
    }
