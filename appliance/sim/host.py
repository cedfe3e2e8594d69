"""Run several simulated modems, one network and one control socket.

In-process (daemon, tests)::

    host = SimulatorHost(Path("var/sim"))
    host.add("modem1", "sim800", "+447700900001", latency=0.01)
    host.start()                # ptys at var/sim/modem1.tty, control at var/sim/control.sock
    ...
    host.stop()

Standalone (survives the daemon being SIGKILLed)::

    python -m appliance.sim.host --dir var/sim --modem modem1:sim800:+447700900001 \
        [--modem name:family:number[:pin]] [--latency 0.01] [--report-delay 1] [--boot-delay 0.5]

prints ``READY <control socket>`` once the ptys exist and runs until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .control import ControlServer
from .device import SimulatedModem
from .families import create_modem
from .network import Network
from .party import RemoteParty
from .pcm import load_audio, render_speech
from .profile import SimProfile, load_profile

log = logging.getLogger(__name__)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value if value is not None else True)


class SimulatorHost:
    """A set of simulated modems attached to one :class:`Network`."""

    def __init__(
        self,
        base_dir: Path | str,
        *,
        report_status: int | None = 0,
        report_delay: float = 1.0,
        control: bool = True,
        seed: int | None = None,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.network = Network(report_status=report_status, report_delay=report_delay, seed=seed)
        self.modems: dict[str, SimulatedModem] = {}
        self.control_path = self.base_dir / "control.sock"
        self._control = ControlServer(self.control_path, self.handle) if control else None
        self._started = False

    # ------------------------------------------------------------------ setup
    def add(
        self,
        name: str,
        family: str,
        number: str,
        latency: float | None = None,
        pin: str | None = None,
        *,
        profile: SimProfile | None = None,
        **profile_overrides: Any,
    ) -> SimulatedModem:
        """Create a modem of ``family`` whose port symlink is ``base_dir/<name>.tty``.

        ``profile_overrides`` replace [sim] values, e.g. ``boot_delay=0.05`` or
        ``periodic_urcs=(PeriodicUrc("^RSSI:{rssi}", 0.2),)``; ``voice={"ring_period": 0.3}``
        replaces [voice] / [sim.voice] values.
        """
        if name in self.modems:
            raise ValueError(f"modem {name!r} already exists")
        prof = profile if profile is not None else load_profile(family)
        voice = profile_overrides.pop("voice", None)
        if isinstance(voice, dict):
            profile_overrides["voice"] = prof.voice.replace(**voice)
        elif voice is not None:
            profile_overrides["voice"] = voice
        if profile_overrides:
            prof = prof.replace(**profile_overrides)
        modem = create_modem(
            name,
            family,
            number,
            self.base_dir / f"{name}.tty",
            self.network,
            latency=latency,
            pin=pin,
            profile=prof,
        )
        self.modems[name] = modem
        self.network.attach(modem)
        if self._started:
            modem.start()
        return modem

    def start(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        for modem in self.modems.values():
            modem.start()
        if self._control is not None:
            self._control.start()
        self._started = True

    def stop(self) -> None:
        if self._control is not None:
            self._control.stop()
        for modem in self.modems.values():
            modem.stop()
        self.network.stop()
        self._started = False

    def __enter__(self) -> SimulatorHost:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def modem(self, which: str) -> SimulatedModem:
        """A modem by name or phone number (KeyError if there is none)."""
        return self.modems[self.network.modem(which).name]

    # ------------------------------------------------------------------ control ops
    def fault(self, modem: SimulatedModem, name: str, value: Any = None) -> None:
        if name == "unplug":
            modem.unplug()
        elif name == "replug":
            modem.replug()
        elif name == "stop_answering":
            modem.stop_answering(_bool(value))
        elif name == "garbage":
            modem.garbage(int(value or 32))
        elif name == "garbage_mode":
            modem.garbage_mode(_bool(value))
        elif name == "cms_error":
            if isinstance(value, dict):
                modem.cms_error(int(value["code"]), int(value.get("count", 1)))
            elif isinstance(value, list | tuple):
                modem.cms_error(int(value[0]), int(value[1]) if len(value) > 1 else 1)
            else:
                modem.cms_error(int(value if value is not None else 500))
        elif name == "storage_full":
            modem.storage_full(_bool(value))
        elif name == "network_loss":
            modem.network_loss(_bool(value))
        elif name in ("signal", "set_signal"):
            modem.set_signal(int(value))
        elif name == "malformed_pdu":
            modem.malformed_pdu(str(value) if value else "truncated")
        elif name == "urc_before_ok":
            modem.urc_before_ok(_bool(value))
        elif name == "balance":  # the SIM's prepaid credit (what *100# answers)
            modem.set_balance(float(value if value is not None else 0))
        elif name == "cpcmreg_fail":
            modem.cpcmreg_fail(int(value if value is not None else 1))
        elif name == "refuse":  # the operator refuses supplementary services (network-wide)
            services = [] if value in (None, False, "", "none") else value
            if isinstance(services, str):
                services = [s.strip() for s in services.split(",") if s.strip()]
            self.network.refuse(*services)
        else:
            raise ValueError(f"unknown fault {name!r}")

    def handle(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """Execute one control op (the control socket calls this)."""
        if op == "ping":
            import os

            return {"pid": os.getpid()}
        if op == "list":
            return {
                "modems": [
                    {
                        "name": m.name,
                        "family": m.profile.family,
                        "number": m.number,
                        "port": str(m.port_path),
                    }
                    for m in self.modems.values()
                ]
            }
        if op == "sms":
            modem = self.modem(str(args["modem"]))
            sender = str(args.get("from") or args.get("sender") or "")
            if not sender:
                raise ValueError('"from" is required')
            inter = args.get("interleave_with")
            delivery = self.network.deliver_sms(
                modem,
                sender,
                str(args.get("body", "")),
                shuffle=_bool(args.get("shuffle", False)),
                drop_parts=[int(p) for p in args.get("drop_parts") or ()],
                message_class=args.get("message_class"),
                interleave_with=[(str(s), str(b)) for s, b in inter] if inter else None,
            )
            return delivery.as_dict()
        if op == "outbox":
            name = args.get("modem")
            return {"messages": [m.as_dict() for m in self.network.outbox(name)]}
        if op == "segments":
            name = args.get("modem")
            return {"segments": [s.as_dict() for s in self.network.outbox_segments(name)]}
        if op == "clear_outbox":
            self.network.clear_outbox()
            return {}
        if op == "fault":
            modem = self.modem(str(args["modem"]))
            self.fault(modem, str(args["name"]), args.get("value"))
            return {"status": modem.status()}
        if op == "status":
            if args.get("modem"):
                modem = self.modem(str(args["modem"]))
                st = modem.status()
                st["pending"] = self.network.pending(modem)
                return {"status": st}
            out = {}
            for m in self.modems.values():
                st = m.status()
                st["pending"] = self.network.pending(m)
                out[m.name] = st
            return {"modems": out}
        if op.startswith("call_") or op == "callee":
            return self._call_op(op, args)
        if op == "set":
            targets = (
                [self.modem(str(args["modem"]))]
                if args.get("modem")
                else list(self.modems.values())
            )
            if args.get("latency") is not None:
                for m in targets:
                    m.set_latency(float(args["latency"]))
            if "report_status" in args:
                rs = args["report_status"]
                self.network.report_status = None if rs is None else int(rs)
            if args.get("report_delay") is not None:
                self.network.report_delay = float(args["report_delay"])
            return {}
        raise ValueError(f"unknown op {op!r}")

    def _call_op(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        """Voice ops: call_in, call_digits, call_hangup, call_play, call_status, callee."""
        net = self.network
        if op == "call_in":
            modem = self.modem(str(args.get("modem") or next(iter(self.modems))))
            caller = str(args.get("from") or "")
            if not caller:
                raise ValueError('"from" is required')
            call = net.incoming_call(
                modem,
                caller,
                party=RemoteParty.from_spec(args.get("party")),
                ring_timeout=float(args.get("ring_timeout") or 60.0),
                withheld=_bool(args.get("withheld", False)),
            )
            return {"call": call.as_dict()}
        if op == "callee":
            party = RemoteParty.from_spec(args.get("party"))
            number = str(args.get("number") or "")
            if not number:
                raise ValueError('"number" is required')
            after = args.get("answer_after")
            net.set_callee(
                number,
                str(args.get("outcome") or "answer"),
                2.0 if after is None else float(after),
                party,
            )
            return {"number": number}
        if op == "call_status":
            name = args.get("modem")
            calls = [c for c in net.calls if not name or c.modem.name == name]
            if not _bool(args.get("all", False)):
                calls = [c for c in calls if c.state != "ended"] or calls[-5:]
            return {"calls": [c.as_dict() for c in calls]}
        call = net.find_call(args.get("call"), args.get("modem"))
        if op == "call_digits":
            call.send_digits(
                str(args.get("digits") or ""),
                int(args.get("on_ms") or 100),
                int(args.get("off_ms") or 100),
            )
        elif op == "call_play":
            call.play(load_audio(str(args["path"])))
        elif op == "call_say":
            call.play(render_speech(str(args["text"])))
        elif op == "call_hangup":
            call.hangup()
        else:
            raise ValueError(f"unknown op {op!r}")
        return {"call": call.as_dict()}


def parse_modem_spec(spec: str) -> tuple[str, str, str, str | None]:
    """``name:family:number[:pin]`` → tuple."""
    parts = spec.split(":")
    if len(parts) not in (3, 4) or not all(parts[:3]):
        raise ValueError(f"bad modem spec {spec!r}; expected name:family:number[:pin]")
    return parts[0], parts[1], parts[2], (parts[3] if len(parts) == 4 and parts[3] else None)


def serve(
    base_dir: Path | str,
    modems: Sequence[str | tuple[str, str, str] | tuple[str, str, str, str | None]],
    *,
    latency: float | None = None,
    report_status: int | None = 0,
    report_delay: float = 1.0,
    boot_delay: float | None = None,
    stop_event: threading.Event | None = None,
    ready: bool = True,
) -> None:
    """Run a SimulatorHost in the foreground until SIGTERM/SIGINT (or ``stop_event``)."""
    host = SimulatorHost(base_dir, report_status=report_status, report_delay=report_delay)
    for spec in modems:
        if isinstance(spec, str):
            name, family, number, pin = parse_modem_spec(spec)
        else:
            name, family, number = spec[0], spec[1], spec[2]
            pin = spec[3] if len(spec) > 3 else None
        overrides: dict[str, Any] = {}
        if boot_delay is not None:
            overrides["boot_delay"] = boot_delay
        host.add(name, family, number, latency=latency, pin=pin, **overrides)
    done = stop_event or threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    host.start()
    try:
        if ready:
            print(f"READY {host.control_path}", flush=True)
        while not done.wait(1.0):
            pass
    finally:
        host.stop()


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m appliance.sim.host", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--dir", default="var/sim", help="directory for <name>.tty links and control.sock"
    )
    ap.add_argument(
        "--modem",
        action="append",
        default=[],
        metavar="NAME:FAMILY:NUMBER[:PIN]",
        help="a simulated modem (repeatable)",
    )
    ap.add_argument("--latency", type=float, default=None, help="send latency in seconds")
    ap.add_argument("--report-status", default="0", help='TP-ST of status reports, or "none"')
    ap.add_argument("--report-delay", type=float, default=1.0)
    ap.add_argument("--boot-delay", type=float, default=None)
    ap.add_argument("-v", "--verbose", action="store_true")
    ns = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if ns.verbose else logging.WARNING)
    specs = ns.modem or ["modem1:sim800:+447700900001"]
    rs = None if ns.report_status.lower() == "none" else int(ns.report_status, 0)
    serve(
        ns.dir,
        specs,
        latency=ns.latency,
        report_status=rs,
        report_delay=ns.report_delay,
        boot_delay=ns.boot_delay,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["SimulatorHost", "main", "parse_modem_spec", "serve"]
