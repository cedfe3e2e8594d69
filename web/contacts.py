"""Contacts: a name for a phone number, shown as "Name (+number)" wherever the panel shows one.

The ``contact`` Jinja filter (``{{ m.from_number|contact }}``) is used by the conversation
list, a thread, the message and call lists.  A number's name is its contact, or else the
name it has as a subscriber (any list, the most recently updated), so the people already
on a list need no second entry.  Names are looked up once per number and request (an
index search each; a page shows at most 50 rows).  Names are text typed in the panel and
only ever rendered through Jinja's autoescaping.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from appliance.errors import InvalidNumber
from appliance.numbers import normalize
from web.helpers import PAGE_SIZE, daemon, page

bp = Blueprint("contacts", __name__, url_prefix="/contacts")
MAX_NAME = 100  # characters; a name is a label, not a note


def name_of(number: str) -> str:
    """``number``'s contact name, else its subscriber name, else ``""`` (cached per request)."""
    cache: dict[str, str] = g.setdefault("contact_names", {})
    if number not in cache:
        store = daemon().store
        row = store.read_one("SELECT name FROM contacts WHERE phone_number = ?", (number,))
        if row is None:
            row = store.read_one(
                "SELECT name FROM subscribers WHERE phone_number = ? AND name != ''"
                " ORDER BY updated DESC LIMIT 1",
                (number,),
            )
        cache[number] = str(row["name"]) if row is not None else ""
    return cache[number]


@bp.app_template_filter("contact")
def contact(number: str | None) -> str:
    """``Ann Lee (+447700900001)`` for a named number; the bare number otherwise."""
    if not number:
        return ""
    name = name_of(str(number))
    return f"{name} ({number})" if name else str(number)


def _parse(form: Any) -> tuple[dict[str, str], dict[str, str], str]:
    values = {k: str(form.get(k, "")).strip() for k in ("phone_number", "name")}
    errors: dict[str, str] = {}
    number = values["phone_number"]
    try:
        number = normalize(values["phone_number"], field="phone_number")
    except InvalidNumber as e:
        errors["phone_number"] = e.message
    if not values["name"]:
        errors["name"] = "Write a name"
    elif len(values["name"]) > MAX_NAME:
        errors["name"] = f"At most {MAX_NAME} characters"
    return values, errors, number


def _page(values: dict[str, str], errors: dict[str, str], editing: bool) -> Any:
    p = page()
    rows = daemon().store.read(
        "SELECT * FROM contacts ORDER BY lower(name), phone_number LIMIT ? OFFSET ?",
        (PAGE_SIZE + 1, p * PAGE_SIZE),
    )
    return render_template(
        "contacts.html",
        contacts=rows[:PAGE_SIZE],
        page=p,
        more=len(rows) > PAGE_SIZE,
        values=values,
        errors=errors,
        editing=editing,
    ), (400 if errors else 200)


@bp.get("/")
def index() -> Any:
    """The contacts, and a form to add one (``?number=`` fills it: "name this number")."""
    number = request.args.get("number", "")
    row = None
    if number:
        row = daemon().store.read_one("SELECT * FROM contacts WHERE phone_number = ?", (number,))
    values = {"phone_number": number, "name": str(row["name"]) if row is not None else ""}
    return _page(values, {}, row is not None)


@bp.post("/")
def save() -> Any:
    """Add a contact, or rename the number's existing one."""
    values, errors, number = _parse(request.form)
    if errors:
        return _page(values, errors, False)
    now = time.time()
    daemon().store.write(
        lambda conn: conn.execute(
            "INSERT INTO contacts (phone_number, name, date_created, date_updated)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (phone_number) DO UPDATE"
            " SET name = excluded.name, date_updated = excluded.date_updated",
            (number, values["name"], now, now),
        )
    )
    flash(f"{number} is now {values['name']}.")
    return redirect(url_for("contacts.index"))


@bp.post("/delete")
def delete() -> BaseResponse:
    number = request.form.get("phone_number", "")
    deleted = daemon().store.write(
        lambda conn: conn.execute("DELETE FROM contacts WHERE phone_number = ?", (number,)).rowcount
    )
    if not deleted:
        abort(404)
    flash(f"The name of {number} is deleted.")
    return redirect(url_for("contacts.index"))
