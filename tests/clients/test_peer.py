"""Browser legs' media (appliance.clients.peer, audioport, medialoop): aiortc against aiortc
on 127.0.0.1, the "browser" sending its SDP without candidates as the Voice SDK does, and a
1 kHz tone both ways, measured with Goertzel, in PCMU and in Opus."""

from __future__ import annotations

import re
import threading
import time

import pytest

from appliance.clients import medialoop, offer
from appliance.clients.audioport import FRAME_BYTES, WebRtcAudioPort
from appliance.clients.peer import Peer
from appliance.voice import tones
from tests.clients.audiocheck import goertzel_dbfs

pytestmark = pytest.mark.timeout(60)

ADDRESS = "127.0.0.1"  # aioice leaves loopback out unless webrtc_addresses names it
SECONDS = 1.6


@pytest.fixture
def media():
    loop = medialoop.MediaLoop([ADDRESS])
    loop.start()
    yield loop
    loop.stop()


def as_the_sdk_sends_it(sdp: str) -> str:
    """The SDK sends its SDP when setLocalDescription resolves: no candidates, no trickle."""
    return "".join(
        line + "\r\n"
        for line in sdp.splitlines()
        if line and not line.startswith(("a=candidate:", "a=end-of-candidates"))
    )


def candidates(sdp: str) -> list[str]:
    return re.findall(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) ", sdp, re.M)


