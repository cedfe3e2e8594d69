"""Calls and their recordings (the voice tables), recordings played behind sign-in.

A call's page is its timeline (:func:`timeline`): webhook requests with the TwiML they
returned, each verb as it ran (:mod:`appliance.voice.timeline`), the digits a Gather
collected, each dialled leg's outcome, status callbacks and the recordings, inline.

The list filters like the other lists (:mod:`web.filters`) and downloads as CSV.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, abort, render_template, request, send_file
from werkzeug.wrappers import Response as BaseResponse

from appliance.store.database import Row
from appliance.store.recordingfiles import resolve_stored
from appliance.system import nodeproxy
from appliance.webhooks.debugger import logged_params
from web import export, filters
from web.helpers import PAGE_SIZE, daemon, page

bp = Blueprint("calls", __name__, url_prefix="/calls")
STATUSES = (
    "queued",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "no-answer",
    "failed",
    "canceled",
)
CSV_COLUMNS = (
    "sid",
    "date_created",
    "direction",
    "modem",
    "from_number",
    "caller_name",
    "to_number",
    "status",
    "start_time",
    "end_time",
    "duration",
    "error_code",
    "error_message",
    "parent_call_sid",
)
FREE_TEXT = frozenset({"caller_name", "error_message"})
# What a verb's action request tells the app, shown beside the request on the timeline.
ACTION_PARAMS = ("Digits", "DialCallStatus", "DialCallDuration", "RecordingDuration")


@bp.get("/")
def index() -> str:
    d = daemon()
    p = page()
    f = filters.Filter.parse(request.args)
    where, params = f.where(filters.CALLS, alias="c", like=daemon().store.dialect.like)
    rows = d.store.read(
        "SELECT c.*, (SELECT COUNT(*) FROM recordings r WHERE r.call_sid = c.sid) AS recordings"  # noqa: S608
        f" FROM calls c WHERE {where} ORDER BY c.date_created DESC LIMIT ? OFFSET ?",
        (*params, PAGE_SIZE + 1, p * PAGE_SIZE),
    )
    return render_template(
        "calls.html",
        calls=rows[:PAGE_SIZE],
        page=p,
        more=len(rows) > PAGE_SIZE,
        f=f,
        statuses=STATUSES,
    )


@bp.get("/export.csv")
def export_csv() -> BaseResponse:
    """The calls matching the filter as CSV, streamed."""
    f = filters.Filter.parse(request.args)
    where, params = f.where(filters.CALLS, like=daemon().store.dialect.like)
    store = daemon().store
    key = store.dialect.rowkey("calls")
    rows = export.keyset_rows(store, f"SELECT {key} AS _key, * FROM calls", where, params, key)
    return export.csv_response("calls.csv", CSV_COLUMNS, rows, FREE_TEXT)


@bp.get("/<sid>")
def detail(sid: str) -> str:
    d = daemon()
    call = d.store.read_one("SELECT * FROM calls WHERE sid = ?", (sid,))
    if call is None:
        abort(404)
    recordings = d.store.read(
        "SELECT * FROM recordings WHERE call_sid = ? ORDER BY date_created", (sid,)
    )
    events = d.store.read("SELECT * FROM call_events WHERE call_sid = ? ORDER BY id", (sid,))
    hooks = d.store.read("SELECT * FROM webhook_log WHERE call_sid = ? ORDER BY id", (sid,))
    legs = d.store.read(
        "SELECT * FROM calls WHERE parent_call_sid = ? ORDER BY date_created", (sid,)
    )
    return render_template(
        "call.html",
        call=call,
        recordings=recordings,
        steps=timeline(call, events, hooks, legs, recordings),
        media_public=not d.config.recording_media_auth,
    )


@dataclass(frozen=True)
class Step:
    """One line of a call's timeline: ``kind`` picks how the page shows ``row``."""

    at: float
    # call, webhook, status-callback, verb, gathered, leg, recording, error, warning or info
    kind: str
    title: str
    row: Row | None = None


def timeline(
    call: Row, events: list[Row], hooks: list[Row], legs: list[Row], recordings: list[Row]
) -> list[Step]:
    """Everything that happened on a call, in the order it happened: its webhook requests
    (when each was sent: logged when answered, minus how long it took), the verbs as they
    started, what a Gather collected, the dialled legs, the recordings, the call's ends."""
    steps: list[Step] = []
    if call["date_created"] is not None:
        steps.append(Step(float(call["date_created"]), "call", f"Call {call['direction']}"))
    for h in hooks:
        sent = float(h["at"]) - float(h["duration"] or 0)
        params = logged_params(h["request"]) or {}
        if h["source"] == "replay":
            title = f"Replay of request {h['replay_of']}"
            kind = "webhook"
        elif h["job_id"] is not None:
            title = f"Status callback ({params.get('CallStatus') or params.get('RecordingStatus') or '?'})"
            kind = "status-callback"
        else:
            told = ", ".join(f"{k} {params[k]}" for k in ACTION_PARAMS if k in params)
            title = f"Webhook ({told})" if told else "Webhook"
            kind = "webhook"
        steps.append(Step(sent, kind, title, h))
    for e in events:
        kind = e["kind"] if e["kind"] in ("verb", "gathered", "error", "warning") else "info"
        steps.append(Step(float(e["at"]), kind, e["kind"], e))
    for leg in legs:
        steps.append(
            Step(float(leg["date_created"]), "leg", f"Dial leg to {leg['to_number']}", leg)
        )
    for r in recordings:
        at = r["start_time"] if r["start_time"] is not None else r["date_created"]
        steps.append(Step(float(at), "recording", f"Recording {r['sid']}", r))
    if call["start_time"] is not None:
        steps.append(Step(float(call["start_time"]), "call", "Answered"))
    if call["end_time"] is not None:
        steps.append(Step(float(call["end_time"]), "call", f"Ended: {call['status']}"))
    return sorted(steps, key=lambda s: s.at)  # stable: same-time steps keep the order above


@bp.get("/recordings/<sid>.wav")
def recording(sid: str) -> BaseResponse:
    """A recording's WAV file; only files inside the data directory are served."""
    d = daemon()
    row = d.store.read_one("SELECT path FROM recordings WHERE sid = ?", (sid,))
    if row is None or not row["path"]:
        abort(404)
    # The same rule as the API's Recordings media (appliance.store.recordingfiles).
    path = resolve_stored(d.config.data_dir, row["path"]).resolve()
    root = d.config.data_dir.resolve()
    if root not in path.parents or not path.is_file():
        return _elsewhere(sid)  # another node's (a fleet), or 404
    return send_file(path, mimetype="audio/wav", download_name=f"{sid}.wav", conditional=True)


def _elsewhere(sid: str) -> BaseResponse:
    """A fleet: the WAV from the node that held the call, through its API's media route
    (signed by this node: the admin signed in here)."""
    d = daemon()
    owner = nodeproxy.recording_owner(d.store, sid)
    if owner is None or owner.node_id == d.fleet.id:
        abort(404)
    path = f"/2010-04-01/Accounts/{d.account.sid}/Recordings/{sid}.wav"
    try:
        answer = d.proxy.forward(owner, "GET", path)
    except nodeproxy.NodeDown as e:
        abort(503, f"This recording's audio is on another node of the fleet: {e}")
    if answer.status != 200:
        answer.response.release_conn()
        abort(404 if answer.status == 404 else 502)
    return Response(answer.chunks(), status=200, headers=answer.headers, direct_passthrough=True)
