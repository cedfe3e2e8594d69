"""The OpenAPI description of the appliance's own endpoints (:func:`appliance.api.create_app`).

The OpenAPI document itself, the index, ``/health`` and the admin AT console.
"""

from __future__ import annotations

from typing import Any

from appliance.api.schemas.parts import ERRORS, KEY_REFUSED, error, form, param, string


def paths() -> dict[str, Any]:
    """The paths of the OpenAPI document, the index, health and the AT console."""
    return {
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
            "parameters": [param("name", "path", "Modem name from the configuration")],
            "post": {
                "tags": ["Admin"],
                "summary": "Send one raw AT command to a modem (AccountSid and AuthToken only)",
                "operationId": "modemAt",
                "security": [{"basicAuth": []}],
                "requestBody": form({"command": string("One AT command")}, ["command"]),
                "responses": {
                    "200": {"description": "The modem's response lines"},
                    "400": error("Empty command or control characters (20001)"),
                    "503": error("The modem failed the command"),
                    **KEY_REFUSED,
                    **ERRORS,
                },
            },
        },
    }
