"""``appliance ussd MODEM CODE``: a USSD code on a modem (balance, menus), through the daemon.

The running appliance sends it on the modem's thread and waits for the network's answer
(``POST /appliance/modems/{name}/ussd``).  When the network asks for more (a menu), the
answers given after the code are sent in turn; then, at a terminal, the next one is asked
for; an empty line (or the end of the input) cancels the session.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from appliance import config
from appliance.cli.client import api
from appliance.cli.failures import UsageError


def cmd_ussd(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    modem = cfg.modem(args.modem)
    path = f"/appliance/modems/{modem.name}/ussd"
    if args.cancel:
        _show(api(cfg, "POST", path, {"cancel": "1"}), args.json)
        return 0
    if not args.code:
        raise UsageError("give a USSD code such as '*100#' (quoted: # starts a shell comment)")
    answers = list(args.answers)
    reply = api(cfg, "POST", path, {"code": args.code})
    _show(reply, args.json)
    while reply.get("session_open"):
        if answers:
            text = answers.pop(0)
        elif args.keep_open:
            return 0
        else:
            text = _ask()
        if not text:
            _show(api(cfg, "POST", path, {"cancel": "1"}), args.json)
            return 0
        reply = api(cfg, "POST", path, {"code": text})
        _show(reply, args.json)
    return 0


def _ask() -> str:
    """The user's answer to a menu: a line of standard input (empty at its end)."""
    if sys.stdin.isatty():
        print("answer (empty line cancels)> ", end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline()
    return line.strip()


def _show(reply: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(reply, ensure_ascii=False))
        return
    status = reply.get("status", "")
    if status == "cancelled":
        print("(session cancelled)")
    elif reply.get("text"):
        print(reply["text"])
        if status not in ("done", "more"):
            print(f"({status})")
    else:
        print(f"({status})")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ussd",
        help="send a USSD code (balance, menus) and print the network's answer",
        description="Send a USSD code such as '*100#' on a modem, through the running"
        " appliance, and print the network's answer. When the network answers with a menu,"
        " the ANSWERs are sent in turn, then (at a terminal) the next answer is asked for;"
        " an empty line cancels the session.",
    )
    p.add_argument("modem", help="the modem's name")
    p.add_argument("code", nargs="?", help="the code, quoted: '*100#'")
    p.add_argument("answers", nargs="*", metavar="ANSWER", help="answers to the menus, in turn")
    p.add_argument("--cancel", action="store_true", help="end the modem's open USSD session")
    p.add_argument(
        "--keep-open",
        action="store_true",
        help="leave a menu open for a later `appliance ussd MODEM ANSWER` instead of asking",
    )
    p.add_argument("--json", action="store_true", help="print each answer as JSON")
    p.set_defaults(fn=cmd_ussd)
