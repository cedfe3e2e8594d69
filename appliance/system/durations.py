"""Histograms observed in this process, kept without prometheus-client.

:class:`Durations` keeps what prometheus-client's ``Histogram`` keeps, so that the daemon
observes commit and webhook durations from the start without importing prometheus-client,
which only a scrape needs (:mod:`appliance.system.metrics`; docs/design.md, "What an idle
appliance loads"); :mod:`appliance.system.collector` exports one with the samples
``Histogram`` would give.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence

__all__ = ["Durations", "Series"]


class Series:
    """One label set of a :class:`Durations`: observations per bucket, their sum, and when the
    series appeared (its ``_created`` sample)."""

    def __init__(self, buckets: int, created: float) -> None:
        self.counts = [0.0] * buckets
        self.sum = 0.0
        self.created = created


class Durations:
    """A histogram observed in this process, as prometheus-client's ``Histogram`` observes
    one (same buckets, ``+Inf`` last; a series per label values, in the order they first
    came), without its import; :mod:`appliance.system.collector` exports it with the samples
    that ``Histogram`` would give."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name, self.documentation = name, documentation
        self.labelnames = tuple(labelnames)
        self.bounds = [float(b) for b in buckets] + [math.inf]
        self._clock = clock
        self._lock = threading.Lock()
        self._series: dict[tuple[str, ...], Series] = {}
        if not self.labelnames:  # a series from the start, as Histogram's own
            self._series[()] = Series(len(self.bounds), clock())

    def observe(self, amount: float, *labels: str) -> None:
        """Count ``amount`` (seconds) under ``labels``, one value per label name."""
        if len(labels) != len(self.labelnames):
            raise ValueError(f"{self.name}: {len(self.labelnames)} label values expected")
        key = tuple(str(v) for v in labels)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = Series(len(self.bounds), self._clock())
            series.sum += amount
            for i, bound in enumerate(self.bounds):
                if amount <= bound:
                    series.counts[i] += 1.0
                    break

    def snapshot(self) -> list[tuple[tuple[str, ...], Series]]:
        """Each series' label values and a copy of its figures, in the order they came."""
        with self._lock:
            out = []
            for key, series in self._series.items():
                kept = Series(0, series.created)
                kept.counts, kept.sum = list(series.counts), series.sum
                out.append((key, kept))
            return out
