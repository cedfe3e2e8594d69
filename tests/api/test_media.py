"""Recording media (issue 11): public by default as on Twilio, with the docs, the panel
and a start-up warning saying so; the audio is found with the default relative
``data_dir = "var"`` whatever form its stored path has."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import requests

from appliance import config, server
from tests.api.test_calls import insert_call, insert_recording, raw, write_wav

DOCS = Path(__file__).resolve().parents[2] / "docs"


def panel_client(d):
    """A panel test client with a signed-in session."""
    client = d.server.panel.test_client()
    with client.session_transaction() as session:
        session["user"] = "admin"
    return client


# --------------------------------------------------------------------------- public or not


@pytest.mark.parametrize(
    ("host", "media_auth", "exposed"),
    [
        ("127.0.0.1", False, False),
        ("127.0.1.1", False, False),
        ("::1", False, False),
        ("localhost", False, False),
        ("0.0.0.0", False, True),
        ("::", False, True),
        ("", False, True),
        ("192.168.1.20", False, True),
        ("raspberrypi.local", False, True),
        ("0.0.0.0", True, False),
    ],
)
def test_media_exposed_only_beyond_loopback_without_media_auth(host, media_auth, exposed):
    assert server.media_exposed(host, media_auth) is exposed


@pytest.mark.parametrize(
    ("host", "media_auth", "warned"),
    [("0.0.0.0", False, True), ("0.0.0.0", True, False), ("127.0.0.1", False, False)],
)
def test_start_up_warns_when_media_are_public_beyond_loopback(
    sim, make_daemon, caplog, host, media_auth, warned
):
    caplog.set_level(logging.WARNING)
    make_daemon(http_host=host, recording_media_auth=media_auth)
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and "recording_media_auth" in r.getMessage()
    ]
    assert bool(warnings) is warned, [r.getMessage() for r in caplog.records]
    if warned:
        assert host in warnings[0].getMessage()


def test_docs_default_and_panel_agree_that_media_are_public(sim, make_daemon):
    # The default is Twilio's: media URLs work without credentials.
    assert config.load(None, environ={}).recording_media_auth is False
    doc = (DOCS / "api.md").read_text()
    recordings = doc[doc.index("## Recordings") :]
    recordings = recordings[: recordings.index("\n## ", 1)]
    assert "recording_media_auth" in recordings
    assert "public by default" in recordings
    assert "needs the same Basic auth" not in recordings

    d = make_daemon()
    call_sid = insert_call(d, status="completed")
    recordings_dir = d.config.data_dir / "recordings"
    write_wav(recordings_dir / "a.wav")
    insert_recording(d, call_sid, recordings_dir / "a.wav")
    assert (
        requests.get(
            f"http://127.0.0.1:{d.server.port}/2010-04-01/Accounts/{d.account.sid}"
            f"/Recordings/{d.store.read_one('SELECT sid FROM recordings')[0]}.wav",
            timeout=10,
        ).status_code
        == 200
    )
    html = panel_client(d).get(f"/calls/{call_sid}").get_data(as_text=True)
    assert "recording_media_auth" in html and "public" in html


def test_panel_says_nothing_of_public_media_when_they_need_auth(sim, make_daemon):
    d = make_daemon(recording_media_auth=True)
    call_sid = insert_call(d, status="completed")
    write_wav(d.config.data_dir / "recordings" / "a.wav")
    insert_recording(d, call_sid, d.config.data_dir / "recordings" / "a.wav")
    html = panel_client(d).get(f"/calls/{call_sid}").get_data(as_text=True)
    assert "recording_media_auth" not in html


# --------------------------------------------------------------------------- where the file is


def test_audio_is_served_with_the_default_relative_data_dir(
    sim, make_daemon, tmp_path, monkeypatch
):
    """``data_dir = "var"`` (the default), relative to the daemon's working directory.

    The voice engine stores ``recordings_dir / name`` with ``recordings_dir =
    data_dir / "recordings"``, i.e. ``var/recordings/RE….wav`` (the old form, which
    existing databases hold); paths relative to ``data_dir`` (``recordings/RE….wav``),
    bare file names and absolute paths are found too, by the API and the panel."""
    monkeypatch.chdir(tmp_path)
    d = make_daemon(data_dir=config.load(None, environ={}).data_dir)
    assert d.config.data_dir == Path("var") and not d.config.data_dir.is_absolute()
    recordings_dir = d.config.data_dir / "recordings"  # as appliance/daemon.py wires it
    call_sid = insert_call(d, status="completed")
    stored = {
        "written by the voice engine": recordings_dir / "engine.wav",
        "relative to data_dir": Path("recordings") / "relative.wav",
        "a bare file name": Path("bare.wav"),
        "absolute": (recordings_dir / "absolute.wav").resolve(),
    }
    sids = {}
    audio = {}
    for i, (what, path) in enumerate(stored.items()):
        audio[what] = write_wav(recordings_dir / path.name, seconds=0.2 + i / 10)
        sids[what] = insert_recording(d, call_sid, path)
    assert str(stored["written by the voice engine"]).startswith("var/")
    panel = panel_client(d)
    for what, sid in sids.items():
        for suffix in ("", ".wav"):
            rv = raw(d, "GET", f"/Recordings/{sid}{suffix}")
            assert rv.status_code == 200, (what, rv.text)
            assert rv.content == audio[what], what
        rv = panel.get(f"/calls/recordings/{sid}.wav")
        assert rv.status_code == 200, what
        assert rv.get_data() == audio[what], what
    # Deleting removes the file it served, not a file at a path that does not exist.
    engine = recordings_dir / "engine.wav"
    assert (
        raw(d, "DELETE", f"/Recordings/{sids['written by the voice engine']}.json").status_code
        == 204
    )
    assert not engine.exists()


def test_panel_serves_nothing_outside_data_dir(sim, make_daemon, tmp_path):
    d = make_daemon()
    outside = tmp_path / "outside.wav"
    write_wav(outside)
    call_sid = insert_call(d, status="completed")
    for path in (outside, "../../outside.wav", "../outside.wav"):
        sid = insert_recording(d, call_sid, path)
        assert panel_client(d).get(f"/calls/recordings/{sid}.wav").status_code == 404, path
