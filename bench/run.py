"""Benchmarks for the SMS foundation.  ``make bench`` runs them and rewrites docs/benchmarks.md.

* inbound latency: the simulated modem's ``+CMTI`` leaving the pty -> the webhook
  request arriving at a real app on 127.0.0.1 (send latency 0).
* outbound with T = 1 s per ``AT+CMGS``: fraction of the time the modem is busy.
* outbound with T = 0: messages per second through queue -> modem thread -> pty.
* idle daemon (a separate process, simulator outside it): resident memory and CPU.

Everything is measured in one run on this machine; figures are medians or
percentiles of that run, never hand-edited.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from appliance import config  # noqa: E402
from appliance.daemon import Daemon  # noqa: E402
from appliance.sim.host import SimulatorHost  # noqa: E402
from bench.appliances import NUMBER, appliance, sim_host  # noqa: E402
from tests.daemonproc import DaemonProcess  # noqa: E402
from tests.webapp import WebApp  # noqa: E402

PHONE = "+14155550100"
# The REST benches' server: 16 threads, no rate limit (the ceiling's THREADS).
REST_SETTINGS = "http_threads = 16\napi_rate_limit = 0.0\n"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def make(tmp: Path, sim: SimulatorHost, **overrides: Any) -> Daemon:
    values: dict[str, Any] = {
        "data_dir": str(tmp / "data"),
        "http_port": 0,
        "https_port": 0,
        "outbound_rate": 0.0,
        "sweep_interval": 60.0,
        "health_interval": 60.0,
        "modems": [
            {"name": "modem1", "number": NUMBER, "port": str(sim.modems["modem1"].port_path)}
        ],
    }
    values.update(overrides)
    d = Daemon(config.load(None, environ={}, overrides=values))
    d.start()
    assert d.modems["modem1"].connected.wait(15)
    return d


def bench_inbound(n: int = 300) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        sim = sim_host(tmp, 0.0)
        app = WebApp()
        modem = sim.modems["modem1"]
        emitted: list[float] = []
        original = modem._urc

        def urc(lines: list[str]) -> None:
            if lines and lines[0].startswith("+CMTI"):
                emitted.append(time.perf_counter())
            original(lines)

        modem._urc = urc  # type: ignore[method-assign]
        arrived: list[float] = []
        app.routes["/sms"] = lambda req: (
            arrived.append(time.perf_counter()),
            (200, "text/xml", b"<Response/>"),
        )[1]
        d = make(
            tmp,
            sim,
            modems=[
                {
                    "name": "modem1",
                    "number": NUMBER,
                    "port": str(modem.port_path),
                    "sms_url": app.url("/sms"),
                }
            ],
        )
        latencies = []
        try:
            for i in range(n):
                before = len(arrived)
                sim.network.deliver_sms(modem, PHONE, f"bench {i}")
                deadline = time.monotonic() + 10
                while len(arrived) == before and time.monotonic() < deadline:
                    time.sleep(0.0005)
                latencies.append((arrived[-1] - emitted[-1]) * 1000)
                time.sleep(0.005)
        finally:
            d.stop()
            app.close()
            sim.stop()
    warm = latencies[10:]
    return {"n": len(warm), "p50_ms": statistics.median(warm), "p99_ms": percentile(warm, 99)}


def bench_outbound_busy(n: int = 15, t: float = 1.0) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tdir:
        tmp = Path(tdir)
        sim = sim_host(tmp, t)
        d = make(tmp, sim, outbound_rate=1.0)
        try:
            for i in range(n):
                d.outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body=f"busy {i}")
            assert sim.network.wait_outbox(n, timeout=n * t * 3 + 30)
            segs = sim.network.outbox_segments("modem1")
        finally:
            d.stop()
            sim.stop()
    span = segs[-1].time - (segs[0].time - t)
    return {"n": n, "T_s": t, "busy": n * t / span, "span_s": span}


def bench_outbound_rate(n: int = 2000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tdir:
        tmp = Path(tdir)
        sim = sim_host(tmp, 0.0)
        d = make(tmp, sim, outbound_rate=0.0)
        try:
            d.modems["modem1"].stop()  # fill the queue first, then measure the sending alone
            d.modems["modem1"].connected.clear()

            def fill(conn: Any) -> None:
                for i in range(n):
                    d.outbox.insert(
                        conn, modem="modem1", from_number=NUMBER, to=PHONE, body=f"rate {i}"
                    )

            d.store.write(fill)
            d.modems["modem1"].start()
            assert sim.network.wait_outbox(n, timeout=300)
            segs = sim.network.outbox_segments("modem1")
        finally:
            d.stop()
            sim.stop()
    span = segs[-1].time - segs[0].time
    return {"n": n, "per_second": (n - 1) / span}


def bench_idle(seconds: float = 30.0) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tdir:
        tmp = Path(tdir)
        sim = sim_host(tmp, 0.0)
        cfg = tmp / "appliance.toml"
        cfg.write_text(
            f'data_dir = "{tmp / "data"}"\nhttp_port = 0\nhttps_port = 0\nlog_level = "WARNING"\n'
            f'[[modems]]\nname = "modem1"\nnumber = "{NUMBER}"\nport = "{sim.modems["modem1"].port_path}"\n'
        )
        daemon = DaemonProcess(cfg, 0)
        daemon.start()
        pid = daemon.pid
        try:
            time.sleep(8)  # start-up, connect, first sweep and health poll
            ticks = os.sysconf("SC_CLK_TCK")

            def cpu() -> float:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / ticks

            c0, w0 = cpu(), time.monotonic()
            time.sleep(seconds)
            c1, w1 = cpu(), time.monotonic()
            rss_kb = next(
                int(line.split()[1])
                for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("VmRSS:")
            )
        finally:
            daemon.terminate()
            sim.stop()
    return {"rss_mb": rss_kb / 1024, "cpu_percent": (c1 - c0) / (w1 - w0) * 100, "seconds": seconds}


def wrk_post(
    tmp: Path, url: str, credentials: str, seconds: float, connections: int
) -> dict[str, float]:
    """wrk (2 threads, ``connections`` keep-alive connections, ``seconds``) POSTs the same
    form to ``url`` with Basic ``credentials``; its own count, non-2xx and latency percentiles.

    The one load generator of the REST benchmark and of its ceiling (bench/ceiling.py)."""
    import base64
    import shutil

    if shutil.which("wrk") is None:
        raise RuntimeError(
            "wrk is not installed (Debian package wrk; `make bench` installs it as root)"
        )
    script = tmp / "post.lua"
    auth = base64.b64encode(credentials.encode()).decode()
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.body = "To=%2B14155550100&From=%2B15005550006&Body=Load+test"\n'
        'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
        f'wrk.headers["Authorization"] = "Basic {auth}"\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("RESULT %d %d %d %f %f\\n", summary.requests, summary.errors.status,'
        " summary.duration, latency:percentile(50), latency:percentile(99)))\n"
        "end\n"
    )
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{int(seconds)}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT"))
    _, reqs, errors, duration_us, p50_us, p99_us = line.split()
    duration = float(duration_us) / 1e6
    return {
        "requests": float(reqs),
        "non_2xx": float(errors),
        "per_second": float(reqs) / duration,
        "p50_ms": float(p50_us) / 1000,
        "p99_ms": float(p99_us) / 1000,
        "connections": float(connections),
    }


def bench_api(seconds: float = 15.0, connections: int = 8) -> dict[str, float]:
    """POST /Messages.json from wrk (a separate process, keep-alive); every 201 is a committed message."""
    import sqlite3

    with appliance(latency=3.0, settings=REST_SETTINGS) as a:
        result = wrk_post(
            a.tmp, a.url("Messages.json"), f"{a.account}:{a.auth_token}", seconds, connections
        )
        with sqlite3.connect(a.data / "appliance.sqlite3") as db:
            result["stored"] = float(db.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
    return result


def _panel() -> Any:
    from bench import panel  # late: bench.panel uses this module's helpers

    return panel


def bench_panel() -> dict[str, float]:
    return _panel().bench()  # type: ignore[no-any-return]


def _voice() -> Any:
    from bench import voice  # late, like bench.panel

    return voice


def bench_voice() -> dict[str, float]:
    return _voice().bench_voice()  # type: ignore[no-any-return]


def _webhooks() -> Any:
    from bench import webhooks  # late, like bench.panel

    return webhooks


def bench_webhooks() -> dict[str, float]:
    return _webhooks().bench_webhooks()  # type: ignore[no-any-return]


def _dialring() -> Any:
    from bench import dialring  # late, like bench.panel

    return dialring


def bench_dialring() -> dict[str, float]:
    return _dialring().bench_dialring()  # type: ignore[no-any-return]


def _streams() -> Any:
    from bench import streams  # late, like bench.panel

    return streams


def bench_streams() -> dict[str, float]:
    return _streams().bench_streams()  # type: ignore[no-any-return]


def _browsercall() -> Any:
    from bench import browsercall  # late, like bench.panel

    return browsercall


def bench_browsercall() -> dict[str, float]:
    return _browsercall().bench_browser()  # type: ignore[no-any-return]


def _ratios() -> Any:
    from bench import ratios  # late, like bench.panel

    return ratios


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main() -> int:
    results: dict[str, dict[str, float]] = {}
    for name, fn in (
        ("inbound", bench_inbound),
        ("outbound_busy", bench_outbound_busy),
        ("idle", bench_idle),
        ("panel", bench_panel),
        ("voice", bench_voice),
        ("webhooks", bench_webhooks),
        ("streams", bench_streams),
        ("dialring", bench_dialring),
        ("browsercall", bench_browsercall),
    ):
        print(f"running {name} ...", flush=True)
        results[name] = fn()
        print(f"  {results[name]}", flush=True)
    # REST create and the outbound rate: alternated with their bare-stack ceilings (medians).
    print("running api and outbound_rate against their ceilings ...", flush=True)
    results.update(_ratios().alternate())
    print(f"  {results['ratios']}", flush=True)
    # The store on PostgreSQL (issue 16): REST create against a psycopg ceiling, and outbound
    # with two nodes against one.
    print("running api on PostgreSQL against a psycopg ceiling ...", flush=True)
    from bench import fleet, pgstore  # late: imports psycopg

    pg = pgstore.bench()
    print(f"  {pgstore.summary(pg)}", flush=True)
    print("running outbound with two nodes against one ...", flush=True)
    nodes = fleet.bench()
    print(f"  {fleet.summary(nodes)}", flush=True)
    write_doc(results, fleet.section(pg, nodes))
    return 0


def write_doc(r: dict[str, dict[str, float]], postgres: list[str]) -> None:
    def ok(flag: bool) -> str:
        return "meets" if flag else "**misses**"

    inb, busy, rate, idle, api = (
        r["inbound"],
        r["outbound_busy"],
        r["outbound_rate"],
        r["idle"],
        r["api"],
    )
    rows = [
        (
            "Inbound +CMTI → webhook, p50",
            "≤ 20 ms",
            f"{inb['p50_ms']:.1f} ms",
            ok(inb["p50_ms"] <= 20),
        ),
        (
            "Inbound +CMTI → webhook, p99",
            "≤ 100 ms",
            f"{inb['p99_ms']:.1f} ms",
            ok(inb["p99_ms"] <= 100),
        ),
        (
            "Outbound, T = 1 s per AT+CMGS: modem busy",
            "≥ 98 %",
            f"{busy['busy'] * 100:.2f} %",
            ok(busy["busy"] >= 0.98),
        ),
        (
            "Outbound, T = 0: messages per second",
            "≥ 200/s",
            f"{rate['per_second']:.0f}/s",
            ok(rate["per_second"] >= 200),
        ),
        (
            "Idle daemon, one modem: resident memory",
            "≤ 60 MB",
            f"{idle['rss_mb']:.1f} MB",
            ok(idle["rss_mb"] <= 60),
        ),
        (
            "Idle daemon, one modem: CPU",
            "≤ 1 % of a core",
            f"{idle['cpu_percent']:.2f} %",
            ok(idle["cpu_percent"] <= 1),
        ),
        (
            "REST create, durably queued: requests per second",
            "≥ 1,000/s",
            f"{api['per_second']:.0f}/s",
            ok(api["per_second"] >= 1000),
        ),
        ("REST create: p99 latency", "≤ 25 ms", f"{api['p99_ms']:.1f} ms", ok(api["p99_ms"] <= 25)),
        *_panel().panel_rows(r["panel"], ok),
        *_voice().rows(r["voice"]),
        *_webhooks().rows(r["webhooks"]),
        *_streams().rows(r["streams"]),
        *_dialring().rows(r["dialring"]),
        *_browsercall().rows(r["browsercall"]),
    ]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py); do not edit by hand.",
        "",
        f"Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {machine()}.",
        "The machine is shared and noisy; every figure comes from this one run.",
        "",
        "## Against the bare-stack ceiling",
        "",
        "The same work with nothing of the appliance in the way, measured in the same run,"
        " alternating with the appliance (bench/ceiling.py, bench/ratios.py).",
        "",
        "| measure | target | ratio | appliance | ceiling | |",
        "|---|---|---|---|---|---|",
        *["| " + " | ".join(row) + " |" for row in _ratios().rows(r, ok)],
        "",
        "## Absolute figures",
        "",
        "| measure | target | measured | |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        "How each is measured:",
        *_ratios().notes(r),
        f"- Inbound: {inb['n']:.0f} SMS one after another (first 10 discarded as warm-up); the clock starts when the",
        "  simulated modem writes `+CMTI` to the pty and stops when the app's handler runs. In between:",
        "  `AT+CMGR`, decode, an fsync'd commit, the webhook job, signing and the HTTP POST.",
        f"- Busy: {busy['n']:.0f} messages queued at once; the simulator takes exactly T = {busy['T_s']:.0f} s per `AT+CMGS`;",
        "  busy = n·T / (end of the last send − start of the first), from the simulator's own records.",
        f"- Rate: {rate['n']:.0f} messages queued before the modem thread starts; each costs three fsync'd",
        "  commits (claim, part started, part sent) and two pty round trips; rate = messages / time",
        "  between the first and last send; the median of the rounds above.",
        f"- Idle: `appliance run` as its own process (the simulator outside it), measured for {idle['seconds']:.0f} s",
        "  after an 8 s settle: VmRSS and utime+stime from /proc.",
        f"- REST (issue 3): wrk (2 threads, {api['connections']:.0f} keep-alive connections) POSTs Messages.json",
        "  for 15 s to `appliance run` (cheroot, 16 threads, rate limit off); each 201 leaves after the",
        f"  message's commit. {api['requests']:.0f} requests, {api['non_2xx']:.0f} non-2xx,",
        f"  {api['stored']:.0f} messages on disk afterwards; p50 {api['p50_ms']:.1f} ms (medians of the rounds above).",
        "  wrk and the server share the 2 cores.",
        *_panel().panel_notes(r["panel"]),
        *_voice().notes(r["voice"]),
        *_webhooks().notes(r["webhooks"]),
        *_streams().notes(r["streams"]),
        *_dialring().notes(r["dialring"]),
        *_browsercall().notes(r["browsercall"]),
        "",
        *postgres,
        "",
        "The layout change of issue 10 (modules into packages, no behaviour change) was measured"
        " before and after in one sitting: docs/benchmarks-layout.md.",
        "",
    ]
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
