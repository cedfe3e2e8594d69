"""The Call and Recording resources over real HTTP with the official twilio library:
create (row committed before the 201, engine woken), list filters and paging,
fetch, cancel / hang up / redirect (control written, engine told), delete,
recordings and their media, and Twilio's error codes."""

from __future__ import annotations

import json
import math
import struct
import time
import wave
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from appliance import sids
from tests.conftest import NUMBER, PHONE, client_for, wait_for

OTHER = "+14155550199"
ENDED = ("completed", "busy", "failed", "no-answer", "canceled")


def api_url(d, path: str) -> str:
    return f"http://127.0.0.1:{d.server.port}/2010-04-01/Accounts/{d.account.sid}{path}"


def raw(d, method: str, path: str, **kwargs):
    return requests.request(
        method, api_url(d, path), auth=(d.account.sid, d.account.auth_token), timeout=10, **kwargs
    )


def spy(d, name: str) -> list:
    """Record the arguments of ``d.voice.<name>`` (the project's own VoiceEngine), still
    calling through."""
    seen: list = []
    real = getattr(d.voice, name)

    def wrapper(arg: str) -> None:
        row = d.store.read_one("SELECT status, control FROM calls WHERE sid = ?", (arg,))
        if name == "wake":
            row = d.store.read_one("SELECT COUNT(*) AS n FROM calls WHERE modem = ?", (arg,))
        seen.append((arg, dict(row) if row is not None else None))
        real(arg)

    setattr(d.voice, name, wrapper)
    return seen


def insert_call(
    d,
    *,
    status: str = "queued",
    to: str = PHONE,
    created: float | None = None,
    start: float | None = None,
    end: float | None = None,
    parent: str | None = None,
    sid: str | None = None,
) -> str:
    """A call row on a modem the engine does not serve, so its state stays put."""
    sid = sid or sids.new("CA")
    now = time.time() if created is None else created

    def fn(conn):
        conn.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status,"
            " date_created, date_updated, start_time, end_time, parent_call_sid, url, duration)"
            " VALUES (?, 'nomodem', 'outbound-api', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sid,
                NUMBER,
                to,
                status,
                now,
                now,
                start,
                end,
                parent,
                "http://127.0.0.1:9/twiml",
                None if end is None or start is None else int(end - start),
            ),
        )

    d.store.write(fn)
    return sid


def day(n: int, hour: int = 12) -> float:
    return datetime(2024, 1, n, hour, tzinfo=UTC).timestamp()


# --------------------------------------------------------------------------- create


def test_create_commits_a_queued_call_then_wakes_the_engine(sim, make_daemon):
    d = make_daemon()
    woken = spy(d, "wake")
    client = client_for(d)
    call = client.calls.create(
        to=PHONE,
        from_=NUMBER,
        url="http://127.0.0.1:9/voice",
        method="GET",
        status_callback="http://127.0.0.1:9/status",
        status_callback_event=["answered", "initiated"],
        timeout=30,
    )
    assert call.sid.startswith("CA") and len(call.sid) == 34
    assert call.status == "queued" and call.direction == "outbound-api"
    assert call._from == NUMBER and call.to == PHONE
    assert call.to_formatted == "(415) 555-0100" and call.from_formatted == "(500) 555-0006"
    assert call.phone_number_sid == d.account.number_of("modem1")["sid"]
    assert call.account_sid == d.account.sid and call.api_version == "2010-04-01"
    assert call.price is None and call.price_unit == "USD" and call.queue_time == "0"
    assert call.date_created is not None and call.start_time is None and call.duration is None
    assert call.uri == f"/2010-04-01/Accounts/{d.account.sid}/Calls/{call.sid}.json"
    assert call.subresource_uris["recordings"].endswith(f"/Calls/{call.sid}/Recordings.json")
    # The row was committed before the engine was told, once.
    assert woken == [("modem1", {"n": 1})]
    row = d.store.read_one("SELECT * FROM calls WHERE sid = ?", (call.sid,))
    assert row["modem"] == "modem1" and row["url"] == "http://127.0.0.1:9/voice"
    assert row["method"] == "GET" and row["twiml"] is None
    assert row["status_callback"] == "http://127.0.0.1:9/status"
    assert row["status_callback_events"] == "initiated answered"
    assert (row["timeout"], row["time_limit"]) == (30, 14400)


