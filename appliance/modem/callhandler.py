"""What a modem thread needs from the call handler it hosts (the voice phone), as a Protocol.

The modem package sits below voice: a modem never imports the voice engine, it only
calls these hooks on whatever object the daemon plugs in (``Modem.phone``).
"""

from __future__ import annotations

from typing import Protocol


class CallHandler(Protocol):
    """Call control living in a modem's thread; every method runs on that thread."""

    def on_connect(self) -> None:
        """The modem (re)connected: set up voice, end calls a restart cut."""
        ...

    def on_drop(self) -> None:
        """The modem went away: every live call is over."""
        ...

    def on_line(self, line: str) -> bool:
        """A URC; True if it was about calls (and has been handled)."""
        ...

    def next_deadline(self) -> float | None:
        """Monotonic time the handler wants :meth:`tick` (None: nothing timed)."""
        ...

    def tick(self, place: bool = True) -> None:
        """Timers are due, or the modem was woken: run them (and place queued calls, unless
        ``place`` is False: the database is away)."""
        ...
