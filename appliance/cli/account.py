"""``appliance account``: print the AccountSid and AuthToken (or as shell exports)."""

from __future__ import annotations

import argparse

from appliance import config
from appliance.cli.client import credentials


def cmd_account(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    sid, token = credentials(cfg)
    if args.shell:
        print(f"export TWILIO_ACCOUNT_SID={sid}\nexport TWILIO_AUTH_TOKEN={token}")
    else:
        print(f"AccountSid {sid}\nAuthToken  {token}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("account", help="print the AccountSid and AuthToken")
    p.add_argument("--shell", action="store_true", help="as TWILIO_* export lines")
    p.set_defaults(fn=cmd_account)
