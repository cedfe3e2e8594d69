"""Media Streams: ``<Start><Stream>`` (a one-way fork), ``<Stop><Stream>``, ``<Connect><Stream>``.

``<Start>`` opens a :class:`appliance.voice.mediastream.StreamClient`, which connects on a
thread of its own, and goes on at once; the stream lives until ``<Stop>``, the bot closes
it, or the call ends (the channel's closers stop it, which sends ``stop``).  ``<Connect>``
opens a bidirectional stream and waits until the socket closes, passing key presses to
the bot as ``dtmf`` messages; then the TwiML goes on with the next verb, or with the
``<Connect action>`` URL.  A stream that cannot connect is recorded as a call error and
the next verb runs; so is a stream on a modem without an audio port (:data:`NO_AUDIO`):
Media Streams carry the modem's audio, so such a stream never connects, and its
``statusCallback`` gets ``stream-error``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from appliance import logs
from appliance.voice.callbacks import enqueue_status
from appliance.voice.session import CallSession

if TYPE_CHECKING:
    from appliance.voice.mediastream import StreamClient

LOGGER = logging.getLogger(__name__)
POLL = 0.05  # seconds between looks at the keys and the socket while connected
NO_AUDIO = (
    "modem {modem} has no audio port (its audio_port setting is empty): a stream carries"
    " the call's audio from the modem, so none can be streamed; the stream was not opened"
)


def _status(session: CallSession, stream: Any, client_sid: list[str]) -> Any:
    """The stream's statusCallback (stream-started, stream-stopped, stream-error), if any."""
    url = getattr(stream, "status_callback", None)
    if not url:
        return None
    ctx = session.ctx

    def send(event: str, error: str | None) -> None:
        params = {
            "AccountSid": ctx.account_sid(),
            "CallSid": session.sid,
            "StreamSid": client_sid[0] if client_sid else "",
            "StreamName": stream.name or (client_sid[0] if client_sid else ""),
            "StreamEvent": event,
            "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if error:
            params["StreamError"] = error
        enqueue_status(ctx.store, session.sid, url, stream.status_callback_method, params)
        if ctx.on_job:
            ctx.on_job()

    return send


def open_stream(session: CallSession, stream: Any, *, bidirectional: bool) -> StreamClient | None:
    """Open a stream for this call; None (the error recorded) if it could not connect."""
    client = new_client(session, stream, bidirectional=bidirectional)
    if client is None or not attach(session, client):
        return None
    return client


def new_client(session: CallSession, stream: Any, *, bidirectional: bool) -> StreamClient | None:
    """A stream for this call, not connected yet; None (warned) if its name is taken."""
    from appliance.voice import mediastream  # late: numpy and websockets only when used
    from appliance.voice.mediastream import StreamClient

    ctx = session.ctx
    if stream.name and any(c.name == stream.name for c in mediastream.streams_of(session.sid)):
        session.documents.event(
            "warning", 12200, f"a stream named {stream.name!r} is already open; skipped"
        )
        return None
    sid_box: list[str] = []
    client = StreamClient(
        url=stream.url,
        name=stream.name,
        track=stream.track,
        bidirectional=bidirectional,
        parameters={p.name: p.value for p in stream.parameters},
        call_sid=session.sid,
        account_sid=ctx.account_sid(),
        auth_token=ctx.auth_token() if ctx.auth_token else "",
        media=session.channel.media,
        event=session.documents.event,
        status=_status(session, stream, sid_box),
        ca_file=ctx.stream_ca_file,
    )
    sid_box.append(client.sid)
    return client


def attach(session: CallSession, client: StreamClient, *, background: bool = False) -> bool:
    """Connect ``client`` and have the call's end stop it; False if it is not streaming
    (the call's modem has no audio port, or it could not connect: the error recorded; or the
    call's media stopped meanwhile).  ``background`` (``<Start>``, the REST API): connect
    on the stream's own thread and return at once, the stream ``in-progress``."""
    channel = session.channel
    phone = session.modem  # None on a browser's call: its audio is the WebRTC leg's
    if phone is not None and not phone.audio_port:
        client.fail(None, NO_AUDIO.format(modem=phone.modem.name))
        return False
    if channel.media is None:  # a REST stream between the answer and the audio's start
        session.documents.event(
            "warning", None, f"<Stream> {client.sid}: the call's audio has not started yet"
        )
    if background:
        if not channel.add_closer(client.stop):
            client.stop()  # the call has ended
            return False
        client.open_in_background()
        return True
    if not client.open():
        return False
    if not channel.add_closer(client.stop):
        client.stop()  # the call ended while we connected
        return False
    return True


def start(session: CallSession, verb: Any, doc: Any) -> Any:
    """The TwiML goes on at once, as Twilio's does: the stream connects on its own thread
    (a failure is recorded on the call and sent as ``stream-error`` when it happens)."""
    client = new_client(session, verb.stream, bidirectional=False)
    if client is not None:
        attach(session, client, background=True)
    return None


def stop(session: CallSession, verb: Any, doc: Any) -> Any:
    from appliance.voice import mediastream  # late: numpy and websockets only when used

    for client in mediastream.streams_of(session.sid):
        if not client.bidirectional and (verb.name is None or client.name == verb.name):
            client.stop()
    return None


def connect(session: CallSession, verb: Any, doc: Any) -> Any:
    channel = session.channel
    client = open_stream(session, verb.stream, bidirectional=True)
    if client is None:
        return None
    channel.clear_digits()
    try:
        while not client.closed.is_set():
            digit = channel.next_digit(POLL)  # raises CallEnded when the caller hangs up
            if channel.control_pending.is_set():
                break
            if digit is not None:
                client.send_dtmf(digit)
    finally:
        client.stop()
    logs.event(LOGGER, logging.INFO, "stream connect ended", sid=session.sid, stream=client.sid)
    if channel.control_pending.is_set() or not verb.action:
        return None
    return session.documents.action(verb.action, verb.method, {})
