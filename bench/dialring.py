"""Parallel ringing benchmark (issue 14): one ``<Dial>`` with four ``<Number>`` nouns on four modems.

``bench/run.py`` calls :func:`bench_dialring` and puts :func:`rows` / :func:`notes` into
docs/benchmarks.md; ``python -m bench.dialring`` runs it alone and prints the figures.

Five simulated modems on real ptys (the caller's SIM800 and four callee modems of four
families: SIM7600, SIM800, Quectel EC25, Huawei E173) under one daemon.  Each round an
inbound call gets ``<Dial>`` with four numbers as its only verb; one callee answers after
2 s, the others never do.  Measured with the simulator's own monotonic clocks:

* Dial → every leg dialled: from the caller's answer (the ``<Dial>`` starts right after
  it, once the call's audio is up: an upper bound) to the last leg's ``ATD`` reaching its
  simulated modem;
* Dial → every leg ringing: the same, to the last leg alerting (includes the simulated
  network's alerting delay of each family);
* winner's answer → losers hung up: from the answer of the winning callee to the last of
  the other three legs released by the appliance's ``AT+CHUP``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from appliance import config  # noqa: E402
from appliance.daemon import Daemon  # noqa: E402
from appliance.sim.call import STAT_ALERTING  # noqa: E402
from appliance.sim.host import SimulatorHost  # noqa: E402
from appliance.sim.voice import RemoteParty, Silence, SimCall  # noqa: E402
from tests.webapp import WebApp, twiml  # noqa: E402

NUMBER = "+15005550006"
CALLER = "+14155550100"
CALLEES = ["+14155550181", "+14155550182", "+14155550183", "+14155550184"]
FAMILIES = ["sim7600", "sim800", "quectel_ec25", "huawei_e173"]
ROUNDS = 8
TARGET_S = 1.0  # issue 14: every leg starts within 1 s of the <Dial>


def _daemon(tmp: Path, host: SimulatorHost, app: WebApp) -> Daemon:
    modems = [
        {
            "name": name,
            "number": m.number,
            "port": str(m.port_path),
            "profile": m.profile.family,
            "audio_port": str(m.audio_path),
            "voice_url": app.url("/voice"),
        }
        for name, m in host.modems.items()
    ]
    cfg = config.load(
        None,
        environ={},
        overrides={
            "data_dir": str(tmp / "data"),
            "http_port": 0,
            "https_port": 0,
            "outbound_rate": 0.0,
            "sweep_interval": 60.0,
            "health_interval": 60.0,
            "modems": modems,
        },
    )
    d = Daemon(cfg)
    d.start()
    for m in d.modems.values():
        assert m.connected.wait(15)
    return d


def _round(host: SimulatorHost, timeout: float = 30.0) -> dict[str, float]:
    before = len(host.network.calls)
    caller = host.network.incoming_call("modem1", CALLER, party=RemoteParty([Silence(30)]))
    alerted: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    legs: list[SimCall] = []
    while time.monotonic() < deadline:
        legs = [c for c in host.network.calls[before:] if c.direction == "outbound"]
        now = time.monotonic()
        for c in legs:
            if c.id not in alerted and (c.stat == STAT_ALERTING or c.answered_at is not None):
                alerted[c.id] = now
        if len(legs) == len(CALLEES) and all(c.state == "ended" for c in legs):
            break
        time.sleep(0.002)
    caller.hangup()
    caller.wait_state("ended", timeout=10)
    winner = [c for c in legs if c.answered_at is not None]
    losers = [c for c in legs if c.answered_at is None]
    if caller.answered_at is None or len(winner) != 1 or len(legs) != len(CALLEES):
        raise RuntimeError(f"round went wrong: {legs}")
    ends = [c.ended_at for c in losers if c.ended_at is not None]
    return {
        "dialled_s": max(c.created_at for c in legs) - caller.answered_at,
        "ringing_s": max(alerted.values()) - caller.answered_at,
        "losers_s": max(ends) - (winner[0].answered_at or 0.0),
    }


def bench_dialring(rounds: int = ROUNDS) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tdir:
        tmp = Path(tdir)
        host = SimulatorHost(tmp / "sim", report_status=None)
        host.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0)
        for i, family in enumerate(FAMILIES):
            host.add(f"modem{i + 2}", family, f"+1500555002{i}", latency=0.005, boot_delay=0.0)
        host.start()
        while not all(m.booted for m in host.modems.values()):
            time.sleep(0.01)
        app = WebApp()
        numbers = "".join(f"<Number>{n}</Number>" for n in CALLEES)
        app.routes["/voice"] = twiml(
            f'<Response><Dial timeout="20" timeLimit="1">{numbers}</Dial></Response>'
        )
        host.network.set_callee(CALLEES[0], outcome="answer", answer_after=2.0)
        for n in CALLEES[1:]:
            host.network.set_callee(n, outcome="no-answer")
        d = _daemon(tmp, host, app)
        results: list[dict[str, float]] = []
        try:
            for _ in range(rounds):
                results.append(_round(host))
                time.sleep(1.0)  # every modem idle again
        finally:
            d.stop()
            app.close()
            host.stop()

    def col(key: str) -> list[float]:
        return [r[key] for r in results]

    return {
        "rounds": float(len(results)),
        "legs": float(len(CALLEES)),
        "dialled_p50_ms": statistics.median(col("dialled_s")) * 1000,
        "dialled_max_ms": max(col("dialled_s")) * 1000,
        "ringing_p50_ms": statistics.median(col("ringing_s")) * 1000,
        "ringing_max_ms": max(col("ringing_s")) * 1000,
        "losers_p50_ms": statistics.median(col("losers_s")) * 1000,
        "losers_max_ms": max(col("losers_s")) * 1000,
    }


def rows(s: dict[str, float]) -> list[tuple[str, str, str, str]]:
    def ok(flag: bool) -> str:
        return "meets" if flag else "**misses**"

    return [
        (
            f"Parallel ringing: `<Dial>` → all {s['legs']:.0f} legs dialled, max",
            "≤ 1 s",
            f"{s['dialled_max_ms']:.0f} ms (p50 {s['dialled_p50_ms']:.0f})",
            ok(s["dialled_max_ms"] <= TARGET_S * 1000),
        ),
        (
            f"Parallel ringing: `<Dial>` → all {s['legs']:.0f} legs ringing, max",
            "(information)",
            f"{s['ringing_max_ms']:.0f} ms (p50 {s['ringing_p50_ms']:.0f})",
            "",
        ),
        (
            "Parallel ringing: winner's answer → the other legs hung up, max",
            "(information)",
            f"{s['losers_max_ms']:.0f} ms (p50 {s['losers_p50_ms']:.0f})",
            "",
        ),
    ]


def notes(s: dict[str, float]) -> list[str]:
    return [
        f"- Parallel ringing (issue 14): {s['rounds']:.0f} inbound calls on the simulated SIM800,"
        f" each answered with one `<Dial>` of {s['legs']:.0f} `<Number>` nouns rung on",
        "  four more simulated modems (SIM7600, SIM800, Quectel EC25, Huawei E173) under the"
        " same daemon; one callee answers after 2 s.",
        "  From the caller's answer (the `<Dial>` is the first verb: an upper bound) to the last"
        " leg's `ATD` at its modem, and to the last",
        "  leg alerting (this adds each family's simulated alerting delay); from the winner's"
        " answer to the last loser released by `AT+CHUP`.",
    ]


if __name__ == "__main__":
    print(json.dumps(bench_dialring(), indent=1))
