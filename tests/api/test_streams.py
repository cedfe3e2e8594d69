"""The Stream resource end to end: a simulated GSM caller on a live call, the real daemon, the
official twilio client, and real `websockets` bots on 127.0.0.1 (tests/voice/test_streams.py's)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from appliance import sids
from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import RemoteParty, Silence
from appliance.store import apikeys
from appliance.voice import streamsocket
from tests.conftest import PHONE, client_for, wait_for
from tests.voice.test_streams import Bot
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def bots() -> Iterator[Callable[[], Bot]]:
    made: list[Bot] = []

    def make() -> Bot:
        made.append(Bot())
        return made[-1]

    yield make
    for bot in made:
        bot.close()


def call_status(d: Daemon, sid: str) -> str:
    row = d.store.read_one("SELECT status FROM calls WHERE sid = ?", (sid,))
    return str(row["status"]) if row else ""


def live_call(sim: SimulatorHost, webapp: WebApp, make_daemon: Callable[..., Daemon]) -> Any:
    """A daemon and an answered inbound call whose TwiML waits (a <Say>, then a long <Pause>),
    its audio running.  Returns (daemon, call SID, the simulated caller)."""
    modem = sim.modems["modem1"]
    d = make_daemon(modem={"voice_url": webapp.url("/voice"), "audio_port": str(modem.audio_path)})
    webapp.routes["/voice"] = twiml(
        '<Response><Say>This call is streamed.</Say><Pause length="60"/></Response>'
    )
    webapp.routes["/stream-status"] = lambda req: (204, "", b"")
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(90)]))
    sid = str(webapp.wait(15, path="/voice").param("CallSid"))
    flows: Any = d.voice.phones["modem1"].flows
    wait_for(lambda: call_status(d, sid) == "in-progress" and flows[sid].channel.media, timeout=15)
    return d, sid, remote


def raw(d: Daemon, method: str, path: str, auth: tuple[str, str] | None = None, **kw: Any) -> Any:
    base = f"http://127.0.0.1:{d.server.port}/2010-04-01/Accounts/{d.account.sid}"
    auth = auth or (d.account.sid, d.account.auth_token)
    return requests.request(method, base + path, auth=auth, timeout=30, **kw)


def stream_events(webapp: WebApp) -> list[tuple[str, str]]:
    return [
        (str(r.param("StreamEvent")), str(r.param("StreamSid")))
        for r in webapp.to("/stream-status")
    ]


def test_create_reaches_the_bot_and_stop_by_sid_and_by_name(
    sim: SimulatorHost,
    webapp: WebApp,
    make_daemon: Callable[..., Daemon],
    bots: Callable[[], Bot],
) -> None:
    d, call_sid, remote = live_call(sim, webapp, make_daemon)
    client = client_for(d)
    fork, named = bots(), bots()

    stream = client.calls(call_sid).streams.create(
        url=fork.url(),
        track="both_tracks",
        status_callback=webapp.url("/stream-status"),
        parameter1_name="lang",
        parameter1_value="fr",
        parameter2_name="who",
        parameter2_value="rest",
    )
    assert stream.sid.startswith("MZ") and len(stream.sid) == 34
    assert (stream.account_sid, stream.call_sid, stream.status) == (
        d.account.sid,
        call_sid,
        "in-progress",
    )
    assert stream.name is None and stream.date_updated is not None
    start = fork.start()
    assert fork.messages[0] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    assert start["streamSid"] == stream.sid
    assert start["start"] == {
        "streamSid": stream.sid,
        "accountSid": d.account.sid,
        "callSid": call_sid,
        "tracks": ["inbound", "outbound"],
        "customParameters": {"lang": "fr", "who": "rest"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    wait_for(lambda: len(fork.events("media")) > 20)
    tracks = {m["media"]["track"] for m in fork.events("media")}
    assert tracks == {"inbound", "outbound"}

    # The raw JSON is exactly Twilio's shape; a name makes the stream stoppable by name.
    rv = raw(d, "POST", f"/Calls/{call_sid}/Streams.json", data={"Url": named.url(), "Name": "ai"})
    assert rv.status_code == 201, rv.text
    body = rv.json()
    assert set(body) == {
        "sid",
        "account_sid",
        "call_sid",
        "name",
        "status",
        "date_updated",
        "uri",
    }
    assert body["name"] == "ai" and body["status"] == "in-progress"
    assert body["uri"] == (
        f"/2010-04-01/Accounts/{d.account.sid}/Calls/{call_sid}/Streams/{body['sid']}.json"
    )
    assert named.start()["start"]["tracks"] == ["inbound"]
    again = raw(
        d, "POST", f"/Calls/{call_sid}/Streams.json", data={"Url": named.url(), "Name": "ai"}
    )
    assert again.status_code == 400 and again.json()["code"] == 20001

    stopped = client.calls(call_sid).streams(stream.sid).update(status="stopped")
    assert (stopped.sid, stopped.status) == (stream.sid, "stopped")
    assert fork.closed.wait(10)
    last = fork.messages[-1]
    assert last["event"] == "stop" and last["streamSid"] == stream.sid
    assert last["stop"] == {"accountSid": d.account.sid, "callSid": call_sid}

    by_name = client.calls(call_sid).streams("ai").update(status="stopped")
    assert (by_name.sid, by_name.name, by_name.status) == (body["sid"], "ai", "stopped")
    assert named.closed.wait(10) and named.messages[-1]["event"] == "stop"

    # Stopped (or never there): 404, as for any unknown resource.
    for key in (stream.sid, "ai", sids.new("MZ")):
        with pytest.raises(TwilioRestException) as e:
            client.calls(call_sid).streams(key).update(status="stopped")
        assert (e.value.status, e.value.code) == (404, 20404)
    wait_for(lambda: len(stream_events(webapp)) >= 2)
    assert stream_events(webapp) == [
        ("stream-started", stream.sid),
        ("stream-stopped", stream.sid),
    ]
    assert remote.state != "ended", "the call goes on"


def test_errors_unknown_and_ended_calls_and_api_keys(
    sim: SimulatorHost,
    webapp: WebApp,
    make_daemon: Callable[..., Daemon],
    bots: Callable[[], Bot],
) -> None:
    d, call_sid, remote = live_call(sim, webapp, make_daemon)
    bot = bots()
    path = f"/Calls/{call_sid}/Streams.json"

    for form, code in (
        ({}, 21205),
        ({"Url": "https://example.com/media"}, 21205),
        ({"Url": "ws://"}, 21205),
        ({"Url": "/media"}, 21205),
        ({"Url": bot.url(), "Track": "sideways"}, 20001),
        ({"Url": bot.url(), "StatusCallback": "not a url"}, 21609),
        ({"Url": bot.url(), "StatusCallbackMethod": "PUT"}, 21209),
        ({"Url": bot.url(), "Parameter100.Name": "x"}, 20001),
    ):
        rv = raw(d, "POST", path, data=form)
        assert (rv.status_code, rv.json()["code"]) == (400, code), form
    assert not bot.connected.is_set()
    relative = raw(d, "POST", path, data={"Url": "/media"}).json()["message"]
    assert "relative" in relative and "absolute ws:// or wss://" in relative
    rv = raw(d, "POST", f"/Calls/{call_sid}/Streams/x.json", data={"Status": "in-progress"})
    assert (rv.status_code, rv.json()["code"]) == (400, 20001)

    unknown = sids.new("CA")
    for rv in (
        raw(d, "POST", f"/Calls/{unknown}/Streams.json", data={"Url": bot.url()}),
        raw(d, "POST", f"/Calls/{unknown}/Streams/x.json", data={"Status": "stopped"}),
    ):
        assert rv.status_code == 404 and rv.json() == {
            "code": 20404,
            "message": rv.json()["message"],
            "more_info": "https://www.twilio.com/docs/errors/20404",
            "status": 404,
        }

    # An API key may use the resource, as it may the other Twilio resources.
    key, secret = apikeys.create(d.store, "bot")
    keyed = (key.sid, secret)
    rv = raw(d, "POST", path, auth=keyed, data={"Url": bot.url(), "Parameter1.Name": "k"})
    assert rv.status_code == 201, rv.text
    mz = rv.json()["sid"]
    assert bot.start()["start"]["customParameters"] == {"k": ""}
    rv = raw(
        d, "POST", f"/Calls/{call_sid}/Streams/{mz}.json", auth=keyed, data={"Status": "stopped"}
    )
    assert rv.status_code == 200 and rv.json()["status"] == "stopped"
    assert bot.closed.wait(10)

    # A stream the bot refuses is answered in-progress at once, as Twilio answers; then it
    # stops, the error on the call, and there is nothing left to stop.
    with_error = raw(d, "POST", path, data={"Url": f"ws://127.0.0.1:{free_port()}/none"})
    assert with_error.status_code == 201 and with_error.json()["status"] == "in-progress"
    wait_for(lambda: d.store.read_one("SELECT 1 FROM call_events WHERE error_code = 31902"))
    gone = f"/Calls/{call_sid}/Streams/{with_error.json()['sid']}.json"
    wait_for(lambda: raw(d, "POST", gone, data={"Status": "stopped"}).status_code == 404)

    # A call that has ended: 21220 for both.
    client_for(d).calls(call_sid).update(status="completed")
    wait_for(lambda: call_status(d, call_sid) == "completed", timeout=15)
    assert remote.wait_state("ended", timeout=15)
    for rv in (
        raw(d, "POST", path, data={"Url": bot.url()}),
        raw(d, "POST", f"/Calls/{call_sid}/Streams/{mz}.json", data={"Status": "stopped"}),
    ):
        assert (rv.status_code, rv.json()["code"]) == (400, 21220), rv.text


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_official_client_can_create_with_every_parameter(
    sim: SimulatorHost,
    webapp: WebApp,
    make_daemon: Callable[..., Daemon],
    bots: Callable[[], Bot],
) -> None:
    """Parameter1 … Parameter99, as twilio-python sends them; the call's end stops the stream."""
    d, call_sid, remote = live_call(sim, webapp, make_daemon)
    bot = bots()
    client: Client = client_for(d)
    params = {f"parameter{n}_name": f"p{n}" for n in range(1, 100)}
    params.update({f"parameter{n}_value": str(n * n) for n in range(1, 100)})
    stream = client.calls(call_sid).streams.create(url=bot.url(), name="all", **params)
    custom = bot.start()["start"]["customParameters"]
    assert custom == {f"p{n}": str(n * n) for n in range(1, 100)}
    assert list(custom) == [f"p{n}" for n in range(1, 100)], "in N's order"
    time.sleep(0.5)
    remote.hangup()
    assert bot.closed.wait(15)
    assert bot.messages[-1]["event"] == "stop" and bot.messages[-1]["streamSid"] == stream.sid


