"""The OpenAPI description of the on-call rotation and paging (:mod:`appliance.api.oncall`).

Administration (people, schedules, overrides, the escalation policies, who is on call) takes the
AccountSid and AuthToken only; ``POST /appliance/alerts`` also an API key; the support
number's TwiML only the appliance's own signed requests.  docs/oncall.md has the details.
"""

from __future__ import annotations

from typing import Any

from appliance.api.schemas.parts import ERRORS, JSON, KEY_REFUSED, error, form, param, string

OBJECT = {JSON: {"schema": {"type": "object"}}}
ADMIN: list[dict[str, list[str]]] = [{"basicAuth": []}]
ITEM = [param("name", "path", "The item's id (a number)")]
BAD = error("A field is missing or wrong; the message names it (20001)")


def _ok(description: str, status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": OBJECT}}


def _admin(op: str, summary: str, ok: dict[str, Any], body: Any = None) -> dict[str, Any]:
    rv: dict[str, Any] = {
        "tags": ["On call"],
        "summary": summary + " (AccountSid and AuthToken only)",
        "operationId": op,
        "security": ADMIN,
        "responses": {**ok, "400": BAD, **KEY_REFUSED, **ERRORS},
    }
    if body is not None:
        rv["requestBody"] = body
    return rv


def _collection(name: str, noun: str, fields: dict[str, Any], required: list[str]) -> Any:
    return {
        "get": _admin(f"oncall{name}List", f"The {noun}s", _ok(f"The {noun}s")),
        "post": _admin(
            f"oncall{name}Create",
            f"Add a {noun}",
            _ok(f"The new {noun}", "201"),
            form(fields, required),
        ),  # fmt: skip
    }


def _item(name: str, noun: str) -> Any:
    gone = {"404": error(f"No such {noun} (20404)")}
    return {
        "parameters": ITEM,
        "get": _admin(f"oncall{name}Fetch", f"One {noun}", {**_ok(f"The {noun}"), **gone}),
        "delete": _admin(
            f"oncall{name}Delete", f"Remove a {noun}", {"204": {"description": "Removed"}, **gone}
        ),
    }


POLICY_FIELDS = {
    "name": string("Unique name (not only digits); the default policy keeps its name"),
    "ring_timeout": string(
        "Seconds each phone rings per step, on the support number and on a paging call"
        " (5 to 120, default 20)"
    ),
    "ack_timeout": string("Seconds a step waits for an ACK (1 to 86400, default 300)"),
    "repeat": string("Times the escalation plan runs (1 to 10, default 2)"),
    "default_person": string(
        "Who is paged when nobody is scheduled (a person's id; empty: nobody)"
    ),
    "schedules": {
        "type": "array",
        "items": string("A schedule's id"),
        "description": "The schedules that say who is on call (none, or one empty value:"
        " every schedule); absent on an update: unchanged",
    },
}
POLICY_PARAM = param("policy", "query", "An escalation policy's name (default: default)")


def _policies() -> dict[str, Any]:
    gone = {"404": error("No such policy (20404)")}
    item = [param("name", "path", "The policy's id or name")]
    return {
        "/appliance/oncall/policies": {
            "get": _admin("oncallPoliciesList", "The escalation policies", _ok("The policies")),
            "post": _admin(
                "oncallPoliciesCreate",
                "Add an escalation policy",
                _ok("The new policy", "201"),
                form(POLICY_FIELDS, ["name"]),
            ),
        },
        "/appliance/oncall/policies/{name}": {
            "parameters": item,
            "get": _admin(
                "oncallPolicyItemFetch", "One escalation policy", {**_ok("The policy"), **gone}
            ),  # fmt: skip
            "post": _admin(
                "oncallPolicyItemUpdate",
                "Change an escalation policy (the fields sent)",
                {**_ok("The policy"), **gone},
                form(POLICY_FIELDS),
            ),
            "delete": _admin(
                "oncallPolicyItemDelete",
                "Remove an escalation policy (not the default one, nor one an open alert or a"
                " number's Voice URL uses: 400)",
                {"204": {"description": "Removed"}, **gone},
            ),
        },
    }


def paths() -> dict[str, Any]:
    return {
        **_policies(),
        "/appliance/oncall/people": _collection(
            "People",
            "person",
            {
                "name": string("Who"),
                "phone": string("E.164 number"),
                "client": string("Client identity (optional)"),
            },
            ["name", "phone"],
        ),  # fmt: skip
        "/appliance/oncall/people/{name}": _item("Person", "person"),
        "/appliance/oncall/schedules": _collection(
            "Schedules",
            "schedule",
            {
                "name": string("Unique name"),
                "timezone": string("IANA time zone (default UTC)"),
                "rotation": string("daily, weekly or a number of days"),
                "handover_day": string("Weekly: mon..sun"),
                "handover_time": string("HH:MM local (default 09:00)"),
                "start": string("First handover date, YYYY-MM-DD (default today)"),
                "layer": string("Higher layers win (default 0)"),
                "people": {"type": "array", "items": string("A person's id, in turn order")},
            },
            ["name"],
        ),
        "/appliance/oncall/schedules/{name}": _item("Schedule", "schedule"),
        "/appliance/oncall/overrides": _collection(
            "Overrides",
            "override",
            {
                "person": string("A person's id"),
                "starts": string("ISO 8601 date and time"),
                "ends": string("ISO 8601 date and time"),
                "timezone": string("For times without an offset (default UTC)"),
            },
            ["person", "starts", "ends"],
        ),  # fmt: skip
        "/appliance/oncall/overrides/{name}": _item("Override", "override"),
        "/appliance/oncall/policy": {
            "get": _admin("oncallPolicyFetch", "The default escalation policy", _ok("The policy")),
            "post": _admin(
                "oncallPolicyUpdate",
                "Change the default escalation policy",
                _ok("The policy"),
                form(
                    {
                        "ring_timeout": string(
                            "Seconds each phone rings per step, on the support number and on a"
                            " paging call (5 to 120, default 20)"
                        ),
                        "ack_timeout": string("Seconds a step waits for an ACK (1 to 86400)"),
                        "repeat": string("Times the escalation plan runs (1 to 10)"),
                        "default_person": string("Who is paged when nobody is scheduled"),
                    }
                ),
            ),  # fmt: skip
        },
        "/appliance/oncall/now": {
            "get": {
                **_admin("oncallNow", "Who is on call now and next", _ok("Now and next")),
                "parameters": [POLICY_PARAM],
            },
        },
        "/appliance/oncall/calendar": {
            "get": {
                **_admin("oncallCalendar", "Who is on call over the next days", _ok("Shifts")),
                "parameters": [param("days", "query", "1 to 92 (default 28)"), POLICY_PARAM],
            },
        },
        "/twimlets/oncall": {
            verb: {
                "tags": ["On call"],
                "summary": "The support number's TwiML: ring whoever is on call, then each"
                " next person, then everyone at once, repeat times; page when nobody answers"
                " (only the appliance's own signed requests)",
                "parameters": [
                    param("Step", "query", "The escalation step (0: the first)"),
                    param("Chain", "query", "The people's ids, fixed at the first step"),
                    param("Policy", "query", "The escalation policy's name (default: default)"),
                ],
                "operationId": f"oncallVoice{verb.title()}",
                "security": [],
                "responses": {
                    "200": {"description": "TwiML", "content": {"text/xml": {"schema": string()}}},
                    "403": error("Not signed by the appliance (20003)"),
                },
            }
            for verb in ("get", "post")
        },
        "/appliance/alerts": {
            "post": {
                "tags": ["On call"],
                "summary": "Page whoever is on call: a form, or Alertmanager's webhook JSON"
                " (AuthToken or an API key)",
                "operationId": "alertCreate",
                "security": ADMIN,
                "requestBody": {
                    "required": True,
                    "content": {
                        **form(
                            {
                                "Body": string("The alert", maxLength=1600),
                                "Severity": string(enum=["critical", "error", "warning", "info"]),
                                "Fingerprint": string("Same fingerprint, same alert"),
                                "Policy": string("The escalation policy (default: default)"),
                            },
                            ["Body"],
                        )["content"],
                        JSON: {"schema": {"type": "object", "description": "Alertmanager v4"}},
                    },
                },  # fmt: skip
                "parameters": [
                    param(
                        "policy",
                        "query",
                        "The escalation policy of alerts without a policy label (default: default)",
                    ),
                ],  # fmt: skip
                "responses": {**_ok("Each alert's outcome", "201"), "400": BAD, **ERRORS},
            },
            "get": {
                **_admin("alertList", "The latest alerts", _ok("Alerts")),
                "parameters": [param("status", "query", "open, acked or resolved")],
            },
        },
        "/appliance/alerts/{name}": {
            "parameters": ITEM,
            "get": _admin(
                "alertFetch",
                "One alert",
                {**_ok("The alert"), "404": error("No such alert (20404)")},
            ),  # fmt: skip
        },
        "/appliance/alerts/{name}/resolve": {
            "parameters": ITEM,
            "post": _admin(
                "alertResolve",
                "Close an alert",
                {**_ok("The alert"), "404": error("No such open alert (20404)")},
            ),  # fmt: skip
        },
    }
