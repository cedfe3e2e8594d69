"""The ``appliance`` command: thin wrappers over the core, one module per command.

appliance run                         run the daemon (modems, webhooks, HTTP)
appliance send --to N --body T        queue an SMS (for scripts: monitoring alerts...)
appliance page "TEXT"                 page whoever is on call (escalates without an ACK)
appliance account                     print the AccountSid and AuthToken
appliance at [--modem M] [CMD ...]    raw AT console to a modem
appliance ussd MODEM CODE [ANSWER..] a USSD code (balance, menus) and the network's answer
appliance sim sms|outbox|fault|status drive the simulated modem (play the phone network)
appliance sim call in|digits|hangup|status|callee   simulated phone calls
appliance apikey create|list|revoke   API keys (SK…:secret) for Basic auth
appliance config                      print every setting with its default and help
appliance panel-password              set the web panel's password (asked twice, or from stdin)
appliance probe [--port P]            identify a modem and name the profile that matches
appliance status                      modems, queues, last errors and URLs of the running daemon

Every failure is one line on stderr naming the setting or command that fixes it; the exit
status is 2 for a usage error, 1 for a runtime one (:mod:`appliance.cli.failures`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import NoReturn

from appliance.cli import (
    account,
    apikey,
    at,
    config,
    page,
    panel_password,
    probe,
    run,
    send,
    sim,
    status,
    ussd,
)
from appliance.cli.failures import RUNTIME, USAGE, exit_status, one_line
from appliance.errors import ApplianceError, StoreUnavailable

# In the order ``appliance --help`` lists them.
COMMANDS = (run, status, send, page, account, at, ussd, sim, apikey, panel_password, probe, config)
DISTRIBUTION = "sim-appliance"  # pyproject.toml's [project] name


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


class Parser(argparse.ArgumentParser):
    """argparse with a one-line usage error that points at ``--help`` (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: {one_line(message)} (see `{self.prog} --help`)\n")


def _describe(parser: argparse.ArgumentParser) -> None:
    """Give every subcommand's --help a description: its one-line help when it has none."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                if not sub.description and helps.get(name):
                    text = str(helps[name])
                    sub.description = text[0].upper() + text[1:] + "."
                _describe(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="appliance",
        description="Twilio in a box: SMS and calls over a GSM modem, with Twilio's REST API,"
        " webhooks and TwiML.",
        epilog="Failures are one line naming what to fix; exit status 2 means a usage error"
        " (the command line or the configuration), 1 a runtime one.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument(
        "--config",
        "-c",
        help="TOML configuration file (default $APPLIANCE_CONFIG or ./appliance.toml)",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="on an unexpected error, show the Python traceback (for a bug report)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    _describe(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except ApplianceError as e:
        print(f"appliance: {one_line(str(e))}", file=sys.stderr)
        return exit_status(e)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `appliance sim outbox | head`: the reader had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return RUNTIME
    except StoreUnavailable as e:  # the PostgreSQL server went away during the command
        print(f"appliance: {one_line(e.message)}; try again once it answers", file=sys.stderr)
        return RUNTIME
    except sqlite3.Error as e:  # the store: a data_dir of another user, a full disk
        if args.traceback:
            raise
        print(
            f"appliance: the store in data_dir failed: {one_line(str(e))} (check that data_dir"
            " is the daemon's, with --config or APPLIANCE_DATA_DIR, and that this user may read"
            " and write it)",
            file=sys.stderr,
        )
        return RUNTIME
    except OSError as e:  # the host refused something: a file, a directory, a device
        if args.traceback:
            raise
        print(f"appliance: {one_line(str(e))}", file=sys.stderr)
        return RUNTIME
    except Exception as e:
        if args.traceback:
            raise
        # the daemon's log keeps it at log_level = "DEBUG"; the terminal gets one line
        logging.getLogger("appliance").debug("unexpected error", exc_info=True)
        print(
            f"appliance: unexpected error: {type(e).__name__}: {one_line(str(e))} (a bug: run"
            " again with `appliance --traceback ...` and report what it prints)",
            file=sys.stderr,
        )
        return RUNTIME
