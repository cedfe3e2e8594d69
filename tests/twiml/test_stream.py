"""Media Streams TwiML: <Start>/<Stop>/<Connect> with <Stream> and <Parameter>, Twilio's
defaults and codes (11100 bad url, 31941 a track other than inbound_track on <Connect>)."""

from __future__ import annotations

from twilio.twiml.voice_response import (  # type: ignore[import-untyped]
    Connect,
    Start,
    Stop,
    VoiceResponse,
)

from appliance.twiml import stream as ts
from appliance.twiml.voice import Document, parse

URL = "https://app.example.com/voice.xml"


def doc(body: str) -> Document:
    return parse(f"<Response>{body}</Response>", URL)


def codes(d: Document) -> list[int]:
    return [w.code for w in d.warnings]


def test_start_stream_built_by_twilios_helper() -> None:
    r = VoiceResponse()
    start = Start()
    s = start.stream(
        url="wss://bot.example.com/media",
        name="fork",
        track="both_tracks",
        status_callback="/stream-status",
        status_callback_method="GET",
    )
    s.parameter(name="lang", value="fr")
    s.parameter(name="empty", value="")
    r.append(start)
    r.say("hello")
    d = parse(str(r), URL)
    assert d.warnings == ()
    first, second = d.verbs
    assert isinstance(first, ts.Start)
    assert first.stream == ts.Stream(
        url="wss://bot.example.com/media",
        name="fork",
        track="both_tracks",
        status_callback="https://app.example.com/stream-status",
        status_callback_method="GET",
        parameters=(ts.Parameter("lang", "fr"), ts.Parameter("empty", "")),
    )
    assert type(second).__name__ == "Say"  # the TwiML goes on after <Start>


def test_defaults() -> None:
    (v,) = doc('<Start><Stream url="ws://127.0.0.1:9/x"/></Start>').verbs
    assert isinstance(v, ts.Start)
    assert v.stream.track == "inbound_track" and v.stream.name is None
    assert v.stream.status_callback is None and v.stream.status_callback_method == "POST"
    assert v.stream.parameters == ()


def test_connect_stream_with_action() -> None:
    r = VoiceResponse()
    c = Connect(action="/after", method="GET")
    c.stream(url="wss://bot.example.com/ws").parameter(name="a", value="1")
    r.append(c)
    r.say("after the bot")
    d = parse(str(r), URL)
    assert d.warnings == ()
    v = d.verbs[0]
    assert isinstance(v, ts.Connect)
    assert v.action == "https://app.example.com/after" and v.method == "GET"
    assert v.stream.parameters == (ts.Parameter("a", "1"),)
    assert len(d.verbs) == 2


def test_connect_without_action_goes_on() -> None:
    (v,) = doc('<Connect><Stream url="wss://b.example/ws"/></Connect>').verbs
    assert isinstance(v, ts.Connect) and v.action is None


def test_connect_with_another_track_is_31941() -> None:
    for track in ("outbound_track", "both_tracks", "nonsense"):
        d = doc(f'<Connect><Stream url="wss://b.example/ws" track="{track}"/></Connect><Hangup/>')
        assert codes(d) == [ts.INVALID_TRACK]
        assert [type(v).__name__ for v in d.verbs] == ["Hangup"]
    d = doc('<Connect><Stream url="wss://b.example/ws" track="inbound_track"/></Connect>')
    assert d.warnings == () and isinstance(d.verbs[0], ts.Connect)


def test_stop_stream_by_name() -> None:
    r = VoiceResponse()
    stop = Stop()
    stop.stream(name="fork")
    r.append(stop)
    (v,) = parse(str(r), URL).verbs
    assert v == ts.Stop(name="fork")
    (v,) = doc("<Stop><Stream/></Stop>").verbs
    assert v == ts.Stop(name=None)


def test_bad_urls_are_11100_and_skipped() -> None:
    for url in ("https://b.example/ws", "/relative", "", "wss://", "ws://host:99999/"):
        d = doc(f'<Start><Stream url="{url}"/></Start><Say>x</Say>')
        assert codes(d) == [11100], url
        assert [type(v).__name__ for v in d.verbs] == ["Say"]
    d = doc("<Start><Stream/></Start>")
    assert codes(d) == [11100] and d.verbs == ()


def test_bad_track_warns_and_defaults() -> None:
    d = doc('<Start><Stream url="wss://b.example/ws" track="left"/></Start>')
    assert codes(d) == [12200]
    v = d.verbs[0]
    assert isinstance(v, ts.Start) and v.stream.track == "inbound_track"


def test_unsupported_nouns_and_extra_children_warn() -> None:
    d = doc("<Start><Siprec/></Start>")
    assert d.verbs == () and codes(d) == [12200, 12200]
    d = doc('<Connect><Room>r</Room><Stream url="wss://b.example/ws"/></Connect>')
    assert codes(d) == [12200] and isinstance(d.verbs[0], ts.Connect)
    d = doc(
        '<Start><Stream url="wss://b.example/ws"><Parameter value="x"/><Foo/>'
        '<Parameter name="k" value="v" extra="1"/></Stream></Start>'
    )
    v = d.verbs[0]
    assert isinstance(v, ts.Start) and v.stream.parameters == (ts.Parameter("k", "v"),)
    assert codes(d) == [12200, 12200, 12200]
