"""Concurrency per origin: one slow or hanging app cannot take every webhook worker.

An origin is ``scheme://host:port`` of a job's URL (RFC 6454; the default port filled
in, the host lower-cased, user info left out).  The dispatcher's workers are the global
cap on requests in flight; :class:`OriginSlots` caps those to one origin.  A worker
takes a job only if it gets a slot for the job's origin, so an app that hangs holds at
most ``per_origin`` workers (each for at most its own timeout) and the other workers
keep serving every other app.
"""

from __future__ import annotations

import functools
import threading
from urllib.parse import urlsplit

__all__ = ["OriginSlots", "origin"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


@functools.lru_cache(maxsize=1024)
def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``; an unparsable URL is its own origin."""
    base = url.strip().partition("#")[0]
    try:
        parts = urlsplit(base)
        port = parts.port
    except ValueError:
        return base
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}:{port or _DEFAULT_PORTS.get(scheme, 0)}"


class OriginSlots:
    """Counts of requests in flight per origin, at most ``per_origin`` each (thread-safe)."""

    def __init__(self, per_origin: int) -> None:
        self.per_origin = max(1, per_origin)
        self._lock = threading.Lock()
        self._busy: dict[str, int] = {}

    def acquire(self, key: str) -> bool:
        """Take a slot of origin ``key``; False when all of its slots are taken."""
        with self._lock:
            n = self._busy.get(key, 0)
            if n >= self.per_origin:
                return False
            self._busy[key] = n + 1
            return True

    def full(self, key: str) -> bool:
        """Whether every slot of origin ``key`` is taken."""
        with self._lock:
            return self._busy.get(key, 0) >= self.per_origin

    def release(self, key: str) -> None:
        """Give back a slot taken by :meth:`acquire`."""
        with self._lock:
            n = self._busy.get(key, 0)
            if n <= 1:
                self._busy.pop(key, None)
            else:
                self._busy[key] = n - 1

    def busy(self) -> dict[str, int]:
        """Requests in flight per origin (a copy)."""
        with self._lock:
            return dict(self._busy)
