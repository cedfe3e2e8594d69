"""REST create on PostgreSQL (issue 16): the appliance against a psycopg ceiling.

Both sides run against one PostgreSQL server with fsync on (tests/pg.py's ``PgServer``), each in
a database of its own:

* the ceiling is bench/ceiling.py's minimal WSGI app on cheroot (16 threads, its own process)
  with the SQLite INSERT replaced by one INSERT and commit on a pooled psycopg connection per
  request: no auth, routing, validation or store;
* the appliance is ``appliance run`` with ``database_url`` set, driven by the same wrk command.

Beside requests per second and latency, each side's CPU per request is measured: its own
process, and the PostgreSQL server's backends.  ``make bench`` writes the ratio (target: REST
create ≥ 0.8× the ceiling) to docs/benchmarks.md's PostgreSQL section (bench/fleet.py);
``python -m bench.pgstore [seconds]`` prints it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ceiling  # noqa: E402

ROUNDS = 3


def wsgi_app(url: str) -> Callable[..., Iterable[bytes]]:
    """The ceiling's app with one durable psycopg INSERT per request."""
    from psycopg_pool import ConnectionPool

    from appliance.store.dialect import POSTGRES

    pool: ConnectionPool[Any] = ConnectionPool(
        url, min_size=ceiling.THREADS, max_size=ceiling.THREADS, open=True
    )
    with pool.connection() as conn:
        for statement in ceiling.SCHEMA.split(";"):
            if statement.strip():
                conn.execute(POSTGRES.ddl(statement))
    insert = POSTGRES.sql(
        "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number,"
        " body, status, num_segments, status_callback, status_callback_method,"
        " date_created, date_updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "POST":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = urllib.parse.parse_qs(environ["wsgi.input"].read(length).decode())
        to, from_, body = form["To"][0], form["From"][0], form["Body"][0]
        sid = "SM" + uuid.uuid4().hex
        now = time.time()
        with pool.connection() as conn:  # commits on leaving: durable before the answer
            conn.execute(
                insert,
                (sid, ceiling.ACCOUNT, "outbound-api", "modem1", from_, to, body, "queued", 1)
                + (None, "POST", now, now),
            )
        out = (
            f'{{"sid": "{sid}", "status": "queued", "to": "{to}", "from": "{from_}",'
            f' "body": "{body}", "account_sid": "{ceiling.ACCOUNT}", "num_segments": "1"}}'
        ).encode()
        start_response(
            "201 Created",
            [("Content-Type", "application/json"), ("Content-Length", str(len(out)))],
        )
        return [out]

    return app


def serve(url: str, port: int, threads: int) -> None:
    from cheroot import wsgi

    wsgi.Server(("127.0.0.1", port), wsgi_app(url), numthreads=threads).safe_start()


def _count(url: str) -> float:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT COUNT(*) FROM messages").fetchone()
        return float(row[0]) if row else 0.0


def _cpu(pid: int, server: Path | None) -> float:
    """CPU seconds so far of process ``pid`` and of the PostgreSQL server whose data folder is
    ``server`` (its postmaster and every backend: the per-request cost the database pays)."""
    ticks = os.sysconf("SC_CLK_TCK")

    def stat(p: int) -> list[str]:
        return Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()

    def used(fields: list[str]) -> float:
        return (int(fields[11]) + int(fields[12])) / ticks

    total = used(stat(pid))
    if server is not None:
        master = int((server / "postmaster.pid").read_text().split()[0])
        total += used(stat(master))
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = stat(int(entry.name))
                except OSError:
                    continue  # ended meanwhile
                if int(fields[1]) == master:
                    total += used(fields)
    return total


def _measured(
    pid: int, server: Path | None, run: Callable[[], dict[str, float]]
) -> dict[str, float]:
    """``run()``'s figures with the CPU per request of ``pid`` alone and with the server."""
    alone, both = _cpu(pid, None), _cpu(pid, server)
    result = run()
    alone, both = _cpu(pid, None) - alone, _cpu(pid, server) - both
    result["cpu_us_per_request"] = alone / result["requests"] * 1e6
    result["pg_cpu_us_per_request"] = (both - alone) / result["requests"] * 1e6
    return result


def bench_ceiling(
    url: str, seconds: float, connections: int = 8, server: Path | None = None
) -> dict[str, float]:
    from bench.run import wrk_post
    from tests.daemonproc import free_port

    with tempfile.TemporaryDirectory() as tdir:
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.pgstore", "serve", url, str(port), str(ceiling.THREADS)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            ceiling._wait_http(f"http://127.0.0.1:{port}/health", proc)
            result = _measured(
                proc.pid,
                server,
                lambda: wrk_post(
                    Path(tdir),
                    f"http://127.0.0.1:{port}{ceiling.PREFIX}/{ceiling.ACCOUNT}/Messages.json",
                    f"{ceiling.ACCOUNT}:token",
                    seconds,
                    connections,
                ),
            )
        finally:
            proc.terminate()
            proc.wait(10)
    result["stored"] = _count(url)
    return result


def bench_appliance(
    url: str, seconds: float, connections: int = 8, server: Path | None = None
) -> dict[str, float]:
    from bench.appliances import appliance
    from bench.run import REST_SETTINGS, wrk_post

    with appliance(latency=3.0, settings=REST_SETTINGS, database_url=url) as a:
        result = _measured(
            a.daemon.pid,
            server,
            lambda: wrk_post(
                a.tmp, a.url("Messages.json"), f"{a.account}:{a.auth_token}", seconds, connections
            ),
        )
    result["stored"] = _count(url)
    return result


def alternate(
    benches: dict[str, Callable[[str, Path], dict[str, float]]], rounds: int
) -> tuple[dict[str, list[dict[str, float]]], dict[str, dict[str, float]]]:
    """``rounds`` of each bench in turn, each called with a fresh database's URL on one
    PostgreSQL server (fsync on) and the server's data folder: every run's figures, and
    each bench's medians."""
    from tests.pg import PgServer

    server = PgServer(fsync=True)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in benches}
    try:
        for i in range(rounds):
            for name, fn in benches.items():
                url = server.new_database()
                print(f"  round {i + 1}/{rounds}: {name} ...", flush=True)
                runs[name].append(fn(url, server.data))
                print(f"    {runs[name][-1]}", flush=True)
                server.drop(url)
    finally:
        server.stop()
    medians = {
        name: {k: statistics.median(r[k] for r in values) for k in values[0]}
        for name, values in runs.items()
    }
    return runs, medians


