"""Connection settings of a webhook request: timeouts, retries, and Twilio's ``#`` overrides.

Retries are as in Twilio's connection overrides (``#ct=..&rt=..&tt=..&rc=..&rp=..``):
by default one retry, only when the TCP connection could not be made.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl

#: Values of the ``rp`` connection override: retry on 4xx, on 5xx, on connect
#: failure/timeout (``ct``), on read timeout (``rt``), or on all of them.
RETRY_POLICIES = frozenset({"4xx", "5xx", "ct", "rt", "all"})


@dataclass(frozen=True)
class Timeouts:
    """Connection settings of one webhook request (seconds; ``retries`` is a count).

    Defaults are Twilio's: connect 5 s, read 15 s, total 15 s (all attempts included),
    one retry, retried only when the connection could not be made (``rp=ct``).
    """

    connect: float = 5.0
    read: float = 15.0
    total: float = 15.0
    retries: int = 1
    retry_policy: frozenset[str] = frozenset({"ct"})

    def retries_on(self, kind: str | None) -> bool:
        if kind is None:
            return False
        return "all" in self.retry_policy or kind in self.retry_policy


# (key, attribute, min ms or count, max ms or count); values outside are clamped.
_OVERRIDE_LIMITS = {
    "ct": ("connect", 100, 10000),
    "rt": ("read", 100, 15000),
    "tt": ("total", 100, 15000),
    "rc": ("retries", 0, 5),
}


def parse_overrides(url: str, default: Timeouts) -> tuple[str, Timeouts]:
    """Split Twilio's connection-override fragment off ``url``.

    ``https://x/y?q=1#ct=1000&rt=2000&tt=3000&rc=2&rp=ct,5xx`` →
    ``("https://x/y?q=1", Timeouts(connect=1.0, read=2.0, total=3.0, retries=2, ...))``.
    ``ct``/``rt``/``tt`` are milliseconds; values outside Twilio's ranges (ct 100–10000,
    rt/tt 100–15000, rc 0–5) are clamped, unparsable values and unknown keys (``e``,
    ``sni``, ``edge``, …) are ignored.  The fragment is always removed (it is never
    sent over HTTP, so it is not part of the signed URL either).
    """
    base, sep, fragment = url.partition("#")
    if not sep:
        return url, default
    changes: dict[str, Any] = {}
    for key, raw in parse_qsl(fragment, keep_blank_values=True):
        key = key.strip().lower()
        raw = raw.strip()
        if key in _OVERRIDE_LIMITS:
            attr, low, high = _OVERRIDE_LIMITS[key]
            try:
                number = int(raw)
            except ValueError:
                continue
            number = max(low, min(high, number))
            changes[attr] = number if attr == "retries" else number / 1000.0
        elif key == "rp":
            policies = frozenset(p.strip().lower() for p in raw.split(",")) & RETRY_POLICIES
            if policies:
                changes["retry_policy"] = policies
    return base, replace(default, **changes) if changes else default
