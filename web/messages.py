"""Conversations: messages grouped by the other party; read one and send a message.

Sending calls :meth:`appliance.sms.outbox.Outbox.enqueue`, the same core (validation,
opt-out check, durable insert, waking the modem) as the REST API's Messages.json.
The list filters by text, number, direction, status, error code and dates
(:mod:`web.filters`), counts each conversation's unread inbound messages (the last seq
read per party is kept in ``conversation_reads``) and downloads as CSV (:mod:`web.export`).
"""

from __future__ import annotations

import time

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from appliance.errors import ApplianceError, InvalidNumber
from appliance.numbers import normalize
from appliance.sms.outbox import OutboxError
from web import export, filters
from web.helpers import PAGE_SIZE, daemon, page

bp = Blueprint("messages", __name__, url_prefix="/messages")
CONVERSATION_SIZE = 200
STATUSES = (
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "received",
    "scheduled",
    "canceled",
)
CSV_COLUMNS = (
    "sid",
    "date_created",
    "direction",
    "modem",
    "from_number",
    "to_number",
    "status",
    "num_segments",
    "error_code",
    "error_message",
    "date_sent",
    "body",
)
FREE_TEXT = frozenset({"body", "error_message"})


@bp.get("/")
def index() -> str:
    d = daemon()
    p = page()
    f = filters.Filter.parse(request.args)
    where, params = f.where(filters.MESSAGES, like=daemon().store.dialect.like)
    heads = d.store.read(
        "SELECT party, modem, MAX(seq) AS last, COUNT(*) AS n FROM ("  # noqa: S608 - fixed columns
        " SELECT CASE WHEN direction = 'inbound' THEN from_number ELSE to_number END AS party,"
        f" modem, seq FROM messages WHERE {where}) AS t GROUP BY party, modem"
        " ORDER BY last DESC LIMIT ? OFFSET ?",
        (*params, PAGE_SIZE + 1, p * PAGE_SIZE),
    )
    more = len(heads) > PAGE_SIZE
    heads = heads[:PAGE_SIZE]
    last = {}
    unread: dict[str, int] = {}
    if heads:
        marks = ",".join("?" for _ in heads)
        last = {
            r["seq"]: r
            for r in d.store.read(
                f"SELECT * FROM messages WHERE seq IN ({marks})",  # noqa: S608
                tuple(h["last"] for h in heads),
            )
        }
        unread = _unread([h["party"] for h in heads])
    conversations = [
        {"head": h, "last": last.get(h["last"]), "unread": unread.get(h["party"], 0)} for h in heads
    ]
    return render_template(
        "conversations.html",
        conversations=conversations,
        page=p,
        more=more,
        modems=_modems(),
        f=f,
        statuses=STATUSES,
    )


def _unread(parties: list[str]) -> dict[str, int]:
    """Inbound messages after each party's read mark (over the ``messages_from`` index)."""
    marks = ",".join("?" for _ in parties)
    rows = daemon().store.read(
        "SELECT m.from_number AS party, COUNT(*) AS n FROM messages m"  # noqa: S608
        " LEFT JOIN conversation_reads r ON r.party = m.from_number"
        f" WHERE m.from_number IN ({marks}) AND m.direction = 'inbound'"
        " AND m.seq > COALESCE(r.last_seq, 0) GROUP BY m.from_number",
        tuple(parties),
    )
    return {r["party"]: int(r["n"]) for r in rows}


def mark_read(party: str, seq: int) -> None:
    """Remember ``seq`` as the last message read with ``party`` (never moving backwards)."""
    store = daemon().store
    row = store.read_one("SELECT last_seq FROM conversation_reads WHERE party = ?", (party,))
    if row is not None and int(row["last_seq"]) >= seq:
        return  # the common case (a live refresh of an open thread) writes nothing
    store.write(
        lambda conn: conn.execute(
            "INSERT INTO conversation_reads (party, last_seq, at) VALUES (?, ?, ?)"
            " ON CONFLICT (party) DO UPDATE SET last_seq = excluded.last_seq, at = excluded.at"
            " WHERE conversation_reads.last_seq < excluded.last_seq",
            (party, seq, time.time()),
        )
    )


@bp.get("/list")
def listing() -> str:
    """Every message matching the filter, newest first (the search results)."""
    d = daemon()
    p = page()
    f = filters.Filter.parse(request.args)
    where, params = f.where(filters.MESSAGES, like=daemon().store.dialect.like)
    rows = d.store.read(
        f"SELECT * FROM messages WHERE {where} ORDER BY seq DESC LIMIT ? OFFSET ?",  # noqa: S608
        (*params, PAGE_SIZE + 1, p * PAGE_SIZE),
    )
    return render_template(
        "messages.html",
        rows=rows[:PAGE_SIZE],
        page=p,
        more=len(rows) > PAGE_SIZE,
        f=f,
        statuses=STATUSES,
    )


@bp.get("/export.csv")
def export_csv() -> BaseResponse:
    """The messages matching the filter as CSV, streamed."""
    f = filters.Filter.parse(request.args)
    where, params = f.where(filters.MESSAGES, like=daemon().store.dialect.like)
    rows = export.keyset_rows(
        daemon().store, "SELECT seq AS _key, * FROM messages", where, params, key="seq"
    )
    return export.csv_response("messages.csv", CSV_COLUMNS, rows, FREE_TEXT)


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
    inbound = [int(r["seq"]) for r in rows if r["direction"] == "inbound"]
    if inbound:
        mark_read(party, max(inbound))
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
