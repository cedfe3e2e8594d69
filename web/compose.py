"""Saved message templates: list, create, edit and delete; offered wherever a body is written.

The picker beside each SMS body (a conversation's reply, the new message, a scheduled
send, a broadcast) lists them through the ``message_templates()`` template global
(a Jinja global); ``web/static/compose.js`` copies the chosen one into the body.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from appliance.campaigns.templates import TemplateError, parse_template
from appliance.sms import codec as sms
from appliance.store.database import Row
from web.helpers import daemon

bp = Blueprint("compose", __name__, url_prefix="/compose")


@bp.app_template_global()
def message_templates() -> list[Row]:
    """The saved templates, for the picker beside each SMS body."""
    return daemon().panel.templates.all()


@bp.app_template_global()
def sms_size(body: str) -> str:
    """``2 segments, UCS-2``: what the server's codec makes of ``body``."""
    n = sms.count_segments(body)
    return f"{n} segment{'s' if n != 1 else ''}, {sms.encoding_for(body).value}"


def _submitted() -> dict[str, str]:
    return {k: request.form.get(k, "") for k in ("name", "body")}


def _page(values: dict[str, str], errors: dict[str, str], editing: Row | None) -> Any:
    return render_template(
        "templates.html",
        templates=daemon().panel.templates.all(),
        values=values,
        errors=errors,
        editing=editing,
    ), (400 if errors else 200)


@bp.get("/templates")
def templates() -> Any:
    return _page({}, {}, None)


@bp.post("/templates")
def create() -> Any:
    values = _submitted()
    try:
        tid = daemon().panel.templates.create(parse_template(values["name"], values["body"]))
    except TemplateError as e:
        return _page(values, {e.field or "name": e.message}, None)
    flash(f"Template {values['name'].strip()!r} saved.")
    return redirect(url_for("compose.templates") + f"#template-{tid}")


@bp.route("/templates/<int:template_id>/edit", methods=["GET", "POST"])
def edit(template_id: int) -> Any:
    panel = daemon().panel
    row = panel.templates.get(template_id)
    if row is None:
        abort(404)
    if request.method == "GET":
        return _page({"name": row["name"], "body": row["body"]}, {}, row)
    values = _submitted()
    try:
        saved = panel.templates.update(template_id, parse_template(values["name"], values["body"]))
    except TemplateError as e:
        return _page(values, {e.field or "name": e.message}, row)
    if not saved:
        abort(404)
    flash(f"Template {values['name'].strip()!r} saved.")
    return redirect(url_for("compose.templates") + f"#template-{template_id}")


@bp.post("/templates/<int:template_id>/delete")
def delete(template_id: int) -> BaseResponse:
    panel = daemon().panel
    row = panel.templates.get(template_id)
    if row is None or not panel.templates.delete(template_id):
        abort(404)
    flash(f"Template {row['name']!r} deleted.")
    return redirect(url_for("compose.templates"))
