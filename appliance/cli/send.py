"""``appliance send``: queue an SMS through the running daemon, or straight into the store."""

from __future__ import annotations

import argparse
import sys

from appliance import config
from appliance.cli.client import api, daemon_url
from appliance.cli.failures import NotRunning, UsageError


def cmd_send(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    modem = cfg.modem(args.modem)
    from_ = args.from_ or modem.number
    data = {"To": args.to, "From": from_, "Body": args.body}
    try:
        rv = api(cfg, "POST", "/2010-04-01/Accounts/{AccountSid}/Messages.json", data)
        print(rv["sid"])
        return 0
    except NotRunning:
        pass  # the daemon is not running: queue straight into the store; it sends on start
    tried, source = daemon_url(cfg)
    from appliance.sms.outbox import Outbox
    from appliance.store.account import Account
    from appliance.store.engines import open_store

    store = open_store(cfg)
    try:
        account = Account(store)
        account.seed_numbers(cfg)
        target = account.modem_for_number(from_)
        if target is None:
            numbers = ", ".join(m.number for m in cfg.modems)
            raise UsageError(
                f"{from_} is not a number of this appliance (--from takes one of: {numbers})"
            )
        sid = Outbox(store, lambda: account.sid).enqueue(
            modem=target, from_number=from_, to=args.to, body=args.body
        )
    finally:
        store.close()
    print(sid)
    print(
        f"(the appliance is not running: nothing answers on {tried} ({source}); the message"
        f" is queued in {cfg.db_path} and goes out when the appliance starts)",
        file=sys.stderr,
    )
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "send",
        help="queue an SMS",
        description="Queue an SMS through the running appliance (found through data_dir/run.json)"
        " and print its Sid; when the appliance is not running, queue it in the store: it goes"
        " out when the appliance starts.",
    )
    p.add_argument("--to", required=True, help="destination in E.164, e.g. +14155552671")
    p.add_argument("--body", required=True)
    p.add_argument(
        "--from",
        dest="from_",
        metavar="NUMBER",
        help="one of the appliance's numbers (default: the first)",
    )
    p.add_argument("--modem", help="send from this modem's number")
    p.set_defaults(fn=cmd_send)
