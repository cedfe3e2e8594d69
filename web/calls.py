"""Calls and their recordings (the voice tables), recordings played behind sign-in.

The list filters like the other lists (:mod:`web.filters`) and downloads as CSV.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request, send_file
from werkzeug.wrappers import Response as BaseResponse

from appliance.store.recordingfiles import resolve_stored
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


@bp.get("/")
def index() -> str:
    d = daemon()
    p = page()
    f = filters.Filter.parse(request.args)
    where, params = f.where(filters.CALLS, alias="c")
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
    where, params = f.where(filters.CALLS)
    rows = export.keyset_rows(daemon().store, "SELECT rowid AS _key, * FROM calls", where, params)
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
    return render_template(
        "call.html",
        call=call,
        recordings=recordings,
        events=events,
        hooks=hooks,
        media_public=not d.config.recording_media_auth,
    )


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
        abort(404)
    return send_file(path, mimetype="audio/wav", download_name=f"{sid}.wav", conditional=True)
