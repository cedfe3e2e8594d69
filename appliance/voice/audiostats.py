"""What the call audio's clocks report: underruns of every call since start, by audio port
(the metrics, :mod:`appliance.system.metrics`, export them per modem as calls and their
:class:`~appliance.voice.audio.Media` come and go), and one call's figures: its counters and
its writer's frame intervals and jitter."""

from __future__ import annotations

import threading
from collections import Counter

# Underruns of every call since start, by audio port name (see port_name).
_UNDERRUNS: Counter[str] = Counter()
_UNDERRUNS_LOCK = threading.Lock()


def port_name(port: object) -> str:
    """A port's name: its path (a tty), ``alsa:<device>``, or ``""``."""
    path = getattr(port, "path", None)
    if path:
        return str(path)
    device = getattr(port, "device", None)
    return f"alsa:{device}" if device else ""


def count_underrun(name: str) -> None:
    """One more underrun on the port named ``name`` (:func:`port_name`)."""
    with _UNDERRUNS_LOCK:
        _UNDERRUNS[name] += 1


def underruns() -> dict[str, int]:
    """Underruns of every call since start, by :func:`port_name`."""
    with _UNDERRUNS_LOCK:
        return dict(_UNDERRUNS)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def figures(
    counts: dict[str, int], intervals: list[float], frame_seconds: float, queued_seconds: float
) -> dict[str, float]:
    """One call's stats: its ``counts``, and in milliseconds the percentiles of its writer's
    frame ``intervals`` (seconds) and of their jitter (distance from ``frame_seconds``), and
    the audio queued to play (``queued_seconds``)."""
    out: dict[str, float] = {k: float(v) for k, v in counts.items()}
    ms = [i * 1000.0 for i in intervals]
    jitter = [abs(i - frame_seconds * 1000.0) for i in ms]
    out["interval_p50_ms"] = percentile(ms, 50)
    out["interval_p99_ms"] = percentile(ms, 99)
    out["jitter_p50_ms"] = percentile(jitter, 50)
    out["jitter_p99_ms"] = percentile(jitter, 99)
    out["jitter_max_ms"] = max(jitter, default=0.0)
    out["queued_ms"] = queued_seconds * 1000.0
    return out
