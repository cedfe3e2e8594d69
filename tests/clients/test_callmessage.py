"""User-defined messages' frames (appliance.clients.callmessage): a browser's ``message`` as
the SDK's call.ts / pstream.ts send it, the refusals with the SDK's codes, the ``ack`` and
``message`` frames in the shape call.ts reads, and the REST API's ``Content``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from appliance.clients import callmessage, pstream
from appliance.clients.callmessage import MessageRefused

KX = "KX" + "0123456789abcdef" * 2
CA = "CA" + "ab" * 16


def sdk_message(**changes: Any) -> dict[str, Any]:
    """The payload pstream.ts sendMessage publishes for call.sendMessage({content: …})."""
    payload: dict[str, Any] = {
        "callsid": CA,
        "content": {"hello": "world", "n": [1, 2.5, None, True], "text": "caf\u00e9 \u4e2d"},
        "contenttype": "application/json",
        "messagetype": "user-defined-message",
        "voiceeventsid": KX,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def test_a_message_as_the_sdk_sends_it_parses_to_the_callbacks_content():
    frame = json.dumps({"type": "message", "version": "1.6", "payload": sdk_message()})
    parsed = callmessage.parse(pstream.parse(frame).payload)
    assert (parsed.callsid, parsed.sid) == (CA, KX)
    # as the page's JSON.stringify writes it: compact, keys in order, UTF-8 as is
    assert parsed.content == '{"hello":"world","n":[1,2.5,null,true],"text":"caf\u00e9 \u4e2d"}'
    # no contenttype: the SDK's default; a string content is JSON text too
    assert callmessage.parse(sdk_message(contenttype=..., content="hi")).content == '"hi"'


@pytest.mark.parametrize(
    ("changes", "code", "words", "names_it"),
    [
        ({"messagetype": "not-a-valid-message-type"}, 31210, "Unknown messageType", True),
        ({"messagetype": ...}, 31210, "missing", True),
        ({"contenttype": "text/plain"}, 31100, "Unsupported contentType", True),
        ({"contenttype": 7}, 31100, "Unsupported contentType", True),
        ({"content": None}, 31100, "no content", True),
        ({"content": ...}, 31100, "no content", True),
        ({"content": "x" * 10_300}, 31212, "at most 10240", True),
        ({"content": {"k": "\u00e9" * 5200}}, 31212, "bytes", True),
        ({"voiceeventsid": "KX1"}, 31100, "voiceeventsid", False),
        ({"voiceeventsid": 12}, 31100, "voiceeventsid", False),
        ({"voiceeventsid": ...}, 31100, "voiceeventsid", False),
    ],
)
def test_bad_messages_get_the_sdks_codes(changes, code, words, names_it):
    with pytest.raises(MessageRefused) as info:
        callmessage.parse(sdk_message(**changes))
    e = info.value
    assert e.code == code and words in e.message and e.callsid == CA
    error = json.loads(callmessage.refusal(e))
    assert error["type"] == "error" and error["payload"]["error"]["code"] == code
    assert error["payload"]["callsid"] == CA
    # with the voiceeventsid the SDK's Call raises it; without, its Device does
    assert ("voiceeventsid" in error["payload"]) is names_it


def test_nan_content_is_refused_not_a_traceback():
    frame = (
        '{"type":"message","payload":{"callsid":"CA1","content":NaN,'
        f'"messagetype":"user-defined-message","voiceeventsid":"{KX}"}}}}'
    )
    with pytest.raises(MessageRefused) as info:
        callmessage.parse(pstream.parse(frame).payload)
    assert info.value.code == 31100 and info.value.voiceeventsid == KX


def test_the_servers_frames_have_the_shape_call_ts_reads():
    ack = json.loads(callmessage.ack(CA, KX))
    assert ack == {
        "type": "ack",
        "version": "1.6",
        "payload": {"acktype": "message", "callsid": CA, "voiceeventsid": KX},
    }
    sent = json.loads(callmessage.message(CA, {"ahoy": ["world", 1]}, KX))
    assert sent["type"] == "message"
    assert sent["payload"] == {
        "callsid": CA,
        "content": {"ahoy": ["world", 1]},
        "contenttype": "application/json",
        "messagetype": "user-defined-message",
        "voiceeventsid": KX,
    }


def test_rest_content_is_a_json_string_of_at_most_10_kb():
    assert callmessage.content('{"ahoy": "world"}') == {"ahoy": "world"}
    assert callmessage.content("[1, 2]") == [1, 2] and callmessage.content('"x"') == "x"
    for raw, words in [
        ("hello", "not valid JSON"),
        ("{'a': 1}", "not valid JSON"),
        ('{"a": NaN}', "not valid JSON"),
        ("Infinity", "not valid JSON"),
        ('"' + "x" * 10_300 + '"', "at most 10240"),
    ]:
        with pytest.raises(ValueError, match=words):
            callmessage.content(raw)
