"""``/twimlets/<name>``: the built-in twimlets over HTTP (the TwiML is :mod:`appliance.twimlets`).

Public, like twimlets.com was: a twimlet reads nothing from the store and answers the same
TwiML to whoever asks (docs/api.md, "Who may call what").  One step is not public:
Voicemail's notification (a request that carries ``RecordingUrl``) texts ``Sms`` and
e-mails ``Email``, so it is served only to a request bearing the appliance's own valid
``X-Twilio-Signature`` (HMAC with the AuthToken, as the call engine signs its webhooks);
any other gets 403, or anyone on the LAN could make the appliance send messages.

The text message goes through the Outbox from the number the call came in on, like any
message; the e-mail is sent on a thread of its own to the ``smtp_relay`` (plain SMTP, no
login), so a slow relay does not hold up the call.  Hold Music lists the files of
``holdmusic_dir`` and serves them under ``/twimlets/holdmusic/<file>``.
"""

from __future__ import annotations

import hmac
import logging
import socket
import threading
import urllib.parse
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from flask import Blueprint, Response, abort, request, send_file

from appliance import logs
from appliance import twimlets as catalog
from appliance.api.common import daemon, error_response
from appliance.clients import identity
from appliance.errors import ApplianceError
from appliance.twimlets import (
    announcements,
    conference,
    dialing,
    menu,
    softphone,
    voicemail,
    whisper,
)
from appliance.twimlets.document import Answer
from appliance.twimlets.php import Params
from appliance.webhooks.signature import signature

LOGGER = logging.getLogger(__name__)
SMTP_TIMEOUT = 20.0  # seconds the relay has to take a voicemail e-mail (connect and each reply)
SMTP_PORT = 25
HOLD_MUSIC = Path(catalog.__file__).parent / "holdmusic"  # holdmusic_dir's default
AUDIO_TYPES = {".mp3": "audio/mpeg", ".wav": "audio/wav", ".ul": "audio/basic"}

bp = Blueprint("twimlets", __name__, url_prefix="/twimlets")


def _params() -> Params:
    """The query string in its own order (PHP arrays keep it), and the POST form."""
    query = urllib.parse.parse_qsl(
        request.query_string.decode("utf-8", "replace"), keep_blank_values=True
    )
    return Params(query, request.form.items(multi=True))


def _own_url() -> str:
    """This twimlet's URL as requested, relative (path and query), for a ``<Redirect>``."""
    query = request.query_string.decode("utf-8", "replace")
    return request.path + (f"?{query}" if query else "")


def _reply(answer: Answer) -> Response:
    if answer.location is not None:
        return Response(b"", status=302, headers={"Location": answer.location})
    return Response(answer.twiml, mimetype="text/xml")


def _holdmusic(p: Params) -> Response:
    files = [f"{request.path}/{urllib.parse.quote(f)}" for f in _music_files()]
    return _reply(announcements.holdmusic(p, _own_url(), files))


#: Each twimlet's view, by name (the routes are /twimlets/<name>, GET and POST).
VIEWS: dict[str, Callable[[Params], Response]] = {
    "forward": lambda p: _reply(dialing.forward(p, request.path)),
    "simulring": lambda p: _reply(dialing.simulring(p, request.path)),
    "findme": lambda p: _reply(dialing.findme(p, request.path)),
    "whisper": lambda p: _reply(whisper.whisper(p)),
    "voicemail": lambda p: _voicemail(p),
    "menu": lambda p: _reply(menu.menu(p, _own_url())),
    "message": lambda p: _reply(announcements.message(p)),
    "echo": lambda p: Response(announcements.echo(p), mimetype="text/xml"),
    "holdmusic": _holdmusic,
    "callme": lambda p: _reply(dialing.callme(p, request.path)),
    "conference": lambda p: _reply(conference.conference(p)),
}


def _view(name: str) -> Callable[[], Response]:
    view = VIEWS[name]
    return lambda: view(_params())


for _name in catalog.NAMES:
    bp.add_url_rule(f"/{_name}", endpoint=_name, view_func=_view(_name), methods=["GET", "POST"])


# -- The panel's phone -------------------------------------------------------------------------


@bp.route("/softphone", methods=["GET", "POST"])
def softphone_view() -> Response:
    """The panel's phone's calls (the VoiceUrl of its TwiML App, docs/clients.md): ``To`` a
    number dials it through a SIM with that SIM's number as caller ID, a name rings that
    browser.  Only the appliance's own signed requests: it dials out on the SIM."""
    if not signed_by_us():
        logs.event(
            LOGGER, logging.WARNING, "twimlet refused", twimlet="softphone",
            reason="not signed by the appliance", client=request.remote_addr,
        )  # fmt: skip
        return error_response(403, 20003, "Only the appliance's own signed calls may use this")
    to = Params.string(_params().request("To"))
    return _reply(softphone.softphone(to, sim_number(), identity.problem))


def sim_number() -> str:
    """The first SIM's number (by modem name): the caller ID of the panel's phone."""
    d = daemon()
    row = d.store.read_one("SELECT phone_number FROM numbers ORDER BY modem")
    if row is not None and row["phone_number"]:
        return str(row["phone_number"])
    return d.config.modems[0].number if d.config.modems else ""


# -- Voicemail's notification --------------------------------------------------------------------


