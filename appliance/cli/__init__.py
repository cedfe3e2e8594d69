"""The ``appliance`` command: thin wrappers over the core, one module per command.

appliance run                         run the daemon (modems, webhooks, HTTP)
appliance send --to N --body T        queue an SMS (for scripts: monitoring alerts...)
appliance account                     print the AccountSid and AuthToken
appliance at [--modem M] [CMD ...]    raw AT console to a modem
appliance sim sms|outbox|fault|status drive the simulated modem (play the phone network)
appliance sim call in|digits|hangup|status|callee   simulated phone calls
appliance apikey create|list|revoke   API keys (SK…:secret) for Basic auth
appliance config                      print every setting with its default and help
appliance panel-password              set the web panel's password (asked twice, or from stdin)
appliance probe [--port P]            identify a modem and name the profile that matches
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from appliance.cli import account, apikey, at, config, panel_password, probe, run, send, sim
from appliance.errors import ApplianceError

# In the order ``appliance --help`` lists them.
COMMANDS = (run, send, account, at, sim, apikey, panel_password, probe, config)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="appliance", description="Twilio in a box: SMS over a GSM modem"
    )
    parser.add_argument(
        "--config",
        "-c",
        help="TOML configuration file (default $APPLIANCE_CONFIG or ./appliance.toml)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except ApplianceError as e:
        print(f"appliance: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
