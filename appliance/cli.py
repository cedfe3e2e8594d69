"""The ``appliance`` command: thin wrappers over the core.

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
import base64
import json
import logging
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from appliance import config as configmod
from appliance.errors import ApplianceError

LOGGER = logging.getLogger("appliance")


def setup_logging(level: str) -> None:
    if level.upper() == "TRACE":
        logging.addLevelName(5, "TRACE")
        numeric = 5
    else:
        numeric = getattr(logging, level.upper(), logging.INFO)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(numeric)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # APScheduler logs every run of every job at INFO: months of journal noise on a Pi.
    logging.getLogger("apscheduler").setLevel(max(numeric, logging.WARNING))


def _load(args: argparse.Namespace) -> configmod.Config:
    return configmod.load(args.config)


def _credentials(cfg: configmod.Config) -> tuple[str, str]:
    from appliance.store.account import Account
    from appliance.store.database import Store

    store = Store(cfg.db_path)
    try:
        account = Account(store)
        return account.sid, account.auth_token
    finally:
        store.close()


def _api(cfg: configmod.Config, method: str, path: str, data: dict[str, str] | None = None) -> Any:
    sid, token = _credentials(cfg)
    url = cfg.base_url + path.replace("{AccountSid}", sid)
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as rv:  # noqa: S310 - our own base URL
            return json.loads(rv.read() or b"{}")
    except urllib.error.HTTPError as e:
        payload = json.loads(e.read() or b"{}")
        raise ApplianceError(
            f"{payload.get('message', e.reason)} (error {payload.get('code')})"
        ) from None


# -- commands --------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    cfg = _load(args)
    setup_logging(cfg.log_level)
    from appliance.daemon import Daemon

    daemon = Daemon(cfg)
    sid, token = daemon.account.sid, daemon.account.auth_token
    number = cfg.modems[0].number
    print(
        f"""
The appliance is starting on {cfg.base_url}  (Ctrl-C stops it)
  AccountSid {sid}
  AuthToken  {token}
  Numbers    {", ".join(f"{m.number} ({m.name}, {'simulated ' + m.profile if m.simulated else m.port})" for m in cfg.modems)}

Try it:
  send an SMS through the REST API, as Twilio code would:
    curl -u {sid}:{token} --data-urlencode To=+15558675310 --data-urlencode From={number} \\
         --data-urlencode Body=Hello {cfg.base_url}/2010-04-01/Accounts/{sid}/Messages.json
  see what the simulated network received:   .venv/bin/appliance sim outbox
  text the appliance from a simulated phone:  .venv/bin/appliance sim sms --from +15558675310 --body "Hi there"
  point the number at your web app:           APPLIANCE_MODEM_{cfg.modems[0].name.upper()}_SMS_URL=http://127.0.0.1:5000/sms make run
  calls: set APPLIANCE_MODEM_{cfg.modems[0].name.upper()}_VOICE_URL the same way, then ring the number:
                                              .venv/bin/appliance sim call in --from +15558675310 --press 1#
  the panel: open {cfg.base_url}/ in a browser (the first-run page asks for the AuthToken above)