def test_create_answers_before_the_socket_is_up(
    sim: SimulatorHost,
    webapp: WebApp,
    make_daemon: Callable[..., Daemon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Twilio answers the create at once, ``in-progress``: a bot that never answers the
    upgrade does not hold the request.  A stream stopped while it connects is stopped for
    good (``stream-stopped``, no error); one left alone times out: 31901 on the call,
    ``stream-error``, and it is gone."""
    monkeypatch.setattr(streamsocket, "OPEN_TIMEOUT", 2.0)
    d, call_sid, remote = live_call(sim, webapp, make_daemon)
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(8)  # accepts TCP (the kernel's backlog), never answers the upgrade
    url = f"ws://127.0.0.1:{hanging.getsockname()[1]}/bot"
    callback = webapp.url("/stream-status")
    try:
        t0 = time.monotonic()
        rv = raw(
            d,
            "POST",
            f"/Calls/{call_sid}/Streams.json",
            data={"Url": url, "Name": "early", "StatusCallback": callback},
        )
        assert time.monotonic() - t0 < 1.0, "the create did not wait for the upgrade"
        assert rv.status_code == 201 and rv.json()["status"] == "in-progress", rv.text
        early = rv.json()["sid"]
        again = raw(
            d, "POST", f"/Calls/{call_sid}/Streams.json", data={"Url": url, "Name": "early"}
        )
        assert (again.status_code, again.json()["code"]) == (400, 20001), "the name is taken"
        stop = raw(d, "POST", f"/Calls/{call_sid}/Streams/early.json", data={"Status": "stopped"})
        assert stop.status_code == 200 and stop.json()["status"] == "stopped"
        assert stop.json()["sid"] == early

        t0 = time.monotonic()
        rv = raw(
            d,
            "POST",
            f"/Calls/{call_sid}/Streams.json",
            data={"Url": url, "StatusCallback": callback},
        )
        assert time.monotonic() - t0 < 1.0
        late = rv.json()["sid"]
        assert rv.json()["status"] == "in-progress"
        wait_for(lambda: ("stream-error", late) in stream_events(webapp), timeout=15)
        (error,) = [
            r for r in webapp.to("/stream-status") if r.param("StreamEvent") == "stream-error"
        ]
        assert "no answer within 2 s" in str(error.param("StreamError"))
        rows = d.store.read(
            "SELECT error_code FROM call_events WHERE error_code IS NOT NULL AND call_sid = ?",
            (call_sid,),
        )
        assert [r["error_code"] for r in rows] == [streamsocket.TIMEOUT], "none for 'early'"
        gone = raw(d, "POST", f"/Calls/{call_sid}/Streams/{late}.json", data={"Status": "stopped"})
        assert gone.status_code == 404
        time.sleep(2.5)  # 'early' has timed out too by now: still no error for it
        assert stream_events(webapp) == [("stream-stopped", early), ("stream-error", late)]
        assert remote.state != "ended", "the call goes on"
    finally:
        hanging.close()


def test_create_on_a_modem_without_an_audio_port_is_stopped_and_says_why(
    sim: SimulatorHost,
    webapp: WebApp,
    make_daemon: Callable[..., Daemon],
    bots: Callable[[], Bot],
) -> None:
    """Nothing to stream: the create answers ``stopped`` at once, the call records the
    error, ``stream-error`` says the modem has no audio port, and the bot is never called."""
    d = make_daemon(modem={"voice_url": webapp.url("/voice")})  # no audio_port
    webapp.routes["/voice"] = twiml('<Response><Say>Hi.</Say><Pause length="30"/></Response>')
    webapp.routes["/stream-status"] = lambda req: (204, "", b"")
    remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(40)]))
    call_sid = str(webapp.wait(15, path="/voice").param("CallSid"))
    wait_for(lambda: call_status(d, call_sid) == "in-progress", timeout=15)
    bot = bots()
    rv = raw(
        d,
        "POST",
        f"/Calls/{call_sid}/Streams.json",
        data={"Url": bot.url(), "StatusCallback": webapp.url("/stream-status")},
    )
    assert rv.status_code == 201 and rv.json()["status"] == "stopped", rv.text
    (status,) = wait_for(lambda: webapp.to("/stream-status"), timeout=15)
    assert (status.param("StreamEvent"), status.param("StreamSid")) == (
        "stream-error",
        rv.json()["sid"],
    )
    assert "modem1 has no audio port" in str(status.param("StreamError"))
    row = d.store.read_one(
        "SELECT kind, detail FROM call_events WHERE call_sid = ? AND kind = 'error'", (call_sid,)
    )
    assert row is not None and "no audio port" in row["detail"]
    assert not bot.connected.is_set()
    assert remote.state != "ended"