def bench(seconds: float = 10.0, rounds: int = ROUNDS) -> dict[str, dict[str, float]]:
    """``rounds`` of ceiling then appliance, each in a fresh database; medians and the ratio."""
    runs, out = alternate(
        {
            "pg_ceiling": lambda url, data: bench_ceiling(url, seconds, server=data),
            "pg_api": lambda url, data: bench_appliance(url, seconds, server=data),
        },
        rounds,
    )
    each = [
        a["per_second"] / c["per_second"]
        for a, c in zip(runs["pg_api"], runs["pg_ceiling"], strict=True)
    ]
    out["ratios"] = {
        "pg_api_throughput": out["pg_api"]["per_second"] / out["pg_ceiling"]["per_second"],
        "pg_api_throughput_min": min(each),
        "pg_api_throughput_max": max(each),
        "pg_api_p99": out["pg_api"]["p99_ms"] / out["pg_ceiling"]["p99_ms"],
    }
    return out


def main() -> int:
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return 0
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    r = bench(seconds)
    for name, figures in r.items():
        print(name, {k: round(v, 3) for k, v in figures.items()})
    print(summary(r))
    return 0


def summary(r: dict[str, dict[str, float]]) -> str:
    q = r["ratios"]
    return (
        f"REST create on PostgreSQL: {q['pg_api_throughput']:.2f}× the psycopg one-insert ceiling"
        f" ({r['pg_api']['per_second']:.0f}/s against {r['pg_ceiling']['per_second']:.0f}/s),"
        f" p99 {q['pg_api_p99']:.2f}× (target ≥ 0.8×)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
