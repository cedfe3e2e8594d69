"""Outbound with two nodes on one PostgreSQL against one node alone (issue 16's fleet target).

Each node is ``appliance run`` (bench/appliances.py) with its own simulated modem, and every
send takes a fixed time on the simulated modem (its profile's ``send_latency``, set to
:data:`SEND_TIME`), so the modems, not the 2 shared cores, are the limit.  ``outbound_rate`` is
off, so nothing else paces a modem.

* one node: ``2n`` messages posted over REST to node A from A's number;
* two nodes: ``2n`` messages posted over REST to node A, alternately from A's number and from
  B's, so half of them reach B's modem through the database (B's claim, woken by NOTIFY).

Throughput is messages over the time from the start of the first send to the end of the last,
from the simulators' own records; the ratio two nodes / one node is the target (≥ 1.8×).
Rounds alternate one node and two nodes, each on a fresh database of one PostgreSQL server
(fsync on); figures are medians, the ratio is the ratio of the medians.
``python -m bench.fleet [rounds]``.
"""

from __future__ import annotations

import base64
import sys
import threading
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.appliances import NUMBER, Running, appliance  # noqa: E402

SEND_TIME = 0.2  # seconds per AT+CMGS on each simulated modem
PER_MODEM = 40  # messages each modem sends in the two-node run (the one node sends 2×)
ROUNDS = 3
TARGET = 1.8
OTHER = "+15005550007"  # node B's number
TO = "+14155550100"
SETTINGS = "outbound_rate = 0.0\napi_rate_limit = 0.0\n"


def _post(a: Running, from_numbers: list[str]) -> None:
    """POST one Messages.json per entry (From as given) to ``a``, from four threads."""
    auth = "Basic " + base64.b64encode(f"{a.account}:{a.auth_token}".encode()).decode()
    todo = list(enumerate(from_numbers))
    lock = threading.Lock()
    errors: list[str] = []

    def worker() -> None:
        while True:
            with lock:
                if not todo:
                    return
                i, from_ = todo.pop(0)
            body = urllib.parse.urlencode({"To": TO, "From": from_, "Body": f"fleet {i}"})
            req = urllib.request.Request(
                a.url("Messages.json"), data=body.encode(), headers={"Authorization": auth}
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as rv:
                    rv.read()
            except OSError as e:
                errors.append(f"{from_}: {e}")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} creates failed, first: {errors[0]}")


def _rate(nodes: list[tuple[Running, str, int]]) -> dict[str, float]:
    """Wait for each (node, modem, count) to send; messages per second over the whole span."""
    starts, ends, total = [], [], 0
    for node, modem, count in nodes:
        if not node.sim.network.wait_outbox(count, timeout=count * SEND_TIME * 4 + 60):
            raise TimeoutError(f"{modem} sent {len(node.sim.network.outbox_segments(modem))}")
        segs = node.sim.network.outbox_segments(modem)
        starts.append(segs[0].time - SEND_TIME)
        ends.append(segs[-1].time)
        total += len(segs)
    span = max(ends) - min(starts)
    out = {"messages": float(total), "span_s": span, "per_second": total / span}
    # How far apart the modems began and ended (B hears of its first message through A).
    out["start_skew_s"] = max(starts) - min(starts)
    out["end_skew_s"] = max(ends) - min(ends)
    return out


def one_node(url: str, n: int = PER_MODEM) -> dict[str, float]:
    with appliance(latency=SEND_TIME, settings=SETTINGS, database_url=url) as a:
        _post(a, [NUMBER] * (2 * n))
        return _rate([(a, "modem1", 2 * n)])


def two_nodes(url: str, n: int = PER_MODEM) -> dict[str, float]:
    with ExitStack() as stack:
        a = stack.enter_context(appliance(latency=SEND_TIME, settings=SETTINGS, database_url=url))
        b = stack.enter_context(
            appliance(
                latency=SEND_TIME,
                settings=SETTINGS,
                database_url=url,
                name="modem2",
                number=OTHER,
            )
        )
        _post(a, [NUMBER, OTHER] * n)
        return _rate([(a, "modem1", n), (b, "modem2", n)])


def bench(rounds: int = ROUNDS) -> dict[str, dict[str, float]]:
    """``rounds`` of one node then two nodes, each on a fresh database; medians and the ratio."""
    from bench.pgstore import alternate

    runs, out = alternate(
        {"fleet_one": lambda url, _: one_node(url), "fleet_two": lambda url, _: two_nodes(url)},
        rounds,
    )
    each = [
        two["per_second"] / one["per_second"]
        for one, two in zip(runs["fleet_one"], runs["fleet_two"], strict=True)
    ]
    out["fleet_ratios"] = {
        "rounds": float(rounds),
        "two_nodes": out["fleet_two"]["per_second"] / out["fleet_one"]["per_second"],
        "two_nodes_min": min(each),
        "two_nodes_max": max(each),
        "send_time_s": SEND_TIME,
    }
    return out


def summary(r: dict[str, dict[str, float]]) -> str:
    q = r["fleet_ratios"]
    return (
        f"Outbound, two nodes on PostgreSQL: {q['two_nodes']:.2f}× one node"
        f" ({r['fleet_two']['per_second']:.2f}/s against {r['fleet_one']['per_second']:.2f}/s,"
        f" {q['send_time_s'] * 1000:.0f} ms per send; rounds {q['two_nodes_min']:.2f}–"
        f"{q['two_nodes_max']:.2f}; target ≥ {TARGET}×)"
    )


