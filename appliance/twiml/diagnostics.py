"""What the TwiML parsers report: the fatal :class:`TwimlError` and the non-fatal :class:`Warning`.

Both carry Twilio's error codes; the codes both parsers use are named here.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.errors import ApplianceError

__all__ = [
    "BODY_TOO_LONG",
    "DOCUMENT_PARSE_FAILURE",
    "INVALID_CONTENT_TYPE",
    "INVALID_ROOT",
    "SCHEMA_WARNING",
    "TwimlError",
    "Warning",
]

DOCUMENT_PARSE_FAILURE = 12100
INVALID_ROOT = 12102
SCHEMA_WARNING = 12200
INVALID_CONTENT_TYPE = 12300
BODY_TOO_LONG = 21617


class TwimlError(ApplianceError):
    """The answer cannot be used at all (12100, 12102, 12300); nothing is sent."""

    code: int

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message, code=code)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"TwimlError({self.code}, {self.message!r})"


@dataclass(frozen=True)
class Warning:  # noqa: A001 - the public name asked for; a TwiML warning record
    """A non-fatal problem for the debugger log (12200 schema warning, 21617 too long)."""

    code: int
    message: str
