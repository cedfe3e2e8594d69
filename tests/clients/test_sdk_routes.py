"""The panel serves Twilio's Voice JavaScript SDK and its sounds (docs/clients.md, issue 13):
``/sdk/twilio.min.js`` (the bundle `make sdk` brings from npm), ``/sdk/sounds/<name>.wav`` and
``/sdk/sounds.json``, over real HTTP from a running daemon, without sign-in."""

from __future__ import annotations

import io
import logging
import wave
from pathlib import Path

import numpy as np
import pytest
import requests

from appliance.voice import phonesounds
from appliance.voice.dtmf import DtmfDetector
from web import create_app, voicesdk

ROOT = Path(__file__).resolve().parents[2]
NPM_BUNDLE = ROOT / "web/sdk/node_modules/@twilio/voice-sdk/dist/twilio.min.js"
# Device.SoundName in @twilio/voice-sdk 2.x (lib/twilio/device.ts): the `sounds` option's keys.
SOUND_NAMES = {"incoming", "outgoing", "disconnect"} | {f"dtmf{k}" for k in "0123456789sh"}


def base(d) -> str:
    return f"http://127.0.0.1:{d.server.port}"


def decode(body: bytes) -> tuple[int, np.ndarray]:
    with wave.open(io.BytesIO(body)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def test_the_bundle_from_npm_is_served_without_sign_in(make_daemon):
    assert voicesdk.BUNDLE.is_file(), "`make sdk` (in `make test`) builds web/sdk/twilio.min.js"
    d = make_daemon()
    rv = requests.get(base(d) + "/sdk/twilio.min.js", timeout=10, allow_redirects=False)
    assert rv.status_code == 200, rv.text[:200]
    assert rv.headers["Content-Type"].startswith("text/javascript")
    assert rv.headers["Access-Control-Allow-Origin"] == "*"
    assert "max-age" in rv.headers["Cache-Control"]
    assert rv.content == voicesdk.BUNDLE.read_bytes() == NPM_BUNDLE.read_bytes()
    assert b"Twilio.Device=Twilio.Device||Voice.Device" in rv.content
    # The version the browser tests pin is the version the panel serves.
    assert '"@twilio/voice-sdk": "2.18.5"' in (ROOT / "web/sdk/package.json").read_text()
    assert '"@twilio/voice-sdk": "2.18.5"' in (ROOT / "tests/node/package.json").read_text()


def test_without_the_bundle_404_names_the_fix_and_start_up_warns(make_daemon, tmp_path, caplog):
    d = make_daemon()
    absent = tmp_path / "no-sdk" / "twilio.min.js"
    with caplog.at_level(logging.WARNING, logger="web.voicesdk"):
        panel = create_app(d, {"SDK_BUNDLE": absent})
    warnings = [r.getMessage() for r in caplog.records if r.name == "web.voicesdk"]
    assert len(warnings) == 1 and "make sdk" in warnings[0] and str(absent) in warnings[0]
    rv = panel.test_client().get("/sdk/twilio.min.js")
    assert rv.status_code == 404 and rv.mimetype == "text/plain"
    text = rv.get_data(as_text=True)
    assert "`make sdk`" in text and "Ansible" in text
    # With the bundle there, no warning.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="web.voicesdk"):
        create_app(d)
    assert not [r for r in caplog.records if r.name == "web.voicesdk"]


def test_every_sound_is_a_wav_of_its_length_and_the_keys_are_real_dtmf(make_daemon):
    d = make_daemon()
    for name in phonesounds.NAMES:
        rv = requests.get(f"{base(d)}/sdk/sounds/{name}.wav", timeout=10, allow_redirects=False)
        assert rv.status_code == 200, (name, rv.text[:200])
        assert rv.headers["Content-Type"] == "audio/wav"
        assert rv.headers["Access-Control-Allow-Origin"] == "*"
        rate, pcm = decode(rv.content)
        assert rate == 8000 and pcm.size / rate == pytest.approx(phonesounds.DURATIONS[name])
        assert 1000 < np.abs(pcm).max() < 32767, name  # audible, not clipped
        if name.startswith("dtmf-"):
            key = {"star": "*", "hash": "#"}.get(name[5:], name[5:])
            # The appliance's own DTMF decoder hears exactly that key (200 ms, then silence).
            heard = DtmfDetector().feed(pcm.tobytes() + bytes(1600))
            assert heard == [key], (name, heard)
    durations = {n: phonesounds.DURATIONS[n] for n in ("incoming", "outgoing", "disconnect")}
    assert durations == {"incoming": 4.0, "outgoing": 3.0, "disconnect": 1.25}


def test_the_sounds_option_names_every_sdk_sound_at_this_appliance(make_daemon):
    d = make_daemon()
    rv = requests.get(base(d) + "/sdk/sounds.json", timeout=10, allow_redirects=False)
    assert rv.status_code == 200 and rv.headers["Content-Type"] == "application/json"
    sounds = rv.json()
    assert set(sounds) == SOUND_NAMES
    for key, url in sounds.items():
        assert url.startswith(base(d) + "/sdk/sounds/") and url.endswith(".wav"), (key, url)
        assert requests.get(url, timeout=10).status_code == 200
    assert sounds["dtmfs"].endswith("/dtmf-star.wav") and sounds["dtmfh"].endswith("/dtmf-hash.wav")


def test_unknown_names_and_traversal_get_nothing(make_daemon):
    d = make_daemon()
    for path in (
        "/sdk/sounds/nosuch.wav",
        "/sdk/sounds/dtmf-1.mp3",
        "/sdk/sounds/dtmf-A.wav",
        "/sdk/sounds/..%2F..%2Fpyproject.toml.wav",
        "/sdk/sounds/%2e%2e%2ftwilio.min.js.wav",
    ):
        rv = requests.get(base(d) + path, timeout=10, allow_redirects=False)
        assert rv.status_code == 404 and rv.headers["Content-Type"].startswith("text/plain"), path
        assert "the sounds are incoming.wav" in rv.text, path
    # Other paths under /sdk/ are no route: the panel's sign-in, never a file of web/sdk/.
    for path in (
        "/sdk/package.json",
        "/sdk/node_modules/@twilio/voice-sdk/dist/twilio.min.js",
        "/sdk/sounds/%2e%2e/twilio.min.js",
        "/sdk/sounds/",
    ):
        rv = requests.get(base(d) + path, timeout=10, allow_redirects=False)
        assert rv.status_code in (302, 404), (path, rv.status_code)
        assert b"Twilio.Device" not in rv.content and b'"dependencies"' not in rv.content, path
