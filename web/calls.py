"""Calls and their recordings (the voice tables), recordings played behind sign-in."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, render_template, send_file
from werkzeug.wrappers import Response as BaseResponse

from web.helpers import PAGE_SIZE, daemon, page

bp = Blueprint("calls", __name__, url_prefix="/calls")


@bp.get("/")
def index() -> str:
    d = daemon()
    p = page()
    rows = d.store.read(
        "SELECT c.*, (SELECT COUNT(*) FROM recordings r WHERE r.call_sid = c.sid) AS recordings"
        " FROM calls c ORDER BY c.date_created DESC LIMIT ? OFFSET ?",
        (PAGE_SIZE + 1, p * PAGE_SIZE),
    )
    return render_template("calls.html", calls=rows[:PAGE_SIZE], page=p, more=len(rows) > PAGE_SIZE)


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
    # As the API's Recordings media (appliance/api/recordings.py resolve_stored): relative to
    # data_dir, or as the voice engine wrote it (var/recordings/RE….wav with data_dir "var").
    stored, data_dir = Path(row["path"]), d.config.data_dir
    found = (
        [stored] if stored.is_absolute() else [data_dir / stored, data_dir / "recordings" / stored]
    )
    if not data_dir.is_absolute() and stored.parts[: len(data_dir.parts)] == data_dir.parts:
        found.insert(0, stored)
    found.append(data_dir / "recordings" / stored.name)
    path = next((p for p in found if p.is_file()), found[0]).resolve()
    root = d.config.data_dir.resolve()
    if root not in path.parents or not path.is_file():
        abort(404)
    return send_file(path, mimetype="audio/wav", download_name=f"{sid}.wav", conditional=True)
