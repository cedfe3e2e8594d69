"""A browser's SDP, checked before aiortc sees it: pure (no I/O).

The Voice SDK sends its offer (``invite``, ``reinvite``) or answer (``answer``) as soon as
``setLocalDescription`` resolves, so it usually carries **no candidates** and there is no
trickle (docs/design.md, "Browser phone calls").  What the appliance needs from it: one
``m=audio`` section, ICE credentials (``ice-ufrag``, ``ice-pwd``), a DTLS ``fingerprint`` and
PCMU or Opus among its codecs, in at most 64 KiB.  Anything else is refused with 31100 and the
reason.  Chrome's mDNS host candidates (``<uuid>.local``), when it was quick enough to put some
in, are dropped: aiortc would wait on an mDNS lookup before answering, and the browser's STUN
checks teach the appliance its address anyway (a peer-reflexive candidate).
"""

from __future__ import annotations

import dataclasses
import re

from appliance.clients.pstream import MALFORMED, ProtocolError

MAX_SDP = 64 * 1024
CODECS = ("PCMU", "opus")  # what the appliance speaks, in its order of preference
_STATIC = {"0": "PCMU"}  # static payload types (RFC 3551) that need no rtpmap
_LINE = re.compile(r"[a-z]=[\x20-\x7e\t]*")
_RTPMAP = re.compile(r"a=rtpmap:(\d{1,3}) ([A-Za-z0-9._-]+)/(\d+)(?:/\d+)?")
_CANDIDATE = re.compile(r"a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ \S+")
_FINGERPRINT = re.compile(
    r"a=fingerprint:(sha-(?:1|224|256|384|512)) ((?:[0-9A-Fa-f]{2}:)+[0-9A-Fa-f]{2})"
)


@dataclasses.dataclass(frozen=True)
class Offer:
    """A checked SDP: the text to hand to aiortc and what was found in it."""

    sdp: str
    codecs: tuple[str, ...]  # of CODECS, in the browser's order
    candidates: int  # the candidates kept
    dropped: int  # mDNS (.local) candidates left out
    ice: tuple[str, str] = ("", "")  # the browser's ICE credentials (ice-ufrag, ice-pwd)


def refuse(reason: str) -> ProtocolError:
    return ProtocolError(f"The SDP cannot be used: {reason}", MALFORMED)


def check(sdp: object, *, kind: str = "offer") -> Offer:
    """The checked SDP of a browser's ``kind`` (offer or answer), or a :class:`ProtocolError`
    with code 31100 naming what is wrong."""
    if not isinstance(sdp, str) or not sdp:
        raise refuse(f"the {kind} has no SDP")
    if len(sdp) > MAX_SDP:
        raise refuse(f"the {kind} is {len(sdp)} characters long (at most {MAX_SDP})")
    lines = [line for line in sdp.replace("\r\n", "\n").split("\n") if line != ""]
    if not lines or lines[0] != "v=0":
        raise refuse(f"the {kind} does not start with v=0")
    for number, line in enumerate(lines, 1):
        if not _LINE.fullmatch(line):
            raise refuse(f"line {number} is not <letter>=<printable text>: {line[:40]!r}")
    media = [i for i, line in enumerate(lines) if line.startswith("m=")]
    audio = [i for i in media if lines[i].startswith("m=audio ")]
    if len(audio) != 1 or len(media) != 1:
        kinds = ", ".join(lines[i].split(" ")[0][2:] for i in media) or "none"
        raise refuse(f"a browser phone sends exactly one audio section (m= lines: {kinds})")
    session, section = lines[: audio[0]], lines[audio[0] :]
    fields = lines[audio[0]].split(" ")
    if len(fields) < 4 or not fields[1].isdigit() or not fields[2].startswith("UDP/TLS/RTP/SAVP"):
        raise refuse(f"the audio section is not DTLS-SRTP over UDP: {lines[audio[0]][:60]!r}")

    def value(prefix: str) -> str | None:
        for line in section + session:  # media-level first, then session-level
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
        return None

    ufrag, pwd = value("a=ice-ufrag:"), value("a=ice-pwd:")
    if not ufrag:
        raise refuse("it has no a=ice-ufrag (ICE credentials)")
    if not pwd:
        raise refuse("it has no a=ice-pwd (ICE credentials)")
    if not any(_FINGERPRINT.fullmatch(line.strip()) for line in section + session):
        raise refuse("it has no a=fingerprint (sha-256 and the like) for DTLS")
    names = dict(_STATIC)
    for line in section:
        m = _RTPMAP.fullmatch(line)
        if m:
            names[m.group(1)] = m.group(2)
    offered = [names.get(pt, "") for pt in fields[3:]]
    known = {c.lower(): c for c in CODECS}
    codecs = tuple(dict.fromkeys(known[n.lower()] for n in offered if n.lower() in known))
    if not codecs:
        raise refuse(f"it offers neither PCMU nor Opus ({', '.join(n for n in offered if n)})")
    kept: list[str] = []
    candidates = dropped = 0
    for line in lines:
        if line.startswith("a=candidate:"):
            m = _CANDIDATE.match(line)
            if m is None:
                raise refuse(f"a candidate line is malformed: {line[:60]!r}")
            if m.group(1).lower().endswith(".local"):
                dropped += 1
                continue
            candidates += 1
        kept.append(line)
    return Offer("\r\n".join(kept) + "\r\n", codecs, candidates, dropped, (ufrag, pwd))
