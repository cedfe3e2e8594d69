"""How a command fails: one line on stderr, exit status 2 for a usage error, 1 for a runtime one.

A usage error is the user's to fix in the command line or the configuration (a bad setting, an
unknown modem, an invalid number); a runtime error is the world's (nothing listens, a port is
taken, the modem does not answer).  Either way the line names the setting or the command that
fixes it.
"""

from __future__ import annotations

from appliance.errors import ApplianceError, ConfigError, InvalidNumber

USAGE = 2  # the command line or the configuration is wrong
RUNTIME = 1  # the command was right; the appliance, the modem or the host failed it


class UsageError(ApplianceError):
    """An argument is wrong (an unknown key Sid, a number not of this appliance...)."""


class NotRunning(ApplianceError):
    """The command needs the running appliance (or its simulator) and none answers."""


def exit_status(error: BaseException) -> int:
    """``USAGE`` for the user's mistakes, ``RUNTIME`` for everything else."""
    if isinstance(error, UsageError | ConfigError | InvalidNumber):
        return USAGE
    return RUNTIME


def one_line(text: str) -> str:
    """``text`` on one line: a failure is a single line of the log or the terminal."""
    return " ".join(str(text).split())
