"""Media Streams benchmark (issue 15): latency both ways, gaps, CPU per stream, ``clear``.

``bench/run.py`` calls :func:`bench_streams` and puts :func:`rows` / :func:`notes` into
docs/benchmarks.md; ``python -m bench.streams`` runs it alone and prints the figures.

One inbound call on the simulated SIM800 (its audio pty paced at 20 ms by the simulator),
the daemon as ``appliance run`` builds it, and a real ``websockets`` bot on 127.0.0.1 that
the call's TwiML connects to with ``<Connect><Stream>``.  Every frame either side sends
is random noise, so each 20 ms frame is recognised where it arrives (bit-exact: the
caller's frames as μ-law at the bot, the bot's as PCM on the modem's pty).

* Caller → bot: from the simulator writing a frame to the audio pty (the frame is complete:
  its 20 ms have been spoken) to the bot receiving its ``media`` message: the latency the
  appliance adds beyond the frame itself.
* Bot → caller: the bot, its queue idle, sends a 60 ms reply at a random moment; from its
  ``send`` to the reply's first frame arriving on the modem's side of the pty (this includes
  the wait for the call's next 20 ms tick: Twilio's model, audio played in real time).
* Gaps: 60 s both ways at once; the caller speaks 3,000 frames; the bot sends 3,000 frames,
  paced, 100 ms ahead of real time (as a TTS-fed bot is).  Caller frames that never reached
  the bot, and silent frames (underruns) or lost frames inside the bot's audio on the line.
* CPU: the stream's threads (sender, receiver) and the call's flow thread (which only
  watches keys and the socket during ``<Connect>``), thread CPU clocks over the 60 s.
* ``clear``: the bot queues 1 s of audio, sends ``clear`` 200–500 ms later; from ``clear``
  to the first silent frame on the line.
"""

from __future__ import annotations

import base64
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from websockets.sync.server import ServerConnection, serve  # noqa: E402

from appliance.sim.voice import RemoteParty, Silence  # noqa: E402
from appliance.voice import mulaw  # noqa: E402
from bench.run import NUMBER, PHONE, make, percentile, sim_host  # noqa: E402
from tests.webapp import WebApp, twiml  # noqa: E402

FRAME = 320  # bytes of 8 kHz S16LE: 20 ms
ULAW_FRAME = 160
FRAME_S = 0.020
SECONDS = 60.0  # the bidirectional run
LEAD_FRAMES = 5  # the bot keeps 100 ms ahead of real time in that run
REPLIES = 50  # bot -> caller latency trials
REPLY_FRAMES = 3  # 60 ms each
CLEARS = 20


def noise(frames: int, seed: int) -> bytes:
    """Random PCM at about -20 dBFS: every 20 ms frame is different."""
    rng = np.random.default_rng(seed)
    x = np.clip(rng.normal(0, 3300, frames * FRAME // 2), -32768, 32767)
    return bytes(x.astype("<i2").tobytes())


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data) - size + 1, size)]


class Bot:
    """A Media Streams server: records what it gets, sends what the bench tells it to."""

    def __init__(self) -> None:
        self.ws: ServerConnection | None = None
        self.sid = ""
        self.started = threading.Event()
        self.inbound: list[tuple[float, bytes]] = []  # (arrival, μ-law payload)
        self.server = serve(self._handler, "127.0.0.1", 0, compression=None)
        self.port = self.server.socket.getsockname()[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self, ws: ServerConnection) -> None:
        self.ws = ws
        try:
            for raw in ws:
                at = time.monotonic()
                msg = json.loads(raw)
                event = msg.get("event")
                if event == "media" and msg["media"]["track"] == "inbound":
                    self.inbound.append((at, base64.b64decode(msg["media"]["payload"])))
                elif event == "start":
                    self.sid = msg["streamSid"]
                    self.started.set()
        except Exception:  # noqa: BLE001,S110 - the call ended: the socket closes
            pass

    def _send(self, msg: dict[str, Any]) -> float:
        text = json.dumps(msg)
        assert self.ws is not None
        at = time.monotonic()
        self.ws.send(text)
        return at

    def media(self, ulaw: bytes) -> float:
        """Send audio; the moment it was handed to the socket."""
        payload = base64.b64encode(ulaw).decode()
        return self._send({"event": "media", "streamSid": self.sid, "media": {"payload": payload}})

    def clear(self) -> float:
        return self._send({"event": "clear", "streamSid": self.sid})

    def close(self) -> None:
        self.server.shutdown()


def thread_cpu(prefixes: tuple[str, ...]) -> dict[int, float]:
    """CPU seconds of each live thread whose name starts with one of ``prefixes``."""
    out: dict[int, float] = {}
    for t in threading.enumerate():
        if t.ident is not None and t.name.startswith(prefixes):
            try:
                out[t.ident] = time.clock_gettime(time.pthread_getcpuclockid(t.ident))
            except OSError:
                pass
    return out


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[k] - before[k] for k in after if k in before)


