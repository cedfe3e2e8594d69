"""The rotation arithmetic (pure): handovers in a time zone across DST changes, week 53,
layers, overrides inside and across handovers, an empty schedule, and properties over
random rotations (hypothesis)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.oncall import paging, rotation
from appliance.oncall.rotation import Override, Rotation, RotationError

LONDON = "Europe/London"
NEW_YORK = "America/New_York"


def at(zone: str, *args: int) -> float:
    return datetime(*args, tzinfo=ZoneInfo(zone)).timestamp()  # type: ignore[misc]


def weekly(people=(1, 2, 3), zone=LONDON, anchor=date(2026, 3, 2), hour=9, **kw) -> Rotation:
    return Rotation(tuple(people), zone, anchor, time(hour), 7, **kw)


@pytest.mark.parametrize(
    ("zone", "before", "after"),
    [
        # Spring forward: London 2026-03-29, New York 2026-03-08; handover Monday 09:00 local.
        (LONDON, (2026, 3, 30, 8, 59), (2026, 3, 30, 9, 0)),
        (NEW_YORK, (2026, 3, 9, 8, 59), (2026, 3, 9, 9, 0)),
        # Fall back: London 2026-10-25, New York 2026-11-01.
        (LONDON, (2026, 10, 26, 8, 59), (2026, 10, 26, 9, 0)),
        (NEW_YORK, (2026, 11, 2, 8, 59), (2026, 11, 2, 9, 0)),
    ],
)
def test_handover_is_at_local_wall_clock_time_across_dst(zone, before, after):
    r = weekly(zone=zone, anchor=date(2026, 1, 5))  # a Monday
    assert r.person_at(at(zone, *before)) != r.person_at(at(zone, *after))
    # The handover instant itself is 09:00 local, whatever the UTC offset that week.
    (instant, _), *_ = r.handovers(at(zone, *before), at(zone, *after) + 1)
    assert datetime.fromtimestamp(instant, ZoneInfo(zone)).time() == time(9)


def test_a_handover_at_a_skipped_time_happens_once_after_the_gap():
    # 01:30 does not exist in London on 2026-03-29 (01:00 -> 02:00): daily handover at 01:30.
    r = Rotation((1, 2), LONDON, date(2026, 3, 27), time(1, 30), 1)
    instants = [t for t, _ in r.handovers(at(LONDON, 2026, 3, 28), at(LONDON, 2026, 3, 31))]
    assert len(instants) == 3
    assert all(b - a > 20 * 3600 for a, b in zip(instants, instants[1:], strict=False))
    assert r.person_at(at(LONDON, 2026, 3, 29, 0, 30)) != r.person_at(at(LONDON, 2026, 3, 29, 3))


def test_an_ambiguous_handover_time_happens_the_first_time_round():
    # 01:30 happens twice in New York on 2026-11-01.
    r = Rotation((1, 2), NEW_YORK, date(2026, 10, 30), time(1, 30), 1)
    (instant, _), *_ = r.handovers(at(NEW_YORK, 2026, 11, 1), at(NEW_YORK, 2026, 11, 1, 12))
    assert datetime.fromtimestamp(instant, ZoneInfo(NEW_YORK)).utcoffset() == timedelta(hours=-4)


def test_week_53_does_not_shift_the_rotation():
    """2026 has 53 ISO weeks: `agents[cweek % n]` repeats a person over New Year; this does not."""
    r = weekly(people=(1, 2), anchor=date(2026, 12, 21))  # Monday of ISO week 52
    mondays = [date(2026, 12, 21) + timedelta(weeks=i) for i in range(4)]
    assert [d.isocalendar().week for d in mondays] == [52, 53, 1, 2]
    people = [r.person_at(at(LONDON, d.year, d.month, d.day, 12)) for d in mondays]
    assert people == [1, 2, 1, 2]
    naive = [(d.isocalendar().week % 2) + 1 for d in mondays]
    assert naive[1] == naive[2]  # the home-made rotation's mistake


def test_a_sunday_handover_goes_to_the_incoming_person():
    r = weekly(people=(1, 2), anchor=rotation.anchor_for(date(2026, 12, 1), 6), hour=18)
    assert r.anchor == date(2026, 12, 6) and r.anchor.weekday() == 6
    ((instant, incoming),) = r.handovers(at(LONDON, 2026, 12, 13), at(LONDON, 2026, 12, 14))
    assert incoming == 2 and r.person_at(instant) == 2 and r.person_at(instant - 1) == 1


def test_overrides_inside_and_across_handovers():
    r = weekly(people=(1, 2), anchor=date(2026, 3, 2))
    inside = Override(9, at(LONDON, 2026, 3, 3, 12), at(LONDON, 2026, 3, 4, 12), id=1)
    across = Override(8, at(LONDON, 2026, 3, 8), at(LONDON, 2026, 3, 10), id=2)
    o = [inside, across]
    assert rotation.on_call([r], o, at(LONDON, 2026, 3, 3, 13)).person == 9
    assert rotation.on_call([r], o, at(LONDON, 2026, 3, 4, 13)).person == 1
    assert rotation.on_call([r], o, at(LONDON, 2026, 3, 9, 10)).person == 8  # past 09:00 Monday
    assert rotation.on_call([r], o, at(LONDON, 2026, 3, 10, 1)).person == 2
    shift = rotation.on_call([r], o, at(LONDON, 2026, 3, 3, 13))
    assert (shift.starts, shift.ends, shift.source) == (inside.starts, inside.ends, "override")
    # The later override wins where two overlap.
    later = Override(7, at(LONDON, 2026, 3, 3), at(LONDON, 2026, 3, 5), id=3)
    assert rotation.on_call([r], [*o, later], at(LONDON, 2026, 3, 3, 13)).person == 7


def test_layers_and_an_empty_schedule():
    base = weekly(people=(1, 2), layer=0, name="base")
    empty = weekly(people=(), layer=5, name="empty")
    top = Rotation((3,), LONDON, date(2026, 6, 1), time(9), 1, layer=9, name="top")
    t = at(LONDON, 2026, 4, 1, 12)
    assert rotation.on_call([base, empty], [], t).person in (1, 2)
    assert rotation.on_call([base, empty, top], [], t).person in (1, 2)  # top not started
    assert rotation.on_call([base, top], [], at(LONDON, 2026, 6, 2)).source == "top"
    assert rotation.on_call([empty], [], t).person is None
    assert rotation.on_call([], [], t).source == "nobody"
    assert rotation.chain([base, top], [], t)[0] == rotation.on_call([base], [], t).person


def test_timeline_covers_the_range_without_gaps():
    r = weekly(people=(1, 2, 3))
    o = [Override(9, at(LONDON, 2026, 4, 8), at(LONDON, 2026, 4, 9), id=1)]
    start, end = at(LONDON, 2026, 4, 1), at(LONDON, 2026, 4, 29)
    shifts = rotation.timeline([r], o, start, end)
    assert shifts[0].starts == start and shifts[-1].ends == end
    assert all(a.ends == b.starts for a, b in zip(shifts, shifts[1:], strict=False))
    assert [s.person for s in shifts if s.source == "override"] == [9]


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Rotation((1,), "Mars/Olympus", date(2026, 1, 1), time(9)), "timezone"),
        (lambda: Rotation((1,), "UTC", date(2026, 1, 1), time(9), 0), "days"),
        (lambda: Override(1, 10.0, 5.0), "ends"),
        (lambda: rotation.parse_time("25:00"), "handover_time"),
        (lambda: rotation.parse_weekday("someday"), "handover_day"),
    ],
)
def test_bad_input_names_its_field(make, field):
    with pytest.raises(RotationError) as e:
        make()
    assert e.value.field == field


ZONES = st.sampled_from([LONDON, NEW_YORK, "Australia/Lord_Howe", "UTC", "Asia/Kolkata"])


@settings(max_examples=150, deadline=None)
@given(
    zone=ZONES,
    days=st.integers(1, 14),
    n=st.integers(1, 5),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 30]),
    offset=st.floats(0, 3 * 365 * 86400),
)
def test_who_is_on_call_agrees_with_the_handovers(zone, days, n, hour, minute, offset):
    r = Rotation(tuple(range(n)), zone, date(2025, 1, 1), time(hour, minute), days)
    start = at(zone, 2025, 1, 1) + offset
    k = r.shift_index(start)
    assert r.handover_at(k) <= start < r.handover_at(k + 1)
    assert r.handover_at(k + 1) > r.handover_at(k)
    for instant, person in r.handovers(start, start + 30 * 86400):
        assert r.person_at(instant) == person
        if instant - 1 >= r.handover_at(0):
            assert r.person_at(instant - 1) == (person - 1) % n


@settings(max_examples=100, deadline=None)
@given(body=st.text(max_size=3000))
def test_alert_bodies_are_cut_to_1600_with_an_ellipsis(body):
    if not body.strip():
        with pytest.raises(paging.PayloadError):
            paging.from_form(body)
        return
    text = paging.from_form(body).body
    assert len(text) <= paging.MAX_BODY
    assert text.endswith("\u2026") == (len(body.strip()) > paging.MAX_BODY)


def test_reply_commands_and_the_plan():
    assert paging.reply_command("ack") == ("ACK", None)
    assert paging.reply_command(" Resolve 12 ") == ("RESOLVE", 12)
    assert paging.reply_command("ACK #7") == ("ACK", 7)
    assert paging.reply_command("acknowledged, thanks") is None
    steps = paging.plan([1, 2, 3], repeat=2)
    assert [(s.sms, s.call, s.people) for s in steps[:5]] == [
        (True, False, (1,)),
        (False, True, (1,)),
        (True, True, (2,)),
        (True, True, (3,)),
        (True, True, (1, 2, 3)),
    ]
    assert len(steps) == 10 and paging.plan([], 3) == []


def test_alertmanager_payloads():
    alerts = paging.from_alertmanager(
        {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "DiskFull", "instance": "db1", "severity": "warning"},
                    "annotations": {"summary": "95% full"},
                    "fingerprint": "abc",
                },  # fmt: skip
                {"status": "resolved", "labels": {"alertname": "Down"}},
            ],
        }
    )
    assert alerts[0] == paging.AlertIn("abc", "firing", "DiskFull on db1: 95% full", "warning",
                                       "alertmanager")  # fmt: skip
    assert alerts[1].status == "resolved" and len(alerts[1].fingerprint) == 16
    for bad in ([], {"alerts": []}, {"alerts": [1]}, {"alerts": [{"status": "odd"}]},
                {"alerts": [{"labels": "x"}]}):  # fmt: skip
        with pytest.raises(paging.PayloadError):
            paging.from_alertmanager(bad)
