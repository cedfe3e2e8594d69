"""The signalling protocol's pure core: parsing what the SDK sends, what the server sends back,
token codes, the rate limit and the registration table."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.clients import pstream
from appliance.clients.pstream import ProtocolError, RateLimit, Registrations, parse


def message(kind: str, **payload: object) -> str:
    # the SDK's own framing (pstream.ts, _publish)
    return json.dumps({"payload": payload, "type": kind, "version": "1.6"})


def test_the_sdks_messages_parse():
    listen = parse(message("listen", token="eyJ...", reconnectTimeout=0, browserinfo={"p": "x"}))
    assert listen.type == "listen" and listen.payload["token"] == "eyJ..."
    assert parse(message("register", media={"audio": True})).payload["media"] == {"audio": True}
    invite = parse(message("invite", callsid="TJabc", sdp="v=0", twilio={"params": "To=1"}))
    assert invite.callsid == "TJabc"
    assert parse(message("dtmf", callsid="CA1", dtmf="12*#w")).payload["dtmf"] == "12*#w"
    assert parse(message("hangup", callsid="CA1", message="bye")).type == "hangup"
    msg = parse(
        message(
            "message",
            callsid="CA1",
            content={},
            contenttype="application/json",
            messagetype="user-defined-message",
            voiceeventsid="KX1",
        )
    )
    assert msg.type == "message"
    assert parse('{"type":"register","payload":{"media":{"audio":false}}}').type == "register"


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        ("{nope", 31100, "not JSON"),
        ("[1,2]", 31100, "not a JSON object"),
        ('{"payload":{}}', 31100, "Unknown message type missing"),
        ('{"type":"presence"}', 31100, "Unknown message type 'presence'"),
        ('{"type":"register","payload":"x"}', 31100, "payload is not a JSON object"),
        (message("listen"), 31204, "no token"),
        (message("listen", token="  "), 31204, "no token"),
        (message("register", media={"audio": "yes"}), 31100, "media.audio"),
        (message("register"), 31100, "media.audio"),
        (message("invite", sdp="v=0"), 31100, "callsid"),
        (message("invite", callsid="x" * 65, sdp="v=0"), 31100, "callsid"),
        (message("answer", callsid="CA1"), 31100, "no SDP"),
        (message("dtmf", callsid="CA1", dtmf="1; drop"), 31100, "digits"),
        (message("dtmf", callsid="CA1", dtmf="1" * 65), 31100, "digits"),
        ("x" * (pstream.MAX_MESSAGE + 1), 31100, "at most 65536"),
    ],
)
def test_bad_messages_are_refused_with_a_reason(raw, code, words):
    with pytest.raises(ProtocolError) as info:
        parse(raw)
    assert info.value.code == code and words in info.value.message


@pytest.mark.parametrize(
    ("version", "legacy"),
    [("1.5", True), ("1.4", True), ("1.6", False), ("1.10", False), ("2.0", False), ("", False)]
    + [("x", False), ("1.5.1", False), ("\u0661.5", False), (1.5, False)],
)
def test_the_version_tells_a_legacy_1x_device(version, legacy):
    message = parse(
        json.dumps({"type": "register", "version": version, "payload": {"media": {"audio": True}}})
    )
    assert message.legacy is legacy
    assert parse('{"type": "register", "payload": {"media": {"audio": true}}}').legacy is False


def test_a_bad_call_message_names_its_call():
    with pytest.raises(ProtocolError) as info:
        parse(message("dtmf", callsid="CA9", dtmf="x"))
    assert info.value.callsid == "CA9"
    with pytest.raises(ProtocolError):
        parse(b'{"type":"listen"}')  # type: ignore[arg-type]


def test_server_messages_have_the_shape_the_sdk_reads():
    assert json.loads(pstream.ready()) == {"type": "ready", "version": "1.6", "payload": {}}
    assert json.loads(pstream.offline())["type"] == "offline"
    assert json.loads(pstream.close())["type"] == "close"
    connected = json.loads(pstream.connected("alice", 3599.7, "AC1"))
    assert connected["payload"]["token"] == {"identity": "alice", "ttl": 3599, "accountSid": "AC1"}
    assert "identity" not in json.loads(pstream.connected(None, -5, "AC1"))["payload"]["token"]
    assert json.loads(pstream.connected(None, -5, "AC1"))["payload"]["token"]["ttl"] == 0
    # device.ts reads payload.error.code and .message, and payload.callsid
    error = json.loads(pstream.error(31204, "bad token"))
    assert error["payload"] == {"error": {"code": 31204, "message": "bad token"}}
    assert json.loads(pstream.error(31404, "no call", "CA1"))["payload"]["callsid"] == "CA1"
    # call.ts, _onHangup: payload.callsid and an optional payload.error
    assert json.loads(pstream.hangup("TJ1"))["payload"] == {"callsid": "TJ1"}
    hangup = json.loads(pstream.hangup("TJ1", 31480, "later"))["payload"]
    assert hangup["error"] == {"code": 31480, "message": "later"}


def test_token_failures_map_to_the_codes_the_sdk_turns_into_its_errors():
    assert pstream.token_error(20104) == 31205  # -> AccessTokenExpired (20104)
    assert pstream.token_error(31205) == 31205
    for code in (20101, 31202, 31203, 31207, 31204):
        assert pstream.token_error(code) == 31204  # -> AccessTokenInvalid (20101)
    assert pstream.token_error(31105) == 31105
    assert pstream.token_error(31201) == 31201  # -> AuthenticationFailed (20151)


def test_the_rate_limit_allows_a_burst_then_the_rate():
    limit = RateLimit(burst=3, per_second=0.5, now=100.0)
    assert [limit.allow(100.0) for _ in range(4)] == [True, True, True, False]
    assert not limit.allow(101.0)
    assert limit.allow(102.1) and not limit.allow(102.2)
    assert [limit.allow(1000.0) for _ in range(4)] == [True, True, True, False]  # capped


def test_the_registration_table():
    table = Registrations()
    table.register("alice", "laptop")
    table.register("alice", "desk")
    table.register("alice", "desk")  # again: no duplicate
    table.register("bob", "phone")
    assert table.devices("alice") == ("laptop", "desk") and len(table) == 3
    assert sorted(table) == ["alice", "bob"]
    table.register("carol", "desk")  # a token for another identity moves the device
    assert table.devices("alice") == ("laptop",) and table.identity("desk") == "carol"
    assert table.unregister("laptop") == "alice" and table.devices("alice") == ()
    assert "alice" not in list(table)
    assert table.unregister("laptop") is None


# -- calls: the builders and the checks of an invite's parameters and reconnect token


def test_the_call_builders_have_the_shapes_the_sdk_reads():
    invite = json.loads(
        pstream.invite(
            "CA1",
            "v=0\r\n",
            account_sid="AC1",
            caller="+447700900123",
            to="client:alice",
            params={"ticket": "42 & up", "é": "ü"},
            reconnect="tok",
        )
    )
    assert invite["type"] == "invite" and invite["version"] == "1.6"
    payload = invite["payload"]
    assert payload["callsid"] == "CA1" and payload["sdp"] == "v=0\r\n"
    assert payload["reconnect"] == "tok"
    assert payload["parameters"] == {
        "CallSid": "CA1",
        "AccountSid": "AC1",
        "From": "+447700900123",
        "To": "client:alice",
        "ApiVersion": "2010-04-01",
        # the SDK decodes Params with decodeURIComponent (util.ts queryToJson)
        "Params": "ticket=42%20%26%20up&%C3%A9=%C3%BC",
    }
    assert json.loads(pstream.ringing("CA1"))["payload"] == {"callsid": "CA1"}
    assert json.loads(pstream.ringing("CA1", "v=0"))["payload"] == {"callsid": "CA1", "sdp": "v=0"}
    assert json.loads(pstream.answer("CA1", "v=0", "r"))["payload"] == {
        "callsid": "CA1",
        "sdp": "v=0",
        "reconnect": "r",
    }
    assert json.loads(pstream.answer("CA1"))["payload"] == {"callsid": "CA1"}
    assert json.loads(pstream.cancel("CA1")) == {
        "type": "cancel",
        "version": "1.6",
        "payload": {"callsid": "CA1"},
    }


def test_connect_params_decode_what_the_sdk_encodes():
    # call.ts: encodeURIComponent(name)=encodeURIComponent(value) joined by &
    text = "To=%2B15551234&note=caf%C3%A9%20au%20lait&empty="
    assert pstream.connect_params({"twilio": {"params": text}}) == {
        "To": "+15551234",
        "note": "café au lait",
        "empty": "",
    }
    assert pstream.connect_params({"twilio": {}}) == {}
    assert pstream.connect_params({}) == {}
    assert pstream.connect_params({"twilio": {"params": "To=bob"}}) == {"To": "bob"}  # 1.x


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"twilio": "To=1"}, 31100),
        ({"twilio": {"params": {"To": "1"}}}, 31100),
        ({"twilio": {"params": "=1"}}, 31100),
        ({"twilio": {"params": "To=%FF"}}, 31100),
        ({"twilio": {"params": "&".join(f"p{i}=1" for i in range(41))}}, 31103),
        ({"twilio": {"params": "n" * 257 + "=1"}}, 31103),
        ({"twilio": {"params": "To=" + "x" * 801}}, 31103),
        ({"twilio": {"params": "To=" + "x" * 70000}}, 31103),
    ],
)
def test_bad_connect_params_get_a_code(payload, code):
    with pytest.raises(ProtocolError) as e:
        pstream.connect_params(payload)
    assert e.value.code == code and e.value.message


def test_reconnect_tokens():
    assert pstream.reconnect_token({"callsid": "CA1"}) is None
    assert pstream.reconnect_token({"callsid": "CA1", "reconnect": ""}) is None
    assert pstream.reconnect_token({"callsid": "CA1", "reconnect": "abc-_"}) == "abc-_"
    for bad in (12, "x" * 257, "a\nb", {"t": 1}):
        with pytest.raises(ProtocolError) as e:
            pstream.reconnect_token({"callsid": "CA1", "reconnect": bad})
        assert e.value.code == 31209 and e.value.callsid == "CA1"


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.lists(st.tuples(st.text(max_size=20), st.text(max_size=20)), max_size=45).map(
            lambda pairs: "&".join(f"{quote(a)}={quote(b)}" for a, b in pairs)
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        ),
    )
)
def test_connect_params_never_crash(value):
    """Whatever a page sends as twilio.params: parameters, or a ProtocolError with a code."""
    try:
        params = pstream.connect_params({"twilio": {"params": value}})
    except ProtocolError as e:
        assert e.code in (31100, 31103) and e.message
    else:
        assert len(params) <= pstream.MAX_PARAMS
        assert all(0 < len(k) <= 256 and len(v) <= 800 for k, v in params.items())