def _voicemail(p: Params) -> Response:
    if voicemail.notifies(p) and not signed_by_us():
        logs.event(
            LOGGER, logging.WARNING, "twimlet refused", twimlet="voicemail",
            reason="notification without the appliance's signature", client=request.remote_addr,
        )  # fmt: skip
        return error_response(
            403, 20003, "Only the appliance's own signed requests may send voicemail notices"
        )
    answer, notice = voicemail.voicemail(p)
    if notice is not None:
        _notify(notice, Params.string(p.request("CallSid")))
    return _reply(answer)


def _wire_tail() -> str:
    """The path and query exactly as on the request line (what the signer signed)."""
    raw = str(request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI") or "")
    path = raw.split("?", 1)[0] or urllib.parse.quote(request.path)
    query = str(request.environ.get("QUERY_STRING", ""))
    return path + (f"?{query}" if query else "")


def signed_by_us() -> bool:
    """Whether ``X-Twilio-Signature`` is the AuthToken's over this URL (as the client named
    it in Host, or under ``public_url``) and, for a POST, the form."""
    given = request.headers.get("X-Twilio-Signature", "")
    if not given:
        return False
    d = daemon()
    params = {} if request.method == "GET" else request.form.to_dict(flat=False)
    tail = _wire_tail()
    bases = {f"{request.scheme}://{request.host}", d.config.base_url.rstrip("/")}
    token = d.account.auth_token
    return any(hmac.compare_digest(signature(token, base + tail, params), given) for base in bases)


def _notify(notice: voicemail.Notice, call_sid: str) -> None:
    if notice.sms_to:
        _text(notice, call_sid)
    if notice.email_to:
        relay = daemon().config.smtp_relay.strip()
        if not relay:
            logs.event(
                LOGGER, logging.WARNING, "voicemail e-mail not sent",
                reason="smtp_relay is not set", to=notice.email_to,
            )  # fmt: skip
            return
        sender = daemon().config.smtp_from.strip() or f"voicemail@{socket.getfqdn()}"
        threading.Thread(
            target=send_email,
            args=(relay, sender, notice),
            name="voicemail-email",
            daemon=True,
        ).start()


def _text(notice: voicemail.Notice, call_sid: str) -> None:
    """Queue the text message from the number the call reached (the first number if the
    call is unknown)."""
    d = daemon()
    call = d.store.read_one(
        "SELECT modem, direction, from_number, to_number FROM calls WHERE sid = ?", (call_sid,)
    )
    if call is not None:
        modem = str(call["modem"])
        ours = str(call["to_number"] if call["direction"] == "inbound" else call["from_number"])
    else:
        number = d.store.read_one("SELECT modem, phone_number FROM numbers ORDER BY modem")
        if number is None:
            return
        modem, ours = str(number["modem"]), str(number["phone_number"])
    try:
        d.outbox.enqueue(modem=modem, from_number=ours, to=notice.sms_to, body=notice.sms_body)
    except ApplianceError as e:  # a bad Sms number, an opt-out: the caller still hears goodbye
        logs.event(
            LOGGER, logging.WARNING, "voicemail text not sent",
            call=call_sid or None, to=notice.sms_to, error_code=e.code, detail=e.message,
        )  # fmt: skip


def send_email(relay: str, sender: str, notice: voicemail.Notice) -> None:
    """Send the notice through ``relay`` (``host`` or ``host:port``); failures are logged."""
    import smtplib  # here, not at start: an idle appliance does not load it

    parts = urllib.parse.urlsplit(f"//{relay}")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = notice.email_to
    msg["Subject"] = notice.email_subject
    msg["X-Mailer"] = "Twilio in a box twimlets"
    msg.set_content(notice.email_body)
    try:
        with smtplib.SMTP(
            parts.hostname or relay, parts.port or SMTP_PORT, timeout=SMTP_TIMEOUT
        ) as smtp:
            smtp.send_message(msg)
    except (OSError, ValueError, smtplib.SMTPException) as e:
        logs.event(
            LOGGER, logging.WARNING, "voicemail e-mail not sent",
            relay=relay, to=notice.email_to, reason=f"{type(e).__name__}: {e}",
        )  # fmt: skip
        return
    logs.event(LOGGER, logging.INFO, "voicemail e-mail sent", relay=relay, to=notice.email_to)


# -- Hold Music's files --------------------------------------------------------------------------


def music_dir() -> Path:
    """``holdmusic_dir`` (relative: in data_dir), or the folder shipped with the appliance."""
    cfg = daemon().config
    setting = cfg.holdmusic_dir.strip()
    if not setting:
        return HOLD_MUSIC
    folder = Path(setting).expanduser()
    return folder if folder.is_absolute() else cfg.data_dir / folder


def _music_files() -> list[str]:
    try:
        names = sorted(f.name for f in music_dir().iterdir() if f.is_file())
    except OSError:
        return []
    return [n for n in names if n.endswith(announcements.HOLD_MUSIC_EXTENSIONS)]


@bp.get("/holdmusic/<name>")
def holdmusic_file(name: str) -> Response:
    """One file of the hold music folder (only a name :func:`_music_files` lists)."""
    if name not in _music_files():
        abort(404)
    kind = AUDIO_TYPES[Path(name).suffix]
    return send_file(music_dir() / name, mimetype=kind, conditional=True)
