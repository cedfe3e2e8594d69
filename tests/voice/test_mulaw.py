"""The pure cores of Media Streams: the G.711 μ-law codec and the JSON messages both ways."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from appliance.voice import mulaw, streamproto
from appliance.voice.streamproto import INVALID_MESSAGE, PROTOCOL_ERROR, ProtocolError

SID = "MZ" + "0" * 32


def pcm(*samples: int) -> bytes:
    return np.array(samples, dtype="<i2").tobytes()


def test_known_codes() -> None:
    # G.711 μ-law as audioop.lin2ulaw coded it: 0 -> 0xFF, -1 -> 0x7F, full scale -> 0x80/0x00.
    assert mulaw.encode(pcm(0, -1, 32767, -32768, 1000, -1000)) == bytes(
        [0xFF, 0x7F, 0x80, 0x00, 0xCE, 0x4E]
    )
    assert mulaw.decode(bytes([0xFF, 0x7F, 0x80, 0x00])) == pcm(0, 0, 32124, -32124)


def test_round_trip_error_is_within_a_segment_step() -> None:
    x = np.arange(-32768, 32768, 7, dtype=np.int64)
    y = np.frombuffer(mulaw.decode(mulaw.encode(x.astype("<i2").tobytes())), dtype="<i2")
    err = np.abs(y.astype(np.int64) - np.clip(x, -32635, 32635))
    # The step of the top segment is 1024: at most half of it, plus the bias rounding.
    assert int(err.max()) <= 1024
    assert np.all(err <= np.maximum(np.abs(x) // 16, 8) + 8)  # ~4 % relative error


def test_every_code_decodes_and_re_encodes_to_itself() -> None:
    codes = bytes(range(256))
    again = mulaw.encode(mulaw.decode(codes))
    # 0x7F and 0xFF are both zero; every other code is its own round trip.
    assert [a for a, b in zip(codes, again, strict=True) if a != b] == [0x7F]


def test_frame_sizes() -> None:
    assert len(mulaw.encode(bytes(320))) == mulaw.FRAME_BYTES
    assert len(mulaw.decode(bytes(160))) == 320
    assert mulaw.encode(b"\x01") == b""


def test_messages_to_the_bot_have_twilios_shape_and_string_fields() -> None:
    assert streamproto.connected() == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = streamproto.start(1, SID, "AC1", "CA1", ["inbound", "outbound"], {"k": "v"})
    assert start == {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": SID,
        "start": {
            "streamSid": SID,
            "accountSid": "AC1",
            "callSid": "CA1",
            "tracks": ["inbound", "outbound"],
            "customParameters": {"k": "v"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
    }
    m = streamproto.media(2, SID, "inbound", 1, 20, b"\xff" * 160)
    assert m["sequenceNumber"] == "2" and m["streamSid"] == SID
    assert m["media"]["track"] == "inbound"
    assert m["media"]["chunk"] == "1" and m["media"]["timestamp"] == "20"
    assert base64.b64decode(m["media"]["payload"]) == b"\xff" * 160
    assert streamproto.dtmf(3, SID, "5")["dtmf"] == {"track": "inbound_track", "digit": "5"}
    assert streamproto.mark(4, SID, "m1")["mark"] == {"name": "m1"}
    assert streamproto.stop(5, SID, "AC1", "CA1")["stop"] == {"accountSid": "AC1", "callSid": "CA1"}
    assert json.loads(streamproto.dumps(m)) == m


def msg(**fields: object) -> str:
    return json.dumps({"streamSid": SID, **fields})


def test_parse_messages_from_the_bot() -> None:
    payload = base64.b64encode(b"\x00\x01").decode()
    assert streamproto.parse(msg(event="media", media={"payload": payload}), SID) == (
        streamproto.Media(b"\x00\x01")
    )
    assert streamproto.parse(msg(event="mark", mark={"name": "x"}), SID) == streamproto.Mark("x")
    assert streamproto.parse(msg(event="clear"), SID) == streamproto.Clear()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\x00binary", PROTOCOL_ERROR),
        ("not json", PROTOCOL_ERROR),
        ("[1, 2]", PROTOCOL_ERROR),
        ("x" * (64 * 1024 + 1), PROTOCOL_ERROR),
        (msg(event="media", media={"payload": "***"}), INVALID_MESSAGE),
        (msg(event="media", media={}), INVALID_MESSAGE),
        (msg(event="media"), INVALID_MESSAGE),
        (msg(event="mark", mark={"name": 5}), INVALID_MESSAGE),
        (msg(event="hello"), INVALID_MESSAGE),
        (json.dumps({"event": "clear", "streamSid": "MZother"}), INVALID_MESSAGE),
    ],
)
def test_parse_rejects_with_twilios_codes(frame: str | bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as e:
        streamproto.parse(frame, SID)
    assert e.value.code == code and e.value.message
