"""The OpenAPI 3.0 description of every endpoint the appliance serves.

Built here, served at ``/2010-04-01/openapi.json`` and written to
``docs/openapi.json`` (``python -m appliance.api.openapi > docs/openapi.json``, or
``.venv/bin/python -c "from appliance.api.openapi import dumps; print(dumps(), end='')"``);
tests check that the file is current and that every route is described.
"""

from __future__ import annotations

import json
from typing import Any

ACCOUNT = "/2010-04-01/Accounts/{AccountSid}"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _str(description: str = "", **extra: Any) -> Schema:
    rv: Schema = {"type": "string", **extra}
    if description:
        rv["description"] = description
    return rv


def _nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def _sid(prefix: str) -> Schema:
    return _str(pattern=f"^{prefix}[0-9a-f]{{32}}$", minLength=34, maxLength=34)


DATE = _nullable(_str("RFC 2822 date in GMT, e.g. Thu, 30 Jul 2015 20:12:31 +0000"))
URI = _str("A path relative to the server")

MESSAGE: Schema = {
    "type": "object",
    "properties": {
        "account_sid": _sid("AC"),
        "api_version": _str(),
        "body": _str(),
        "date_created": DATE,
        "date_sent": DATE,
        "date_updated": DATE,
        "direction": _str(enum=["inbound", "outbound-api", "outbound-call", "outbound-reply"]),
        "error_code": {"type": "integer", "nullable": True},
        "error_message": _nullable(_str()),
        "from": _str(),
        "messaging_service_sid": _nullable(_str()),
        "num_media": _str(),
        "num_segments": _str(),
        "price": _nullable(_str()),
        "price_unit": _str(),
        "sid": _sid("SM"),
        "status": _str(
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
        "to": _str(),
        "uri": URI,
    },
    "required": ["sid", "status", "to", "from", "body", "uri"],
}

NUMBER: Schema = {
    "type": "object",
    "properties": {
        "account_sid": _sid("AC"),
        "address_requirements": _str(),
        "address_sid": _nullable(_str()),
        "api_version": _str(),
        "beta": {"type": "boolean"},
        "bundle_sid": _nullable(_str()),
        "capabilities": {
            "type": "object",
            "properties": {k: {"type": "boolean"} for k in ("voice", "sms", "mms", "fax")},
        },
        "date_created": DATE,
        "date_updated": DATE,
        "emergency_address_sid": _nullable(_str()),
        "emergency_address_status": _str(),
        "emergency_status": _str(),
        "friendly_name": _str(),
        "identity_sid": _nullable(_str()),
        "origin": _str(),
        "phone_number": _str(),
        "sid": _sid("PN"),
        "sms_application_sid": _nullable(_str()),
        "sms_fallback_method": _str(enum=["GET", "POST"]),
        "sms_fallback_url": _str(),
        "sms_method": _str(enum=["GET", "POST"]),
        "sms_url": _str(),
        "status": _str(),
        "status_callback": _str(),
        "status_callback_method": _str(enum=["GET", "POST"]),
        "subresource_uris": {"type": "object", "additionalProperties": {"type": "string"}},
        "trunk_sid": _nullable(_str()),
        "type": _str(),
        "uri": URI,
        "voice_application_sid": _nullable(_str()),
        "voice_caller_id_lookup": {"type": "boolean"},
        "voice_fallback_method": _str(enum=["GET", "POST"]),
        "voice_fallback_url": _str(),
        "voice_method": _str(enum=["GET", "POST"]),
        "voice_receive_mode": _str(),
        "voice_url": _str(),
    },
    "required": ["sid", "phone_number", "sms_url", "uri"],
}

ERROR: Schema = {
    "type": "object",
    "description": "Twilio's error shape (never `type`/`title`: those make twilio-python 9.13 raise TwilioServiceException)",
    "properties": {
        "code": {"type": "integer"},
        "message": _str(),
        "more_info": _str(),
        "status": {"type": "integer"},
    },
    "required": ["code", "message", "more_info", "status"],
}


def _page(key: str, item: str) -> Schema:
    return {
        "type": "object",
        "properties": {
            key: {"type": "array", "items": _ref(item)},
            "end": {"type": "integer"},
            "first_page_uri": URI,
            "next_page_uri": _nullable(URI),
            "page": {"type": "integer"},
            "page_size": {"type": "integer"},
            "previous_page_uri": _nullable(URI),
            "start": {"type": "integer"},
            "uri": URI,
        },
        "required": [key, "next_page_uri", "page", "page_size"],
    }


ACCOUNT_SCHEMA: Schema = {
    "type": "object",
    "properties": {
        "sid": _sid("AC"),
        "auth_token": _str(),
        "friendly_name": _str(),
        "owner_account_sid": _sid("AC"),
        "status": _str(),
        "type": _str(),
        "uri": URI,
        "date_created": DATE,
        "date_updated": DATE,
        "subresource_uris": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def _error(description: str) -> Schema:
    return {"description": description, "content": {JSON: {"schema": _ref("Error")}}}


ERRORS = {
    "401": _error("Authentication failed (20003)"),
    "404": _error("Unknown account or resource (20404)"),
    "429": _error("Rate limit exceeded (20429)"),
}


def _ok(description: str, schema: str, status: str = "200") -> dict[str, Schema]:
    return {status: {"description": description, "content": {JSON: {"schema": _ref(schema)}}}}


def _form(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"required": bool(required), "content": {FORM: {"schema": schema}}}


def _param(name: str, where: str, description: str, schema: Schema | None = None) -> Schema:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema or _str(),
    }


ACCOUNT_PARAM = _param("AccountSid", "path", "The account's SID", _sid("AC"))
PAGING = [
    _param(
        "PageSize",
        "query",
        "Records per page (1-1000, default 50)",
        {"type": "integer", "minimum": 1, "maximum": 1000},
    ),
    _param("Page", "query", "Page number (0-based)", {"type": "integer", "minimum": 0}),
    _param("PageToken", "query", "Opaque token from next_page_uri"),
]
METHOD = _str(enum=["GET", "POST"])


def _message_paths(base: str, key: str, legacy: bool) -> dict[str, Any]:
    tag = ["Messages (legacy /SMS path)" if legacy else "Messages"]
    sid_param = _param("Sid", "path", "The message's SID", _str())
    create = {
        "tags": tag,
        "summary": "Send an SMS (now, or at SendAt with ScheduleType=fixed)",
        "operationId": f"{'legacy' if legacy else ''}createMessage",
        "requestBody": _form(
            {
                "To": _str("Destination in E.164"),
                "From": _str("One of the appliance's numbers"),
                "Body": _str("Up to 1600 characters", maxLength=1600),
                "StatusCallback": _str("URL for status callbacks"),
                "StatusCallbackMethod": METHOD,
                "ScheduleType": _str(enum=["fixed"]),
                "SendAt": _str("ISO 8601 UTC time, 15 minutes to 35 days ahead"),
                "MediaUrl": _str("Not supported (21620)"),
            },
            ["To", "From", "Body"],
        ),
        "responses": {
            **_ok("The queued (or scheduled) message", "Message", "201"),
            "400": _error(
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
            _param("To", "query", "Only messages to this number"),
            _param("From", "query", "Only messages from this number"),
            _param("DateSent", "query", "Sent on this UTC day (YYYY-MM-DD)"),
            _param("DateSent<", "query", "Sent on or before this UTC day"),
            _param("DateSent>", "query", "Sent on or after this UTC day"),
            *PAGING,
        ],
        "responses": {
            **_ok("One page", "SmsMessagePage" if legacy else "MessagePage"),
            "400": _error("Invalid filter or paging parameter (20001)"),
            **ERRORS,
        },
    }
    fetch = {
        "tags": tag,
        "summary": "Fetch a message",
        "operationId": f"{'legacy' if legacy else ''}fetchMessage",
        "responses": {**_ok("The message", "Message"), **ERRORS},
    }
    update = {
        "tags": tag,
        "summary": "Cancel a queued or scheduled message (Status=canceled) or redact its body (Body=)",
        "operationId": f"{'legacy' if legacy else ''}updateMessage",
        "requestBody": _form({"Status": _str(enum=["canceled"]), "Body": _str(maxLength=0)}),
        "responses": {
            **_ok("The updated message", "Message"),
            "400": _error("Cannot cancel (30409) or invalid value (20001)"),
            "409": _error("Still being processed (20009)"),
            **ERRORS,
        },
    }
    delete = {
        "tags": tag,
        "summary": "Delete a finished message",
        "operationId": f"{'legacy' if legacy else ''}deleteMessage",
        "responses": {
            "204": {"description": "Deleted"},
            "409": _error("Still queued, scheduled or sending (20009)"),
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


def _number_paths() -> dict[str, Any]:
    tag = ["IncomingPhoneNumbers"]
    update_fields: dict[str, Schema] = {"FriendlyName": _str(maxLength=64)}
    for name in ("SmsUrl", "SmsFallbackUrl", "VoiceUrl", "VoiceFallbackUrl", "StatusCallback"):
        update_fields[name] = _str("http(s) URL; empty clears it")
    for name in (
        "SmsMethod",
        "SmsFallbackMethod",
        "VoiceMethod",
        "VoiceFallbackMethod",
        "StatusCallbackMethod",
    ):
        update_fields[name] = METHOD
    return {
        f"{ACCOUNT}/IncomingPhoneNumbers.json": {
            "parameters": [ACCOUNT_PARAM],
            "get": {
                "tags": tag,
                "summary": "List the appliance's numbers (one per modem)",
                "operationId": "listIncomingPhoneNumbers",
                "parameters": [
                    _param("PhoneNumber", "query", "Part of the number; * matches any digit"),
                    _param("FriendlyName", "query", "Exact friendly name"),
                    *PAGING,
                ],
                "responses": {
                    **_ok("One page", "IncomingPhoneNumberPage"),
                    "400": _error("Invalid paging parameter (20001)"),
                    **ERRORS,
                },
            },
        },
        f"{ACCOUNT}/IncomingPhoneNumbers/{{Sid}}.json": {
            "parameters": [ACCOUNT_PARAM, _param("Sid", "path", "The number's SID", _str())],
            "get": {
                "tags": tag,
                "summary": "Fetch a number",
                "operationId": "fetchIncomingPhoneNumber",
                "responses": {**_ok("The number", "IncomingPhoneNumber"), **ERRORS},
            },
            "post": {
                "tags": tag,
                "summary": "Update a number's webhooks and friendly name",
                "operationId": "updateIncomingPhoneNumber",
                "requestBody": _form(update_fields),
                "responses": {
                    **_ok("The updated number", "IncomingPhoneNumber"),
                    "400": _error("Invalid URL (21402), method (21403) or name (20001)"),
                    **ERRORS,
                },
            },
        },
    }


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
        "account_sid": _sid("AC"),
        "annotation": _nullable(_str()),
        "answered_by": _nullable(_str()),
        "api_version": _str(),
        "caller_name": _nullable(_str()),
        "date_created": DATE,
        "date_updated": DATE,
        "direction": _str(enum=["inbound", "outbound-api", "outbound-dial"]),
        "duration": _nullable(_str("Seconds, as a string")),
        "end_time": DATE,
        "forwarded_from": _nullable(_str()),
        "from": _str(),
        "from_formatted": _str(),
        "group_sid": _nullable(_str()),
        "parent_call_sid": _nullable(_str()),
        "phone_number_sid": _nullable(_str()),
        "price": _nullable(_str()),
        "price_unit": _str(),
        "queue_time": _str(),
        "sid": _sid("CA"),
        "start_time": DATE,
        "status": _str(enum=CALL_STATUSES),
        "subresource_uris": {"type": "object", "additionalProperties": {"type": "string"}},
        "to": _str(),
        "to_formatted": _str(),
        "trunk_sid": _nullable(_str()),
        "uri": URI,
    },
    "required": ["sid", "status", "to", "from", "direction", "uri"],
}

RECORDING: Schema = {
    "type": "object",
    "properties": {
        "account_sid": _sid("AC"),
        "api_version": _str(),
        "call_sid": _str(),
        "channels": {"type": "integer"},
        "conference_sid": _nullable(_str()),
        "date_created": DATE,
        "date_updated": DATE,
        "duration": _str("Seconds, as a string"),
        "encryption_details": {"type": "object", "nullable": True},
        "error_code": {"type": "integer", "nullable": True},
        "media_url": _str("Absolute URL of the WAV (add .mp3 for MP3)"),
        "price": _nullable(_str()),
        "price_unit": _str(),
        "sid": _sid("RE"),
        "source": _str(),
        "start_time": DATE,
        "status": _str(),
        "subresource_uris": {"type": "object", "additionalProperties": {"type": "string"}},
        "track": _str(),
        "uri": URI,
    },
    "required": ["sid", "call_sid", "status", "duration", "uri"],
}


def _call_paths() -> dict[str, Any]:
    tag = ["Calls"]
    sid_param = _param("Sid", "path", "The call's SID", _str())
    callbacks: dict[str, Schema] = {
        "Method": METHOD,
        "FallbackUrl": _str("http(s) URL fetched when Url fails"),
        "FallbackMethod": METHOD,
        "StatusCallback": _str("http(s) URL for call status callbacks"),
        "StatusCallbackMethod": METHOD,
        "TimeLimit": {"type": "integer", "minimum": 1, "description": "Seconds (default 14400)"},
    }
    create_fields: dict[str, Schema] = {
        "To": _str("Number to call, E.164"),
        "From": _str("One of the appliance's numbers"),
        "Url": _str("http(s) URL of the call's TwiML"),
        "Twiml": _str("The call's TwiML, inline (used when Url is absent)", maxLength=4000),
        **callbacks,
        "StatusCallbackEvent": {
            "type": "array",
            "items": _str(enum=["initiated", "ringing", "answered", "completed"]),
            "description": "Repeatable; default completed",
        },
        "Timeout": {
            "type": "integer",
            "minimum": 1,
            "description": "Seconds to ring (default 60, at most 600)",
        },
        "Record": _str("Accepted and ignored: use <Record> in the TwiML"),
        "SendDigits": _str("Accepted and ignored: use <Play digits> in the TwiML"),
    }
    return {
        f"{ACCOUNT}/Calls.json": {
            "parameters": [ACCOUNT_PARAM],
            "get": {
                "tags": tag,
                "summary": "List calls, newest first",
                "operationId": "listCalls",
                "parameters": [
                    _param("To", "query", "Only calls to this number"),
                    _param("From", "query", "Only calls from this number"),
                    _param(
                        "Status", "query", "Only calls in this status", _str(enum=CALL_STATUSES)
                    ),
                    _param("ParentCallSid", "query", "Only child legs of this call"),
                    _param("StartTime", "query", "Started on this UTC day (YYYY-MM-DD)"),
                    _param("StartTime<", "query", "Started on or before this UTC day"),
                    _param("StartTime>", "query", "Started on or after this UTC day"),
                    _param("EndTime", "query", "Ended on this UTC day (YYYY-MM-DD)"),
                    _param("EndTime<", "query", "Ended on or before this UTC day"),
                    _param("EndTime>", "query", "Ended on or after this UTC day"),
                    *PAGING,
                ],
                "responses": {
                    **_ok("One page", "CallPage"),
                    "400": _error("Invalid filter or paging parameter (20001)"),
                    **ERRORS,
                },
            },
            "post": {
                "tags": tag,
                "summary": "Queue an outbound call from one of the appliance's numbers",
                "operationId": "createCall",
                "requestBody": _form(create_fields, ["To", "From"]),
                "responses": {
                    **_ok("The queued call", "Call", "201"),
                    "400": _error(
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
                "responses": {**_ok("The call", "Call"), **ERRORS},
            },
            "post": {
                "tags": tag,
                "summary": "Cancel (Status=canceled), hang up (Status=completed) or redirect"
                " (Url or Twiml) a call",
                "operationId": "updateCall",
                "requestBody": _form(
                    {
                        "Status": _str(enum=["canceled", "completed"]),
                        "Url": _str("http(s) URL of new TwiML"),
                        "Twiml": _str("New TwiML, inline", maxLength=4000),
                        **callbacks,
                    }
                ),
                "responses": {
                    **_ok("The updated call", "Call"),
                    "400": _error("Invalid value, or the call has ended (21220)"),
                    **ERRORS,
                },
            },
            "delete": {
                "tags": tag,
                "summary": "Delete an ended call",
                "operationId": "deleteCall",
                "responses": {
                    "204": {"description": "Deleted"},
                    "409": _error("The call has not ended (20009)"),
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
                    _param("DateCreated", "query", "Created on this UTC day (YYYY-MM-DD)"),
                    _param("DateCreated<", "query", "Created on or before this UTC day"),
                    _param("DateCreated>", "query", "Created on or after this UTC day"),
                    *PAGING,
                ],
                "responses": {
                    **_ok("One page", "RecordingPage"),
                    "400": _error("Invalid filter or paging parameter (20001)"),
                    **ERRORS,
                },
            },
        },
    }


def _recording_paths() -> dict[str, Any]:
    tag = ["Recordings"]
    sid_param = _param("Sid", "path", "The recording's SID", _str())

    def media(kind: str, media_type: str, suffix: str) -> Schema:
        return {
            "parameters": [ACCOUNT_PARAM, sid_param],
            "get": {
                "tags": tag,
                "summary": f"The recording's audio as {kind}",
                "operationId": f"fetchRecording{kind}{'Bare' if not suffix else ''}",
                "responses": {
                    "200": {
                        "description": f"The audio ({kind})",
                        "content": {media_type: {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **ERRORS,
                },
            },
        }

    return {
        f"{ACCOUNT}/Recordings.json": {
            "parameters": [ACCOUNT_PARAM],
            "get": {
                "tags": tag,
                "summary": "List recordings, newest first",
                "operationId": "listRecordings",
                "parameters": [
                    _param("CallSid", "query", "Only this call's recordings"),
                    _param("DateCreated", "query", "Created on this UTC day (YYYY-MM-DD)"),
                    _param("DateCreated<", "query", "Created on or before this UTC day"),
                    _param("DateCreated>", "query", "Created on or after this UTC day"),
                    *PAGING,
                ],
                "responses": {
                    **_ok("One page", "RecordingPage"),
                    "400": _error("Invalid filter or paging parameter (20001)"),
                    **ERRORS,
                },
            },
        },
        f"{ACCOUNT}/Recordings/{{Sid}}.json": {
            "parameters": [ACCOUNT_PARAM, sid_param],
            "get": {
                "tags": tag,
                "summary": "Fetch a recording",
                "operationId": "fetchRecording",
                "responses": {**_ok("The recording", "Recording"), **ERRORS},
            },
            "delete": {
                "tags": tag,
                "summary": "Delete a recording and its audio files",
                "operationId": "deleteRecording",
                "responses": {
                    "204": {"description": "Deleted"},
                    "409": _error("The recording is still in progress (20009)"),
                    **ERRORS,
                },
            },
        },
        f"{ACCOUNT}/Recordings/{{Sid}}": media("Wav", "audio/x-wav", ""),
        f"{ACCOUNT}/Recordings/{{Sid}}.wav": media("Wav", "audio/x-wav", ".wav"),
        f"{ACCOUNT}/Recordings/{{Sid}}.mp3": media("Mp3", "audio/mpeg", ".mp3"),
    }


def spec() -> dict[str, Any]:
    """The OpenAPI document (a fresh dict each call)."""
    paths: dict[str, Any] = {
        f"{ACCOUNT}.json": {
            "parameters": [ACCOUNT_PARAM],
            "get": {
                "tags": ["Account"],
                "summary": "Fetch the account",
                "operationId": "fetchAccount",
                "responses": {**_ok("The account", "Account"), **ERRORS},
            },
        },
        **_message_paths(f"{ACCOUNT}/Messages", "messages", legacy=False),
        **_message_paths(f"{ACCOUNT}/SMS/Messages", "sms_messages", legacy=True),
        **_number_paths(),
        **_call_paths(),
        **_recording_paths(),
        "/2010-04-01/openapi.json": {
            "get": {
                "tags": ["Meta"],
                "summary": "This document",
                "operationId": "openapi",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.0 document"}},
            }
        },
        "/": {
            "get": {
                "tags": ["Meta"],
                "summary": "Where things are",
                "operationId": "index",
                "security": [],
                "responses": {"200": {"description": "Links"}},
            }
        },
        "/health": {
            "get": {
                "tags": ["Meta"],
                "summary": "Modem health and queue depth (503 when a modem is not ready)",
                "operationId": "health",
                "security": [],
                "responses": {
                    "200": {"description": "All modems ready"},
                    "503": {"description": "A modem is not ready"},
                },
            }
        },
        "/appliance/modems/{name}/at": {
            "parameters": [_param("name", "path", "Modem name from the configuration")],
            "post": {
                "tags": ["Admin"],
                "summary": "Send one raw AT command to a modem",
                "operationId": "modemAt",
                "requestBody": _form({"command": _str("One AT command")}, ["command"]),
                "responses": {
                    "200": {"description": "The modem's response lines"},
                    "400": _error("Empty command or control characters (20001)"),
                    "503": _error("The modem failed the command"),
                    **ERRORS,
                },
            },
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "appliance: Twilio-compatible REST API",
            "version": "2010-04-01",
            "description": "The subset of Twilio's 2010-04-01 REST API a GSM-modem appliance serves. "
            "Requests are form-encoded; responses are JSON; errors are {code, message, more_info, status}.",
        },
        "servers": [{"url": "/"}],
        "security": [{"basicAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basicAuth": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "AccountSid:AuthToken, or an API key SKxxx:secret",
                }
            },
            "schemas": {
                "Account": ACCOUNT_SCHEMA,
                "Message": MESSAGE,
                "MessagePage": _page("messages", "Message"),
                "SmsMessagePage": _page("sms_messages", "Message"),
                "IncomingPhoneNumber": NUMBER,
                "IncomingPhoneNumberPage": _page("incoming_phone_numbers", "IncomingPhoneNumber"),
                "Call": CALL,
                "CallPage": _page("calls", "Call"),
                "Recording": RECORDING,
                "RecordingPage": _page("recordings", "Recording"),
                "Error": ERROR,
            },
        },
    }


def dumps() -> str:
    return json.dumps(spec(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(dumps(), end="")
