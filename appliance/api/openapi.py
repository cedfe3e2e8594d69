"""The OpenAPI 3.0 description of every endpoint the appliance serves.

Built here from the per-resource parts in :mod:`appliance.api.schemas`, served at
``/2010-04-01/openapi.json`` and written to ``docs/openapi.json``
(``python -m appliance.api.openapi > docs/openapi.json``, or
``.venv/bin/python -c "from appliance.api.openapi import dumps; print(dumps(), end='')"``);
tests check that the file is current and that every route is described.
"""

from __future__ import annotations

import json
from typing import Any

from appliance.api.schemas import (
    account,
    applications,
    calls,
    messages,
    numbers,
    oncall,
    recordings,
    service,
    streams,
    twimlets,
    usermessages,
)
from appliance.api.schemas.parts import ERROR


def spec() -> dict[str, Any]:
    """The OpenAPI document (a fresh dict each call)."""
    paths: dict[str, Any] = {
        **account.paths(),
        **messages.paths(),
        **numbers.paths(),
        **applications.paths(),
        **calls.paths(),
        **recordings.paths(),
        **streams.paths(),
        **usermessages.paths(),
        **service.paths(),
        **twimlets.paths(),
        **oncall.paths(),
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
                },
                "metricsToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The metrics_token setting (GET /metrics from beyond loopback)",
                },
            },
            "schemas": {
                **account.SCHEMAS,
                **messages.SCHEMAS,
                **numbers.SCHEMAS,
                **applications.SCHEMAS,
                **calls.SCHEMAS,
                **recordings.SCHEMAS,
                **streams.SCHEMAS,
                **usermessages.SCHEMAS,
                "Error": ERROR,
            },
        },
    }


def dumps() -> str:
    return json.dumps(spec(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(dumps(), end="")
