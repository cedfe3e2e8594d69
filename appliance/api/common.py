"""What every REST resource shares: the blueprint, Twilio-shaped errors, dates, the request
body's limits and list paging.  Who may call (credentials, API keys, the rate limit, node
signatures) is :mod:`appliance.api.authentication`."""

from __future__ import annotations

import email.utils
import functools
import math
import urllib.parse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from appliance.store.outage import RETRY_AFTER
from appliance.system import nodeproxy

if TYPE_CHECKING:
    from appliance.system.runtime import Appliance

bp = Blueprint("api", __name__, url_prefix="/2010-04-01")
PREFIX = "/2010-04-01/Accounts"
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
MAX_BODY_BYTES = 64 * 1024
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
DATES_CACHE = 1024  # formatted dates remembered (one per second of time)


class ApiError(Exception):
    """Raised by a view; answered as Twilio's ``{code, message, more_info, status}``."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def not_found() -> ApiError:
    return ApiError(404, 20404, f"The requested resource {request.path} was not found")


def daemon() -> Appliance:
    return current_app.config["DAEMON"]  # type: ignore[no-any-return]


def rfc2822(ts: float | None) -> str | None:
    """A timestamp as Twilio writes dates: ``Thu, 30 Jul 2015 20:12:31 +0000``."""
    if ts is None:
        return None
    return _rfc2822(math.floor(ts))


@functools.lru_cache(maxsize=DATES_CACHE)
def _rfc2822(second: int) -> str:
    """One second's date text, remembered: a created message's dates share one, and a list
    page's rows are seconds apart (formatting, even making the datetime, is the dearer part
    of writing a date)."""
    when = datetime.fromtimestamp(second, UTC)
    return email.utils.format_datetime(when).replace("-0000", "+0000")


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's error shape."""
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def error_response(status: int, code: int, message: str) -> Response:
    rv = jsonify(error_body(status, code, message))
    rv.status_code = status
    if status == 401:
        rv.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
    return rv


UNAVAILABLE = (
    "Service unavailable: the appliance's database cannot be reached, so nothing was stored;"
    " try again later"
)


def unavailable_body() -> dict[str, Any]:
    """The answer while the database is unreachable (503, 20503; nothing was stored)."""
    return error_body(503, 20503, UNAVAILABLE)


def unavailable() -> Response:
    """:func:`unavailable_body` with ``Retry-After``."""
    rv = error_response(503, 20503, UNAVAILABLE)
    rv.headers["Retry-After"] = str(RETRY_AFTER)
    return rv


def forwarded() -> bool:
    """Whether this request was forwarded by another node (it carries the node header,
    valid or not: such a request is never forwarded again)."""
    return nodeproxy.HEADER in request.headers


def too_large() -> Response:
    return error_response(
        413, 20001, f"Request body too large (limit {MAX_BODY_BYTES // 1024} KiB)"
    )


def streamed_length() -> int | None:
    """The length of a body sent without Content-Length (``Transfer-Encoding: chunked``),
    or None when it is over :data:`MAX_BODY_BYTES`.

    Flask's ``MAX_CONTENT_LENGTH`` only cuts such a stream short: the form would be
    parsed from the first 64 KiB.  The body is read here (at most the limit, and one
    byte more to tell) and cached on the request, so the form is parsed from it."""
    try:
        data = request.get_data(cache=True)  # request.stream stops at MAX_CONTENT_LENGTH
    except RequestEntityTooLarge:
        return None
    if len(data) >= MAX_BODY_BYTES and request.environ["wsgi.input"].read(1):
        return None
    return len(data)


def check_body() -> Response | None:
    """Refuse bodies that are too big or not form-encoded, with a Twilio-shaped error.

    The limit holds whether the body declares its length or is streamed (chunked)."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return too_large()
    if length is None and "HTTP_TRANSFER_ENCODING" in request.environ:
        length = streamed_length()
        if length is None:
            return too_large()
    if request.method not in ("POST", "PUT", "PATCH") or not length:
        return None
    mimetype = request.mimetype
    if mimetype in FORM_TYPES:
        return None
    if mimetype == "application/json" or mimetype.endswith("+json"):
        return error_response(
            400,
            20001,
            "JSON request bodies are not supported: send the parameters as"
            " application/x-www-form-urlencoded, as Twilio's API expects",
        )
    return error_response(
        400,
        20001,
        f"Unsupported Content-Type {mimetype or '(none)'!r}: send the parameters as"
        " application/x-www-form-urlencoded",
    )


MAX_PAGE = 1_000_000  # keeps Page * PageSize inside a 64-bit SQL integer


def page_params() -> tuple[int, int]:
    args = request.args
    try:
        page_size = int(args.get("PageSize", DEFAULT_PAGE_SIZE))
        page = int(args.get("Page", 0))
    except ValueError:
        raise ApiError(400, 20001, "PageSize and Page must be integers") from None
    if page_size < 1 or page_size > MAX_PAGE_SIZE:
        raise ApiError(400, 20001, f"PageSize must be between 1 and {MAX_PAGE_SIZE}")
    if page < 0 or page > MAX_PAGE:
        raise ApiError(400, 20001, f"Page must be between 0 and {MAX_PAGE}")
    return page, page_size


def page_token(token: str, prefix: str) -> int:
    """The number inside a PageToken we issued (``PASM123``), or a 400 for anything else."""
    digits = token[len(prefix) :]
    if not (
        token.startswith(prefix) and digits.isascii() and digits.isdigit() and len(digits) <= 18
    ):
        raise ApiError(400, 20001, f"Invalid PageToken {token!r}")
    return int(digits)


def page_body(
    key: str,
    records: Sequence[dict[str, Any]],
    *,
    page: int,
    page_size: int,
    next_token: str | None,
) -> Response:
    """A Twilio list page: one record key plus the paging keys, relative URIs.

    ``next_token`` is the PageToken of the next page, or None on the last page.
    Filters in the query string are carried over (URL-encoded) into every URI.
    """
    base = request.path
    kept = [
        (k, v)
        for k, v in request.args.items(multi=True)
        if k not in ("Page", "PageToken", "PageSize")
    ]

    def uri(p: int, token: str | None = None) -> str:
        query = [*kept, ("PageSize", str(page_size)), ("Page", str(p))]
        if token is not None:
            query.append(("PageToken", token))
        return f"{base}?{urllib.parse.urlencode(query)}"

    start = page * page_size
    return jsonify(
        {
            key: list(records),
            "end": start + len(records) - 1 if records else start,
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1, next_token) if next_token is not None else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "start": start,
            "uri": uri(page),
        }
    )


def form_value(name: str) -> str | None:
    """A form parameter, or None when it was not sent (an empty string is a value)."""
    return request.form.get(name)


def valid_url(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) URL with a host, a valid port and no white
    space: the one check of every webhook URL the REST API takes (calls, numbers,
    applications)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not any(c.isspace() for c in url)
    )
