"""The fast lane: ``POST …/Messages.json`` served without Flask's request machinery.

Creating a message is the one request apps make in bulk, and on a Pi every
microsecond of Python on the HTTP threads is taken from the store's writer (they
share one GIL).  Flask's request context, routing, form parsing and response object
cost about as much as the create itself (docs/design.md, "Performance").  This WSGI
middleware sits in front of the API app and answers the plain case itself: a
form-encoded create with the AuthToken or an API key, the five usual parameters, all
valid.  Everything else (any other parameter, a schedule, an invalid value, a failed
login, a rate limit, a chunked body) goes to the Flask route unchanged, with the body
it read put back, so there is one definition of every error: the route's.

Nothing is done twice and nothing is skipped: the checks are the route's own
(:func:`appliance.api.messages.checked_create`, the same credential and rate-limit
objects), and the answer is built by the same :func:`~appliance.api.messages.message_json`
and written with the JSON provider's settings (one encoder, made once).  The message is on
disk before the 201, as on the route.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from appliance.api.authentication import verified_user
from appliance.api.common import MAX_BODY_BYTES, ApiError, error_body, unavailable_body
from appliance.api.messages import checked_create, message_json
from appliance.errors import ApplianceError, StoreUnavailable
from appliance.store.outage import RETRY_AFTER

if TYPE_CHECKING:
    from appliance.system.runtime import Appliance

_PATH = re.compile(r"/2010-04-01/Accounts/([^/]+)/(?:SMS/)?Messages\.json")
# The parameters the fast lane takes; any other one sends the request to the route.
_PLAIN = frozenset({"To", "From", "Body", "StatusCallback", "StatusCallbackMethod"})
_FORM = "application/x-www-form-urlencoded"
_QUOTE_ERRORS = "werkzeug.url_quote"  # werkzeug's own handler, as its form parser uses

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def fast_lane(app: Flask, d: Appliance) -> WsgiApp:
    """Wrap the API's WSGI app so a plain message create skips Flask (see the module)."""
    flask_app: WsgiApp = app.wsgi_app
    # The JSON provider's settings, in one encoder made once (json.dumps makes one per call).
    encoder = json.JSONEncoder(
        default=app.json.default,  # type: ignore[attr-defined]
        ensure_ascii=app.json.ensure_ascii,  # type: ignore[attr-defined]
        sort_keys=app.json.sort_keys,  # type: ignore[attr-defined]
        separators=(",", ":"),
    )
    keys = app.config["API_KEYS"]
    limiter = app.config["RATE_LIMITER"]

    def lane(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            return plain(environ, start_response)
        except StoreUnavailable:  # an API key's lookup or the write: nothing was stored
            return _json(start_response, 503, unavailable_body(), retry_after=RETRY_AFTER)

    def plain(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or "HTTP_TRANSFER_ENCODING" in environ:
            return flask_app(environ, start_response)
        match = _PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or match.group(1) != d.account.sid:
            return flask_app(environ, start_response)
        ctype = environ.get("CONTENT_TYPE", "")
        length = environ.get("CONTENT_LENGTH", "")
        if ctype.partition(";")[0].strip().lower() != _FORM or not length.isdigit():
            return flask_app(environ, start_response)
        size = int(length)
        if not 0 < size <= MAX_BODY_BYTES:
            return flask_app(environ, start_response)
        user = verified_user(environ.get("HTTP_AUTHORIZATION", ""), d.account, keys)
        if user is None:
            return flask_app(environ, start_response)
        raw = environ["wsgi.input"].read(size)
        environ["wsgi.input"] = io.BytesIO(raw)  # the route reads it again if it takes over
        form = _plain_form(raw)
        if form is None:
            return flask_app(environ, start_response)
        try:
            checked = checked_create(d, form, look_up=False)  # the write looks From up
        except (ApiError, ApplianceError):
            return flask_app(environ, start_response)  # the route words the error
        if not limiter.allow(user):
            return flask_app(environ, start_response)  # still over: the route says 429
        try:
            row = checked.enqueue(d)  # on disk, and the modem thread woken
        except ApiError as e:  # refused in the write (an opt-out): nothing was stored
            return _json(start_response, e.status, error_body(e.status, e.code, e.message))
        return _json(start_response, 201, message_json(row))

    def _json(
        start_response: StartResponse,
        status: int,
        obj: dict[str, Any],
        *,
        retry_after: int | None = None,
    ) -> list[bytes]:
        """The answer as the route's ``jsonify`` writes it (compact, sorted, a newline)."""
        body = (encoder.encode(obj) + "\n").encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if retry_after is not None:
            headers.append(("Retry-After", str(retry_after)))
        start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}", headers)
        return [body]

    return lane


def _plain_form(raw: bytes) -> dict[str, str] | None:
    """The form as the route's parser reads it (first value of each name), or None when it
    has anything the fast lane leaves to the route: another parameter, or bytes that are
    not UTF-8.

    The usual form's names are written plainly (``To=…&From=…&Body=…``): those are read
    here as ``parse_qsl`` would read them, a value unquoted only when it has a ``%`` or a
    ``+``; a form with any other name as written (an escaped one, an empty one, another
    parameter) is read by ``parse_qsl`` itself."""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return None
    form: dict[str, str] = {}
    for pair in text.split("&"):
        if not pair:
            continue  # parse_qsl skips an empty field
        name, _, value = pair.partition("=")
        if name not in _PLAIN:
            return _parsed_form(text)
        if "%" in value or "+" in value:
            value = unquote(value.replace("+", " "), errors=_QUOTE_ERRORS)
        form.setdefault(name, value)
    return form


def _parsed_form(text: str) -> dict[str, str] | None:
    """:func:`_plain_form` for any form, by ``parse_qsl``."""
    form: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, errors=_QUOTE_ERRORS):
        if name not in _PLAIN:
            return None
        form.setdefault(name, value)
    return form
