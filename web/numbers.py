"""Numbers: each modem's number and its SMS and Voice URLs (the IncomingPhoneNumbers table)."""

from __future__ import annotations

import sqlite3
import time
import urllib.parse

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from appliance.oncall.policies import voice_url_policy
from appliance.twimlets import PRESETS, is_twimlet_url
from web.helpers import daemon

bp = Blueprint("numbers", __name__, url_prefix="/numbers")

URL_FIELDS = (
    ("sms_url", "SMS URL"),
    ("sms_fallback_url", "SMS fallback URL"),
    ("voice_url", "Voice URL"),
    ("voice_fallback_url", "Voice fallback URL"),
    ("status_callback", "Status callback URL"),
)
METHOD_FIELDS = ("sms_method", "sms_fallback_method", "voice_method", "voice_fallback_method")
BUDGET_FIELD = "outbound_budget_per_hour"  # messages per hour, 0: no budget (appliance.sms.budget)
MAX_FRIENDLY_NAME = 64


VOICE_FIELDS = ("voice_url", "voice_fallback_url")  # may be a built-in twimlet (/twimlets/…)


def url_problem(value: str, *, twimlet: bool = False) -> str | None:
    """Why ``value`` is not a webhook URL (the REST API's rule: http(s), a host, no spaces;
    with ``twimlet``, a built-in twimlet's ``/twimlets/…`` path will do too)."""
    if not value or (twimlet and is_twimlet_url(value)):
        return None
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return "This is not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        return "Use a full URL starting with http:// or https://"
    return None


@bp.get("/")
def index() -> str:
    return render_template(
        "numbers.html", numbers=daemon().store.read("SELECT * FROM numbers ORDER BY modem")
    )


@bp.route("/<sid>", methods=["GET", "POST"])
def edit(sid: str) -> str | BaseResponse:
    d = daemon()
    row = d.store.read_one("SELECT * FROM numbers WHERE sid = ?", (sid,))
    if row is None:
        abort(404)
    values = dict(row)
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = request.form
        for field, _label in URL_FIELDS:
            value = form.get(field, "").strip()
            values[field] = value
            problem = url_problem(value, twimlet=field in VOICE_FIELDS)
            named = voice_url_policy(value) if field in VOICE_FIELDS else None
            if not problem and named and d.oncall.directory.policies.named(named) is None:
                problem = f"No escalation policy named {named!r} (the On call page lists them)"
            if problem:
                errors[field] = problem
        for field in METHOD_FIELDS:
            value = form.get(field, "POST").strip().upper()
            values[field] = value
            if value not in ("GET", "POST"):
                errors[field] = "GET or POST"
        name = form.get("friendly_name", "").strip()
        values["friendly_name"] = name
        if len(name) > MAX_FRIENDLY_NAME:
            errors["friendly_name"] = f"At most {MAX_FRIENDLY_NAME} characters"
        budget = form.get(BUDGET_FIELD, str(values.get(BUDGET_FIELD, 0))).strip() or "0"
        values[BUDGET_FIELD] = budget
        if not (budget.isascii() and budget.isdigit() and len(budget) <= 9):
            errors[BUDGET_FIELD] = "A whole number of messages per hour (0: no budget)"
        if not errors:
            values[BUDGET_FIELD] = int(budget)
            columns = ["friendly_name", *(f for f, _ in URL_FIELDS), *METHOD_FIELDS, BUDGET_FIELD]
            now = time.time()

            def fn(conn: sqlite3.Connection) -> None:
                assignments = ", ".join(f"{c} = ?" for c in columns)  # fixed column names
                conn.execute(
                    f"UPDATE numbers SET {assignments}, date_updated = ? WHERE sid = ?",  # noqa: S608
                    (*(values[c] for c in columns), now, sid),
                )

            d.store.write(fn)
            flash(f"Saved {row['phone_number']}.")
            return redirect(url_for("numbers.index"))
    return render_template(
        "number_edit.html",
        number=row,
        values=values,
        errors=errors,
        url_fields=URL_FIELDS,
        presets=_presets(),
    )


def _presets() -> list[tuple[str, str]]:
    """The Voice URL presets: the support line of each escalation policy (the default one
    first, as ``/twimlets/oncall``), then the twimlets."""
    oncall, *rest = PRESETS
    named = [
        (f"Forward to on-call, policy {p['name']} (support line)",
         f"{oncall[1]}?{urllib.parse.urlencode({'Policy': p['name']})}")
        for p in daemon().oncall.directory.policies.all()[1:]
    ]  # fmt: skip
    return [oncall, *named, *rest]
