"""<Play> fetching from a real HTTP server on 127.0.0.1: WAV, MP3, HTML, 404, slow servers."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from appliance.voice import tones
from appliance.voice.playback import AudioFetchError, fetch_audio, repeat, sniff
from appliance.webhooks.transport import Pools


def dominant_hz(pcm: bytes) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(float)
    spec = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(len(x), 1 / 8000)[spec.argmax()])


@pytest.fixture(scope="module")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A 44.1 kHz stereo WAV, an 8 kHz mono WAV and an MP3, all 1 s of 440 Hz, made by sox."""
    d = tmp_path_factory.mktemp("media")
    cd = str(d)
    subprocess.run(
        ["sox", "-n", "-r", "44100", "-c", "2", f"{cd}/cd.wav", "synth", "1", "sine", "440"],
        check=True,
    )
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            f"{cd}/tel.wav",
            "synth",
            "1",
            "sine",
            "440",
        ],
        check=True,
    )
    subprocess.run(["sox", f"{cd}/cd.wav", f"{cd}/tone.mp3"], check=True)
    return {name: Path(d, name).read_bytes() for name in ("cd.wav", "tel.wav", "tone.mp3")}


@pytest.fixture(scope="module")
def server(media_files: dict[str, bytes]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 with audio, HTML, 404 and slow routes."""
    routes: dict[str, tuple[int, str, bytes]] = {
        "/cd.wav": (200, "audio/x-wav", media_files["cd.wav"]),
        "/tel.wav": (200, "audio/wav", media_files["tel.wav"]),
        "/tone.mp3": (200, "audio/mpeg", media_files["tone.mp3"]),
        "/unlabelled": (200, "application/octet-stream", media_files["tone.mp3"]),
        "/page.html": (200, "text/html; charset=utf-8", b"<html><body>Not audio</body></html>"),
        "/fake.mp3": (200, "audio/mpeg", b"<html>this is not an mp3 at all</html>" * 10),
        "/empty": (200, "audio/wav", b""),
        "/ulaw": (200, "audio/basic", bytes([0xFF, 0x7F]) * 4000),
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == "/slow":
                time.sleep(3)
            if self.path == "/moved":  # a CDN's redirect
                self.send_response(302)
                self.send_header("Location", "/tel.wav")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path == "/drip":
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Content-Length", str(len(media_files["tel.wav"])))
                self.end_headers()
                try:
                    for i in range(0, 4000, 100):
                        self.wfile.write(media_files["tel.wav"][i : i + 100])
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:
                    pass
                return
            status, ctype, body = routes.get(self.path, (404, "text/plain", b"no such file"))
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("path", ["/cd.wav", "/tel.wav", "/tone.mp3", "/unlabelled"])
def test_wav_and_mp3_become_8khz_pcm(server: str, path: str) -> None:
    pcm = fetch_audio(server + path, timeout=10)
    assert len(pcm) % 2 == 0
    assert len(pcm) / 16000 == pytest.approx(1.0, abs=0.06)
    assert dominant_hz(pcm) == pytest.approx(440, abs=3)


def test_with_shared_pools(server: str) -> None:
    pools = Pools()
    try:
        assert len(fetch_audio(server + "/tel.wav", timeout=10, pools=pools)) == 16000
        assert len(fetch_audio(server + "/tel.wav", timeout=10, pools=pools)) == 16000
    finally:
        pools.close()


def test_a_redirect_is_followed(server: str) -> None:
    assert len(fetch_audio(server + "/moved", timeout=10)) == 16000


def test_ulaw_by_content_type(server: str) -> None:
    assert len(fetch_audio(server + "/ulaw", timeout=10)) == 16000


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/page.html", r"not audio \(text/html\); expected WAV or MP3"),
        ("/fake.mp3", r"not audio \(audio/mpeg\)"),
        ("/missing.wav", r"fetch failed: HTTP 404"),
        ("/empty", r"empty response body"),
    ],
)
def test_bad_bodies_are_clear_errors(server: str, path: str, message: str) -> None:
    with pytest.raises(AudioFetchError, match=message) as err:
        fetch_audio(server + path, timeout=10)
    assert err.value.url == server + path
    assert server + path in str(err.value)


def test_slow_server_times_out(server: str) -> None:
    start = time.monotonic()
    with pytest.raises(AudioFetchError, match="fetch failed: (ReadTimeoutError|ProtocolError)"):
        fetch_audio(server + "/slow", timeout=0.5)
    assert time.monotonic() - start < 2.5


def test_dripping_server_hits_the_overall_deadline(server: str) -> None:
    start = time.monotonic()
    with pytest.raises(AudioFetchError, match="timed out after 0.5 s"):
        fetch_audio(server + "/drip", timeout=0.5)
    assert time.monotonic() - start < 2.0


def test_unreachable_and_bad_urls() -> None:
    with pytest.raises(
        AudioFetchError, match="fetch failed: NewConnectionError: .*Connection refused"
    ):
        fetch_audio("http://127.0.0.1:9/x.wav", timeout=2)
    with pytest.raises(AudioFetchError, match="only http and https"):
        fetch_audio("file:///etc/passwd", timeout=2)
    with pytest.raises(AudioFetchError, match="fetch failed"):
        fetch_audio("http://exa mple.invalid:99999/x", timeout=2)


def test_corrupt_wav_is_a_clear_error(server: str) -> None:
    from appliance.voice.playback import decode

    with pytest.raises(AudioFetchError, match="not playable wav audio"):
        decode(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk", "wav", "http://x/y.wav")


def test_sniff_and_repeat() -> None:
    assert sniff(b"ID3\x03rest", "") == "mp3"
    assert sniff(b"\xff\xfb\x90\x00", "text/plain") == "mp3"
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ", "") == "wav"
    assert sniff(b"<html>", "text/html") is None
    assert sniff(b"\x00\x01", "audio/ulaw") == "ul"
    beep = tones.beep(100)
    assert list(repeat(beep, 3)) == [beep] * 3
    forever = repeat(beep, 0)
    assert [next(forever) for _ in range(10)] == [beep] * 10
    assert list(repeat(b"", 0)) == []


def test_decode_audio_of_a_body_in_hand(media_files: dict[str, bytes]) -> None:
    from appliance.voice.playback import decode_audio

    assert dominant_hz(decode_audio(media_files["tone.mp3"])) == pytest.approx(440, abs=3)
    assert len(decode_audio(media_files["tel.wav"], "audio/wav")) == 16000
    with pytest.raises(AudioFetchError, match=r"^not audio \(text/plain\); expected WAV or MP3$"):
        decode_audio(b"hello", "text/plain")
    with pytest.raises(AudioFetchError, match="empty"):
        decode_audio(b"")
