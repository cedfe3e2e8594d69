"""Built-in twimlets: the classic twimlets.com URLs, answered by the appliance itself.  Pure.

A number's Voice URL may be ``/twimlets/<name>?…`` (relative: it resolves against the
appliance's own base URL).  Each module here turns a request's parameters
(:class:`~appliance.twimlets.php.Params`, read with the classic PHP scripts' rules) into
TwiML or a 302 (:class:`~appliance.twimlets.document.Answer`), with no I/O; the HTTP
layer is :mod:`appliance.api.twimlets`, and docs/twimlets.md describes each twimlet.

| module | twimlets |
|---|---|
| ``dialing`` | forward, simulring, findme, callme |
| ``whisper`` | whisper |
| ``voicemail`` | voicemail (and the :class:`~appliance.twimlets.voicemail.Notice` it sends) |
| ``menu`` | menu |
| ``announcements`` | message, echo, holdmusic |
| ``conference`` | conference (not supported yet: says so) |
"""

from __future__ import annotations

__all__ = ["NAMES", "PREFIX", "PRESETS", "is_twimlet_url"]

PREFIX = "/twimlets/"  # a Voice URL starting with this is served by the appliance itself

NAMES = (
    "forward",
    "simulring",
    "findme",
    "whisper",
    "voicemail",
    "menu",
    "message",
    "echo",
    "holdmusic",
    "callme",
    "conference",
)

#: What the panel offers when a number's Voice URL is edited: (label, URL to complete).  The
#: first is not a classic twimlet but the appliance's support line (docs/oncall.md), served
#: under the same prefix; like every preset, it answers the call engine's signed requests.
PRESETS = (
    ("Forward to on-call (support line)", "/twimlets/oncall"),
    ("Forward to a phone", "/twimlets/forward?PhoneNumber=%2B"),
    ("Ring several phones", "/twimlets/simulring?PhoneNumbers%5B%5D=%2B&PhoneNumbers%5B%5D=%2B"),
    (
        "Find me (one phone after another)",
        "/twimlets/findme?PhoneNumbers%5B%5D=%2B&PhoneNumbers%5B%5D=%2B",
    ),
    ("Voicemail, link by SMS", "/twimlets/voicemail?Sms=%2B"),
    ("Menu", "/twimlets/menu?Message=Press+1+for+sales&Options%5B1%5D="),
    ("Say a message", "/twimlets/message?Message%5B0%5D=Hello"),
    ("Hold music", "/twimlets/holdmusic"),
)


def is_twimlet_url(url: str) -> bool:
    """Whether ``url`` is a relative twimlet URL (``/twimlets/<name>…``, no spaces)."""
    return url.startswith(PREFIX) and " " not in url and "\\" not in url
