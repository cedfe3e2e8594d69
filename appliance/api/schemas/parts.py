"""The building blocks of the OpenAPI description: typed fields, parameters, responses, pages.

Also the component every error response refers to (``Error``: Twilio's error shape)
and the parts every path repeats (the AccountSid parameter, paging, 401/404/429).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ACCOUNT",
    "ACCOUNT_PARAM",
    "DATE",
    "ERROR",
    "ERRORS",
    "FORM",
    "JSON",
    "KEY_REFUSED",
    "METHOD",
    "PAGING",
    "URI",
    "Schema",
    "error",
    "form",
    "nullable",
    "ok",
    "page",
    "param",
    "ref",
    "sid",
    "string",
]

ACCOUNT = "/2010-04-01/Accounts/{AccountSid}"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def string(description: str = "", **extra: Any) -> Schema:
    """A string field (``extra``: enum, pattern, maxLength …)."""
    rv: Schema = {"type": "string", **extra}
    if description:
        rv["description"] = description
    return rv


def nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def sid(prefix: str) -> Schema:
    """A 34-character SID starting with ``prefix``."""
    return string(pattern=f"^{prefix}[0-9a-f]{{32}}$", minLength=34, maxLength=34)


DATE = nullable(string("RFC 2822 date in GMT, e.g. Thu, 30 Jul 2015 20:12:31 +0000"))
URI = string("A path relative to the server")
METHOD = string(enum=["GET", "POST"])

ERROR: Schema = {
    "type": "object",
    "description": "Twilio's error shape (never `type`/`title`: those make twilio-python 9.13 raise TwilioServiceException)",
    "properties": {
        "code": {"type": "integer"},
        "message": string(),
        "more_info": string(),
        "status": {"type": "integer"},
    },
    "required": ["code", "message", "more_info", "status"],
}


def page(key: str, item: str) -> Schema:
    """A list page whose records (``item`` schemas) are under ``key``."""
    return {
        "type": "object",
        "properties": {
            key: {"type": "array", "items": ref(item)},
            "end": {"type": "integer"},
            "first_page_uri": URI,
            "next_page_uri": nullable(URI),
            "page": {"type": "integer"},
            "page_size": {"type": "integer"},
            "previous_page_uri": nullable(URI),
            "start": {"type": "integer"},
            "uri": URI,
        },
        "required": [key, "next_page_uri", "page", "page_size"],
    }


def error(description: str) -> Schema:
    """An error response."""
    return {"description": description, "content": {JSON: {"schema": ref("Error")}}}


ERRORS = {
    "401": error("Authentication failed (20003)"),
    "404": error("Unknown account or resource (20404)"),
    "413": error("Request body over 64 KiB, with Content-Length or chunked (20001)"),
    "429": error("Rate limit exceeded (20429)"),
}
KEY_REFUSED = {
    "403": error("An API key: this endpoint needs the AccountSid and AuthToken (20003)"),
}


def ok(description: str, schema: str, status: str = "200") -> dict[str, Schema]:
    """A successful JSON response of the component ``schema``."""
    return {status: {"description": description, "content": {JSON: {"schema": ref(schema)}}}}


def form(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    """A form-encoded request body."""
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {"required": bool(required), "content": {FORM: {"schema": schema}}}


def param(name: str, where: str, description: str, schema: Schema | None = None) -> Schema:
    """A path or query parameter (a string unless ``schema`` says otherwise)."""
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema or string(),
    }


ACCOUNT_PARAM = param("AccountSid", "path", "The account's SID", sid("AC"))
PAGING = [
    param(
        "PageSize",
        "query",
        "Records per page (1-1000, default 50)",
        {"type": "integer", "minimum": 1, "maximum": 1000},
    ),
    param("Page", "query", "Page number (0-based)", {"type": "integer", "minimum": 0}),
    param("PageToken", "query", "Opaque token from next_page_uri"),
]
