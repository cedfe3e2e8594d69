"""The Stream resource: start and stop one-way Media Streams on a live call.

``POST …/Calls/{CallSid}/Streams.json`` forks the call's audio to a bot, as
``<Start><Stream>`` would (docs/streams.md); ``POST …/Calls/{CallSid}/Streams/{Sid}.json``
with ``Status=stopped`` stops a one-way stream by its SID or its name, whether TwiML or
this resource started it.  Open streams live in memory with their call: the API asks the
voice engine (:meth:`appliance.voice.engine.VoiceEngine.start_stream`, ``stop_stream``),
as it asks it to look at ``calls.control``; nothing is stored.  On a fleet, a call another
node holds streams from that node: the request is forwarded there (:mod:`appliance.api.relay`).
"""

from __future__ import annotations

import re
import urllib.parse
from typing import TYPE_CHECKING, Any

from flask import Response, jsonify, request

from appliance.api import call_parameters as form
from appliance.api.common import (
    PREFIX,
    ApiError,
    bp,
    daemon,
    form_value,
    forwarded,
    not_found,
    rfc2822,
)
from appliance.api.relay import relay
from appliance.errors import StreamRefused
from appliance.system import nodeproxy
from appliance.twiml.stream import TRACKS, Parameter, Stream
from appliance.voice.engine import CallNotLive, StreamNameTaken

if TYPE_CHECKING:
    from appliance.voice.mediastream import StreamState

MAX_PARAMETERS = 99  # Parameter1 … Parameter99, as Twilio's Stream resource takes
PARAMETER = re.compile(r"^Parameter([0-9]{1,6})\.(Name|Value)$")
IN_PROGRESS = "in-progress"


def stream_json(state: StreamState, account: str) -> dict[str, Any]:
    return {
        "account_sid": account,
        "call_sid": state.call_sid,
        "date_updated": rfc2822(state.updated),
        "name": state.name,
        "sid": state.sid,
        "status": state.status,
        "uri": f"{PREFIX}/{account}/Calls/{state.call_sid}/Streams/{state.sid}.json",
    }


def _respond(state: StreamState, status: int = 200) -> Response:
    rv = jsonify(stream_json(state, daemon().account.sid))
    rv.status_code = status
    return rv


def _call_status(call_sid: str) -> str:
    """The call's status, or a 404 if there is no such call."""
    row = daemon().store.read_one("SELECT status FROM calls WHERE sid = ?", (call_sid,))
    if row is None:
        raise not_found()
    return str(row["status"])


def _held_elsewhere(call_sid: str) -> Response | None:
    """A fleet: a call another node holds streams from there (its audio is there); the
    request forwarded to it, and its answer.  None for a call of this node."""
    if forwarded():
        return None
    d = daemon()
    owner = nodeproxy.call_owner(d.store, call_sid)
    if owner is None or owner.node_id == d.fleet.id:
        return None
    return relay(owner, f"Call {call_sid}")


def _not_live(status: str) -> ApiError:
    return ApiError(
        400, 21220, f"Call is not in-progress (status {status}). Cannot start or stop a stream."
    )


def _ws_url() -> str:
    """``Url``: an absolute ws:// or wss:// URL (as ``<Stream url>`` must be here).

    Twilio's reference calls it "relative or absolute" (the wording of all its URL
    parameters) but documents no base for a relative one in a REST request, and its
    Media Streams take wss:// only (error 31922); a relative Url is refused, saying so."""
    value = (form_value("Url") or "").strip()
    if not value:
        raise ApiError(400, 21205, "Url is required: the ws:// or wss:// URL of the bot.")
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is not None and not parts.scheme and not parts.netloc:
        raise ApiError(
            400,
            21205,
            f"Url {value!r} is relative: a REST request has no document to resolve it"
            " against; use an absolute ws:// or wss:// URL.",
        )
    if parts is None or parts.scheme.lower() not in ("ws", "wss") or not parts.hostname:
        raise ApiError(
            400, 21205, f"Url {value!r} is not valid: use an absolute ws:// or wss:// URL."
        )
    return value


def _parameters() -> tuple[Parameter, ...]:
    """``ParameterN.Name`` / ``ParameterN.Value`` (N from 1 to 99), in N's order; a pair
    without a name is left out, as a ``<Parameter>`` without one is."""
    pairs: dict[int, dict[str, str]] = {}
    for key in request.form:
        m = PARAMETER.match(key)
        if m is None:
            continue
        n = int(m.group(1))
        if not 1 <= n <= MAX_PARAMETERS:
            raise ApiError(
                400,
                20001,
                f"{key}: at most {MAX_PARAMETERS} parameters (Parameter1 … Parameter99).",
            )
        pairs.setdefault(n, {})[m.group(2)] = request.form.get(key, "")
    return tuple(
        Parameter(pair["Name"].strip(), pair.get("Value", ""))
        for _, pair in sorted(pairs.items())
        if pair.get("Name", "").strip()
    )


def _spec() -> Stream:
    url = _ws_url()
    track = form_value("Track") or "inbound_track"
    if track not in TRACKS:
        raise ApiError(
            400,
            20001,
            f"Track must be inbound_track, outbound_track or both_tracks, not {track!r}.",
        )
    return Stream(
        url=url,
        name=(form_value("Name") or "").strip() or None,
        track=track,
        status_callback=form.url("StatusCallback", 21609),
        status_callback_method=form.method("StatusCallbackMethod"),
        parameters=_parameters(),
    )


@bp.post("/Accounts/<account_sid>/Calls/<call_sid>/Streams.json")
def stream_create(account_sid: str, call_sid: str) -> Response:
    """Start a one-way stream on a live call; 201 at once, as Twilio answers, ``in-progress``
    while the socket connects on the stream's own thread (a failure is then recorded on the
    call and sent as ``stream-error``); ``stopped`` at once if the modem has no audio port."""
    status = _call_status(call_sid)
    spec = _spec()
    if status != IN_PROGRESS:
        raise _not_live(status)
    elsewhere = _held_elsewhere(call_sid)
    if elsewhere is not None:
        return elsewhere
    try:
        state = daemon().voice.start_stream(call_sid, spec)
    except CallNotLive:
        raise _not_live(_call_status(call_sid)) from None
    except StreamRefused as exc:
        raise ApiError(400, 20001, exc.message) from None
    except StreamNameTaken:
        raise ApiError(
            400, 20001, f"A stream named {spec.name!r} is already in progress on this call."
        ) from None
    return _respond(state, 201)


@bp.post("/Accounts/<account_sid>/Calls/<call_sid>/Streams/<sid>.json")
def stream_update(account_sid: str, call_sid: str, sid: str) -> Response:
    """``Status=stopped`` stops a one-way stream, named by its SID or its name."""
    status = _call_status(call_sid)
    value = form_value("Status")
    if value != "stopped":
        raise ApiError(400, 20001, f"Status can only be updated to 'stopped', not {value!r}.")
    if status != IN_PROGRESS:
        raise _not_live(status)
    elsewhere = _held_elsewhere(call_sid)
    if elsewhere is not None:
        return elsewhere
    state = daemon().voice.stop_stream(call_sid, sid)
    if state is None:
        raise not_found()
    return _respond(state)
