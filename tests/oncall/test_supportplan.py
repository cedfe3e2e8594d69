"""The support number's escalation plan and TwiML (pure): who rings at each step, the
whisper on every leg, the chain carried in the action URL, the step texts."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

from appliance.oncall import supportplan


def test_plan_rings_each_in_turn_then_everyone_repeated():
    assert supportplan.plan([], 3) == []
    assert supportplan.plan([7], 2) == [(7,), (7,)]  # alone: no "everyone" step
    assert supportplan.plan([1, 2, 3], 2) == [(1,), (2,), (3,), (1, 2, 3)] * 2
    assert supportplan.plan([1, 2], 0) == [(1,), (2,), (1, 2)]  # at least once
    big = supportplan.plan(list(range(1, 31)), 10)
    assert len(big) == supportplan.MAX_STEPS
    assert big[30] == tuple(range(1, supportplan.MAX_PARALLEL + 1))  # at most 10 at once


def test_dial_twiml_whispers_on_every_leg_and_carries_the_chain():
    action = supportplan.action_url("/twimlets/oncall", 4, [3, 1, 2])
    assert parse_qs(urlsplit(action).query) == {"Step": ["4"], "Chain": ["3,1,2"]}
    doc = ElementTree.fromstring(
        supportplan.dial(["+14155550111", "+1415<&>"], 25, action, greet=True)
    )
    assert doc.find("Say").text == supportplan.GREETING
    dial = doc.find("Dial")
    assert dial.get("timeout") == "25" and dial.get("action") == action
    numbers = dial.findall("Number")
    assert [n.text for n in numbers] == ["+14155550111", "+1415<&>"]  # escaped, then read back
    for n in numbers:
        query = parse_qs(urlsplit(n.get("url")).query)
        assert urlsplit(n.get("url")).path == "/twimlets/whisper"
        assert query == {"Message": [supportplan.WHISPER], "HumanCheck": ["1"]}
    later = ElementTree.fromstring(supportplan.dial(["+1"], 5, action, greet=False))
    assert later.find("Say") is None
    assert ElementTree.fromstring(supportplan.missed()).find("Say").text == supportplan.MISSED
    nobody = ElementTree.fromstring(supportplan.missed(paged=False))
    assert nobody.find("Say").text == supportplan.NOBODY and nobody.find("Hangup") is not None
    assert ElementTree.fromstring(supportplan.hangup()).find("Hangup") is not None


def test_people_with_a_client_identity_ring_in_their_browsers_too():
    action = supportplan.action_url("/twimlets/oncall", 1, [1, 2])
    doc = ElementTree.fromstring(
        supportplan.dial(["+14155550111", "+14155550112"], 20, action, False, ["alice"])
    )
    dial = doc.find("Dial")
    assert [n.tag for n in dial] == ["Number", "Number", "Client"]  # phones first
    client = dial.find("Client")
    assert client.text == "alice" and client.get("url") == dial.find("Number").get("url")
    # ten nouns at most: every phone, then browsers while there is room
    phones = [f"+1415555{i:04d}" for i in range(9)]
    full = ElementTree.fromstring(supportplan.dial(phones, 20, action, False, ["a", "b"]))
    assert [n.tag for n in full.find("Dial")] == ["Number"] * 9 + ["Client"]
    assert full.find("Dial").find("Client").text == "a"


def test_chain_parameter_and_step_texts():
    assert supportplan.parse_chain("3,1,2") == [3, 1, 2]
    for bad in ("", "1,x", "1;2", "-1", "１", ",".join(["1"] * 201)):
        assert supportplan.parse_chain(bad) is None, bad
    assert supportplan.step_text("+1999", 0, 4, 1) == (
        "Support line: call from +1999 ringing you now (step 1 of 4)."
        " Answer and press any key to take it."
    )
    assert "ringing you and 1 other now (step 4 of 4)" in supportplan.step_text("+1", 3, 4, 2)
    assert "ringing you and 2 others now" in supportplan.step_text("+1", 3, 4, 3)