PG_TARGET = 0.8  # REST create on PostgreSQL: at least this share of the psycopg ceiling
HEADING = "## On PostgreSQL (issue 16)"
LAST = "The layout change of issue 10"  # docs/benchmarks.md's closing note


def section(pg: dict[str, dict[str, float]], fleet: dict[str, dict[str, float]]) -> list[str]:
    """docs/benchmarks.md's PostgreSQL section: bench.pgstore's and this module's figures."""

    def ok(flag: bool) -> str:
        return "meets" if flag else "**misses**"

    q, f = pg["ratios"], fleet["fleet_ratios"]
    api, ceil = pg["pg_api"], pg["pg_ceiling"]
    one, two = fleet["fleet_one"], fleet["fleet_two"]
    return [
        HEADING,
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} (`make bench`, or"
        " `python -m bench.fleet --doc` for this section alone), each ratio within one run.",
        "",
        "| measure | target | ratio | appliance | baseline | |",
        "|---|---|---|---|---|---|",
        f"| REST create on PostgreSQL: requests per second | ≥ {PG_TARGET}× the psycopg ceiling"
        f" | {q['pg_api_throughput']:.2f}× (rounds {q['pg_api_throughput_min']:.2f}–"
        f"{q['pg_api_throughput_max']:.2f}) | {api['per_second']:.0f}/s | {ceil['per_second']:.0f}/s"
        f" | {ok(q['pg_api_throughput'] >= PG_TARGET)} |",
        f"| REST create on PostgreSQL: p99 latency | — | {q['pg_api_p99']:.2f}×"
        f" | {api['p99_ms']:.1f} ms | {ceil['p99_ms']:.1f} ms | (no target) |",
        f"| Outbound, two nodes against one ({f['send_time_s'] * 1000:.0f} ms per send)"
        f" | ≥ {TARGET}× | {f['two_nodes']:.2f}× (rounds {f['two_nodes_min']:.2f}–"
        f"{f['two_nodes_max']:.2f}) | {two['per_second']:.2f}/s | {one['per_second']:.2f}/s"
        f" | {ok(f['two_nodes'] >= TARGET)} |",
        "",
        "- PostgreSQL REST (bench/pgstore.py): one PostgreSQL server with fsync on; rounds of the",
        "  ceiling (bench/ceiling.py's WSGI app on cheroot, 16 threads, one pooled psycopg INSERT and",
        "  commit per request into a one-table schema) then `appliance run` with `database_url`,",
        "  each on a fresh database, driven by the REST row's wrk command; medians. CPU per",
        f"  request: the appliance's process {api['cpu_us_per_request']:.0f} µs and the PostgreSQL"
        f" backends {api['pg_cpu_us_per_request']:.0f} µs,",
        f"  the ceiling's {ceil['cpu_us_per_request']:.0f} µs and"
        f" {ceil['pg_cpu_us_per_request']:.0f} µs (both sides are CPU-bound on the 2 cores;"
        ' docs/design.md, "The write lock lifted").',
        f"- Two nodes (bench/fleet.py): {one['messages']:.0f} messages posted over REST to node A,",
        "  from A's number alone (one node) or alternately from A's and B's (two `appliance run`",
        "  on one database, each with its own simulated modem); every `AT+CMGS` takes"
        f" {f['send_time_s'] * 1000:.0f} ms,",
        "  `outbound_rate` is off;",
        "  rate = messages / (start of the first send to the end of the last), from the simulators'",
        f"  records; {f['rounds']:.0f} alternating rounds, medians.",
    ]


def write_section(lines: list[str], doc: Path = ROOT / "docs" / "benchmarks.md") -> None:
    """Replace the PostgreSQL section of ``doc`` (or add it before the closing notes)."""
    text = doc.read_text().split("\n")
    if HEADING in text:
        start = text.index(HEADING)
        end = next(
            (i for i in range(start + 1, len(text)) if text[i].startswith(("## ", LAST))),
            len(text),
        )
        while end > start and not text[end - 1].strip():
            end -= 1
        text[start:end] = lines
    else:  # where bench/run.py's write_doc puts it: before the closing note
        at = next((i for i, line in enumerate(text) if line.startswith(LAST)), len(text))
        text[at:at] = [*lines, ""]
    doc.write_text("\n".join(text))


def main() -> int:
    """``python -m bench.fleet [rounds] [--doc]``: with ``--doc``, bench.pgstore too, and both
    written to docs/benchmarks.md's PostgreSQL section (the rest of the file is untouched)."""
    args = [a for a in sys.argv[1:] if a != "--doc"]
    rounds = int(args[0]) if args else ROUNDS
    started = time.monotonic()
    r = bench(rounds)
    for name, figures in r.items():
        print(name, {k: round(v, 3) for k, v in figures.items()})
    print(summary(r), f"({time.monotonic() - started:.0f} s)")
    if "--doc" in sys.argv:
        from bench import pgstore

        pg = pgstore.bench()
        print(pgstore.summary(pg))
        write_section(section(pg, r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
