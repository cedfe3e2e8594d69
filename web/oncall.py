"""On call: who is on call now and next, a calendar of the coming four weeks, overrides,
people and schedules, the escalation policies (who each has on call now and next; one
edited at a time, ``?policy=<id>`` or ``?policy=new``), and the latest alerts
(docs/oncall.md).

The page calls the same directory and pager as ``/appliance/oncall/…``; a signed-in panel
user administers the rotation as the AuthToken does.  Every form carries the CSRF token.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from appliance.oncall.rotation import RotationError, Shift
from web.helpers import daemon

bp = Blueprint("oncall", __name__, url_prefix="/oncall")

WEEKS = 4  # the calendar's span
FORMS = ("override", "person", "schedule", "policy", "delete-policy", "resolve")
POLICY_FIELDS = ("name", "ring_timeout", "ack_timeout", "repeat", "default_person")


def _day_grid(shifts: list[Shift], names: dict[int, str], start: datetime) -> list[list[Any]]:
    """Weeks of days (UTC), each day with the names on call during it."""
    monday = start - timedelta(days=start.weekday())
    weeks = []
    for w in range(WEEKS + 1):
        days = []
        for i in range(7):
            day = monday + timedelta(days=7 * w + i)
            a, b = day.timestamp(), (day + timedelta(days=1)).timestamp()
            who = [
                names.get(s.person, "?") if s.person is not None else "nobody"
                for s in shifts
                if s.starts < b and s.ends > a
            ]
            days.append({"date": day, "who": list(dict.fromkeys(who)), "past": b <= time.time()})
        weeks.append(days)
    return weeks


@bp.route("/", methods=["GET", "POST"])
def index() -> str | BaseResponse:
    oncall = daemon().oncall
    directory = oncall.directory
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    if request.method == "POST":
        form = request.form.get("form", "")
        values = {k: v for k, v in request.form.items() if k != "csrf_token"}
        try:
            if form == "override":
                directory.add_override(
                    values.get("person", ""),
                    values.get("starts", ""),
                    values.get("ends", ""),
                    values.get("timezone", "") or "UTC",
                )
                flash("Override added.")
            elif form == "person":
                directory.add_person(values.get("name", ""), values.get("phone", ""))
                flash("Person added.")
            elif form == "schedule":
                fields = {k: v for k, v in values.items() if k != "people"}
                directory.add_schedule(fields, request.form.getlist("people"))
                flash("Schedule added.")
            elif form == "policy":
                _save_policy(values)
            elif form == "delete-policy":
                _delete_policy(values.get("policy_id", ""))
            elif form == "resolve":
                ok = oncall.pager.resolve(int(values.get("alert", "0") or 0), "panel")
                flash("Alert resolved." if ok else "That alert is not open.")
            else:
                errors["form"] = "Unknown form"
        except (RotationError, ValueError) as e:
            field = getattr(e, "field", "form")
            errors[f"{form}-{field}"] = getattr(e, "message", str(e))
        if not errors:
            oncall.wake()
            return redirect(url_for("oncall.index"))
    now = time.time()
    policies = directory.policies.all()
    chosen = request.args.get("policy", "") or values.get("policy_id", "")
    editing = next((p for p in policies if str(p["id"]) == chosen), None)
    if editing is None and chosen != "new":
        editing = policies[0]  # the default policy (id 1)
    start = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    people = directory.people()
    names = {p["id"]: p["name"] for p in people}
    shifts = directory.timeline(now, (start + timedelta(weeks=WEEKS + 1)).timestamp())
    current = directory.on_call(now)
    upcoming = directory.on_call(current.ends) if current.ends != float("inf") else None
    return render_template(
        "oncall.html",
        people=people,
        names=names,
        schedules=directory.schedules(),
        overrides=directory.overrides(),
        current=current,
        until=None if current.ends == float("inf") else current.ends,
        upcoming=upcoming,
        weeks=_day_grid(shifts, names, start),
        shifts=shifts,
        alerts=oncall.pager.alerts(limit=20),
        policy=directory.policy(),
        policies=policies,
        teams=[_team(p, now) for p in policies],
        editing=editing,
        values=values,
        errors=errors,
    )


def _team(policy: dict[str, Any], now: float) -> dict[str, Any]:
    """A policy's row on the page: who is on call under it now, and next."""
    directory = daemon().oncall.directory
    current = directory.on_call(now, policy)
    upcoming = directory.on_call(current.ends, policy) if current.ends != float("inf") else None
    return {"policy": policy, "now": current, "next": upcoming}


def _save_policy(values: dict[str, str]) -> None:
    """The policy form: ``policy_id`` blank (the default policy), ``new`` or an id."""
    book = daemon().oncall.directory.policies
    fields = {k: values[k] for k in POLICY_FIELDS if k in values}
    # The checkboxes: none ticked is every schedule; a form without them leaves them alone.
    ticked = request.form.getlist("schedules") if "schedules_shown" in values else None
    target = values.get("policy_id", "").strip()
    if target == "new":
        made = book.create(fields, ticked)
        flash(f"Escalation policy {made['name']} added.")
        return
    pid = int(target) if target.isascii() and target.isdigit() and len(target) < 12 else 1
    if book.update(pid, fields, ticked) is None:
        raise RotationError("policy_id", "That escalation policy no longer exists")
    flash("Escalation policy saved.")


def _delete_policy(target: str) -> None:
    book = daemon().oncall.directory.policies
    found = book.find(target) if target.strip().isdigit() else None
    if found is None or not book.delete(found["id"]):
        raise RotationError("policy", "That escalation policy no longer exists")
    flash(f"Escalation policy {found['name']} deleted.")