def heard_frames(remote: Any) -> tuple[list[bytes], list[float]]:
    frames = split(remote.heard(), FRAME)
    return frames, remote.frame_times()[: len(frames)]


def bench_streams(seconds: float = SECONDS) -> dict[str, float]:
    n = int(seconds / FRAME_S)
    rng = np.random.default_rng(15)
    with tempfile.TemporaryDirectory() as tdir:
        tmp = Path(tdir)
        sim = sim_host(tmp, 0.0)
        app, bot = WebApp(), Bot()
        app.routes["/voice"] = twiml(
            f'<Response><Connect><Stream url="ws://127.0.0.1:{bot.port}/bench"/></Connect></Response>'
        )
        modem = sim.modems["modem1"]
        written: dict[bytes, float] = {}  # caller frame as μ-law -> when the pty got it
        recording = [False]
        downlink = modem.voice_downlink

        def tapped() -> tuple[bytes | None, list[Any]]:
            frame, starts = downlink()
            at = time.monotonic()
            if frame is not None and recording[0]:
                written.setdefault(mulaw.encode(frame), at)
            return frame, starts

        modem.voice_downlink = tapped  # type: ignore[method-assign]
        d = make(
            tmp,
            sim,
            modems=[
                {
                    "name": "modem1",
                    "number": NUMBER,
                    "port": str(modem.port_path),
                    "profile": modem.profile.family,
                    "voice_url": app.url("/voice"),
                    "audio_port": str(modem.audio_path),
                }
            ],
        )
        try:
            remote = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(900)]))
            if not bot.started.wait(30):
                raise RuntimeError("the stream never started")
            time.sleep(1.0)  # the call's audio settles

            # -- 60 s both ways ---------------------------------------------------------
            caller = noise(n, 1)
            caller_keys = {mulaw.encode(f) for f in split(caller, FRAME)}
            bot_ulaw = split(mulaw.encode(noise(n, 2)), ULAW_FRAME)
            bot_index = {mulaw.decode(u): i for i, u in enumerate(bot_ulaw)}
            heard_from = len(remote.heard()) // FRAME
            recording[0] = True
            watched = ("stream-", "call ")
            cpu0, wall0 = thread_cpu(watched), time.monotonic()
            media0 = thread_cpu(("media-",))
            remote.play(caller)
            t0 = time.monotonic()
            for i, chunk in enumerate(bot_ulaw):
                delay = t0 + (i - LEAD_FRAMES) * FRAME_S - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                bot.media(chunk)
            remote.wait_played(timeout=seconds)
            time.sleep(0.5)
            cpu1, wall1 = thread_cpu(watched), time.monotonic()
            media1 = thread_cpu(("media-",))
            recording[0] = False

            inbound = [(at, u) for at, u in bot.inbound if u in caller_keys]
            to_bot = [(at - written[u]) * 1000 for at, u in inbound if u in written]
            arrivals = [at for at, _ in inbound]
            frames, times = heard_frames(remote)
            positions = [
                (k, bot_index[f]) for k, f in enumerate(frames[heard_from:]) if f in bot_index
            ]
            first, last = positions[0][0], positions[-1][0]
            underruns = (last - first + 1) - len(positions)
            out_of_order = sum(
                1 for a, b in zip(positions, positions[1:], strict=False) if b[1] != a[1] + 1
            )

            # -- replies: bot -> caller with nothing queued ------------------------------------
            replies: list[tuple[bytes, float]] = []
            for k in range(REPLIES):
                time.sleep(float(rng.uniform(0.15, 0.35)))
                ulaw = mulaw.encode(noise(REPLY_FRAMES, 100 + k))
                replies.append((mulaw.decode(ulaw[:ULAW_FRAME]), bot.media(ulaw)))
            time.sleep(0.5)
            frames, times = heard_frames(remote)
            arrived = {f: times[k] for k, f in enumerate(frames)}
            to_caller = [(arrived[key] - sent) * 1000 for key, sent in replies if key in arrived]

            # -- clear -> silence -----------------------------------------------------------
            clears: list[tuple[set[bytes], float]] = []
            for k in range(CLEARS):
                ulaw = mulaw.encode(noise(50, 1000 + k))
                bot.media(ulaw)
                time.sleep(float(rng.uniform(0.2, 0.5)))
                clears.append(({mulaw.decode(u) for u in split(ulaw, ULAW_FRAME)}, bot.clear()))
                time.sleep(0.3)
            time.sleep(0.3)
            frames, times = heard_frames(remote)
            to_silence: list[float] = []
            leaked = 0
            for keys, at in clears:
                after = [k for k, t in enumerate(times) if t >= at]
                quiet = next((k for k in after if frames[k] not in keys), None)
                if quiet is not None:
                    to_silence.append((times[quiet] - at) * 1000)
                    leaked += sum(1 for k in after if k > quiet and frames[k] in keys)
            remote.hangup()
        finally:
            d.stop()
            bot.close()
            app.close()
            sim.stop()
    gaps = [(b - a) * 1000 for a, b in zip(arrivals, arrivals[1:], strict=False)]
    wall = wall1 - wall0
    return {
        "seconds": seconds,
        "frames": float(n),
        "to_bot_n": float(len(to_bot)),
        "to_bot_p50_ms": statistics.median(to_bot),
        "to_bot_p99_ms": percentile(to_bot, 99),
        "to_bot_max_ms": max(to_bot),
        "to_bot_missing": float(n - len(inbound)),
        "to_bot_max_gap_ms": max(gaps),
        "to_caller_n": float(len(to_caller)),
        "to_caller_p50_ms": statistics.median(to_caller),
        "to_caller_p99_ms": percentile(to_caller, 99),
        "to_caller_max_ms": max(to_caller),
        "underruns": float(underruns),
        "bot_frames_lost": float(n - len(positions)),
        "out_of_order": float(out_of_order),
        "cpu_percent": cpu_delta(cpu0, cpu1) / wall * 100,
        "media_cpu_percent": cpu_delta(media0, media1) / wall * 100,
        "clear_n": float(len(to_silence)),
        "clear_p50_ms": statistics.median(to_silence),
        "clear_max_ms": max(to_silence),
        "clear_leaked": float(leaked),
    }


