"""``appliance sim``: drive the simulated modem and network (SMS, faults, phone calls)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from appliance import config


def cmd_sim(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    from appliance.sim import control

    sock = cfg.sim_dir / "control.sock"
    modem = (
        cfg.modem(args.modem).name
        if getattr(args, "modem", None) or args.sim_command != "outbox"
        else None
    )
    if args.sim_command == "sms":
        rv = control.request(sock, "sms", modem=modem, **{"from": args.from_}, body=args.body)
    elif args.sim_command == "outbox":
        rv = control.request(sock, "outbox", modem=modem)
    elif args.sim_command == "fault":
        value: Any = args.value
        if value in ("on", "true", "1"):
            value = True
        elif value in ("off", "false", "0"):
            value = False
        elif value is not None and value.lstrip("-").isdigit():
            value = int(value)
        rv = control.request(sock, "fault", modem=modem, name=args.name, value=value)
    elif args.sim_command == "call":
        rv = _sim_call(control, sock, modem, args)
    else:
        rv = control.request(sock, "status", modem=modem)
    print(json.dumps(rv, indent=2, default=str))
    return 0


def _sim_call(control: Any, sock: Any, modem: str | None, args: argparse.Namespace) -> Any:
    """``appliance sim call ...``: ring the appliance, press keys, hang up, script a callee."""
    steps: list[dict[str, Any]] = []
    if getattr(args, "say", None):
        steps.append({"say": args.say})
    if getattr(args, "play", None):
        steps.append({"play": args.play})
    if getattr(args, "press", None):
        steps.append({"digits": args.press})
    if getattr(args, "hangup_after", None) is not None:
        steps += [{"silence": args.hangup_after}, {"hangup": True}]
    cmd = args.call_command
    if cmd == "in":
        return control.request(
            sock,
            "call_in",
            modem=modem,
            ring_timeout=args.ring_timeout,
            withheld=args.withheld,
            party=steps,
            **{"from": args.from_},
        )
    if cmd == "callee":
        return control.request(
            sock,
            "callee",
            number=args.number,
            outcome=args.outcome,
            answer_after=args.answer_after,
            party=steps,
        )
    if cmd == "status":
        return control.request(sock, "call_status", modem=args.modem, all=args.all)
    if cmd == "digits":
        return control.request(
            sock, "call_digits", modem=args.modem, call=args.call, digits=args.digits
        )
    return control.request(sock, "call_hangup", modem=args.modem, call=args.call)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("sim", help="drive the simulated modem and network")
    sims = p.add_subparsers(dest="sim_command", required=True)
    s = sims.add_parser("sms", help="deliver an inbound SMS to the appliance")
    s.add_argument("--from", dest="from_", required=True)
    s.add_argument("--body", required=True)
    s.add_argument("--modem")
    s = sims.add_parser("outbox", help="what the network received from the appliance")
    s.add_argument("--modem")
    s = sims.add_parser("fault", help="flip a fault switch")
    s.add_argument(
        "name",
        help="unplug, replug, stop_answering, garbage, cms_error, storage_full, network_loss, signal",
    )
    s.add_argument("value", nargs="?", help="on/off, a count or a code")
    s.add_argument("--modem")
    s = sims.add_parser("status", help="the simulated modem's state")
    s.add_argument("--modem")
    s = sims.add_parser("call", help="simulated phone calls (the network's side)")
    calls = s.add_subparsers(dest="call_command", required=True)
    c = calls.add_parser("in", help="call the appliance from a simulated phone")
    c.add_argument("--from", dest="from_", required=True, help="the caller's number")
    c.add_argument("--modem")
    c.add_argument("--ring-timeout", type=float, default=60.0, help="caller gives up after (s)")
    c.add_argument("--withheld", action="store_true", help="caller ID withheld")
    callee = calls.add_parser("callee", help="how a number answers when the appliance dials it")
    for scripted in (c, callee):
        scripted.add_argument("--say", help="once answered, say this (espeak-ng)")
        scripted.add_argument("--play", help="once answered, play this WAV file")
        scripted.add_argument("--press", help="once answered, press these keys (DTMF)")
        scripted.add_argument("--hangup-after", type=float, help="then hang up after (s)")
    c = callee
    c.add_argument("number", help="the dialled number")
    c.add_argument(
        "--outcome",
        default="answer",
        choices=["answer", "busy", "no-answer", "unreachable", "reject"],
    )
    c.add_argument("--answer-after", type=float, default=2.0, help="seconds of ringing")
    c = calls.add_parser("digits", help="the remote party presses keys")
    c.add_argument("digits")
    c.add_argument("--call", help="call id (default: the newest live call)")
    c.add_argument("--modem")
    c = calls.add_parser("hangup", help="the remote party hangs up")
    c.add_argument("--call", help="call id (default: the newest live call)")
    c.add_argument("--modem")
    c = calls.add_parser("status", help="calls on the simulated network")
    c.add_argument("--modem")
    c.add_argument("--all", action="store_true", help="ended calls too")
    p.set_defaults(fn=cmd_sim)
