"""``appliance sim``: drive the simulated modem and network (SMS, faults, phone calls)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from appliance import config
from appliance.cli.failures import NotRunning, UsageError
from appliance.errors import ApplianceError

# The simulator's fault switches (``SimulatorHost.fault``), as ``appliance sim fault --help``
# lists them; docs/simulator.md has the same table (tests/test_cli.py holds all three together).
FAULTS = {
    "unplug": "USB unplug: the AT and audio ptys close, calls drop",
    "replug": "USB plug-in: a new pty behind the same path, fresh power-up state",
    "stop_answering": "on/off: the modem stops answering AT commands (and audio)",
    "garbage": "N: write N random bytes at once (default 32)",
    "garbage_mode": "on/off: a line of random bytes after every response",
    "cms_error": "CODE: the next AT+CMGS answers +CMS ERROR: CODE (default 500)",
    "storage_full": "on/off: SMS storage is full; the network keeps inbound messages",
    "network_loss": "on/off: no network registration; live calls drop",
    "signal": "RSSI: the AT+CSQ signal, 0..31 or 99",
    "malformed_pdu": "KIND: deliver a broken PDU (truncated, bad_udh, bad_length, junk)",
    "urc_before_ok": "on/off: the next URC lands inside a command's response, before its OK",
    "cpcmreg_fail": "N: the next N AT+CPCMREG=1 answer ERROR (SIM7600 audio)",
    "refuse": "hold,mpty,ect: the operator refuses these services (none: allow all)",
    "balance": "AMOUNT: the SIM's prepaid balance, what *100# answers (default 0)",
}
OUTCOMES = ("answer", "busy", "no-answer", "unreachable", "reject")


def cmd_sim(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    from appliance.sim import control

    sock = cfg.sim_dir / "control.sock"
    try:
        rv = _request(control, sock, cfg, args)
    except control.SimulatorNotRunning:
        raise NotRunning(
            f"the simulator is not running (no control socket at {sock}): start the appliance"
            ' with a simulated modem (`make run`, or `appliance run` with a modem\'s port = "sim"),'
            " and give this command its --config (the socket is in its data_dir)"
        ) from None
    except control.SimControlError as e:
        raise ApplianceError(f"the simulator refused: {e}") from None
    # ensure_ascii=False: a person reads this; an SMS with € shows €, not \u20ac
    print(json.dumps(rv, indent=2, default=str, ensure_ascii=False))
    return 0


def _modem(cfg: config.Config, args: argparse.Namespace, *, default_first: bool) -> str | None:
    """The modem named by ``--modem``, else the first one (or None: every modem)."""
    name = getattr(args, "modem", None)
    if name is None and not default_first:
        return None
    return cfg.modem(name).name


def _request(control: Any, sock: Path, cfg: config.Config, args: argparse.Namespace) -> Any:
    cmd = args.sim_command
    if cmd == "sms":
        modem = _modem(cfg, args, default_first=True)
        return control.request(sock, "sms", modem=modem, **{"from": args.from_}, body=args.body)
    if cmd == "outbox":
        return control.request(sock, "outbox", modem=_modem(cfg, args, default_first=False))
    if cmd == "fault":
        value: Any = args.value
        if value in ("on", "true", "1"):
            value = True
        elif value in ("off", "false", "0"):
            value = False
        elif value is not None and value.lstrip("-").isdigit():
            value = int(value)
        modem = _modem(cfg, args, default_first=True)
        return control.request(sock, "fault", modem=modem, name=args.name, value=value)
    if cmd == "call":
        return _sim_call(control, sock, cfg, args)
    return control.request(sock, "status", modem=_modem(cfg, args, default_first=True))


def _sim_call(control: Any, sock: Path, cfg: config.Config, args: argparse.Namespace) -> Any:
    """``appliance sim call ...``: ring the appliance, press keys, hang up, script a callee."""
    steps: list[dict[str, Any]] = []
    if getattr(args, "press_after", None) is not None and not getattr(args, "press", None):
        raise UsageError("--press-after needs --press KEYS (the keys to press)")
    if getattr(args, "say", None):
        steps.append({"say": args.say})
    if getattr(args, "play", None):
        steps.append({"play": args.play})
    if getattr(args, "press", None):
        if getattr(args, "press_after", None):
            steps.append({"silence": args.press_after})  # e.g. past a <Say> before <Gather>
        steps.append({"digits": args.press})
    if getattr(args, "hangup_after", None) is not None:
        steps += [{"silence": args.hangup_after}, {"hangup": True}]
    cmd = args.call_command
    if cmd == "in":
        return control.request(
            sock,
            "call_in",
            modem=_modem(cfg, args, default_first=True),
            ring_timeout=args.ring_timeout,
            withheld=args.withheld,
            party=steps,
            **{"from": args.from_},
        )
    if cmd == "callee":  # a number on the network: no modem of ours is involved
        return control.request(
            sock,
            "callee",
            number=args.number,
            outcome=args.outcome,
            answer_after=args.answer_after,
            party=steps,
        )
    modem = _modem(cfg, args, default_first=False)
    if cmd == "status":
        return control.request(sock, "call_status", modem=modem, all=args.all)
    if cmd == "digits":
        return control.request(sock, "call_digits", modem=modem, call=args.call, digits=args.digits)
    return control.request(sock, "call_hangup", modem=modem, call=args.call)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sim",
        help="drive the simulated modem and network",
        description="Play the phone network against the appliance's simulated modems (port ="
        ' "sim"), through the simulator\'s control socket in data_dir/sim: deliver SMS, read'
        " what was sent, flip faults, make calls. The simulated network takes a few seconds to"
        " deliver (sim_latency, sim_report_delay).",
    )
    sims = p.add_subparsers(dest="sim_command", required=True)
    s = sims.add_parser("sms", help="deliver an inbound SMS to the appliance")
    s.add_argument("--from", dest="from_", required=True, metavar="NUMBER", help="the sender")
    s.add_argument("--body", required=True)
    s.add_argument("--modem")
    s = sims.add_parser("outbox", help="what the network received from the appliance")
    s.add_argument("--modem")
    s = sims.add_parser(
        "fault",
        help="flip a fault switch",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="faults:\n"
        + "\n".join(f"  {name:<15} {text}" for name, text in FAULTS.items())
        + "\n(docs/simulator.md, Fault switches)",
    )
    s.add_argument("name", choices=list(FAULTS), metavar="name", help="the fault (listed below)")
    s.add_argument("value", nargs="?", help="on/off, a count, a code or a list, as listed below")
    s.add_argument("--modem")
    s = sims.add_parser("status", help="the simulated modem's state")
    s.add_argument("--modem")
    s = sims.add_parser("call", help="simulated phone calls (the network's side)")
    calls = s.add_subparsers(dest="call_command", required=True)
    c = calls.add_parser(
        "in",
        help="call the appliance from a simulated phone",
        description="Ring the appliance's number from a simulated phone; once the appliance"
        " answers, the caller runs its script: --say, --play, then --press (after"
        " --press-after seconds), then hangs up after --hangup-after seconds.",
    )
    c.add_argument(
        "--from", dest="from_", required=True, metavar="NUMBER", help="the caller's number"
    )
    c.add_argument("--modem")
    c.add_argument("--ring-timeout", type=float, default=60.0, help="caller gives up after (s)")
    c.add_argument("--withheld", action="store_true", help="caller ID withheld")
    callee = calls.add_parser("callee", help="how a number answers when the appliance dials it")
    for scripted in (c, callee):
        scripted.add_argument("--say", help="once answered, say this (espeak-ng)")
        scripted.add_argument("--play", help="once answered, play this WAV file")
        scripted.add_argument("--press", help="once answered, press these keys (DTMF)")
        scripted.add_argument(
            "--press-after",
            type=float,
            metavar="SECONDS",
            help="press the keys this long after answering (and after --say/--play), not at once:"
            " the appliance takes keys only while a <Gather> runs, so wait out what the TwiML"
            " says before its <Gather>",
        )
        scripted.add_argument("--hangup-after", type=float, help="then hang up after (s)")
    c = callee
    c.add_argument("number", help="the dialled number")
    c.add_argument("--outcome", default="answer", choices=OUTCOMES)
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
