"""One-off scheduled sends: schedule one message for a local date and time, list, cancel.

The sends are :class:`appliance.campaigns.oneoffs.OneOffSends`: messages with status
``scheduled`` (the same as the REST API's ``SendAt``), listed on the broadcasts page
through the ``scheduled_messages()`` template global registered here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from appliance.campaigns.oneoffs import ScheduleError, local_time
from appliance.errors import ApplianceError
from appliance.sms.outbox import OutboxError
from appliance.store.database import Row
from web.helpers import daemon

bp = Blueprint("scheduled", __name__, url_prefix="/scheduled")
FIELDS = ("to", "modem", "body", "send_at", "timezone")
# Outbox error codes that belong to the To field; any other is about the body.
TO_CODES = (21211, 21610)


@bp.app_template_global()
def scheduled_messages() -> list[Row]:
    """Messages waiting for their SendAt, for the list on the broadcasts page."""
    return daemon().panel.oneoffs.pending()


@bp.app_template_global()
def scheduled_count() -> int:
    return daemon().panel.oneoffs.count()


def _modems() -> list[Row]:
    return daemon().store.read("SELECT modem, phone_number FROM numbers ORDER BY modem")


def _form(values: dict[str, str], errors: dict[str, str]) -> Any:
    return render_template("schedule.html", values=values, errors=errors, modems=_modems()), (
        400 if errors else 200
    )


@bp.get("/new")
def new() -> Any:
    values = {k: request.args.get(k, "") for k in FIELDS}
    return _form(values, {})


@bp.post("/")
def create() -> Any:
    values = {k: request.form.get(k, "") for k in FIELDS}
    errors: dict[str, str] = {}
    when = 0.0
    try:
        when = local_time(values["send_at"], values["timezone"])
    except ScheduleError as e:
        errors[e.field] = e.message
    if not values["body"]:
        errors["body"] = "Write a message"
    if errors:
        return _form(values, errors)
    try:
        row = daemon().panel.oneoffs.schedule(
            modem=values["modem"], to=values["to"], body=values["body"], when=when
        )
    except ScheduleError as e:
        return _form(values, {e.field or "send_at": e.message})
    except OutboxError as e:
        field = "to" if e.code in TO_CODES else "body"
        return _form(values, {field: f"{e.message.rstrip('.')} (error {e.code})"})
    except ApplianceError as e:  # InvalidNumber from To
        return _form(values, {"to": e.message})
    flash(f"Scheduled {row['sid']} to {row['to_number']}; it is listed below until it is sent.")
    return redirect(url_for("broadcasts.index") + "#scheduled")


@bp.post("/<sid>/cancel")
def cancel(sid: str) -> BaseResponse:
    try:
        row = daemon().panel.oneoffs.cancel(sid)
    except ScheduleError as e:
        flash(f"Not canceled: {e.message}")
        return redirect(url_for("broadcasts.index") + "#scheduled")
    flash(f"Canceled {sid} to {row['to_number']}: it will not be sent.")
    return redirect(url_for("broadcasts.index") + "#scheduled")
