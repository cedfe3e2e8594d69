"""Simulated GSM modems on real pseudo-terminals, plus the phone network behind them.

The production driver (python-gsmmodem-new's GsmModem and the project's subclass) runs
unchanged against these: each modem is a pty whose slave is reached through a stable
symlink (like /dev/serial/by-id), answering AT commands as real hardware of its family
does (profiles in firmware_config/profiles/<family>.toml, [sim] section).

    from appliance.sim import SimulatorHost
    host = SimulatorHost(Path("var/sim"))
    modem = host.add("modem1", "sim800", "+447700900001", latency=0.01)
    host.start()
    host.network.deliver_sms("modem1", "+447700900123", "hello")
    host.network.outbox()
"""

from .control import SimControlError, SimulatorNotRunning, request
from .device import AtError, SimulatedModem
from .families import FAMILIES, GenericModem, HuaweiE173, QuectelEC25, Sim800, Sim7600, create_modem
from .host import SimulatorHost, serve
from .network import Network
from .profile import PeriodicUrc, ProfileError, SimProfile, load_profile
from .scheduler import Scheduler
from .smsnetwork import Delivery, OutboxMessage, OutboxSegment

__all__ = [
    "FAMILIES",
    "AtError",
    "Delivery",
    "GenericModem",
    "HuaweiE173",
    "Network",
    "OutboxMessage",
    "OutboxSegment",
    "PeriodicUrc",
    "ProfileError",
    "QuectelEC25",
    "Scheduler",
    "SimControlError",
    "SimProfile",
    "SimulatedModem",
    "SimulatorHost",
    "SimulatorNotRunning",
    "Sim7600",
    "Sim800",
    "create_modem",
    "load_profile",
    "request",
    "serve",
]
