"""One <Client> ring across an identity's devices (appliance.clients.invitation): the device
race as tables of events and what each owes, the call ids and the reconnect tokens, and who may
take back a legacy 1.x Device's call after its socket dropped."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.clients.invitation import (
    CallIds,
    Holder,
    Invitation,
    Reconnects,
    Send,
    may_resume,
)

# Each row: devices, busy ones, events, then for each event the messages sent and the outcome.
RACES = [
    (
        "the first answer wins, the others get cancel",
        "abc",
        "",
        [("answer", "b"), ("answer", "a"), ("reject", "c")],
        [("b:answer a:cancel c:cancel", "answered"), ("a:hangup", None), ("", None)],
    ),
    (
        "one reject leaves the others ringing; the last one makes it busy",
        "ab",
        "",
        [("reject", "a"), ("reject", "b")],
        [("", None), ("", "busy")],
    ),
    (
        "a reject, then an answer",
        "ab",
        "",
        [("reject", "a"), ("answer", "b")],
        [("", None), ("b:answer", "answered")],
    ),
    (
        "a busy device is not rung",
        "ab",
        "a",
        [("start", ""), ("answer", "b")],
        [("b:invite", None), ("b:answer", "answered")],
    ),
    ("every device busy: busy at once", "ab", "ab", [("start", "")], [("", "busy")]),
    ("no device at all: busy at once", "", "", [("start", "")], [("", "busy")]),
    (
        "timeout cancels those still ringing",
        "abc",
        "",
        [("reject", "b"), ("timeout", ""), ("answer", "a"), ("timeout", "")],
        [("", None), ("a:cancel c:cancel", "no-answer"), ("a:hangup", None), ("", None)],
    ),
    (
        "the caller gives up",
        "ab",
        "",
        [("cancel", ""), ("reject", "a"), ("answer", "b")],
        [("a:cancel b:cancel", "canceled"), ("", None), ("b:hangup", None)],
    ),
    (
        "devices that go away: the last ends it no-answer",
        "ab",
        "",
        [("gone", "a"), ("gone", "b"), ("cancel", "")],
        [("", None), ("", "no-answer"), ("", None)],
    ),
    (
        "a repeated answer is confirmed once; the winner's reject changes nothing",
        "a",
        "",
        [("answer", "a"), ("answer", "a"), ("reject", "a"), ("cancel", "")],
        [("a:answer", "answered"), ("", None), ("", None), ("", None)],
    ),
]


def _shown(sends: tuple[Send, ...]) -> str:
    return " ".join(f"{s.device}:{s.kind}" for s in sends)


@pytest.mark.parametrize(("name", "devices", "busy", "events", "expected"), RACES)
def test_the_device_race(name, devices, busy, events, expected):
    ring = Invitation(list(devices), list(busy))
    if events[0][0] != "start":
        assert _shown(ring.start().sends) == " ".join(f"{d}:invite" for d in devices)
    for (event, device), (sends, outcome) in zip(events, expected, strict=True):
        step = getattr(ring, event)(device) if device else getattr(ring, event)()
        assert (_shown(step.sends), step.outcome) == (sends, outcome), (name, event, device)
        assert step.error is None


def test_a_stranger_gets_an_error_not_a_state_change():
    ring = Invitation(["a"])
    ring.start()
    assert ring.answer("z").error and ring.reject("z").error and ring.gone("z").error
    assert ring.state == "ringing" and ring.ringing == ["a"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from("abcd"), max_size=4, unique=True),
    st.lists(st.sampled_from("abcd"), max_size=4),
    st.lists(
        st.tuples(
            st.sampled_from(["answer", "reject", "gone", "timeout", "cancel"]),
            st.sampled_from("abcde"),
        ),
        max_size=12,
    ),
)
def test_any_order_of_events_decides_once_and_cancels_every_ringer(devices, busy, events):
    ring = Invitation(devices, busy)
    invited = {s.device for s in ring.start().sends}
    outcomes, answered, told = [], [], set()
    if ring.decided:
        outcomes.append(ring.state)
    for event, device in events:
        step = (
            getattr(ring, event)()
            if event in ("timeout", "cancel")
            else getattr(ring, event)(device)
        )
        if step.outcome:
            outcomes.append(step.outcome)
        for s in step.sends:
            assert s.device in invited and s.kind in ("answer", "cancel", "hangup")
            if s.kind == "answer":
                answered.append(s.device)
            told.add(s.device)
    assert len(outcomes) <= 1 and len(answered) <= 1
    if ring.decided:
        assert ring.ringing == [] and outcomes == [ring.state]


def test_call_ids_map_the_temporary_id_to_the_sid():
    ids = CallIds()
    ids.add("CA1", "TJSabc")
    ids.add("CA2")
    assert ids.sid("TJSabc") == ids.sid("CA1") == "CA1" and ids.sid("CA2") == "CA2"
    assert ids.sid("TJSzzz") is None and len(ids) == 2
    ids.remove("CA1")
    assert ids.sid("TJSabc") is None and ids.sid("CA1") is None and len(ids) == 1


def test_reconnect_tokens_belong_to_one_call_and_identity():
    tokens = Reconnects()
    tokens.issue("t1", "CA1", "alice")
    assert tokens.claim("t1", "CA1", "alice")
    assert not tokens.claim("t1", "CA1", "bob") and not tokens.claim("t1", "CA2", "alice")
    assert not tokens.claim("t1", "CA1", None) and not tokens.claim("t2", "CA1", "alice")
    tokens.issue("t2", "CA1", "alice")  # a new token replaces the old one
    assert not tokens.claim("t1", "CA1", "alice") and tokens.claim("t2", "CA1", "alice")
    tokens.forget("CA1")
    assert len(tokens) == 0


ACCOUNT = "AC" + "1" * 32


def held(
    identity: str | None = "alice", token: str = "t1", legacy: bool = True, account: str = ACCOUNT
) -> Holder:
    return Holder.of(account, identity, token, legacy)


@pytest.mark.parametrize(
    ("case", "dropped", "new", "resumes"),
    [
        ("the same Device, its token again", held(), held(), True),
        ("the same identity, a refreshed token", held(), held(token="t2"), True),
        ("another identity, even with the same token", held(), held("bob"), False),
        ("no identity, for a call of alice", held(), held(None), False),
        ("another account", held(), held(account="AC" + "2" * 32), False),
        (
            "a 2.x Device of the same identity (it has its reconnect token)",
            held(),
            held(legacy=False),
            False,
        ),
        ("a call of a 2.x Device", held(legacy=False), held(), False),
        ("no identity: the very same token", held(None), held(None), True),
        ("no identity: another token", held(None), held(None, token="t2"), False),
        ("no identity: a token with one", held(None), held("alice"), False),
    ],
)
def test_who_may_take_back_a_legacy_call(case, dropped, new, resumes):
    assert may_resume(dropped, new) is resumes, case


def test_a_holder_keeps_a_digest_not_the_token():
    h = held(token="secret-jwt")
    assert "secret-jwt" not in repr(h) and len(h.token_digest) == 64
    assert h.same_token(held(token="secret-jwt")) and not h.same_token(held(token="other"))
