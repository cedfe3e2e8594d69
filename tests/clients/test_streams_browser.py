"""Media Streams on a call from a browser (issue 13, slice 5): the stream carries the browser's
WebRTC audio as it carries a modem's.  An aiortc "browser" over the real wss socket runs an
App whose TwiML is ``<Connect><Stream>`` to a real echo bot (tests/voice/test_streams.py's
``Bot``): the browser's 1 kHz tone comes back to it, its signalling ``dtmf`` reaches the bot,
a REST Stream on the same call connects, and the browser's hang-up stops both streams.
``<Message>`` stays refused (12200): a browser's call has no SIM to send from."""

from __future__ import annotations

import json
import threading

import pytest
from websockets.sync.server import ServerConnection

from appliance.clients.audioport import WebRtcAudioPort
from appliance.clients.peer import Peer
from tests.clients import browserapp
from tests.clients.browserapp import heard_tone
from tests.clients.conftest import send
from tests.clients.test_outgoing import record
from tests.clients.test_peer import talk
from tests.conftest import wait_for
from tests.voice.test_streams import Bot, bots  # noqa: F401 - the bots fixture

pytestmark = pytest.mark.timeout(60)


def echo(bot: Bot, ws: ServerConnection) -> None:
    while True:
        msg = bot.receive(ws)
        if msg["event"] == "media":
            back = {"streamSid": msg["streamSid"], "media": {"payload": msg["media"]["payload"]}}
            ws.send(json.dumps({"event": "media", **back}))


def test_a_browser_call_streams_to_a_bot(phones, webapp, bots):  # noqa: F811
    bot, listener = bots(echo), bots()
    p, api, token = browserapp.start(
        phones,
        webapp,
        f'<Message>Hi</Message><Connect><Stream url="{bot.url()}"/></Connect>',
        name="Bot",
    )
    d = p.daemon
    loop = d.media.start()
    browser = Peer(WebRtcAudioPort(loop), name="browser")
    stop, heard = threading.Event(), []
    threads: list[threading.Thread] = []
    try:
        with p.open() as ws:
            sid = browserapp.place_peer_call(p, ws, token, browser)["callsid"]
            threads = [record(browser.port, stop, heard), talk(browser.port, stop)]
            assert bot.start()["start"]["callSid"] == sid
            # the browser's tone, echoed by the bot, comes back to the browser
            wait_for(lambda: heard_tone(b"".join(heard), 1000, 700), timeout=15)
            send(ws, "dtmf", callsid=sid, dtmf="5")
            wait_for(lambda: bot.events("dtmf"), timeout=10)
            assert bot.events("dtmf")[0]["dtmf"]["digit"] == "5"
            # a REST Stream on the same call: in-progress, and it connects
            stream = api.calls(sid).streams.create(url=listener.url())
            assert stream.status == "in-progress"
            assert listener.start()["start"]["callSid"] == sid
            send(ws, "hangup", callsid=sid)
            assert bot.closed.wait(10) and listener.closed.wait(10)
        assert bot.messages[-1]["event"] == "stop" and listener.messages[-1]["event"] == "stop"
        rows = d.store.read(
            "SELECT error_code, detail FROM call_events WHERE call_sid = ? AND kind = 'error'",
            (sid,),
        )
        assert [(r["error_code"], "<Message>" in r["detail"]) for r in rows] == [(12200, True)]
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
    finally:
        stop.set()
        d.media.submit(browser.close()).result(10)
        for t in threads:
            t.join(5)
