"""Alternate the SMS, REST and panel benchmarks between two checkouts; print medians and ratios.

Usage: ``python -m bench.abtrees BEFORE_DIR AFTER_DIR [ROUNDS]`` (each a checkout of this
repository, e.g. made with ``git worktree add``). Each benchmark runs in a child process whose
working directory is that checkout, so its own ``appliance`` package and ``bench/run.py`` are
used; the tree order alternates each round. Used for docs/benchmarks-layout.md.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

BENCH = {
    "inbound": ("bench_inbound", ["p50_ms", "p99_ms"]),
    "rate": ("bench_outbound_rate", ["per_second"]),
    "api": ("bench_api", ["per_second", "p99_ms"]),
    "panel": ("bench_panel", ["dashboard_p50_ms", "dashboard_p95_ms", "broadcast_s"]),
}
CHILD = (
    "import json, sys; sys.path.insert(0, '.'); import bench.run as r; "
    "print('RESULT', json.dumps(getattr(r, sys.argv[1])()))"
)


def run(tree: str, fn: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, fn], cwd=tree, capture_output=True, text=True, timeout=900
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    return dict(json.loads(line[7:]))


def main(argv: list[str]) -> int:
    before, after = argv[0], argv[1]
    rounds = int(argv[2]) if len(argv) > 2 else 3
    trees = {"before": before, "after": after}
    got: dict[str, dict[str, list[dict[str, float]]]] = {t: {b: [] for b in BENCH} for t in trees}
    for n in range(rounds):
        for name, (fn, _) in BENCH.items():
            order = ["before", "after"] if n % 2 == 0 else ["after", "before"]
            for t in order:
                got[t][name].append(run(trees[t], fn))
    for name, (_, keys) in BENCH.items():
        for k in keys:
            b = [d[k] for d in got["before"][name]]
            a = [d[k] for d in got["after"][name]]
            ratio = statistics.median(a) / statistics.median(b)
            pairs = ", ".join(f"{x / y:.2f}" for x, y in zip(a, b, strict=True))
            print(f"{name} {k}: before {b} after {a} ratio {ratio:.2f} (per round {pairs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
