"""The OpenAPI description of the Application resource, TwiML Apps (:mod:`appliance.api.applications`)."""

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

URLS = (
    "voice_url",
    "voice_fallback_url",
    "status_callback",
    "sms_url",
    "sms_fallback_url",
    "sms_status_callback",
    "message_status_callback",
)
METHODS = (
    "voice_method",
    "voice_fallback_method",
    "status_callback_method",
    "sms_method",
    "sms_fallback_method",
)

APPLICATION: Schema = {
    "type": "object",
    "properties": {
        "account_sid": sid("AC"),
        "api_version": string(),
        "date_created": DATE,
        "date_updated": DATE,
        "friendly_name": string(),
        "public_application_connect_enabled": {"type": "boolean"},
        "sid": sid("AP"),
        "uri": URI,
        "voice_caller_id_lookup": {"type": "boolean"},
        **{name: nullable(string()) for name in URLS},
        **{name: METHOD for name in METHODS},
    },
    "required": ["sid", "account_sid", "friendly_name", "voice_url", "uri"],
}

SCHEMAS: dict[str, Schema] = {
    "Application": APPLICATION,
    "ApplicationPage": page("applications", "Application"),
}

BOOLEAN = string("true or false", enum=["true", "false"])


def _fields() -> dict[str, Schema]:
    fields: dict[str, Schema] = {
        "FriendlyName": string(maxLength=64),
        "ApiVersion": string(enum=["2010-04-01", "2008-08-01"]),
        "VoiceCallerIdLookup": BOOLEAN,
        "PublicApplicationConnectEnabled": BOOLEAN,
    }
    for name in (
        "VoiceUrl",
        "VoiceFallbackUrl",
        "StatusCallback",
        "SmsUrl",
        "SmsFallbackUrl",
        "SmsStatusCallback",
        "MessageStatusCallback",
    ):
        fields[name] = string("http(s) URL; empty clears it")
    for name in (
        "VoiceMethod",
        "VoiceFallbackMethod",
        "StatusCallbackMethod",
        "SmsMethod",
        "SmsFallbackMethod",
    ):
        fields[name] = METHOD
    return fields


def paths() -> dict[str, Any]:
    """The Applications paths."""
    tag = ["Applications"]
    invalid = error("Invalid URL (21402), method (21403) or other parameter (20001)")
    return {
        f"{ACCOUNT}/Applications.json": {
            "parameters": [ACCOUNT_PARAM],
            "get": {
                "tags": tag,
                "summary": "List the TwiML Apps (oldest first)",
                "operationId": "listApplications",
                "parameters": [param("FriendlyName", "query", "Exact friendly name"), *PAGING],
                "responses": {
                    **ok("One page", "ApplicationPage"),
                    "400": error("Invalid paging parameter (20001)"),
                    **ERRORS,
                },
            },
            "post": {
                "tags": tag,
                "summary": "Create a TwiML App",
                "operationId": "createApplication",
                "requestBody": form(_fields()),
                "responses": {
                    **ok("The new App", "Application", "201"),
                    "400": invalid,
                    **ERRORS,
                },
            },
        },
        f"{ACCOUNT}/Applications/{{Sid}}.json": {
            "parameters": [ACCOUNT_PARAM, param("Sid", "path", "The App's SID", string())],
            "get": {
                "tags": tag,
                "summary": "Fetch a TwiML App",
                "operationId": "fetchApplication",
                "responses": {**ok("The App", "Application"), **ERRORS},
            },
            "post": {
                "tags": tag,
                "summary": "Update a TwiML App",
                "operationId": "updateApplication",
                "requestBody": form(_fields()),
                "responses": {**ok("The updated App", "Application"), "400": invalid, **ERRORS},
            },
            "delete": {
                "tags": tag,
                "summary": "Delete a TwiML App",
                "operationId": "deleteApplication",
                "responses": {"204": {"description": "Deleted"}, **ERRORS},
            },
        },
    }
