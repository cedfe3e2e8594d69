"""The twimlets over HTTP on a running daemon: public routes, Voicemail's signed notification
step (403 unless the appliance signed it; then a text message and an e-mail), the hold music
folder, a FailUrl as a real 302, and relative twimlet URLs in a number's configuration."""

from __future__ import annotations

import smtplib
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from appliance import twimlets
from appliance.daemon import Daemon
from appliance.webhooks.client import WebhookClient
from tests.conftest import NUMBER, PHONE, wait_for

OWNER = "+14155551212"  # who gets the voicemail's text message
RECORDING = "http://127.0.0.1/2010-04-01/Accounts/AC1/Recordings/RE0123"


def base(d: Daemon) -> str:
    assert d.server is not None
    return f"http://127.0.0.1:{d.server.port}"


def test_every_twimlet_is_served_to_anyone_as_twiml(make_daemon):
    d = make_daemon()
    for name in twimlets.NAMES:
        for method in ("GET", "POST"):
            rv = requests.request(
                method, f"{base(d)}/twimlets/{name}", params={"Twiml": "<Response/>"}, timeout=10
            )
            assert rv.status_code == 200, (name, method, rv.text)
            assert rv.headers["Content-Type"].startswith("text/xml"), name
            assert rv.content.strip().endswith(b"/>") or b"</Response>" in rv.content, name
    assert requests.get(f"{base(d)}/twimlets/nosuch", timeout=10).status_code == 404
    rv = requests.get(
        f"{base(d)}/twimlets/message",
        params=[("Message[0]", "Hello"), ("Colour", "red")],
        timeout=10,
    )
    assert rv.text.endswith("<Response><Say>Hello</Say></Response>")


def test_fail_url_is_a_302_that_webhook_clients_follow(make_daemon):
    d = make_daemon()
    url = f"{base(d)}/twimlets/forward?Dial=true&FailUrl=%2Ftwimlets%2Fmessage%3FMessage%3DSorry"
    rv = requests.post(url, data={"DialCallStatus": "no-answer"}, allow_redirects=False, timeout=10)
    assert rv.status_code == 302 and rv.headers["Location"] == "/twimlets/message?Message=Sorry"
    result, _ = d.client.request(url, "POST", {"DialCallStatus": "busy", "CallSid": "CA1"})
    assert result.status == 200 and result.redirects[-1].endswith("/twimlets/message?Message=Sorry")
    assert b"<Say>Sorry</Say>" in result.body
    rv = requests.post(url, data={"DialCallStatus": "completed"}, timeout=10)
    assert rv.text.endswith("<Response><Hangup/></Response>")


class FakeSMTP:
    """Stands in for smtplib.SMTP: records the relay and the messages."""

    sent: list[tuple[str, int, EmailMessage]] = []
    done = threading.Event()

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port = host, port

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def send_message(self, msg: EmailMessage) -> None:
        FakeSMTP.sent.append((self.host, self.port, msg))
        FakeSMTP.done.set()


@pytest.fixture
def fake_smtp(monkeypatch: pytest.MonkeyPatch) -> type[FakeSMTP]:
    FakeSMTP.sent = []
    FakeSMTP.done = threading.Event()
    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    return FakeSMTP


def test_voicemail_notification_needs_the_appliances_own_signature(make_daemon, sim, fake_smtp):
    d = make_daemon(smtp_relay="relay.example:2525", smtp_from="vm@example.com")
    url = f"{base(d)}/twimlets/voicemail?Sms=%2B14155551212&Email=owner%40example.com"
    params = {"CallSid": "CA0", "From": PHONE, "To": NUMBER, "RecordingUrl": RECORDING}

    def texts() -> int:
        return int(d.store.read_one("SELECT COUNT(*) FROM messages")[0])

    # Anyone gets the greeting...
    rv = requests.post(url, data={"From": PHONE}, timeout=10)
    assert rv.status_code == 200 and "<Record/>" in rv.text
    # ...but the notification step only with the appliance's signature.
    refused = requests.post(url, data=params, timeout=10)
    assert refused.status_code == 403 and refused.json()["code"] == 20003
    assert requests.get(url, params=params, timeout=10).status_code == 403
    forged, _ = WebhookClient("not-the-auth-token").request(url, "POST", params)
    assert forged.status == 403
    assert texts() == 0 and not fake_smtp.sent

    result, _ = d.client.request(url, "POST", params)  # what the call engine sends
    assert result.status == 200, result.error_message
    assert result.body.endswith(b"<Response><Say>Thanks. Good bye.</Say><Hangup/></Response>")
    row = wait_for(lambda: d.store.read_one("SELECT * FROM messages"))
    assert row["to_number"] == OWNER and row["from_number"] == NUMBER
    assert row["body"] == f"New voicemail from {PHONE}: {RECORDING}.mp3"
    wait_for(lambda: any(m.text == row["body"] for m in sim.network.outbox()))
    assert fake_smtp.done.wait(10)
    host, port, mail = fake_smtp.sent[0]
    assert (host, port) == ("relay.example", 2525)
    assert mail["To"] == "owner@example.com" and mail["From"] == "vm@example.com"
    assert mail["Subject"] == "New Voicemail Message from (415) 555-0100"
    assert f"{RECORDING}.mp3" in mail.get_content()

    result, _ = d.client.request(url, "GET", params)  # a GET webhook is signed too
    assert result.status == 200
    wait_for(lambda: texts() == 2)


