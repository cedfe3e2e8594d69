"""Errors the simulator raises: AT command errors and bad requests about calls.

:class:`AtError` is raised by the modem's command handlers; :class:`VoiceError` by the
simulated network's voice API (bad outcome, digits or audio).
"""

from __future__ import annotations


class AtError(Exception):
    """Raised by a command handler; rendered according to AT+CMEE and the family."""

    def __init__(self, kind: str = "plain", code: int = 0) -> None:
        super().__init__(f"{kind} {code}")
        self.kind = kind  # "plain" | "cme" | "cms" | "unknown"
        self.code = code


def cme(code: int) -> AtError:
    return AtError("cme", code)


def cms(code: int) -> AtError:
    return AtError("cms", code)


class VoiceError(ValueError):
    """A bad request to the simulated network (unknown outcome, bad digits, bad audio)."""