def talk(port: WebRtcAudioPort, stop: threading.Event) -> threading.Thread:
    """A 1 kHz tone at -10 dBFS written in 20 ms frames on a 20 ms clock (as Media does)."""
    tone = tones.beep(1000, 1000, -10.0)  # a whole number of cycles: it loops seamlessly

    def run() -> None:
        start, n = time.monotonic(), 0
        while not stop.is_set():
            i = (n * FRAME_BYTES) % len(tone)
            port.write(tone[i : i + FRAME_BYTES])
            n += 1
            time.sleep(max(0.0, start + n * 0.02 - time.monotonic()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def listen(port: WebRtcAudioPort, seconds: float, out: list[bytes]) -> threading.Thread:
    def run() -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            out.append(port.read(FRAME_BYTES, 0.1))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def two_way_tone(media, appliance: Peer, browser: Peer) -> tuple[bytes, bytes]:
    """What each side heard in its last second while the other sent a 1 kHz tone."""
    stop = threading.Event()
    heard_by: dict[str, list[bytes]] = {"appliance": [], "browser": []}
    threads = [talk(appliance.port, stop), talk(browser.port, stop)]
    threads += [
        listen(appliance.port, SECONDS, heard_by["appliance"]),
        listen(browser.port, SECONDS, heard_by["browser"]),
    ]
    for t in threads[2:]:
        t.join(SECONDS + 5)
    stop.set()
    for t in threads[:2]:
        t.join(5)
    last_second = 8000 * 2
    return (
        b"".join(heard_by["appliance"])[-last_second:],
        b"".join(heard_by["browser"])[-last_second:],
    )


def assert_a_clear_tone(pcm: bytes, who: str) -> None:
    assert len(pcm) == 16000, f"{who} heard {len(pcm)} bytes in its last second"
    level, beside = goertzel_dbfs(pcm, 1000), goertzel_dbfs(pcm, 1500)
    assert level > -16, f"{who}: 1 kHz at {level:.1f} dBFS (sent at -10)"
    assert level - beside > 25, f"{who}: 1 kHz {level:.1f} dBFS, 1.5 kHz {beside:.1f} dBFS"


def close(media, *peers: Peer) -> None:
    for p in peers:
        media.submit(p.close()).result(10)


@pytest.mark.parametrize(
    ("codecs", "codec"), [(("audio/PCMU", "audio/opus"), "PCMU"), (("audio/opus",), "opus")]
)
def test_a_browser_call_carries_a_tone_both_ways(media, codecs, codec):
    """The browser offers (a call from the browser): the appliance answers with its own
    candidates only, and learns the browser's address from its ICE checks."""
    loop = media.start()
    appliance = Peer(WebRtcAudioPort(loop), name="appliance")
    browser = Peer(WebRtcAudioPort(loop), name="browser", codecs=codecs)
    try:
        sent = as_the_sdk_sends_it(media.submit(browser.offer()).result(10))
        assert candidates(sent) == []
        checked = offer.check(sent)
        answer = media.submit(appliance.answer(checked.sdp)).result(10)
        # webrtc_addresses: the appliance offers exactly the configured address
        assert candidates(answer) and set(candidates(answer)) == {ADDRESS}
        media.submit(browser.accept(answer)).result(10)
        heard_by_appliance, heard_by_browser = two_way_tone(media, appliance, browser)
        assert appliance.codec == browser.codec == codec
        assert_a_clear_tone(heard_by_appliance, "the appliance")
        assert_a_clear_tone(heard_by_browser, "the browser")
        assert appliance.ended is None and browser.ended is None
    finally:
        close(media, appliance, browser)


def test_the_appliance_rings_a_browser_whose_answer_has_no_candidates(media):
    """The appliance offers (a <Client> ring): the browser's answer comes without candidates
    and with an mDNS one Chrome might have put in, which is dropped; no mDNS lookup happens."""
    loop = media.start()
    appliance = Peer(WebRtcAudioPort(loop), name="appliance")
    browser = Peer(WebRtcAudioPort(loop), name="browser")
    try:
        made = media.submit(appliance.offer()).result(10)
        assert set(candidates(made)) == {ADDRESS}
        assert "telephone-event" not in made and "PCMU/8000" in made and "opus/48000" in made
        answer = as_the_sdk_sends_it(media.submit(browser.answer(made)).result(10))
        answer += (
            "a=candidate:1 1 udp 2122260223 0b9c3f2e-1d2c-4d5e-8f90-a1b2c3d4e5f6.local"
            " 50000 typ host generation 0\r\n"
        )
        checked = offer.check(answer, kind="answer")
        assert checked.dropped == 1 and ".local" not in checked.sdp
        media.submit(appliance.accept(checked.sdp)).result(10)
        heard_by_appliance, heard_by_browser = two_way_tone(media, appliance, browser)
        assert_a_clear_tone(heard_by_appliance, "the appliance")
        assert_a_clear_tone(heard_by_browser, "the browser")
        assert appliance.codec == "PCMU"

        async def mdns_used() -> bool:
            from aioice import ice

            return getattr(ice._mdns, "protocol", None) is not None

        assert media.submit(mdns_used()).result(5) is False
    finally:
        close(media, appliance, browser)


def connected(media, loop) -> tuple[Peer, Peer, list[str]]:
    ended: list[str] = []
    appliance = Peer(WebRtcAudioPort(loop), on_end=ended.append, name="appliance")
    browser = Peer(WebRtcAudioPort(loop), name="browser")
    sent = as_the_sdk_sends_it(media.submit(browser.offer()).result(10))
    answer = media.submit(appliance.answer(offer.check(sent).sdp)).result(10)
    media.submit(browser.accept(answer)).result(10)
    heard: list[bytes] = []
    listen(appliance.port, 0.5, heard).join(5)
    assert b"".join(heard)  # media flowed (silence from the browser)
    return appliance, browser, ended


def wait_until(ended: list[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not ended and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_browser_that_closes_its_side_ends_the_leg_once(media):
    appliance, browser, ended = connected(media, media.start())
    try:
        media.submit(browser.close()).result(10)  # DTLS close_notify
        wait_until(ended, 10)
        assert ended == ["closed"] and appliance.port.closed is False
        media.submit(appliance.close()).result(10)
        assert ended == ["closed"]  # the appliance's own close reports nothing more
    finally:
        close(media, appliance, browser)


def test_a_browser_that_vanishes_ends_the_leg_when_consent_expires(media, monkeypatch):
    """A lost network or a killed tab says nothing: aioice's consent checks (RFC 7675) go
    unanswered and the leg ends (every 5 s, 6 times in production; faster here)."""
    from aioice import ice

    monkeypatch.setattr(ice, "CONSENT_INTERVAL", 0.2)
    appliance, browser, ended = connected(media, media.start())
    try:

        async def vanish() -> None:  # the browser's sockets close without a DTLS goodbye
            assert browser.pc is not None
            dtls = browser.pc.getTransceivers()[0].receiver.transport
            for protocol in dtls.transport._connection._protocols:
                protocol.transport.close()

        media.submit(vanish()).result(5)
        wait_until(ended, 20)
        assert ended == ["closed"]
    finally:
        close(media, appliance, browser)
