"""The OpenAPI description of the Recording resource (:mod:`appliance.api.recordings`)."""

from __future__ import annotations

from typing import Any

from appliance.api.schemas.parts import (
    ACCOUNT,
    ACCOUNT_PARAM,
    DATE,
    ERRORS,
    PAGING,
    URI,
    Schema,
    error,
    nullable,
    ok,
    page,
    param,
    sid,
    string,
)

RECORDING: Schema = {
    "type": "object",
    "properties": {
        "account_sid": sid("AC"),
        "api_version": string(),
        "call_sid": string(),
        "channels": {"type": "integer"},
        "conference_sid": nullable(string()),
        "date_created": DATE,
        "date_updated": DATE,
        "duration": string("Seconds, as a string"),
        "encryption_details": {"type": "object", "nullable": True},
        "error_code": {"type": "integer", "nullable": True},
        "media_url": string("Absolute URL of the WAV (add .mp3 for MP3)"),
        "price": nullable(string()),
        "price_unit": string(),
        "sid": sid("RE"),
        "source": string(),
        "start_time": DATE,
        "status": string(),
        "subresource_uris": {"type": "object", "additionalProperties": {"type": "string"}},
        "track": string(),
        "uri": URI,
    },
    "required": ["sid", "call_sid", "status", "duration", "uri"],
}

SCHEMAS: dict[str, Schema] = {
    "Recording": RECORDING,
    "RecordingPage": page("recordings", "Recording"),
}


def paths() -> dict[str, Any]:
    """The Recordings paths, with the media."""
    tag = ["Recordings"]
    sid_param = param("Sid", "path", "The recording's SID", string())

    def media(kind: str, media_type: str, suffix: str) -> Schema:
        return {
            "parameters": [ACCOUNT_PARAM, sid_param],
            "get": {
                "tags": tag,
                "summary": f"The recording's audio as {kind}",
                "description": "Public unless recording_media_auth is set (Twilio's default)",
                "operationId": f"fetchRecording{kind}{'Bare' if not suffix else ''}",
                "security": [{}, {"basicAuth": []}],
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
                    param("CallSid", "query", "Only this call's recordings"),
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
        f"{ACCOUNT}/Recordings/{{Sid}}.json": {
            "parameters": [ACCOUNT_PARAM, sid_param],
            "get": {
                "tags": tag,
                "summary": "Fetch a recording",
                "operationId": "fetchRecording",
                "responses": {**ok("The recording", "Recording"), **ERRORS},
            },
            "delete": {
                "tags": tag,
                "summary": "Delete a recording and its audio files",
                "operationId": "deleteRecording",
                "responses": {
                    "204": {"description": "Deleted"},
                    "409": error("The recording is still in progress (20009)"),
                    **ERRORS,
                },
            },
        },
        f"{ACCOUNT}/Recordings/{{Sid}}": media("Wav", "audio/x-wav", ""),
        f"{ACCOUNT}/Recordings/{{Sid}}.wav": media("Wav", "audio/x-wav", ".wav"),
        f"{ACCOUNT}/Recordings/{{Sid}}.mp3": media("Mp3", "audio/mpeg", ".mp3"),
    }
