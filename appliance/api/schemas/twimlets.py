"""The OpenAPI description of the built-in twimlets (:mod:`appliance.api.twimlets`).

Each twimlet answers GET and POST at ``/twimlets/<name>`` with TwiML, for anyone; the
parameters are the classic twimlets' (docs/twimlets.md), in the query string.  POST
bodies carry the call's webhook parameters (``From``, ``Digits``, ``DialCallStatus`` …).
"""

from __future__ import annotations

from typing import Any

from appliance.api.schemas.parts import error, param

TWIML = {"text/xml": {"schema": {"type": "string"}}}

# (name, summary, [(parameter, description)], may answer 302)
TWIMLETS: tuple[tuple[str, str, tuple[tuple[str, str], ...], bool], ...] = (
    (
        "forward",
        "Forward the call to a number; FailUrl when nobody answers",
        (
            ("PhoneNumber", "The number to dial"),
            ("CallerId", "Caller ID for the forwarded call (a SIM presents its own)"),
            ("FailUrl", "Where to go (302) when the call is not answered"),
            ("Timeout", "Seconds to ring (default 20)"),
            ("AllowedCallers[]", "Only these callers are forwarded"),
        ),
        True,
    ),
    (
        "simulring",
        "Ring several numbers; the first to answer gets the call",
        (
            ("PhoneNumbers[]", "The numbers to ring (dialled in sorted order)"),
            ("FailUrl", "Where to go (302) when nobody answers"),
            ("Timeout", "Seconds to ring (default 20)"),
            ("Message", "What the answering party hears (the whisper)"),
        ),
        True,
    ),
    (
        "findme",
        "Ring numbers one after the other (10 at most)",
        (
            ("PhoneNumbers[]", "The numbers to try, in order (the first 10)"),
            ("FailUrl", "Where to go (302) when nobody answers"),
            ("Timeout", "Seconds each number rings (default 60)"),
            ("Message", "What the answering party hears before pressing a key"),
        ),
        True,
    ),
    (
        "whisper",
        "Announce a call to the party who answered; a key press accepts it",
        (
            ("Message", "The announcement (default: the caller's number)"),
            ("HumanCheck", "Hang up unless a key is pressed"),
        ),
        False,
    ),
    (
        "voicemail",
        "Record a message; its link goes by SMS (Sms) and e-mail (Email). The notification"
        " step (a request with RecordingUrl) needs the appliance's own X-Twilio-Signature",
        (
            ("Message", "The greeting (default: Please leave a message after the beep.)"),
            ("Sms", "A number (E.164) texted the recording's link"),
            ("Email", "An address e-mailed the link (when smtp_relay is set)"),
            ("Transcribe", "Accepted and ignored: the appliance does not transcribe"),
        ),
        False,
    ),
    (
        "menu",
        "A menu: the keys pressed pick a URL (302)",
        (
            ("Message", "The menu read out (or played: a URL)"),
            ("Options[1]", "The URL of option 1 (any key: Options[<keys>])"),
        ),
        True,
    ),
    (
        "message",
        "Say or play messages, in order",
        (("Message[0]", "A text to say, or a URL to play (Message[1], … follow)"),),
        False,
    ),
    (
        "echo",
        "Answer the Twiml parameter as it is",
        (("Twiml", "The TwiML document to answer"),),
        False,
    ),
    (
        "holdmusic",
        "Play the files of holdmusic_dir in a shuffled loop",
        (
            ("Message", "Said (or played) between the files"),
            ("Bucket", "Ignored: the appliance plays holdmusic_dir, not an S3 bucket"),
        ),
        False,
    ),
    (
        "callme",
        "Call one number, announced by a whisper",
        (
            ("PhoneNumber", "The number to dial"),
            ("FailUrl", "Where to go (302) when the call is not answered"),
            ("Timeout", "Seconds to ring (default 20)"),
            ("Message", "What the answering party hears"),
        ),
        True,
    ),
    (
        "conference",
        "Says that conferences are not supported yet, and hangs up",
        (("Name", "Accepted and ignored"), ("Password", "Accepted and ignored")),
        False,
    ),
)


def _operation(name: str, summary: str, method: str, moves: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "TwiML", "content": TWIML}}
    if moves:
        responses["302"] = {"description": "To FailUrl or the option chosen (Location)"}
    if name == "voicemail":
        responses["403"] = error("A notification without the appliance's signature (20003)")
    return {
        "tags": ["Twimlets"],
        "summary": summary,
        "operationId": f"twimlet{name.capitalize()}{method.capitalize()}",
        "security": [],
        "responses": responses,
    }


def paths() -> dict[str, Any]:
    """One path per twimlet (GET and POST), and the hold music's files."""
    out: dict[str, Any] = {}
    for name, summary, params, moves in TWIMLETS:
        out[f"/twimlets/{name}"] = {
            "parameters": [param(p, "query", text) for p, text in params],
            "get": _operation(name, summary, "get", moves),
            "post": _operation(name, summary, "post", moves),
        }
    out["/twimlets/softphone"] = {
        "parameters": [param("To", "query", "An E.164 number, client:<identity> or an identity")],
        **{
            method: {
                "tags": ["Twimlets"],
                "summary": "The panel's phone's calls: a number through the SIM (callerId the"
                " SIM's number) or a browser; only the appliance's own signed requests",
                "operationId": f"twimletSoftphone{method.capitalize()}",
                "security": [],
                "responses": {
                    "200": {"description": "TwiML", "content": TWIML},
                    "403": error("Not signed by the appliance (20003)"),
                },
            }
            for method in ("get", "post")
        },
    }
    out["/twimlets/holdmusic/{name}"] = {
        "parameters": [param("name", "path", "A file of holdmusic_dir (.wav, .mp3, .ul)")],
        "get": {
            "tags": ["Twimlets"],
            "summary": "One hold music file",
            "operationId": "twimletHoldmusicFile",
            "security": [],
            "responses": {
                "200": {"description": "The audio file"},
                "404": error("No such file in holdmusic_dir (20404)"),
            },
        },
    }
    return out
