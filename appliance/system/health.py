"""A modem's condition: whether it can carry traffic now, and if not, why, in one sentence.

``/health``, the panel's modem card, systemd's ``STATUS=`` line and the metrics all say the
same thing about a modem, from the same two sources: the modem thread's live state (connected
or not, and its last error) and the last health poll kept in ``modem_health`` (SIM state,
registration; :mod:`appliance.modem.health`).  A modem is *degraded* when

* it is not connected (port missing, unplugged, not answering, reconnecting): ``disconnected``;
* its SIM is not ready (asks for a PIN or PUK, missing, failed): ``sim_not_ready``; this is
  also what a connection attempt refused for the SIM's sake means;
* it is connected with a ready SIM but not registered on a network (``+CREG`` not registered,
  searching, denied, unknown): ``network_lost``.

None of these is cured by restarting the daemon, so none of them withholds the systemd watchdog
(:mod:`appliance.system.service`, which watches for hung threads only); they go to ``/health``
(HTTP 503) and the ``STATUS=`` line instead, for a monitor to alert on.  What the last poll has
not learnt yet (no row, or NULL) counts as fine: "unknown" is not "lost".
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.modem.modem import Modem
    from appliance.store.database import Store

OK = "ok"
DISCONNECTED = "disconnected"
SIM_NOT_READY = "sim_not_ready"
NETWORK_LOST = "network_lost"
PROBLEMS = (DISCONNECTED, SIM_NOT_READY, NETWORK_LOST)

# Registered (3GPP 27.007 +CREG <stat>): home (1) and roaming (5) as modem.health names them,
# and the codes it passes through as digits: SMS only (6 home, 7 roaming), "CSFB not preferred"
# (9, 10).  Not registered (0), searching (2), denied (3), unknown (4) and emergency only (8)
# are a lost network.
REGISTERED = frozenset({"home", "roaming", "6", "7", "9", "10"})
# +CME ERROR codes (3GPP 27.007 9.2.1) about the SIM: PH-SIM PIN, not inserted, PIN, PUK,
# failure, busy, wrong, incorrect password, PIN2, PUK2.
SIM_CME = frozenset({5, 10, 11, 12, 13, 14, 15, 16, 17, 18})
_CME = re.compile(r"\bCME(?: ERROR:?)? (\d+)")
_SIM_WORDS = ("PinRequiredError", "IncorrectPinError", "SIM PIN", "SIM PUK")


@dataclasses.dataclass(frozen=True)
class Condition:
    """One modem's condition (``problem`` is None and ``reason`` None when it is healthy)."""

    modem: str
    state: str  # the modem thread's: ready (connected), connecting, disconnected, stopped
    problem: str | None = None  # DISCONNECTED, SIM_NOT_READY or NETWORK_LOST
    reason: str | None = None  # for people: "network lost (registration: searching)"
    last_error: str | None = None  # the modem thread's, when it is not connected

    @property
    def healthy(self) -> bool:
        return self.problem is None

    @property
    def condition(self) -> str:
        return self.problem or OK


def sim_refused(error: str | None) -> bool:
    """Whether a connection error is the SIM's doing (a PIN asked for or refused, no SIM)."""
    if not error:
        return False
    if any(word in error for word in _SIM_WORDS):
        return True
    match = _CME.search(error)
    return match is not None and int(match.group(1)) in SIM_CME


def assess(
    modem: str, state: str, last_error: str | None, row: Mapping[str, Any] | None
) -> Condition:
    """The condition of ``modem`` from its thread's ``state`` and ``last_error`` and its
    ``modem_health`` row (None when it was never polled)."""
    sim = (row or {}).get("sim")
    registration = (row or {}).get("registration")
    if state != "ready":
        if sim_refused(last_error):
            reason = f"SIM not ready: {last_error}"
            return Condition(modem, state, SIM_NOT_READY, reason, last_error)
        reason = f"modem {state}: {last_error or 'no connection yet'}"
        return Condition(modem, state, DISCONNECTED, reason, last_error)
    if sim and str(sim).upper() != "READY":
        return Condition(modem, state, SIM_NOT_READY, f"SIM not ready ({sim})")
    if registration and registration not in REGISTERED:
        return Condition(modem, state, NETWORK_LOST, f"network lost (registration: {registration})")
    return Condition(modem, state)


def health_rows(store: Store) -> dict[str, dict[str, Any]]:
    """Every ``modem_health`` row by modem name."""
    return {r["modem"]: dict(r) for r in store.read("SELECT * FROM modem_health")}


def assess_all(
    modems: Mapping[str, Modem], store: Store, rows: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Condition]:
    """The condition of every configured modem, in configuration order."""
    rows = health_rows(store) if rows is None else rows
    return [
        assess(name, modem.state, modem.last_error, rows.get(name))
        for name, modem in modems.items()
    ]


def summary(condition: Condition, row: Mapping[str, Any] | None) -> str:
    """One modem in systemd's ``STATUS=`` line: ``modem1 ready (home, Operator)``,
    ``modem1 degraded: network lost (registration: searching)``, ``modem1 connecting (...)``."""
    name, state = condition.modem, condition.state
    if condition.problem == DISCONNECTED:
        return f"{name} {state}" + (f" ({condition.last_error})" if condition.last_error else "")
    if condition.problem is not None:
        return f"{name} degraded: {condition.reason}"
    radio = [str(v) for v in ((row or {}).get("registration"), (row or {}).get("operator")) if v]
    return f"{name} {state}" + (f" ({', '.join(radio)})" if radio else "")
