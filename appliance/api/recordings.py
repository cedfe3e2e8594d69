"""The Recording resource: list (account-wide or per call), fetch, delete, and the media.

``/Recordings/{Sid}`` (no extension) and ``/Recordings/{Sid}.wav`` serve the WAV the
voice engine wrote (``recordings.path``, under ``data_dir/recordings``; see
:func:`resolve_stored` for the forms the path takes);
``/Recordings/{Sid}.mp3`` converts it once with sox and keeps the MP3 beside it.
Media are public by default, as on Twilio (setting ``recording_media_auth`` requires
the API's Basic auth for them, like Twilio's "HTTP Basic Authentication for media").
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from flask import Response, jsonify, request, send_file

from appliance.api.common import (
    PREFIX,
    ApiError,
    bp,
    daemon,
    forwarded,
    not_found,
    page_body,
    page_params,
    rfc2822,
)
from appliance.api.listing import day_filters, keyset_page
from appliance.api.relay import relay
from appliance.sms.outbox import API_VERSION
from appliance.store.database import Row
from appliance.store.recordingfiles import resolve_stored
from appliance.system import nodeproxy

LOGGER = logging.getLogger(__name__)

UNFINISHED = ("in-progress", "paused", "processing")
SOX_TIMEOUT = (
    120.0  # seconds for one WAV -> MP3 conversion (a 1-hour recording takes ~20 s on a Pi 4)
)
MEDIA_TYPES = {"wav": "audio/x-wav", "mp3": "audio/mpeg"}


def recording_json(row: Row, account: str) -> dict[str, Any]:
    sid = row["sid"]
    base = f"{PREFIX}/{account}/Recordings/{sid}"
    return {
        "account_sid": account,
        "api_version": API_VERSION,
        "call_sid": row["call_sid"],
        "channels": row["channels"],
        "conference_sid": None,
        "date_created": rfc2822(row["date_created"]),
        "date_updated": rfc2822(row["date_updated"]),
        "duration": str(row["duration"]),
        "encryption_details": None,
        "error_code": row["error_code"],
        "media_url": request.host_url.rstrip("/") + base,
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "source": row["source"],
        "start_time": rfc2822(row["start_time"]),
        "status": row["status"],
        "subresource_uris": {
            "add_on_results": f"{base}/AddOnResults.json",
            "transcriptions": f"{base}/Transcriptions.json",
        },
        "track": "both",
        "uri": f"{base}.json",
    }


def _row(sid: str) -> Row:
    row = daemon().store.read_one("SELECT * FROM recordings WHERE sid = ?", (sid,))
    if row is None:
        raise not_found()
    return row


def recording_file(stored: str) -> Path:
    """The WAV file of a ``recordings.path`` value (:func:`appliance.store.recordingfiles.resolve_stored`), absolute:
    Flask's ``send_file`` would take a relative path as relative to the package."""
    return resolve_stored(Path(daemon().config.data_dir), stored).absolute()


# --------------------------------------------------------------------------- list, fetch


def _list(call_sid: str | None) -> Response:
    args = request.args
    page, page_size = page_params()
    where: list[str] = []
    params: list[Any] = []
    call_sid = call_sid or args.get("CallSid") or None
    if call_sid:
        where.append("recordings.call_sid = ?")
        params.append(call_sid)
    day_where, day_params = day_filters(args, "DateCreated", "recordings.date_created")
    where += day_where
    params += day_params
    rows, next_token = keyset_page(
        "SELECT * FROM recordings",
        "recordings",
        where,
        params,
        token=args.get("PageToken", ""),
        page=page,
        page_size=page_size,
    )
    account = daemon().account.sid
    return page_body(
        "recordings",
        [recording_json(r, account) for r in rows],
        page=page,
        page_size=page_size,
        next_token=next_token,
    )


@bp.get("/Accounts/<account_sid>/Recordings.json")
def recording_list(account_sid: str) -> Response:
    """Newest first.  Filters: CallSid, DateCreated, DateCreated<, DateCreated> (UTC days)."""
    return _list(None)


