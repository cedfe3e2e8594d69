"""CPU of one browser call's media on the appliance's side, PCMU and Opus (issue 13).

``python -m bench.webrtc [seconds]`` prints the figures (not yet part of ``make bench`` or
docs/benchmarks.md: the browser-call benchmarks land with the calls themselves).

The appliance's side runs in this process exactly as a call will use it: the media loop
(:mod:`appliance.clients.medialoop`, host candidates on 127.0.0.1), one
:class:`~appliance.clients.peer.Peer` answering the "browser's" offer (sent without
candidates, as the Voice SDK does), and its :class:`~appliance.clients.audioport.WebRtcAudioPort`
written by a 20 ms writer thread (a 1 kHz tone, as ``Media`` would write call audio) and read
by a reader thread.  The browser is another aiortc peer in a child process, so its encoding
and decoding are not counted.  The figure is this process's CPU time over the measured window
divided by its wall time: % of one core.  Not counted: ``Media``'s own threads, the DTMF
detector and the bridge, which a browser call adds on top as a modem call has them.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance.clients import medialoop, offer  # noqa: E402
from appliance.clients.audioport import FRAME_BYTES, WebRtcAudioPort  # noqa: E402
from appliance.clients.peer import Peer  # noqa: E402
from appliance.voice import tones  # noqa: E402

ADDRESS = "127.0.0.1"
WARM_UP = 2.0


def _strip(sdp: str) -> str:
    return "".join(
        line + "\r\n"
        for line in sdp.splitlines()
        if line and not line.startswith(("a=candidate:", "a=end-of-candidates"))
    )


def _audio(port: WebRtcAudioPort, stop: threading.Event) -> list[threading.Thread]:
    """A 20 ms writer of a 1 kHz tone and a reader that drains the port (as Media does)."""
    tone = tones.beep(1000, 1000, -10.0)

    def write() -> None:
        start, n = time.monotonic(), 0
        while not stop.is_set():
            i = (n * FRAME_BYTES) % len(tone)
            port.write(tone[i : i + FRAME_BYTES])
            n += 1
            time.sleep(max(0.0, start + n * 0.02 - time.monotonic()))

    def read() -> None:
        while not stop.is_set():
            port.read(FRAME_BYTES, 0.1)

    threads = [threading.Thread(target=f, daemon=True) for f in (write, read)]
    for t in threads:
        t.start()
    return threads


def _browser(conn: multiprocessing.connection.Connection, codecs: tuple[str, ...]) -> None:
    media = medialoop.MediaLoop([ADDRESS])
    loop = media.start()
    peer = Peer(WebRtcAudioPort(loop), name="browser", codecs=codecs)
    conn.send(_strip(media.submit(peer.offer()).result(10)))
    media.submit(peer.accept(conn.recv())).result(10)
    stop = threading.Event()
    _audio(peer.port, stop)
    conn.recv()  # the end
    stop.set()
    media.submit(peer.close()).result(10)
    media.stop()
    conn.send(peer.port.received)


def one_call(codecs: tuple[str, ...], seconds: float) -> dict[str, float | str]:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    child = ctx.Process(target=_browser, args=(theirs, codecs), daemon=True)
    child.start()
    media = medialoop.MediaLoop([ADDRESS])
    loop = media.start()
    peer = Peer(WebRtcAudioPort(loop), name="appliance")
    try:
        checked = offer.check(ours.recv())
        ours.send(media.submit(peer.answer(checked.sdp)).result(10))
        stop = threading.Event()
        threads = _audio(peer.port, stop)
        time.sleep(WARM_UP)
        cpu0, wall0, got0 = time.process_time(), time.monotonic(), peer.port.received
        time.sleep(seconds)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
        got = peer.port.received - got0
        stop.set()
        for t in threads:
            t.join(2)
        ours.send("end")
        sent_to_browser = ours.recv()
        codec = peer.codec or "?"
    finally:
        media.submit(peer.close()).result(10)
        media.stop()
        child.join(10)
    return {
        "codec": codec,
        "cpu_percent": round(100 * cpu / wall, 1),
        "received_seconds": round(got / 16000, 2),
        "window_seconds": round(wall, 2),
        "browser_received_seconds": round(sent_to_browser / 16000, 2),
    }


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    for codecs in (("audio/PCMU",), ("audio/opus",)):
        print(one_call(codecs, seconds), flush=True)


if __name__ == "__main__":
    main()
