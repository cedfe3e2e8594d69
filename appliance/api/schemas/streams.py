"""The OpenAPI description of the Stream resource (:mod:`appliance.api.streams`)."""

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
    nullable,
    ok,
    param,
    sid,
    string,
)
from appliance.api.streams import MAX_PARAMETERS

STREAM: Schema = {
    "type": "object",
    "properties": {
        "account_sid": sid("AC"),
        "call_sid": sid("CA"),
        "date_updated": DATE,
        "name": nullable(string("The name given at creation, if any: it can stop the stream")),
        "sid": sid("MZ"),
        "status": string(enum=["in-progress", "stopped"]),
        "uri": URI,
    },
    "required": ["sid", "account_sid", "call_sid", "name", "status", "date_updated", "uri"],
}

SCHEMAS: dict[str, Schema] = {"Stream": STREAM}


def _custom_parameters() -> dict[str, Schema]:
    out: dict[str, Schema] = {}
    for n in range(1, MAX_PARAMETERS + 1):
        out[f"Parameter{n}.Name"] = string(f"Custom parameter {n}'s name (start.customParameters)")
        out[f"Parameter{n}.Value"] = string(f"Custom parameter {n}'s value")
    return out


def paths() -> dict[str, Any]:
    """The Streams paths of a call."""
    tag = ["Streams"]
    call_param = param("CallSid", "path", "The call's SID", string())
    sid_param = param("Sid", "path", "The stream's SID (MZ…) or the name it was given", string())
    create_fields: dict[str, Schema] = {
        "Url": string("The bot's absolute ws:// or wss:// URL (a relative one has no base)"),
        "Name": string("A name, unique among the call's open streams; it can stop the stream"),
        "Track": string(
            "The audio sent (default inbound_track: the caller's)",
            enum=["inbound_track", "outbound_track", "both_tracks"],
        ),
        "StatusCallback": string("http(s) URL for stream-started, stream-stopped, stream-error"),
        "StatusCallbackMethod": METHOD,
        **_custom_parameters(),
    }
    return {
        f"{ACCOUNT}/Calls/{{CallSid}}/Streams.json": {
            "parameters": [ACCOUNT_PARAM, call_param],
            "post": {
                "tags": tag,
                "summary": "Fork a live call's audio to a WebSocket bot (one way, as"
                " <Start><Stream>); answers at once, `in-progress` while the socket connects"
                " (`stopped` if the modem has no audio port)",
                "operationId": "createStream",
                "requestBody": form(create_fields, ["Url"]),
                "responses": {
                    **ok("The stream", "Stream", "201"),
                    "400": error(
                        "Invalid Url (21205), StatusCallback (21609) or other value, a name in"
                        " use (20001), or the call is not in progress (21220)"
                    ),
                    **ERRORS,
                },
            },
        },
        f"{ACCOUNT}/Calls/{{CallSid}}/Streams/{{Sid}}.json": {
            "parameters": [ACCOUNT_PARAM, call_param, sid_param],
            "post": {
                "tags": tag,
                "summary": "Stop a one-way stream (TwiML's or the API's) by SID or name",
                "operationId": "updateStream",
                "requestBody": form({"Status": string(enum=["stopped"])}, ["Status"]),
                "responses": {
                    **ok("The stopped stream", "Stream"),
                    "400": error(
                        "Status other than stopped (20001), or the call has ended (21220)"
                    ),
                    **ERRORS,
                },
            },
        },
    }
