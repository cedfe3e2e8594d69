"""The OpenAPI description of the Account resource (``account_fetch`` in :mod:`appliance.api`)."""

from __future__ import annotations

from typing import Any

from appliance.api.schemas.parts import (
    ACCOUNT,
    ACCOUNT_PARAM,
    DATE,
    ERRORS,
    KEY_REFUSED,
    URI,
    Schema,
    ok,
    sid,
    string,
)

ACCOUNT_SCHEMA: Schema = {
    "type": "object",
    "properties": {
        "sid": sid("AC"),
        "auth_token": string(),
        "friendly_name": string(),
        "owner_account_sid": sid("AC"),
        "status": string(),
        "type": string(),
        "uri": URI,
        "date_created": DATE,
        "date_updated": DATE,
        "subresource_uris": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

SCHEMAS: dict[str, Schema] = {"Account": ACCOUNT_SCHEMA}


def paths() -> dict[str, Any]:
    """The Account path."""
    return {
        f"{ACCOUNT}.json": {
            "parameters": [ACCOUNT_PARAM],
            "get": {
                "tags": ["Account"],
                "summary": "Fetch the account (with its AuthToken: not for API keys)",
                "operationId": "fetchAccount",
                "responses": {**ok("The account", "Account"), **KEY_REFUSED, **ERRORS},
            },
        },
    }