""",
        flush=True,
    )
    daemon.run_forever()
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    cfg = _load(args)
    modem = cfg.modem(args.modem)
    from_ = args.from_ or modem.number
    data = {"To": args.to, "From": from_, "Body": args.body}
    try:
        rv = _api(cfg, "POST", "/2010-04-01/Accounts/{AccountSid}/Messages.json", data)
        print(rv["sid"])
        return 0
    except (urllib.error.URLError, ConnectionError):
        pass  # the daemon is not running: queue straight into the store; it sends on start
    from appliance.sms.outbox import Outbox
    from appliance.store.account import Account
    from appliance.store.database import Store

    store = Store(cfg.db_path)
    try:
        account = Account(store)
        account.seed_numbers(cfg)
        target = account.modem_for_number(from_)
        if target is None:
            raise ApplianceError(f"{from_} is not a number of this appliance")
        sid = Outbox(store, lambda: account.sid).enqueue(
            modem=target, from_number=from_, to=args.to, body=args.body
        )
    finally:
        store.close()
    print(sid)
    print(
        "(the appliance is not running: the message is queued and goes out when it starts)",
        file=sys.stderr,
    )
    return 0


def cmd_account(args: argparse.Namespace) -> int:
    cfg = _load(args)
    sid, token = _credentials(cfg)
    if args.shell:
        print(f"export TWILIO_ACCOUNT_SID={sid}\nexport TWILIO_AUTH_TOKEN={token}")
    else:
        print(f"AccountSid {sid}\nAuthToken  {token}")
    return 0


def cmd_at(args: argparse.Namespace) -> int:
    cfg = _load(args)
    modem = cfg.modem(args.modem)
    commands = list(args.command)

    def through_daemon(line: str) -> list[str]:
        rv = _api(cfg, "POST", f"/appliance/modems/{modem.name}/at", {"command": line})
        return list(rv["lines"])

    run = through_daemon
    try:
        if not commands:
            through_daemon("AT")
    except (urllib.error.URLError, ConnectionError):
        run = _direct_console(cfg, modem)
    if commands:
        for line in commands:
            print("\n".join(run(line)))
        return 0
    print(f"AT console to {modem.name}; empty line or Ctrl-D quits.")
    for line in sys.stdin:
        line = line.strip()
        if not line:
            break
        try:
            print("\n".join(run(line)))
        except ApplianceError as e:
            print(f"error: {e}")
    return 0


def _direct_console(cfg: configmod.Config, modem: configmod.ModemConfig) -> Any:
    """The daemon is not running: talk to the port directly (raw, no init)."""
    import serial

    port = str(cfg.sim_dir / f"{modem.name}.tty") if modem.simulated else modem.port
    ser = serial.serial_for_url(port, baudrate=modem.baudrate, timeout=2)

    def run(line: str) -> list[str]:
        ser.write(line.encode() + b"\r")
        out = b""
        while (
            not any(out.rstrip().endswith(t) for t in (b"OK", b"ERROR", b">"))
            and b"ERROR:" not in out
        ):
            chunk = ser.read(256)
            if not chunk:
                break
            out += chunk
        return [x for x in out.decode("utf-8", "replace").splitlines() if x.strip()]

    return run


def cmd_sim(args: argparse.Namespace) -> int:
    cfg = _load(args)
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


def cmd_apikey(args: argparse.Namespace) -> int:
    """API keys for Basic auth as ``SK…:secret``; the secret is printed once, at creation."""
    cfg = _load(args)
    from appliance.store import apikeys
    from appliance.store.database import Store

    store = Store(cfg.db_path)
    try:
        if args.apikey_command == "create":
            key, secret = apikeys.create(store, args.name or "")
            print(f"Sid     {key.sid}\nSecret  {secret}")
            print(
                "(the secret is shown only now: store it; use it as the password with the Sid as"
                " the username)",
                file=sys.stderr,
            )
        elif args.apikey_command == "list":
            for key in apikeys.list_keys(store):
                state = "revoked" if key.revoked_at is not None else "active"
                print(f"{key.sid}  {state:7}  {key.friendly_name}")
        else:
            if not apikeys.revoke(store, args.sid):
                raise ApplianceError(f"no active API key {args.sid}")
            print(f"revoked {args.sid}")
    finally:
        store.close()
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    """Identify the modem on each port and name its profile (stop the service first)."""
    from appliance.modem import probe

    ports = list(args.port)
    if not ports:
        cfg = _load(args)
        ports = [m.port for m in cfg.modems if not m.simulated] or probe.candidates()
    if not ports:
        raise ApplianceError("no serial ports found; plug in the modem or give --port")
    results, failures = [], 0
    for port in ports:
        try:
            results.append(probe.probe(port, baudrate=args.baudrate, timeout=args.timeout))
        except probe.ProbeError as e:
            failures += 1
            print(f"{port}: {e}", file=sys.stderr)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for r in results:
            print(probe.describe(r))
    return 0 if results else 1


def cmd_config(args: argparse.Namespace) -> int:
    print(configmod.describe(), end="")
    return 0


def cmd_panel_password(args: argparse.Namespace) -> int:
    """Set the panel password: typed twice at a terminal, or one line on standard input."""
    import getpass

    from appliance.store.database import Store
    from web.auth import set_password

    if sys.stdin.isatty():
        password = getpass.getpass("New panel password: ")
        if password != getpass.getpass("Again: "):
            print("the two passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    cfg = _load(args)
    store = Store(cfg.db_path)
    try:
        set_password(store, password)
    except ValueError as e:
        print(f"not set: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print("panel password set")
    return 0


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

    sub.add_parser("run", help="run the appliance").set_defaults(fn=cmd_run)

    p = sub.add_parser("send", help="queue an SMS")
    p.add_argument("--to", required=True, help="destination in E.164, e.g. +14155552671")
    p.add_argument("--body", required=True)
    p.add_argument(
        "--from", dest="from_", help="one of the appliance's numbers (default: the first)"
    )
    p.add_argument("--modem", help="send from this modem's number")
    p.set_defaults(fn=cmd_send)

    p = sub.add_parser("account", help="print the AccountSid and AuthToken")
    p.add_argument("--shell", action="store_true", help="as TWILIO_* export lines")
    p.set_defaults(fn=cmd_account)

    p = sub.add_parser("at", help="raw AT console to a modem")
    p.add_argument("--modem")
    p.add_argument("command", nargs="*", help="commands to run (default: interactive)")
    p.set_defaults(fn=cmd_at)

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

    p = sub.add_parser("apikey", help="create, list or revoke API keys (SK…:secret)")
    keys = p.add_subparsers(dest="apikey_command", required=True)
    k = keys.add_parser("create", help="create a key; prints its Sid and secret once")
    k.add_argument("--name", help="a friendly name")
    keys.add_parser("list", help="every key, active or revoked")
    k = keys.add_parser("revoke", help="revoke a key at once")
    k.add_argument("sid", help="the key's SK… Sid")
    p.set_defaults(fn=cmd_apikey)
    sub.add_parser(
        "panel-password", help="set the web panel's password (stdin or asked twice)"
    ).set_defaults(fn=cmd_panel_password)

    p = sub.add_parser("probe", help="identify a modem (ATI, +CGMI/+CGMM/+CGMR, USB ids)")
    p.add_argument(
        "--port",
        action="append",
        default=[],
        help="serial port (repeatable; default: the configured ports, else every serial port)",
    )
    p.add_argument("--baudrate", type=int, default=115200)
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per AT command")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(fn=cmd_probe)

    sub.add_parser("config", help="print every setting with its default").set_defaults(
        fn=cmd_config
    )
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
