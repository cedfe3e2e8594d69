"""Styled error pages (404, 500 and the other refusals), in the panel's layout."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException, InternalServerError

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


def init_app(app: Flask) -> None:
    for code in CODES:
        if code == 500:
            app.register_error_handler(500, _internal)
        else:
            app.register_error_handler(code, _page)
