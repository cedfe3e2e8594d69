"""The appliance against its bare-stack ceilings (bench/ceiling.py), alternating, as ratios.

A shared, noisy machine moves absolute figures by tens of percent from one run to the next;
a ratio to a ceiling measured moments before, on the same server, disk and pty, moves much
less.  Each round runs ceiling, appliance, ceiling, appliance (REST create, then the modem
path); every figure is the median of its rounds and every ratio the ratio of the medians
(the spread of the per-round ratios is recorded beside it).

``python -m bench.ratios [rounds]`` runs this part alone and prints it (docs/benchmarks.md
is written only by the whole ``make bench``).
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ceiling  # noqa: E402
from bench.run import bench_api, bench_outbound_rate  # noqa: E402

ROUNDS = 3
THROUGHPUT_TARGET = 0.85  # REST create: at least this share of the ceiling's requests/s
P99_TARGET = 1.2  # and a p99 at most this multiple of the ceiling's

# (appliance figure, its ceiling, key, what the ratio is called)
PAIRS = (
    ("api", "ceiling_api", "per_second", "api_throughput"),
    ("api", "ceiling_api", "p99_ms", "api_p99"),
    ("api", "ceiling_api", "p50_ms", "api_p50"),
    ("api", "ceiling_api_bare", "per_second", "api_throughput_bare"),
    ("api", "ceiling_api_bare", "p99_ms", "api_p99_bare"),
    ("outbound_rate", "ceiling_modem", "per_second", "outbound_rate"),
)


def alternate(rounds: int = ROUNDS) -> dict[str, dict[str, float]]:
    """``rounds`` of ceiling, appliance, ceiling, appliance; medians and their ratios."""
    order: tuple[tuple[str, Callable[[], dict[str, float]]], ...] = (
        ("ceiling_api", ceiling.bench_api_ceiling),
        ("api", bench_api),
        ("ceiling_api_bare", ceiling.bench_api_ceiling_bare),
        ("ceiling_modem", ceiling.bench_modem_ceiling),
        ("outbound_rate", bench_outbound_rate),
    )
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in order}
    for i in range(rounds):
        for name, fn in order:
            print(f"  round {i + 1}/{rounds}: {name} ...", flush=True)
            runs[name].append(fn())
            print(f"    {runs[name][-1]}", flush=True)
    out = {name: _median(values) for name, values in runs.items()}
    ratios: dict[str, float] = {"rounds": float(rounds)}
    for mine, ceil, key, label in PAIRS:
        ratios[label] = out[mine][key] / out[ceil][key]
        each = [a[key] / b[key] for a, b in zip(runs[mine], runs[ceil], strict=True)]
        ratios[f"{label}_min"], ratios[f"{label}_max"] = min(each), max(each)
    out["ratios"] = ratios
    return out


def _median(values: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(v[k] for v in values) for k in values[0]}


def _spread(q: dict[str, float], label: str) -> str:
    return f"rounds {q[f'{label}_min']:.2f}–{q[f'{label}_max']:.2f}"


def rows(r: dict[str, dict[str, float]], ok: Callable[[bool], str]) -> list[tuple[str, ...]]:
    """The ratio table: measure, target, ratio, the appliance's figure, the ceiling's, verdict."""
    q, api, capi, bare, rate, cmodem = (
        r["ratios"],
        r["api"],
        r["ceiling_api"],
        r["ceiling_api_bare"],
        r["outbound_rate"],
        r["ceiling_modem"],
    )
    return [
        (
            "REST create, durably queued: requests per second",
            f"≥ {THROUGHPUT_TARGET:.2f}×",
            f"{q['api_throughput']:.2f}× ({_spread(q, 'api_throughput')})",
            f"{api['per_second']:.0f}/s",
            f"{capi['per_second']:.0f}/s",
            ok(q["api_throughput"] >= THROUGHPUT_TARGET),
        ),
        (
            "REST create: p99 latency",
            f"≤ {P99_TARGET:.1f}×",
            f"{q['api_p99']:.2f}× ({_spread(q, 'api_p99')})",
            f"{api['p99_ms']:.1f} ms",
            f"{capi['p99_ms']:.1f} ms",
            ok(q["api_p99"] <= P99_TARGET),
        ),
        (
            "REST create: p50 latency",
            "—",
            f"{q['api_p50']:.2f}× ({_spread(q, 'api_p50')})",
            f"{api['p50_ms']:.1f} ms",
            f"{capi['p50_ms']:.1f} ms",
            "(no target)",
        ),
        (
            "REST create against a one-table insert: requests per second",
            "—",
            f"{q['api_throughput_bare']:.2f}× ({_spread(q, 'api_throughput_bare')})",
            f"{api['per_second']:.0f}/s",
            f"{bare['per_second']:.0f}/s",
            "(stricter; no target)",
        ),
        (
            "REST create against a one-table insert: p99 latency",
            "—",
            f"{q['api_p99_bare']:.2f}× ({_spread(q, 'api_p99_bare')})",
            f"{api['p99_ms']:.1f} ms",
            f"{bare['p99_ms']:.1f} ms",
            "(stricter; no target)",
        ),
        (
            "Outbound, T = 0: messages per second",
            "—",
            f"{q['outbound_rate']:.2f}× ({_spread(q, 'outbound_rate')})",
            f"{rate['per_second']:.0f}/s",
            f"{cmodem['per_second']:.0f}/s",
            "(no target)",
        ),
    ]


def notes(r: dict[str, dict[str, float]]) -> list[str]:
    q = r["ratios"]
    return [
        f"- Ratios: {q['rounds']:.0f} rounds of REST ceiling, REST, one-table REST ceiling, modem ceiling,",
        "  outbound rate, in that order; each figure is the median of its rounds, each ratio the ratio",
        "  of the medians (the range of the per-round ratios follows it). The REST ceiling",
        "  (bench/ceiling.py) is a minimal WSGI app on cheroot with 16 threads in its own process:",
        "  form parsing, the same durable insert as the appliance (its `messages` and `segments` rows,",
        "  in the appliance's migrated schema with its indexes) and one commit (WAL, synchronous=FULL)",
        "  per request, a Message-shaped JSON reply; no auth, routing, validation or writer thread;",
        "  the same wrk command as the REST row. The one-table ceiling is the same app inserting one",
        "  Message-shaped row into a table with no secondary index (the ceiling of runs before",
        "  2026-12-07), shown as the stricter comparison.",
        "  The modem ceiling sends the same PDUs by `AT+CMGS` straight down the simulated modem's pty",
        "  (raw tty), one fsync'd SQLite commit before each; the appliance commits three times per",
        "  one-part message (claim, part started, part sent) and goes through the driver's reader thread.",
    ]


def main() -> int:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS
    r = alternate(rounds)
    for name in (
        "ceiling_api",
        "api",
        "ceiling_api_bare",
        "ceiling_modem",
        "outbound_rate",
        "ratios",
    ):
        print(name, {k: round(v, 3) for k, v in r[name].items()})
    for row in rows(r, lambda flag: "meets" if flag else "MISSES"):
        print(" | ".join(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
