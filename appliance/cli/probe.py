"""``appliance probe``: identify the modem on each port and name the profile that matches."""

from __future__ import annotations

import argparse
import json
import sys

from appliance import config
from appliance.errors import ApplianceError


def cmd_probe(args: argparse.Namespace) -> int:
    """Identify the modem on each port and name its profile (stop the service first)."""
    from appliance.modem import probe

    ports = list(args.port)
    if not ports:
        cfg = config.load(args.config)
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
        print(json.dumps([r.as_dict() for r in results], indent=2, ensure_ascii=False))
    else:
        for r in results:
            print(probe.describe(r))
    return 0 if results else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "probe",
        help="identify a modem (ATI, +CGMI/+CGMM/+CGMR, USB ids)",
        description="Identify the modem on each serial port and name the profile that matches"
        " (for the modem's `profile` setting). Stop the appliance first: it holds the ports.",
    )
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