def test_create_json_has_twilios_keys(sim, make_daemon):
    d = make_daemon()
    rv = raw(d, "POST", "/Calls.json", data={"To": PHONE, "From": NUMBER, "Twiml": "<Response/>"})
    assert rv.status_code == 201
    body = rv.json()
    assert set(body) >= {
        "sid",
        "date_created",
        "date_updated",
        "parent_call_sid",
        "account_sid",
        "to",
        "to_formatted",
        "from",
        "from_formatted",
        "phone_number_sid",
        "status",
        "start_time",
        "end_time",
        "duration",
        "price",
        "price_unit",
        "direction",
        "answered_by",
        "api_version",
        "forwarded_from",
        "group_sid",
        "caller_name",
        "queue_time",
        "trunk_sid",
        "uri",
        "subresource_uris",
    }
    assert set(body["subresource_uris"]) == {
        "notifications",
        "recordings",
        "payments",
        "events",
        "siprec",
        "streams",
        "user_defined_messages",
        "user_defined_message_subscriptions",
        "transcriptions",
    }
    assert body["date_created"].endswith("+0000")


def test_create_with_twiml_and_the_defaults(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    response = VoiceResponse()
    response.say("Disk full on web1")
    call = client.calls.create(to=PHONE, from_=NUMBER, twiml=response)
    row = d.store.read_one("SELECT * FROM calls WHERE sid = ?", (call.sid,))
    assert row["url"] == "" and "<Say>Disk full on web1</Say>" in row["twiml"]
    assert (row["method"], row["status_callback_events"], row["timeout"]) == (
        "POST",
        "completed",
        60,
    )
    # Url wins over Twiml (Twilio ignores Twiml when both are given); Timeout is capped at 600.
    call = client.calls.create(
        to=PHONE, from_=NUMBER, url="https://example.com/x", twiml=response, timeout=900
    )
    row = d.store.read_one("SELECT * FROM calls WHERE sid = ?", (call.sid,))
    assert row["url"] == "https://example.com/x" and row["twiml"] is None and row["timeout"] == 600


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"From": NUMBER, "Url": "http://x.example/v"}, 400, 21201),
        ({"To": PHONE, "Url": "http://x.example/v"}, 400, 21213),
        ({"To": "12345", "From": NUMBER, "Url": "http://x.example/v"}, 400, 21211),
        ({"To": "+1415555010a", "From": NUMBER, "Url": "http://x.example/v"}, 400, 21211),
        ({"To": PHONE, "From": "+14155550123", "Url": "http://x.example/v"}, 400, 21210),
        ({"To": PHONE, "From": "not-a-number", "Url": "http://x.example/v"}, 400, 21212),
        ({"To": PHONE, "From": NUMBER}, 400, 21205),
        ({"To": PHONE, "From": NUMBER, "Url": "ftp://x.example/v"}, 400, 21205),
        ({"To": PHONE, "From": NUMBER, "Url": "/relative"}, 400, 21205),
        ({"To": PHONE, "From": NUMBER, "Url": "http://x/v", "Method": "PUT"}, 400, 21209),
        ({"To": PHONE, "From": NUMBER, "Url": "http://x/v", "Timeout": "0"}, 400, 21208),
        ({"To": PHONE, "From": NUMBER, "Url": "http://x/v", "Timeout": "soon"}, 400, 21208),
        ({"To": PHONE, "From": NUMBER, "Url": "http://x/v", "StatusCallback": "x"}, 400, 21609),
        (
            {"To": PHONE, "From": NUMBER, "Url": "http://x/v", "StatusCallbackEvent": "bogus"},
            400,
            21626,
        ),
        ({"To": PHONE, "From": NUMBER, "Twiml": "<Response><Say>"}, 400, 12100),
        ({"To": PHONE, "From": NUMBER, "Twiml": "<Speak/>"}, 400, 12102),
        ({"To": PHONE, "From": NUMBER, "Twiml": "<Response>" + " " * 4000}, 400, 32018),
    ],
)
def test_create_errors_have_twilios_codes_and_store_nothing(sim, make_daemon, form, status, code):
    d = make_daemon()
    woken = spy(d, "wake")
    rv = raw(d, "POST", "/Calls.json", data=form)
    assert rv.status_code == status, rv.text
    body = rv.json()
    assert body["code"] == code and body["status"] == status
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert d.store.read_one("SELECT COUNT(*) FROM calls")[0] == 0
    assert woken == []