@bp.get("/Accounts/<account_sid>/Calls/<sid>/Recordings.json")
def call_recording_list(account_sid: str, sid: str) -> Response:
    """The recordings of one call (``sid`` is the CallSid)."""
    return _list(sid)


@bp.get("/Accounts/<account_sid>/Recordings/<sid>.json")
def recording_fetch(account_sid: str, sid: str) -> Response:
    return jsonify(recording_json(_row(sid), daemon().account.sid))


@bp.delete("/Accounts/<account_sid>/Recordings/<sid>.json")
def recording_delete(account_sid: str, sid: str) -> Response:
    """Delete a finished recording and its audio files."""

    def fn(conn: sqlite3.Connection) -> Row | None:
        row = conn.execute("SELECT * FROM recordings WHERE sid = ?", (sid,)).fetchone()
        if row is None:
            return None
        if row["status"] in UNFINISHED:
            raise ApiError(
                409,
                20009,
                f"Cannot delete this resource before it is complete (status {row['status']})",
            )
        conn.execute("DELETE FROM recordings WHERE sid = ?", (sid,))
        return row  # type: ignore[no-any-return]

    row = daemon().store.write(fn)
    if row is None:
        raise not_found()
    wav = recording_file(row["path"])
    for path in (wav, wav.with_suffix(".mp3")):
        try:
            path.unlink(missing_ok=True)
        except OSError as e:
            LOGGER.warning("recording %s: could not remove %s: %s", sid, path, e)
    return Response(status=204)


# --------------------------------------------------------------------------- media


def _media_unavailable(detail: str) -> ApiError:
    return ApiError(404, 20404, f"The requested resource {request.path} was not found ({detail})")


def _wav(sid: str) -> Path | Response:
    """The recording's WAV file here, or (a fleet) the answer of the node that has it."""
    row = _row(sid)
    if row["status"] in UNFINISHED:
        raise _media_unavailable(f"the recording is {row['status']}")
    wav = recording_file(row["path"])
    if wav.is_file():
        return wav
    if not forwarded():  # a forwarded request is answered here or not at all (no loops)
        d = daemon()
        owner = nodeproxy.recording_owner(d.store, sid)
        if owner is not None and owner.node_id != d.fleet.id:
            return relay(owner, f"Recording {sid}'s audio")
    raise _media_unavailable("the audio file is missing")


def to_mp3(wav: Path) -> Path:
    """The MP3 beside ``wav``, converted with sox when missing or older than the WAV."""
    mp3 = wav.with_suffix(".mp3")
    if mp3.is_file() and mp3.stat().st_mtime >= wav.stat().st_mtime:
        return mp3
    # A private temporary name: two requests may convert the same file at once.
    tmp = wav.with_name(f".{wav.stem}.{secrets.token_hex(4)}.mp3")
    try:
        subprocess.run(  # noqa: S603 - fixed program, paths we built
            ["sox", "-q", str(wav), "-t", "mp3", str(tmp)],
            check=True,
            capture_output=True,
            timeout=SOX_TIMEOUT,
        )
        os.replace(tmp, mp3)
    except (OSError, subprocess.SubprocessError) as e:
        tmp.unlink(missing_ok=True)
        stderr = getattr(e, "stderr", b"") or b""
        LOGGER.warning(
            "MP3 conversion of %s failed: %s %s", wav, e, stderr.decode(errors="replace")
        )
        raise _media_unavailable("MP3 conversion is not available; fetch the .wav") from None
    return mp3


@bp.get("/Accounts/<account_sid>/Recordings/<sid>")
@bp.get("/Accounts/<account_sid>/Recordings/<sid>.wav")
def recording_wav(account_sid: str, sid: str) -> Response:
    wav = _wav(sid)
    if isinstance(wav, Response):
        return wav
    return send_file(wav, mimetype=MEDIA_TYPES["wav"], download_name=f"{sid}.wav")


@bp.get("/Accounts/<account_sid>/Recordings/<sid>.mp3")
def recording_mp3(account_sid: str, sid: str) -> Response:
    wav = _wav(sid)
    if isinstance(wav, Response):
        return wav  # the owner converts its own file
    return send_file(to_mp3(wav), mimetype=MEDIA_TYPES["mp3"], download_name=f"{sid}.mp3")
