"""Webhook failures: every failed request with Twilio's error code, the request and the response."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from appliance.webhooks import failures
from web import export, filters
from web.helpers import PAGE_SIZE, daemon, page

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
CSV_COLUMNS = (
    "id",
    "at",
    "message_sid",
    "call_sid",
    "method",
    "url",
    "status",
    "error_code",
    "error_message",
    "request",
    "response",
)
FREE_TEXT = frozenset({"url", "error_message", "request", "response"})


# Twilio's names for the codes the webhook client records (twilio.com/docs/api/errors).
ERRORS = {
    failures.INVALID_URL_FORMAT: "Invalid URL format",
    failures.HTTP_RETRIEVAL_FAILURE: "HTTP retrieval failure",
    failures.HTTP_CONNECTION_FAILURE: "HTTP connection failure",
    failures.HTTP_PROTOCOL_VIOLATION: "HTTP protocol violation",
    failures.HTTP_BAD_HOST_NAME: "HTTP bad host name",
    failures.HTTP_TOO_MANY_REDIRECTS: "HTTP too many redirects",
    failures.TLS_HANDSHAKE_ERROR: "TLS handshake error",
    12100: "Document parse failure",
    12200: "Schema validation warning",
    12300: "Invalid Content-Type",
    21617: "Message body too long",
}


def _describe(code: int | None) -> str:
    return "" if code is None else ERRORS.get(int(code), "")


@bp.get("/")
def index() -> str:
    d = daemon()
    p = page()
    show_all = request.args.get("all") == "1"
    f = filters.Filter.parse(request.args)
    where, params = _where(f, show_all)
    rows = d.store.read(
        f"SELECT id, message_sid, call_sid, url, method, status, error_code, error_message, at"  # noqa: S608
        f" FROM webhook_log WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
        (*params, PAGE_SIZE + 1, p * PAGE_SIZE),
    )
    return render_template(
        "webhooks.html",
        rows=rows[:PAGE_SIZE],
        page=p,
        more=len(rows) > PAGE_SIZE,
        show_all=show_all,
        describe=_describe,
        f=f,
        codes=sorted(ERRORS),
    )


def _where(f: filters.Filter, show_all: bool) -> tuple[str, list[Any]]:
    where, params = f.where(filters.WEBHOOKS)
    if not show_all:
        where = f"error_code IS NOT NULL AND {where}"
    return where, params


@bp.get("/export.csv")
def export_csv() -> BaseResponse:
    """The webhook requests matching the filter (failures only unless ``all=1``) as CSV."""
    f = filters.Filter.parse(request.args)
    where, params = _where(f, request.args.get("all") == "1")
    rows = export.keyset_rows(
        daemon().store, "SELECT id AS _key, * FROM webhook_log", where, params, key="id"
    )
    return export.csv_response("webhooks.csv", CSV_COLUMNS, rows, FREE_TEXT)


@bp.get("/<int:log_id>")
def detail(log_id: int) -> str:
    row = daemon().store.read_one("SELECT * FROM webhook_log WHERE id = ?", (log_id,))
    if row is None:
        abort(404)
    return render_template("webhook.html", w=row, describe=_describe)
