"""The OpenAPI description of the IncomingPhoneNumber resource (:mod:`appliance.api.numbers`)."""

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

NUMBER: Schema = {
    "type": "object",
    "properties": {
        "account_sid": sid("AC"),
        "address_requirements": string(),
        "address_sid": nullable(string()),
        "api_version": string(),
        "beta": {"type": "boolean"},
        "bundle_sid": nullable(string()),
        "capabilities": {
            "type": "object",
            "properties": {k: {"type": "boolean"} for k in ("voice", "sms", "mms", "fax")},
        },
        "date_created": DATE,
        "date_updated": DATE,
        "emergency_address_sid": nullable(string()),
        "emergency_address_status": string(),
        "emergency_status": string(),
        "friendly_name": string(),
        "identity_sid": nullable(string()),
        "origin": string(),
        "phone_number": string(),
        "sid": sid("PN"),
        "sms_application_sid": nullable(string()),
        "sms_fallback_method": string(enum=["GET", "POST"]),
        "sms_fallback_url": string(),
        "sms_method": string(enum=["GET", "POST"]),
        "sms_url": string(),
        "status": string(),
        "status_callback": string(),
        "status_callback_method": string(enum=["GET", "POST"]),
        "subresource_uris": {"type": "object", "additionalProperties": {"type": "string"}},
        "trunk_sid": nullable(string()),
        "type": string(),
        "uri": URI,
        "voice_application_sid": nullable(string()),
        "voice_caller_id_lookup": {"type": "boolean"},
        "voice_fallback_method": string(enum=["GET", "POST"]),
        "voice_fallback_url": string(),
        "voice_method": string(enum=["GET", "POST"]),
        "voice_receive_mode": string(),
        "voice_url": string(),
    },
    "required": ["sid", "phone_number", "sms_url", "uri"],
}

SCHEMAS: dict[str, Schema] = {
    "IncomingPhoneNumber": NUMBER,
    "IncomingPhoneNumberPage": page("incoming_phone_numbers", "IncomingPhoneNumber"),
}


def paths() -> dict[str, Any]:
    """The IncomingPhoneNumbers paths."""
    tag = ["IncomingPhoneNumbers"]
    update_fields: dict[str, Schema] = {"FriendlyName": string(maxLength=64)}
    for name in ("SmsUrl", "SmsFallbackUrl", "VoiceUrl", "VoiceFallbackUrl", "StatusCallback"):
        update_fields[name] = string("http(s) URL; empty clears it")
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
                    param("PhoneNumber", "query", "Part of the number; * matches any digit"),
                    param("FriendlyName", "query", "Exact friendly name"),
                    *PAGING,
                ],
                "responses": {
                    **ok("One page", "IncomingPhoneNumberPage"),
                    "400": error("Invalid paging parameter (20001)"),
                    **ERRORS,
                },
            },
        },
        f"{ACCOUNT}/IncomingPhoneNumbers/{{Sid}}.json": {
            "parameters": [ACCOUNT_PARAM, param("Sid", "path", "The number's SID", string())],
            "get": {
                "tags": tag,
                "summary": "Fetch a number",
                "operationId": "fetchIncomingPhoneNumber",
                "responses": {**ok("The number", "IncomingPhoneNumber"), **ERRORS},
            },
            "post": {
                "tags": tag,
                "summary": "Update a number's webhooks and friendly name",
                "operationId": "updateIncomingPhoneNumber",
                "requestBody": form(update_fields),
                "responses": {
                    **ok("The updated number", "IncomingPhoneNumber"),
                    "400": error("Invalid URL (21402), method (21403) or name (20001)"),
                    **ERRORS,
                },
            },
        },
    }
