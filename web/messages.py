"""Conversations: messages grouped by the other party; read one and send a message.

Sending calls :meth:`appliance.outbox.Outbox.enqueue`, the same core (validation,
opt-out check, durable insert, waking the modem) as the REST API's Messages.json.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from appliance.errors import ApplianceError, InvalidNumber
from appliance.numbers import normalize
from appliance.sms.outbox import OutboxError
from web.helpers import PAGE_SIZE, daemon, page

bp = Blueprint("messages", __name__, url_prefix="/messages")
CONVERSATION_SIZE = 200


@bp.get("/")
def index() -> str:
    d = daemon()
    p = page()
    heads = d.store.read(
        "SELECT party, modem, MAX(seq) AS last, COUNT(*) AS n FROM ("
        " SELECT CASE WHEN direction = 'inbound' THEN from_number ELSE to_number END AS party,"
        " modem, seq FROM messages) AS t GROUP BY party, modem ORDER BY last DESC LIMIT ? OFFSET ?",
        (PAGE_SIZE + 1, p * PAGE_SIZE),
    )
    more = len(heads) > PAGE_SIZE
    heads = heads[:PAGE_SIZE]
    last = {}
    if heads:
        marks = ",".join("?" for _ in heads)
        last = {
            r["seq"]: r
            for r in d.store.read(
                f"SELECT * FROM messages WHERE seq IN ({marks})", tuple(h["last"] for h in heads)
            )  # noqa: S608
        }
    conversations = [{"head": h, "last": last.get(h["last"])} for h in heads]
    return render_template(
        "conversations.html", conversations=conversations, page=p, more=more, modems=_modems()
    )


def _modems() -> list[dict[str, str]]:
    return [
        {"modem": r["modem"], "number": r["phone_number"]}
        for r in daemon().store.read("SELECT modem, phone_number FROM numbers ORDER BY modem")
    ]


@bp.get("/with")
def conversation() -> str:
    """One conversation; the party is a query parameter, so any sender works ("AB/CD", "..")."""
    party = request.args.get("party")
    if party is None:
        abort(404)
    d = daemon()
    rows = d.store.read(
        "SELECT * FROM (SELECT * FROM messages WHERE (direction = 'inbound' AND from_number = ?)"
        " OR (direction != 'inbound' AND to_number = ?) ORDER BY seq DESC LIMIT ?) AS t ORDER BY seq",
        (party, party, CONVERSATION_SIZE),
    )
    return render_template(
        "conversation.html",
        party=party,
        messages=rows,
        modems=_modems(),
        values={"to": party},
        errors={},
    )


@bp.get("/with/<path:party>")
def conversation_path(party: str) -> BaseResponse:
    """The old form of a conversation's URL (bookmarks): redirected to the query form."""
    return redirect(url_for("messages.conversation", party=party), 301)


@bp.post("/send")
def send() -> str | BaseResponse:
    """Queue one SMS through the outbox, as POST Messages.json does."""
    d = daemon()
    form = request.form
    values = {k: form.get(k, "") for k in ("to", "modem", "body")}
    errors: dict[str, str] = {}
    modems = {m["modem"]: m["number"] for m in _modems()}
    if values["modem"] not in modems:
        errors["modem"] = "Choose the number to send from"
    try:
        to = normalize(values["to"], field="To")
    except InvalidNumber as e:
        errors["to"] = e.message
        to = values["to"]
    if not values["body"]:
        errors["body"] = "Write a message"
    if not errors:
        try:
            sid = d.outbox.enqueue(
                modem=values["modem"],
                from_number=modems[values["modem"]],
                to=to,
                body=values["body"],
            )
        except OutboxError as e:
            errors["to" if e.code in (21610, 21211) else "body"] = f"{e.message} (error {e.code})"
        except ApplianceError as e:
            errors["body"] = e.message
        else:
            flash(f"Queued {sid} to {to}.")
            return redirect(url_for("messages.conversation", party=to))
    rows = d.store.read(
        "SELECT * FROM messages WHERE (direction = 'inbound' AND from_number = ?)"
        " OR (direction != 'inbound' AND to_number = ?) ORDER BY seq DESC LIMIT 50",
        (values["to"], values["to"]),
    )
    return render_template(
        "conversation.html",
        party=values["to"],
        messages=list(reversed(rows)),
        modems=list(_modems()),
        values=values,
        errors=errors,
    ), 400  # type: ignore[return-value]


@bp.get("/<sid>")
def detail(sid: str) -> str:
    d = daemon()
    row = d.store.read_one("SELECT * FROM messages WHERE sid = ?", (sid,))
    if row is None:
        abort(404)
    segments = d.store.read("SELECT * FROM segments WHERE message_sid = ? ORDER BY part", (sid,))
    hooks = d.store.read("SELECT * FROM webhook_log WHERE message_sid = ? ORDER BY id", (sid,))
    return render_template("message.html", m=row, segments=segments, hooks=hooks)
