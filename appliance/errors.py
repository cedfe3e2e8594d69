"""The appliance's exception tree, split by who is at fault.

``LocalError`` means the appliance (or its user) asked for something invalid;
``RemoteError`` means the modem or a web app answered with something invalid.
Each error that maps onto a Twilio error code carries it as ``code``.
"""

from __future__ import annotations


class ApplianceError(Exception):
    """Base class for every error the appliance raises on purpose."""

    code: int | None = None

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(ApplianceError):
    """The configuration file or an APPLIANCE_* variable is invalid."""


class InvalidNumber(ApplianceError):
    """A phone number is not a valid E.164 number (Twilio 21211)."""

    code = 21211


class ModemError(ApplianceError):
    """The modem failed a command or went away."""

    #: set when a send failed before any byte of the SMS reached the modem
    prompt_only: bool = False


class ModemTimeout(ModemError):
    """The modem did not answer in time."""


class ModemGone(ModemError):
    """The serial port disappeared (USB unplugged, pty closed)."""


class CommandRejected(ModemError):
    """The modem answered ERROR, +CME ERROR or +CMS ERROR."""

    def __init__(self, command: str, kind: str, error: int | None) -> None:
        text = f"{command!r} rejected by the modem: {kind}" + (
            f" {error}" if error is not None else ""
        )
        super().__init__(text)
        self.command = command
        self.kind = kind
        self.error = error


class StoreClosed(ApplianceError):
    """The store was used after close()."""