def rows(s: dict[str, float]) -> list[tuple[str, str, str, str]]:
    def ok(flag: bool) -> str:
        return "meets" if flag else "**misses**"

    gaps = s["to_bot_missing"] + s["underruns"] + s["bot_frames_lost"] + s["out_of_order"]
    return [
        (
            "Media Stream: caller audio → bot, added beyond the 20 ms frame, p99",
            "≤ 30 ms",
            f"{s['to_bot_p99_ms']:.1f} ms (p50 {s['to_bot_p50_ms']:.1f}, max {s['to_bot_max_ms']:.1f})",
            ok(s["to_bot_p99_ms"] <= 30),
        ),
        (
            "Media Stream: bot audio → caller (idle queue), p99",
            "≤ 40 ms",
            f"{s['to_caller_p99_ms']:.1f} ms (p50 {s['to_caller_p50_ms']:.1f},"
            f" max {s['to_caller_max_ms']:.1f})",
            ok(s["to_caller_p99_ms"] <= 40),
        ),
        (
            f"Media Stream: gaps and underruns in {s['seconds']:.0f} s both ways",
            "0",
            f"{gaps:.0f}",
            ok(gaps == 0),
        ),
        (
            "Media Stream: CPU per stream",
            "≤ 5 % of a core",
            f"{s['cpu_percent']:.2f} %",
            ok(s["cpu_percent"] <= 5),
        ),
        (
            "Media Stream: `clear` → silence on the line, max",
            "≤ 40 ms (the next frame)",
            f"{s['clear_max_ms']:.1f} ms (p50 {s['clear_p50_ms']:.1f})",
            ok(s["clear_max_ms"] <= 40 and s["clear_leaked"] == 0),
        ),
    ]


def notes(s: dict[str, float]) -> list[str]:
    return [
        "- Media Streams (issue 15): one inbound call on the simulated SIM800 connected by"
        " `<Connect><Stream>` to a `websockets` bot on",
        "  127.0.0.1; every frame is random noise, so each is recognised bit-exact where it"
        " arrives. Caller → bot: from the",
        "  simulator writing the frame to the audio pty to the bot receiving its `media`"
        f" ({s['to_bot_n']:.0f} frames). Bot → caller: {s['to_caller_n']:.0f} replies",
        "  of 60 ms sent at random moments with nothing queued, from `send` to the first frame"
        " on the modem's side of the pty",
        "  (includes the wait for the call's next 20 ms tick). Gaps: for"
        f" {s['seconds']:.0f} s the caller speaks and the bot sends {s['frames']:.0f} frames",
        f"  paced 100 ms ahead: {s['to_bot_missing']:.0f} caller frames missing at the bot"
        f" (longest pause between arrivals {s['to_bot_max_gap_ms']:.1f} ms),",
        f"  {s['underruns']:.0f} silent frames inside the bot's audio on the line,"
        f" {s['bot_frames_lost']:.0f} of its frames lost, {s['out_of_order']:.0f} out of order."
        " CPU: thread CPU clocks of",
        "  the stream's sender and receiver and of the call's flow thread over the run (the"
        " call's media threads, which run",
        f"  with or without a stream: {s['media_cpu_percent']:.2f} %). `clear`:"
        f" {s['clear_n']:.0f} times, 1 s queued, `clear` after 200–500 ms; to the first silent",
        f"  frame on the line; {s['clear_leaked']:.0f} frames of cleared audio heard after it.",
    ]


if __name__ == "__main__":
    print(json.dumps(bench_streams(), indent=1))
