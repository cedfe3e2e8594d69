"""Media Streams in voice TwiML: ``<Start><Stream>``, ``<Stop><Stream>``, ``<Connect><Stream>``.

* ``<Start><Stream url name track statusCallback statusCallbackMethod>`` forks the call's
  audio to a WebSocket one way; the TwiML goes on at once.
* ``<Stop><Stream name>`` stops the stream started under that name.
* ``<Connect><Stream>`` is bidirectional: the bot's audio is played into the call and the
  TwiML waits until the socket closes, then continues with the next verb, or with the
  ``<Connect action>`` URL when there is one.  Only ``track="inbound_track"`` is allowed
  there; any other value is error 31941 and the ``<Connect>`` is skipped.

``<Parameter name value>`` children become the ``start`` message's ``customParameters``.
``url`` must be an absolute ``ws://`` or ``wss://`` URL (11100 otherwise, and the verb is
skipped).  ``track`` is ``inbound_track`` (the default), ``outbound_track`` or
``both_tracks``; an unknown value warns with 12200 and the default is used.  Other nouns
of ``<Start>`` and ``<Connect>`` (``<Siprec>``, ``<Transcription>``, ``<Room>``,
``<VirtualAgent>``, ``<Conversation>``...) are not supported on this appliance (12200).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from appliance.twiml.reader import INVALID_URL, VerbReader
from appliance.twiml.xmltree import local_name, xml_strip

__all__ = [
    "CODES",
    "INVALID_TRACK",
    "TRACKS",
    "Connect",
    "Parameter",
    "Start",
    "Stop",
    "Stream",
    "connect",
    "start",
    "stop",
]

INVALID_TRACK = 31941  # "Stream - Invalid Track configuration" (bidirectional: inbound only)

#: Twilio's codes for these verbs, by (verb, attribute).
CODES: dict[tuple[str, str], int] = {}

TRACKS = ("inbound_track", "outbound_track", "both_tracks")

_STREAM_ATTRS = frozenset({"url", "name", "track", "statusCallback", "statusCallbackMethod"})


@dataclass(frozen=True)
class Parameter:
    """A custom parameter passed to the bot in ``start.customParameters``."""

    name: str
    value: str


@dataclass(frozen=True)
class Stream:
    """One Media Stream: ``url`` is ws(s)://; ``name`` None when not given."""

    url: str = ""
    name: str | None = None
    track: str = "inbound_track"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    parameters: tuple[Parameter, ...] = ()


@dataclass(frozen=True)
class Start:
    """Fork the call's audio to ``stream`` (one way); the TwiML goes on."""

    stream: Stream


@dataclass(frozen=True)
class Stop:
    """Stop the stream called ``name`` (None: every stream this call started)."""

    name: str | None = None


@dataclass(frozen=True)
class Connect:
    """Connect the call to a bidirectional stream; go on when the socket closes."""

    stream: Stream
    action: str | None = None
    method: str = "POST"


def _ws_url(reader: VerbReader, raw: str | None, where: str) -> str | None:
    text = xml_strip(raw or "")
    if not text:
        reader.warn(f"{where} without a url was skipped", INVALID_URL)
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("ws", "wss") or not parts.hostname:
        reader.warn(
            f"invalid url {text!r} in {where}: an absolute ws:// or wss:// URL is needed; skipped",
            INVALID_URL,
        )
        return None
    return text


def _parameters(reader: VerbReader, element: Any) -> tuple[Parameter, ...]:
    params: list[Parameter] = []
    for child in element:
        name = local_name(child)
        if name != "Parameter":
            reader.warn(f"unknown noun <{name or child.tag}> inside <Stream> was ignored")
            continue
        attrs = reader.attrs(child, frozenset({"name", "value"}))
        key = xml_strip(attrs.get("name", ""))
        if not key:
            reader.warn("<Parameter> without a name was ignored")
            continue
        params.append(Parameter(key, attrs.get("value", "")))
    return tuple(params)


def _stream(reader: VerbReader, element: Any, verb: str) -> Stream | None:
    where = f"<{verb}><Stream>"
    attrs = reader.attrs(element, _STREAM_ATTRS)
    url = _ws_url(reader, attrs.get("url"), where)
    if url is None:
        return None
    name = xml_strip(attrs.get("name", "")) or None
    return Stream(
        url=url,
        name=name,
        track=reader.choice(attrs, f"{verb}/Stream", "track", TRACKS, "inbound_track"),
        status_callback=reader.url(attrs.get("statusCallback"), f"{where} statusCallback"),
        status_callback_method=reader.method(attrs, f"{verb}/Stream", "statusCallbackMethod"),
        parameters=_parameters(reader, element),
    )


def _only_stream(reader: VerbReader, element: Any, verb: str) -> Any | None:
    """The one ``<Stream>`` inside ``<verb>``; others warned about and ignored."""
    found = None
    if xml_strip(element.text or ""):
        reader.warn(f"text directly inside <{verb}> was ignored")
    for child in element:
        name = local_name(child)
        if name == "Stream" and found is None:
            found = child
        elif name == "Stream":
            reader.warn(f"a second <Stream> inside <{verb}> was ignored")
        else:
            reader.warn(f"<{name or child.tag}> inside <{verb}> is not supported and was skipped")
    if found is None:
        reader.warn(f"<{verb}> without a <Stream> was skipped")
    return found


def start(reader: VerbReader, element: Any) -> Start | None:
    """``<Start><Stream>``; None when unusable."""
    reader.attrs(element, frozenset({"action", "method"}))
    child = _only_stream(reader, element, "Start")
    stream = _stream(reader, child, "Start") if child is not None else None
    return Start(stream) if stream is not None else None


def stop(reader: VerbReader, element: Any) -> Stop | None:
    """``<Stop><Stream name>``; None when unusable."""
    reader.attrs(element, frozenset())
    child = _only_stream(reader, element, "Stop")
    if child is None:
        return None
    attrs = reader.attrs(child, _STREAM_ATTRS)
    return Stop(name=xml_strip(attrs.get("name", "")) or None)


def connect(reader: VerbReader, element: Any) -> Connect | None:
    """``<Connect action method><Stream>``; None when unusable (31941 for a track other
    than ``inbound_track``)."""
    attrs = reader.attrs(element, frozenset({"action", "method"}))
    child = _only_stream(reader, element, "Connect")
    if child is None:
        return None
    raw_track = xml_strip(str(child.get("track") or ""))
    if raw_track and raw_track != "inbound_track":
        reader.warn(
            f"<Connect><Stream> track={raw_track!r}: a bidirectional stream carries"
            " inbound_track only; skipped",
            INVALID_TRACK,
        )
        return None
    stream = _stream(reader, child, "Connect")
    if stream is None:
        return None
    action = reader.url(attrs["action"], "<Connect action>") if "action" in attrs else None
    return Connect(stream=stream, action=action, method=reader.method(attrs, "Connect"))
