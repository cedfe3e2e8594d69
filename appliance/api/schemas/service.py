"""The OpenAPI description of the appliance's own endpoints (:func:`appliance.api.create_app`).

The OpenAPI document itself, the index, ``/health``, ``/metrics``, the status, the AT console
and USSD.
"""

from __future__ import annotations

from typing import Any

from appliance.api.schemas.parts import ERRORS, JSON, KEY_REFUSED, error, form, param, string
from appliance.modem import ussd

CONDITIONS = ["ok", "disconnected", "sim_not_ready", "network_lost"]
HEALTH = {
    "type": "object",
    "properties": {
        "ok": {"type": "boolean", "description": "Every modem healthy (HTTP 200)"},
        "status": {"type": "string", "enum": ["ok", "degraded"]},
        "ready": {
            "type": "boolean",
            "description": "The daemon serves and every modem is connected (readiness)",
        },
        "queue_depth": {"type": "integer"},
        "modems": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "modem": {"type": "string"},
                    "state": {"type": "string", "description": "ready (connected), connecting…"},
                    "condition": {"type": "string", "enum": CONDITIONS},
                    "healthy": {"type": "boolean"},
                    "reason": {"type": "string", "nullable": True},
                    "signal": {"type": "integer", "nullable": True},
                    "registration": {"type": "string", "nullable": True},
                    "operator": {"type": "string", "nullable": True},
                    "sim": {"type": "string", "nullable": True},
                    "last_error": {"type": "string", "nullable": True},
                },
            },
        },
        "node": {
            "type": "object",
            "description": "This appliance in its fleet (data_dir/node_id, node_name)",
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "name": {"type": "string"},
                "id_shared": {
                    "type": "string",
                    "nullable": True,
                    "description": "Another running appliance has this node id (a copied"
                    " data_dir/node_id): what to do; null when not",
                },
            },
        },
        "fleet": {
            "type": "object",
            "nullable": True,
            "description": "Every node that ran on this database (one on SQLite); null while"
            " the database is unreachable",
            "properties": {
                "up": {"type": "integer", "description": "Nodes with a heartbeat within 30 s"},
                "nodes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string", "format": "uuid"},
                            "name": {"type": "string"},
                            "url": {"type": "string"},
                            "version": {"type": "string"},
                            "state": {"type": "string", "enum": ["up", "lost", "stopped"]},
                            "heartbeat_age_s": {"type": "number"},
                            "modems": {"type": "array", "items": {"type": "string"}},
                            "queue_depth": {"type": "integer"},
                            "id_shared_with": {
                                "type": "string",
                                "nullable": True,
                                "description": "The URL of a second live appliance with this"
                                " node's id (a cloned data_dir), seen within 30 s",
                            },
                        },
                    },
                },
            },
        },
    },
}

USSD_REPLY = {
    "type": "object",
    "properties": {
        "modem": {"type": "string"},
        "request": {"type": "string", "description": "What was sent"},
        "status": {
            "type": "string",
            "enum": [*ussd.STATUS_NAMES.values(), "cancelled"],
            "description": "+CUSD <m>: done, more (the network asks for an answer), ended,"
            " not-supported…; cancelled after cancel=1",
        },
        "status_code": {"type": "integer", "description": "<m> of +CUSD"},
        "text": {"type": "string", "description": "The answer, decoded by its DCS"},
        "dcs": {"type": "integer", "nullable": True},
        "raw": {"type": "string", "nullable": True, "description": "<str> as the modem wrote it"},
        "session_open": {
            "type": "boolean",
            "description": "The network waits for an answer: send it as the next code",
        },
    },
}


def paths() -> dict[str, Any]:
    """The paths of the OpenAPI document, the index, health, metrics and the AT console."""
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
                "summary": "Each modem's condition and the queue depth (503 when a modem is"
                " degraded: not connected, SIM not ready, or no network)",
                "operationId": "health",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Every modem connected, its SIM ready, registered",
                        "content": {JSON: {"schema": HEALTH}},
                    },
                    "503": {
                        "description": "A modem is degraded; each says why (condition, reason)",
                        "content": {JSON: {"schema": HEALTH}},
                    },
                },
            }
        },
        "/metrics": {
            "get": {
                "tags": ["Meta"],
                "summary": "Prometheus metrics (loopback: no credential; elsewhere: Bearer"
                " metrics_token, never the AuthToken)",
                "operationId": "metrics",
                "security": [{}, {"metricsToken": []}],
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format (OpenMetrics if asked)",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": error("Beyond loopback without the right bearer token (20003)"),
                    "403": error("Beyond loopback while metrics_token is not set (20003)"),
                    "404": error("metrics_enabled is false (20404)"),
                },
            }
        },
        "/appliance/status": {
            "get": {
                "tags": ["Admin"],
                "summary": "What `appliance status` prints: modems, queue depths, last errors and"
                " the webhook URLs in use (AccountSid and AuthToken only)",
                "operationId": "applianceStatus",
                "security": [{"basicAuth": []}],
                "responses": {
                    "200": {
                        "description": "Modems, queues, recent failures, numbers' URLs",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    },
                    **KEY_REFUSED,
                    **ERRORS,
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
        "/appliance/modems/{name}/ussd": {
            "parameters": [param("name", "path", "Modem name from the configuration")],
            "post": {
                "tags": ["Admin"],
                "summary": "Send a USSD code (*100#) or the answer to the network's menu, and"
                " wait for the network's answer; cancel=1 ends the session (AccountSid and"
                " AuthToken only)",
                "operationId": "modemUssd",
                "security": [{"basicAuth": []}],
                "requestBody": form(
                    {
                        "code": string(
                            "A code such as *100#, or the answer to a menu (while session_open)",
                            maxLength=182,
                        ),
                        "cancel": string("1 ends the open session (AT+CUSD=2)", enum=["1"]),
                    }
                ),
                "responses": {
                    "200": {
                        "description": "The network's answer",
                        "content": {JSON: {"schema": USSD_REPLY}},
                    },
                    "400": error("No code, or characters a USSD string cannot carry (20001)"),
                    "409": error("Another USSD request on this modem waits for its answer"),
                    "503": error("The modem is not connected or refused the request"),
                    "504": error("The network did not answer within ussd_timeout"),
                    **KEY_REFUSED,
                    **ERRORS,
                },
            },
        },
    }
