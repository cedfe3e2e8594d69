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


class StreamRefused(ApplianceError):
    """A Media Stream cannot be started on this call (the message says why and what to do)."""


class StoreError(ApplianceError):
    """The store cannot start: ``database_url`` is wrong, its server does not answer or
    refuses us, or the schema is newer than this code.  The message is one line and never
    contains the password."""


class SchemaNewer(StoreError):
    """The database has migrations this appliance does not know (a newer version wrote it)."""


class FleetError(ApplianceError):
    """This node cannot take its place in the fleet (issue 16): a modem name of its
    configuration is held by another live node, or data_dir's node id is unreadable.  One
    line, naming the modem and the other node."""


class StoreUnavailable(Exception):
    """The database server cannot be reached now, or it dropped the connection (PostgreSQL):
    nothing of the operation is stored.  It passes when the server answers again
    (:mod:`appliance.store.outage`); the REST API answers 503 meanwhile.

    Not an :class:`ApplianceError` on purpose: about twenty handlers turn those into the
    caller's fault (a 400, a form error), and an outage is nobody's input."""

    code = 20503  # the appliance's 20000 + HTTP status pattern (20003, 20404, 20429, 20500)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TokenError(ApplianceError):
    """A browser phone's token was refused (:mod:`appliance.clients.tokens`).

    ``code`` is the Twilio error the Voice JavaScript SDK raises for it (:data:`CLIENT_ERRORS`);
    the message never contains the token or a secret.
    """

    code = 20101


#: The Twilio errors the Voice JavaScript SDK surfaces, by code, in the SDK's own words
#: (``@twilio/voice-sdk`` 2.x, ``lib/twilio/errors/generated.ts``): the appliance sends these
#: codes so the SDK raises the same error classes as against Twilio.
CLIENT_ERRORS: dict[int, str] = {
    20101: "Invalid access token",
    20104: "Access token expired or expiration date invalid",
    20151: "Authentication Failed",
    31000: "Unknown Error",
    31001: "Application Not Found",
    31002: "Connection Declined",
    31003: "Connection Timeout",
    31005: "Connection error",
    31008: "Call cancelled",
    31009: "Transport error",
    31100: "The request had malformed syntax.",
    31101: "Missing parameter array in request",
    31102: "Authorization token missing in request.",
    31103: "Maximum parameter length has been exceeded.",
    31104: "Invalid bridge token",
    31105: "Invalid client name",
    31107: "The reconnect parameter is invalid",
    31201: "Authorization error",
    31202: "Signature validation failed.",
    31203: "No valid account",
    31204: "Invalid JWT token",
    31205: "JWT token expired",
    31206: "Rate exceeded authorized limit.",
    31207: "JWT token expiration too long",
    31209: "Reconnect attempt is not authorized.",
    31210: "Call Message Event Type is invalid.",
    31212: "Call Message Event Payload size exceeded authorized limit.",
    31400: "Bad Request (HTTP/SIP)",
    31404: "Not Found (HTTP/SIP)",
    31480: "Temporarily Unavailable (SIP)",
    31486: "Busy Here (SIP)",
    31603: "Decline (SIP)",
}
