"""``appliance at``: a raw AT console to a modem, through the daemon or straight to the port."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from appliance import config
from appliance.cli.client import api
from appliance.cli.failures import NotRunning
from appliance.errors import ApplianceError


def cmd_at(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    modem = cfg.modem(args.modem)
    commands = list(args.command)

    direct: Any = None

    def run(line: str) -> list[str]:
        """Through the daemon's REST API; straight to the port when no daemon listens."""
        nonlocal direct
        if direct is None:
            try:
                rv = api(cfg, "POST", f"/appliance/modems/{modem.name}/at", {"command": line})
                return list(rv["lines"])
            except NotRunning:
                direct = _direct_console(cfg, modem)
        return list(direct(line))

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


def _direct_console(cfg: config.Config, modem: config.ModemConfig) -> Any:
    """The daemon is not running: talk to the port directly (raw, no init)."""
    import serial

    port = str(cfg.sim_dir / f"{modem.name}.tty") if modem.simulated else modem.port
    try:
        ser = serial.serial_for_url(port, baudrate=modem.baudrate, timeout=2)
    except (OSError, serial.SerialException) as e:
        fix = (
            "start the appliance (`appliance run`): it runs the simulated modem"
            if modem.simulated
            else "check the cable and the modem's `port` setting"
            f" (APPLIANCE_MODEM_{modem.name.upper()}_PORT)"
        )
        raise ApplianceError(
            f"the appliance is not running and modem {modem.name}'s port {port} cannot be"
            f" opened ({e}); {fix}"
        ) from None

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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "at",
        help="raw AT console to a modem",
        description="Send AT commands to a modem and print its answers: through the running"
        " appliance (its modem thread), or straight to the serial port when it is not running.",
    )
    p.add_argument("--modem", help="the modem's name (default: the first)")
    p.add_argument("command", nargs="*", help="commands to run (default: interactive)")
    p.set_defaults(fn=cmd_at)