def test_create_errors_surface_as_twilio_rest_exceptions(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    with pytest.raises(TwilioRestException) as e:
        client.calls.create(to="+14155550100", from_="+14155550123", url="http://x.example/v")
    assert (e.value.status, e.value.code) == (400, 21210)
    with pytest.raises(TwilioRestException) as e:
        client.calls.create(to="0821234567", from_=NUMBER, url="http://x.example/v")
    assert (e.value.status, e.value.code) == (400, 21211)


# --------------------------------------------------------------------------- fetch, list


def test_fetch_and_unknown_sid(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    sid = insert_call(d, status="completed", start=day(2), end=day(2) + 42)
    call = client.calls(sid).fetch()
    assert call.status == "completed" and call.duration == "42"
    assert call.start_time == datetime(2024, 1, 2, 12, tzinfo=UTC)
    assert call.phone_number_sid is None  # a modem without a number
    with pytest.raises(TwilioRestException) as e:
        client.calls(sids.new("CA")).fetch()
    assert (e.value.status, e.value.code) == (404, 20404)


def test_list_pages_newest_first_with_filters(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    base = time.time() - 1000
    mine = [insert_call(d, created=base + i) for i in range(5)]
    # Two calls created in the same instant: the sid breaks the tie, and paging
    # does not lose or repeat either.
    tied = sorted(
        [insert_call(d, to=OTHER, created=base + 10), insert_call(d, to=OTHER, created=base + 10)],
        reverse=True,
    )
    newest_first = tied + mine[::-1]
    assert [c.sid for c in client.calls.list(page_size=2)] == newest_first
    assert [c.sid for c in client.calls.list(page_size=1)] == newest_first
    assert [c.sid for c in client.calls.list(to=PHONE, page_size=2)] == mine[::-1]
    assert [c.sid for c in client.calls.list(to=OTHER)] == tied
    assert len(client.calls.list(from_=NUMBER, limit=3)) == 3
    assert client.calls.list(from_="+15005550001") == []
    # Raw pages: one record key, relative next_page_uri carrying the filter, null at the end.
    first = raw(d, "GET", "/Calls.json", params={"To": PHONE, "PageSize": 2}).json()
    assert [k for k in first if isinstance(first[k], list)] == ["calls"]
    assert first["next_page_uri"].startswith(f"/2010-04-01/Accounts/{d.account.sid}/Calls.json?")
    assert "To=%2B14155550100" in first["next_page_uri"]
    seen, page = [c["sid"] for c in first["calls"]], first
    while page["next_page_uri"]:
        page = requests.get(
            f"http://127.0.0.1:{d.server.port}{page['next_page_uri']}",
            auth=(d.account.sid, d.account.auth_token),
            timeout=10,
        ).json()
        seen += [c["sid"] for c in page["calls"]]
    assert seen == mine[::-1] and page["page"] == 2 and page["next_page_uri"] is None


def test_list_status_parent_and_time_filters(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    parent = insert_call(d, status="completed", start=day(1), end=day(1) + 60)
    child = insert_call(d, status="completed", start=day(2), end=day(2) + 5, parent=parent)
    late = insert_call(d, status="no-answer", start=day(3), end=day(4, 1))
    queued = insert_call(d)
    assert {c.sid for c in client.calls.list(status="completed")} == {parent, child}
    assert [c.sid for c in client.calls.list(status="queued")] == [queued]
    assert [c.sid for c in client.calls.list(parent_call_sid=parent)] == [child]
    assert [c.sid for c in client.calls.list(start_time=datetime(2024, 1, 2))] == [child]
    assert {c.sid for c in client.calls.list(start_time_before=datetime(2024, 1, 2))} == {
        parent,
        child,
    }
    assert {c.sid for c in client.calls.list(start_time_after=datetime(2024, 1, 2))} == {
        child,
        late,
    }
    assert [c.sid for c in client.calls.list(end_time_after=datetime(2024, 1, 4))] == [late]
    # curl style: StartTime<=YYYY-MM-DD arrives as the key "StartTime<".
    rv = raw(d, "GET", "/Calls.json?StartTime%3C=2024-01-01").json()
    assert [c["sid"] for c in rv["calls"]] == [parent]


@pytest.mark.parametrize(
    "query",
    [
        {"Status": "exploded"},
        {"StartTime": "yesterday"},
        {"PageToken": "PACA123"},
        {"PageToken": "PA" + "CA" + "0" * 32 + "_nan"},
        {"PageSize": "0"},
    ],
)
def test_list_bad_parameters_get_400(sim, make_daemon, query):
    d = make_daemon()
    rv = raw(d, "GET", "/Calls.json", params=query)
    assert rv.status_code == 400 and rv.json()["code"] == 20001, rv.text
    with pytest.raises(TwilioException):
        client_for(d).calls.list(status="exploded")


# --------------------------------------------------------------------------- update


def test_cancel_a_queued_call_in_the_database(sim, make_daemon):
    d = make_daemon()
    controls = spy(d, "control")
    client = client_for(d)
    sid = insert_call(d)
    call = client.calls(sid).update(status="canceled")
    assert call.status == "canceled" and call.end_time is not None
    row = d.store.read_one("SELECT status, control FROM calls WHERE sid = ?", (sid,))
    assert row["status"] == "canceled" and row["control"] is None
    assert controls == []
    # An ended call cannot be updated: 21220.
    with pytest.raises(TwilioRestException) as e:
        client.calls(sid).update(status="canceled")
    assert (e.value.status, e.value.code) == (400, 21220)
    with pytest.raises(TwilioRestException) as e:
        client.calls(sid).update(url="https://example.com/next")
    assert e.value.code == 21220
    # Status=completed on a call that was never placed cancels it too.
    other = insert_call(d)
    assert client.calls(other).update(status="completed").status == "canceled"


def test_cancel_a_call_the_api_created(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    call = client.calls.create(to=PHONE, from_=NUMBER, url="http://127.0.0.1:9/voice")
    updated = client.calls(call.sid).update(status="canceled")
    # Canceled at once if still queued; if the engine had already placed it (ringing),
    # the request was handed to the engine (control), which cancels it.  Either way the
    # answer says what the update does: canceled.
    assert updated.status == "canceled"
    row = d.store.read_one("SELECT status, control FROM calls WHERE sid = ?", (call.sid,))
    assert row["status"] == "canceled" or json.loads(row["control"]) == {"status": "canceled"}
    wait_for(
        lambda: (
            d.store.read_one("SELECT status FROM calls WHERE sid = ?", (call.sid,))[0] == "canceled"
        ),
        timeout=15,
    )


def test_live_calls_are_controlled_through_the_engine(sim, make_daemon):
    d = make_daemon()
    controls = spy(d, "control")
    client = client_for(d)
    live = insert_call(d, status="in-progress", start=time.time())

    def control() -> dict:
        return json.loads(
            d.store.read_one("SELECT control FROM calls WHERE sid = ?", (live,))["control"]
        )

    client.calls(live).update(url="https://example.com/next", method="GET")
    assert control() == {"url": "https://example.com/next", "method": "GET"}
    response = VoiceResponse()
    response.say("Goodbye")
    response.hangup()
    client.calls(live).update(twiml=response)
    assert control() == {"twiml": str(response)}
    # canceled does not touch a call in progress (Twilio), so the engine is not told.
    assert client.calls(live).update(status="canceled").status == "in-progress"
    assert control() == {"twiml": str(response)}
    client.calls(live).update(status="completed")
    assert control() == {"status": "completed"}
    assert [sid for sid, _ in controls] == [live, live, live]
    # Each control was written before the engine was told.
    assert json.loads(controls[0][1]["control"])["url"] == "https://example.com/next"
    assert json.loads(controls[2][1]["control"]) == {"status": "completed"}

    ringing = insert_call(d, status="ringing")
    client.calls(ringing).update(status="canceled")
    assert json.loads(
        d.store.read_one("SELECT control FROM calls WHERE sid = ?", (ringing,))["control"]
    ) == {"status": "canceled"}
    assert controls[-1][0] == ringing


def test_update_answers_with_what_the_update_did(sim, make_daemon):
    """Issue 11: the answer showed the status from before the change.  As Twilio's: a
    live call hung up answers ``completed``, a queued or ringing one canceled answers
    ``canceled``, a redirect (or canceled on a live call) leaves ``in-progress``."""
    d = make_daemon()
    client = client_for(d)
    live = insert_call(d, status="in-progress", start=time.time())
    assert client.calls(live).update(url="https://example.com/next").status == "in-progress"
    assert client.calls(live).update(status="canceled").status == "in-progress"
    assert client.calls(live).update(status="completed").status == "completed"
    rv = raw(
        d,
        "POST",
        f"/Calls/{insert_call(d, status='in-progress')}.json",
        data={"Status": "completed"},
    )
    assert rv.status_code == 200 and rv.json()["status"] == "completed"
    assert client.calls(insert_call(d)).update(status="canceled").status == "canceled"
    for status in ("canceled", "completed"):
        ringing = insert_call(d, status="ringing")
        assert client.calls(ringing).update(status=status).status == "canceled", status
    # The engine carries the hang-up out: the row is unchanged until it does.
    row = d.store.read_one("SELECT status, control FROM calls WHERE sid = ?", (live,))
    assert row["status"] == "in-progress" and json.loads(row["control"]) == {"status": "completed"}


def test_update_a_queued_call_rewrites_its_instructions_and_settings(sim, make_daemon):
    d = make_daemon()
    controls = spy(d, "control")
    client = client_for(d)
    sid = insert_call(d)
    client.calls(sid).update(
        twiml="<Response><Say>new</Say></Response>",
        status_callback="https://example.com/st",
        status_callback_method="GET",
        fallback_url="https://example.com/fb",
        time_limit=120,
    )
    row = d.store.read_one("SELECT * FROM calls WHERE sid = ?", (sid,))
    assert row["url"] == "" and row["twiml"] == "<Response><Say>new</Say></Response>"
    assert (row["status_callback"], row["status_callback_method"]) == (
        "https://example.com/st",
        "GET",
    )
    assert (row["fallback_url"], row["time_limit"], row["status"]) == (
        "https://example.com/fb",
        120,
        "queued",
    )
    client.calls(sid).update(url="https://example.com/v2", method="GET")
    row = d.store.read_one("SELECT * FROM calls WHERE sid = ?", (sid,))
    assert (row["url"], row["method"], row["twiml"]) == ("https://example.com/v2", "GET", None)
    assert controls == []


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"Status": "busy"}, 20001),
        ({"Url": "not a url"}, 21205),
        ({"Url": "https://example.com/x", "Method": "PATCH"}, 21209),
        ({"Twiml": "<Response"}, 12100),
        ({"StatusCallback": "mailto:x@example.com"}, 21609),
        ({"TimeLimit": "-3"}, 20001),
    ],
)
def test_update_errors(sim, make_daemon, form, code):
    d = make_daemon()
    sid = insert_call(d, status="in-progress")
    rv = raw(d, "POST", f"/Calls/{sid}.json", data=form)
    assert rv.status_code == 400 and rv.json()["code"] == code, rv.text
    assert d.store.read_one("SELECT control FROM calls WHERE sid = ?", (sid,))["control"] is None
    rv = raw(d, "POST", f"/Calls/{sids.new('CA')}.json", data={"Status": "canceled"})
    assert rv.status_code == 404 and rv.json()["code"] == 20404


# --------------------------------------------------------------------------- delete


def test_delete_only_ended_calls(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    ended = insert_call(d, status="completed", start=day(1), end=day(1) + 3)
    d.store.write(
        lambda conn: conn.execute(
            "INSERT INTO call_events (call_sid, at, kind) VALUES (?, ?, 'answered')",
            (ended, day(1)),
        )
    )
    assert client.calls(ended).delete() is True
    assert d.store.read_one("SELECT COUNT(*) FROM calls WHERE sid = ?", (ended,))[0] == 0
    assert d.store.read_one("SELECT COUNT(*) FROM call_events WHERE call_sid = ?", (ended,))[0] == 0
    for status in ("queued", "ringing", "in-progress"):
        sid = insert_call(d, status=status)
        with pytest.raises(TwilioRestException) as e:
            client.calls(sid).delete()
        assert (e.value.status, e.value.code) == (409, 20009)
    with pytest.raises(TwilioRestException) as e:
        client.calls(ended).delete()
    assert (e.value.status, e.value.code) == (404, 20404)


# --------------------------------------------------------------------------- recordings


def write_wav(path: Path, seconds: float = 1.0, rate: int = 8000) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return path.read_bytes()


def insert_recording(
    d, call_sid: str, path: Path | str, *, status: str = "completed", created: float | None = None
) -> str:
    sid = sids.new("RE")
    now = time.time() if created is None else created
    d.store.write(
        lambda conn: conn.execute(
            "INSERT INTO recordings (sid, call_sid, status, duration, channels, source, path,"
            " start_time, date_created, date_updated) VALUES (?, ?, ?, 1, 1, 'RecordVerb', ?, ?,"
            " ?, ?)",
            (sid, call_sid, status, str(path), now - 1, now, now),
        )
    )
    return sid


def test_recordings_list_fetch_media_and_delete(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    call_sid = insert_call(d, status="completed", start=day(1), end=day(1) + 5)
    other_call = insert_call(d, status="completed", start=day(1), end=day(1) + 5)
    recordings = Path(d.config.data_dir) / "recordings"
    audio = write_wav(recordings / "first.wav")
    first = insert_recording(d, call_sid, recordings / "first.wav", created=time.time() - 10)
    write_wav(recordings / "second.wav", seconds=0.5)
    second = insert_recording(d, call_sid, "second.wav")  # relative to data_dir/recordings
    third = insert_recording(d, other_call, recordings / "first.wav", status="in-progress")

    assert [r.sid for r in client.recordings.list(page_size=1)] == [third, second, first]
    assert [r.sid for r in client.calls(call_sid).recordings.list()] == [second, first]
    assert [r.sid for r in client.recordings.list(call_sid=other_call)] == [third]
    page = raw(d, "GET", "/Recordings.json").json()
    assert [k for k in page if isinstance(page[k], list)] == ["recordings"]

    rec = client.recordings(first).fetch()
    assert (rec.call_sid, rec.duration, rec.channels, rec.status) == (call_sid, "1", 1, "completed")
    assert rec.source == "RecordVerb" and rec.price is None and rec.account_sid == d.account.sid
    assert rec.media_url == api_url(d, f"/Recordings/{first}")
    assert rec.uri == f"/2010-04-01/Accounts/{d.account.sid}/Recordings/{first}.json"

    for suffix in ("", ".wav"):
        rv = raw(d, "GET", f"/Recordings/{first}{suffix}")
        assert rv.status_code == 200 and rv.headers["Content-Type"] == "audio/x-wav"
        assert rv.content == audio
    rv = raw(d, "GET", f"/Recordings/{second}.mp3")
    assert rv.status_code == 200 and rv.headers["Content-Type"] == "audio/mpeg"
    assert rv.content[:3] == b"ID3" or rv.content[0] == 0xFF
    assert (recordings / "second.mp3").is_file()
    assert raw(d, "GET", f"/Recordings/{second}.mp3").content == rv.content  # served from cache
    # Media are public by default (Twilio's default); other accounts' paths are not.
    rv = requests.get(api_url(d, f"/Recordings/{first}.wav"), timeout=10)
    assert rv.status_code == 200 and rv.content[:4] == b"RIFF"
    wrong = api_url(d, f"/Recordings/{first}.wav").replace(d.account.sid, "AC" + "0" * 32)
    assert requests.get(wrong, timeout=10).status_code == 404
    # Unfinished recordings have no media yet and cannot be deleted.
    rv = raw(d, "GET", f"/Recordings/{third}.wav")
    assert rv.status_code == 404 and rv.json()["code"] == 20404
    with pytest.raises(TwilioRestException) as e:
        client.recordings(third).delete()
    assert (e.value.status, e.value.code) == (409, 20009)

    assert client.recordings(second).delete() is True
    assert not (recordings / "second.wav").exists() and not (recordings / "second.mp3").exists()
    with pytest.raises(TwilioRestException) as e:
        client.recordings(second).fetch()
    assert (e.value.status, e.value.code) == (404, 20404)
    assert raw(d, "GET", f"/Recordings/{second}.wav").status_code == 404


def test_recording_media_failures_are_twilio_errors(sim, make_daemon):
    d = make_daemon()
    recordings = Path(d.config.data_dir) / "recordings"
    recordings.mkdir(parents=True, exist_ok=True)
    call_sid = insert_call(d, status="completed")
    missing = insert_recording(d, call_sid, recordings / "gone.wav")
    (recordings / "garbage.wav").write_bytes(b"this is not audio" * 10)
    garbage = insert_recording(d, call_sid, recordings / "garbage.wav")
    rv = raw(d, "GET", f"/Recordings/{missing}")
    assert rv.status_code == 404 and rv.json()["code"] == 20404
    rv = raw(d, "GET", f"/Recordings/{garbage}.mp3")  # sox cannot read it
    assert rv.status_code == 404 and set(rv.json()) == {"code", "message", "more_info", "status"}
    assert "MP3" in rv.json()["message"]
    assert not list(recordings.glob(".*.mp3"))  # no temporary file left behind
    rv = raw(d, "GET", f"/Recordings/{sids.new('RE')}.json")
    assert rv.status_code == 404


def test_recording_media_can_require_credentials(sim, make_daemon):
    d = make_daemon(recording_media_auth=True)
    recordings = d.config.data_dir / "recordings"
    recordings.mkdir(parents=True, exist_ok=True)
    write_wav(recordings / "private.wav")
    sid = insert_recording(d, "CA" + "1" * 32, recordings / "private.wav")
    assert requests.get(api_url(d, f"/Recordings/{sid}.wav"), timeout=10).status_code == 401
    rv = raw(d, "GET", f"/Recordings/{sid}.wav")
    assert rv.status_code == 200 and rv.content[:4] == b"RIFF"
