"""Subscribers: lists, members, opt-out state, and CSV import with progress."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from appliance.campaigns.subscribers import CSV_COLUMNS, SubscriberError, parse_subscriber
from web import export, filters
from web.helpers import PAGE_SIZE, daemon, page

bp = Blueprint("subscribers", __name__, url_prefix="/subscribers")
MAX_CSV_BYTES = 8 * 1024 * 1024


def _modems() -> list[str]:
    return [r["modem"] for r in daemon().store.read("SELECT modem FROM numbers ORDER BY modem")]


@bp.route("/", methods=["GET", "POST"])
def index() -> str | BaseResponse:
    d = daemon()
    values = {"name": "", "modem": "", "join_keyword": "", "leave_keyword": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in values}
        if values["modem"] not in _modems():
            errors["modem"] = "Choose a number"
        else:
            try:
                list_id = d.panel.subscribers.create_list(
                    values["name"], values["modem"], values["join_keyword"], values["leave_keyword"]
                )
            except SubscriberError as e:
                errors[e.field or "name"] = e.message
            else:
                flash(f"List {values['name']} created.")
                return redirect(url_for("subscribers.members", list_id=list_id))
    return render_template(
        "lists.html",
        lists=d.panel.subscribers.lists(),
        modems=_modems(),
        values=values,
        errors=errors,
    ), (400 if errors else 200)  # type: ignore[return-value]


@bp.route("/<int:list_id>", methods=["GET", "POST"])
def members(list_id: int) -> str | BaseResponse:
    d = daemon()
    subs = d.panel.subscribers
    lst = subs.get_list(list_id)
    if lst is None:
        abort(404)
    values = {k: "" for k in CSV_COLUMNS}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in CSV_COLUMNS}
        try:
            sub = parse_subscriber(values)
        except SubscriberError as e:
            errors[e.field or "phone_number"] = e.message
        else:
            subs.add(list_id, sub)
            flash(f"{sub.phone_number} added.")
            return redirect(url_for("subscribers.members", list_id=list_id))
    p = page()
    rows = subs.members(list_id, limit=PAGE_SIZE + 1, offset=p * PAGE_SIZE)
    return render_template(
        "members.html",
        lst=lst,
        members=rows[:PAGE_SIZE],
        total=subs.count(list_id),
        page=p,
        more=len(rows) > PAGE_SIZE,
        values=values,
        errors=errors,
        columns=CSV_COLUMNS,
    ), (400 if errors else 200)  # type: ignore[return-value]


@bp.get("/<int:list_id>/export.csv")
def export_csv(list_id: int) -> BaseResponse:
    """A list's members (filtered by ``q`` and ``status``) as CSV, streamed; it imports back."""
    if daemon().panel.subscribers.get_list(list_id) is None:
        abort(404)
    f = filters.Filter.parse(request.args)
    where, params = f.where(filters.SUBSCRIBERS, like=daemon().store.dialect.like)
    rows = export.keyset_rows(
        daemon().store,
        "SELECT id AS _key, * FROM subscribers",
        f"list_id = ? AND {where}",
        (list_id, *params),
        key="id",
    )
    return export.csv_response(
        f"subscribers-{list_id}.csv",
        (*CSV_COLUMNS, "status"),
        rows,
        frozenset({"name", "town"}),
    )


@bp.post("/<int:list_id>/status")
def set_status(list_id: int) -> BaseResponse:
    status = request.form.get("status", "")
    if status not in ("active", "left"):
        abort(400, "status is active or left")
    daemon().panel.subscribers.set_status(list_id, request.form.get("phone_number", ""), status)
    return redirect(url_for("subscribers.members", list_id=list_id))


@bp.route("/<int:list_id>/import", methods=["GET", "POST"])
def import_csv(list_id: int) -> str | BaseResponse:
    d = daemon()
    lst = d.panel.subscribers.get_list(list_id)
    if lst is None:
        abort(404)
    error = ""
    if request.method == "POST":
        upload = request.files.get("file")
        data = upload.read(MAX_CSV_BYTES + 1) if upload is not None else b""
        if not data:
            error = "Choose a CSV file"
        elif len(data) > MAX_CSV_BYTES:
            error = f"The file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MiB"
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                error = "The file is not UTF-8 text"
            else:
                job = d.panel.subscribers.start_import(list_id, text)
                return redirect(url_for("subscribers.import_progress", list_id=list_id, job=job))
    return render_template("import.html", lst=lst, error=error, columns=CSV_COLUMNS), (
        400 if error else 200
    )  # type: ignore[return-value]


@bp.get("/<int:list_id>/import/<int:job>")
def import_progress(list_id: int, job: int) -> str:
    d = daemon()
    state = d.panel.subscribers.import_state(job)
    lst = d.panel.subscribers.get_list(list_id)
    if state is None or lst is None or state["list_id"] != list_id:
        abort(404)
    return render_template("import_progress.html", lst=lst, job=state)


@bp.get("/<int:list_id>/import/<int:job>.json")
def import_json(list_id: int, job: int) -> BaseResponse:
    state = daemon().panel.subscribers.import_state(job)
    if state is None or state["list_id"] != list_id:
        abort(404)
    return jsonify(state)


@bp.get("/optouts")
def optouts() -> str:
    rows = daemon().store.read("SELECT * FROM opt_outs ORDER BY opted_out_at DESC LIMIT 500")
    return render_template("optouts.html", rows=rows)
