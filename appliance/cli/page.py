"""``appliance page "text"``: page whoever is on call (for Monit's ``exec``, cron, scripts).

Through the running daemon (``POST /appliance/alerts``); when it is not running, the alert is
opened straight in the store, its first text queued: it goes out, and the escalation goes on,
when the appliance starts.
"""

from __future__ import annotations

import argparse
import sys

from appliance import config
from appliance.cli.client import api, daemon_url
from appliance.cli.failures import NotRunning, UsageError
from appliance.oncall import paging


def cmd_page(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    data = {"Body": args.text, "Severity": args.severity, "Fingerprint": args.fingerprint,
            "Policy": args.policy}  # fmt: skip
    try:
        alert = paging.from_form(args.text, args.severity, args.fingerprint)
    except paging.PayloadError as e:
        raise UsageError(e.message) from None
    try:
        rv = api(cfg, "POST", "/appliance/alerts", data)
        outcome = rv["alerts"][0]
    except NotRunning:
        outcome = _offline(cfg, alert, args.policy)
        tried, source = daemon_url(cfg)
        print(
            f"(the appliance is not running: nothing answers on {tried} ({source}); the alert"
            f" is stored in {cfg.db_path} and the page goes out when the appliance starts)",
            file=sys.stderr,
        )
    print(f"alert {outcome.get('id', '-')}: {outcome['outcome']}")
    return 0 if outcome["outcome"] != "nobody" else 1


def _offline(cfg: config.Config, alert: paging.AlertIn, policy: str) -> dict[str, object]:
    from appliance.oncall.directory import Directory
    from appliance.oncall.pager import Pager
    from appliance.oncall.rotation import RotationError
    from appliance.sms.outbox import Outbox
    from appliance.store.account import Account
    from appliance.store.engines import open_store

    store = open_store(cfg)
    try:
        account = Account(store)
        account.seed_numbers(cfg)
        directory = Directory(store)
        try:
            chosen = directory.policies.require(policy, "--policy")
        except RotationError as e:
            raise UsageError(f"{e.field}: {e.message}") from None
        pager = Pager(store, Outbox(store, lambda: account.sid), directory, lambda _m: None)
        return pager.post([alert], policy=chosen)[0]
    finally:
        store.close()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "page",
        help="page whoever is on call",
        description="Open an alert and text whoever is on call now; without an ACK it"
        " escalates (docs/oncall.md). The same text again while the alert is open is not paged"
        " twice. Exit status 1 when nobody is on call (the alert is stored all the same).",
    )
    p.add_argument("text", help="what is wrong (1600 characters at most; more is cut)")
    p.add_argument("--severity", default="critical", choices=paging.SEVERITIES)
    p.add_argument(
        "--fingerprint",
        default="",
        help="what makes two pages the same alert (default: the text)",
    )
    p.add_argument(
        "--policy",
        default="default",
        metavar="NAME",
        help="the escalation policy whose people are paged (default: default)",
    )
    p.set_defaults(fn=cmd_page)