def test_voicemail_without_a_relay_sends_no_email(make_daemon, fake_smtp):
    d = make_daemon()
    url = f"{base(d)}/twimlets/voicemail?Email=owner%40example.com"
    result, _ = d.client.request(url, "POST", {"From": PHONE, "RecordingUrl": RECORDING})
    assert result.status == 200 and b"Thanks. Good bye." in result.body
    assert not fake_smtp.done.wait(0.5)
    assert d.store.read_one("SELECT COUNT(*) FROM messages")[0] == 0


def test_holdmusic_plays_the_shipped_tone_and_serves_it(make_daemon):
    d = make_daemon()
    rv = requests.get(
        f"{base(d)}/twimlets/holdmusic", params={"Message": "Please hold"}, timeout=10
    )
    assert rv.text.endswith(
        "<Response><Play>/twimlets/holdmusic/chimes.wav</Play><Say>Please hold</Say>"
        "<Redirect>/twimlets/holdmusic?Message=Please+hold</Redirect></Response>"
    )
    audio = requests.get(f"{base(d)}/twimlets/holdmusic/chimes.wav", timeout=10)
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/wav"
    assert audio.content[:4] == b"RIFF" and len(audio.content) < 100_000
    for name in ("nosuch.wav", "..%2F..%2Fappliance.sqlite3", "%2Fetc%2Fpasswd"):
        assert requests.get(f"{base(d)}/twimlets/holdmusic/{name}", timeout=10).status_code == 404


def test_holdmusic_dir_is_a_folder_of_ones_own(make_daemon, tmp_path: Path):
    folder = tmp_path / "data" / "music"
    folder.mkdir(parents=True)
    (folder / "b.mp3").write_bytes(b"ID3")
    (folder / "a song.wav").write_bytes(b"RIFF")
    (folder / "notes.txt").write_text("not music")
    d = make_daemon(holdmusic_dir="music")  # relative: in data_dir
    rv = requests.get(f"{base(d)}/twimlets/holdmusic", timeout=10)
    plays = sorted(rv.text.split("<Play>")[1:])
    assert [p.split("</Play>")[0] for p in plays] == [
        "/twimlets/holdmusic/a%20song.wav",
        "/twimlets/holdmusic/b.mp3",
    ]
    assert requests.get(f"{base(d)}/twimlets/holdmusic/a%20song.wav", timeout=10).content == b"RIFF"
    assert requests.get(f"{base(d)}/twimlets/holdmusic/notes.txt", timeout=10).status_code == 404


def test_holdmusic_without_music_says_so(make_daemon, tmp_path: Path):
    d = make_daemon(holdmusic_dir=str(tmp_path / "nowhere"))
    rv = requests.get(f"{base(d)}/twimlets/holdmusic", timeout=10)
    assert rv.text.endswith("<Response><Say>Failed to fetch the hold music.</Say></Response>")


def test_a_numbers_voice_url_may_be_a_twimlet(make_daemon):
    d = make_daemon()
    sid = d.store.read_one("SELECT sid FROM numbers")["sid"]
    url = f"{base(d)}/2010-04-01/Accounts/{d.account.sid}/IncomingPhoneNumbers/{sid}.json"
    auth = (d.account.sid, d.account.auth_token)
    voice = "/twimlets/forward?PhoneNumber=%2B14155551212"
    rv = requests.post(
        url,
        data={"VoiceUrl": voice, "VoiceFallbackUrl": "/twimlets/voicemail"},
        auth=auth,
        timeout=10,
    )
    assert rv.status_code == 200, rv.text
    assert rv.json()["voice_url"] == voice
    for field, value in (("SmsUrl", "/twimlets/message"), ("VoiceUrl", "/welcome/voice")):
        rv = requests.post(url, data={field: value}, auth=auth, timeout=10)
        assert rv.status_code == 400 and rv.json()["code"] == 21402, (field, rv.text)
