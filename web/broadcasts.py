"""Broadcasts: define (text, URL or weather), preview, schedule, run now, follow a run."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from appliance.campaigns.spec import KINDS, BroadcastError, parse_spec
from web.helpers import daemon

bp = Blueprint("broadcasts", __name__, url_prefix="/broadcasts")
DEFAULTS = {
    "name": "",
    "list_id": "",
    "modem": "",
    "kind": "weather",
    "content": "Good morning {first_name}! {forecast}",
    "schedule": "0 7 * * *",
    "timezone": "UTC",
    "enabled": "1",
}


def _choices() -> dict[str, Any]:
    d = daemon()
    lists = d.panel.subscribers.lists()
    modems = [r["modem"] for r in d.store.read("SELECT modem FROM numbers ORDER BY modem")]
    return {
        "lists": lists,
        "modems": modems,
        "kinds": KINDS,
        "list_options": [(str(r["id"]), r["name"]) for r in lists],
        "modem_options": [(m, m) for m in modems],
    }


def _save(broadcast_id: int | None) -> tuple[dict[str, str], dict[str, str], int | None]:
    d = daemon()
    values = {k: request.form.get(k, "") for k in DEFAULTS}
    values["enabled"] = "1" if request.form.get("enabled") else "0"
    choices = _choices()
    errors: dict[str, str] = {}
    try:
        spec = parse_spec(values, choices["modems"], [r["id"] for r in choices["lists"]])
    except BroadcastError as e:
        errors[e.field or "name"] = e.message
        return values, errors, None
    panel = d.panel
    if broadcast_id is None:
        broadcast_id = panel.broadcasts.create(spec)
    else:
        panel.broadcasts.update(broadcast_id, spec)
    panel.scheduler.schedule(broadcast_id, spec.schedule if spec.enabled else "", spec.timezone)
    return values, errors, broadcast_id


@bp.get("/")
def index() -> str:
    d = daemon()
    rows = d.panel.broadcasts.all()
    return render_template("broadcasts.html", broadcasts=rows, next_run=d.panel.scheduler.next_run)


@bp.route("/new", methods=["GET", "POST"])
def new() -> str | BaseResponse:
    values, errors = dict(DEFAULTS), dict[str, str]()
    if request.method == "POST":
        values, errors, bid = _save(None)
        if bid is not None:
            flash("Broadcast saved.")
            return redirect(url_for("broadcasts.detail", broadcast_id=bid))
    return render_template(
        "broadcast_form.html", values=values, errors=errors, editing=None, **_choices()
    ), (400 if errors else 200)  # type: ignore[return-value]


@bp.route("/<int:broadcast_id>/edit", methods=["GET", "POST"])
def edit(broadcast_id: int) -> str | BaseResponse:
    b = daemon().panel.broadcasts.get(broadcast_id)
    if b is None:
        abort(404)
    values = {k: str(b[k]) for k in DEFAULTS}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values, errors, bid = _save(broadcast_id)
        if bid is not None:
            flash("Broadcast saved.")
            return redirect(url_for("broadcasts.detail", broadcast_id=bid))
    return render_template(
        "broadcast_form.html", values=values, errors=errors, editing=b, **_choices()
    ), (400 if errors else 200)  # type: ignore[return-value]


@bp.get("/<int:broadcast_id>")
def detail(broadcast_id: int) -> str:
    d = daemon()
    b = d.panel.broadcasts.get(broadcast_id)
    if b is None:
        abort(404)
    return render_template(
        "broadcast.html",
        b=b,
        runs=d.panel.broadcasts.runs(broadcast_id),
        next_run=d.panel.scheduler.next_run(broadcast_id),
    )


@bp.get("/<int:broadcast_id>/preview")
def preview(broadcast_id: int) -> str:
    d = daemon()
    try:
        info = d.panel.broadcasts.preview(broadcast_id)
    except BroadcastError:
        abort(404)
    return render_template("preview.html", p=info)


@bp.post("/<int:broadcast_id>/run")
def run_now(broadcast_id: int) -> BaseResponse:
    d = daemon()
    if d.panel.broadcasts.get(broadcast_id) is None:
        abort(404)
    try:
        d.panel.scheduler.run_now(broadcast_id)
    except BroadcastError as e:
        flash(f"Not started: {e.message}")
    else:
        flash("Run started: its progress appears below.")
    return redirect(url_for("broadcasts.detail", broadcast_id=broadcast_id))


@bp.post("/<int:broadcast_id>/delete")
def delete(broadcast_id: int) -> BaseResponse:
    d = daemon()
    d.panel.scheduler.unschedule(broadcast_id)
    d.panel.broadcasts.delete(broadcast_id)
    flash("Broadcast deleted.")
    return redirect(url_for("broadcasts.index"))


@bp.get("/runs/<int:run_id>")
def run(run_id: int) -> str:
    d = daemon()
    r = d.panel.broadcasts.get_run(run_id)
    if r is None:
        abort(404)
    return render_template(
        "run.html",
        r=r,
        b=d.panel.broadcasts.get(r["broadcast_id"]),
        recipients=d.panel.broadcasts.recipients(run_id),
    )


@bp.get("/runs/<int:run_id>.json")
def run_json(run_id: int) -> BaseResponse:
    r = daemon().panel.broadcasts.get_run(run_id)
    if r is None:
        abort(404)
    return jsonify(dict(r))
