"""Styled error pages (404, 500 and the other refusals), in the panel's layout, and the
page shown while the database is unreachable (503, a page of its own: the layout reads the
store for the menu's unread count)."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException, InternalServerError

from appliance.errors import StoreUnavailable
from appliance.store.outage import RETRY_AFTER

LOGGER = logging.getLogger(__name__)
CODES = (400, 403, 404, 405, 413, 500)


def _page(e: HTTPException) -> tuple[str, int]:
    code = e.code or 500
    return render_template("error.html", code=code, name=e.name, description=e.description), code


def _internal(e: InternalServerError) -> tuple[str, int]:
    # The traceback is logged by Flask (app.logger) before this handler runs; the page says
    # nothing about the cause.
    return render_template(
        "error.html",
        code=500,
        name="Something went wrong",
        description="The panel hit an error. It is in the appliance's log; try again.",
    ), 500


def _unavailable(_e: StoreUnavailable) -> tuple[str, int, dict[str, str]]:
    # No traceback: the store logged the outage once, in one line.
    return (
        render_template("unavailable.html", retry=RETRY_AFTER * 2),
        503,
        {"Retry-After": str(RETRY_AFTER)},
    )


def init_app(app: Flask) -> None:
    app.register_error_handler(StoreUnavailable, _unavailable)
    for code in CODES:
        if code == 500:
            app.register_error_handler(500, _internal)
        else:
            app.register_error_handler(code, _page)
