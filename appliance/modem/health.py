"""A modem's health: SIM, signal, registration and operator, polled and kept in ``modem_health``."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import time
from collections.abc import Callable

from appliance.errors import CommandRejected
from appliance.store.database import Store
from appliance.store.dialect import SQLITE, Dialect

LOGGER = logging.getLogger(__name__)

BUCKET_SECONDS = 300.0  # radio history: one row per modem per 5 minutes (radio_history)
REGISTERED = ("home", "roaming")

REGISTRATION = {
    "0": "not registered",
    "1": "home",
    "2": "searching",
    "3": "denied",
    "4": "unknown",
    "5": "roaming",
}


@dataclasses.dataclass(frozen=True)
class Reading:
    """What one poll learnt; None where it learnt nothing (the stored value is kept)."""

    signal: int | None = None
    registration: str | None = None
    operator: str | None = None
    sim: str | None = None


def poll(command: Callable[[str], list[str]]) -> tuple[Reading, str | None]:
    """Ask the modem (on its thread); the reading so far, and the error that cut it short."""
    signal = None
    registration = None
    operator = None
    sim = None
    error = None
    try:
        try:
            for line in command("AT+CPIN?"):
                if line.startswith("+CPIN:"):
                    sim = line[6:].strip()  # READY, SIM PIN, SIM PUK, ...
        except CommandRejected as e:
            # +CME ERROR: 10 is "SIM not inserted"; other errors mean "unknown".
            sim = "NOT INSERTED" if (e.kind, e.error) == ("CME", 10) else None
        # 99 is the modem's "not known or not detectable": recorded as such, so that a
        # lost network does not go on showing the last good figure.
        signal = signal_of(command("AT+CSQ"))
        for line in command("AT+CREG?"):
            if line.startswith("+CREG:"):
                stat = line[6:].split(",")[1].strip() if "," in line else line[6:].strip()
                registration = REGISTRATION.get(stat, stat)
        for line in command("AT+COPS?"):
            if line.startswith("+COPS:") and '"' in line:
                operator = line.split('"')[1]
    except CommandRejected as e:
        error = str(e)
    return Reading(signal, registration, operator, sim), error


def signal_of(lines: list[str]) -> int | None:
    """The CSQ figure (0..31, 99: not known) in ``AT+CSQ``'s answer, if there is one."""
    for line in lines:
        if line.startswith("+CSQ:"):
            try:
                return int(line[5:].split(",")[0])
            except ValueError:
                return None
    return None


def record(
    store: Store,
    modem: str,
    state: str,
    manufacturer: str | None,
    model: str | None,
    last_error: str | None,
    reading: Reading | None = None,
) -> None:
    """Upsert the modem's row; values a reading lacks keep their stored ones. Best effort."""
    values = reading or Reading()
    now = time.time()
    row = (
        modem,
        state,
        values.signal,
        values.registration,
        values.operator,
        values.sim,
        manufacturer,
        model,
        last_error,
        now,
    )

    def fn(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO modem_health (modem, state, signal, registration, operator, sim, manufacturer,"
            " model, last_error, updated) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (modem) DO UPDATE SET"
            " state = excluded.state, signal = COALESCE(excluded.signal, modem_health.signal),"
            " registration = COALESCE(excluded.registration, modem_health.registration),"
            " operator = COALESCE(excluded.operator, modem_health.operator),"
            " sim = COALESCE(excluded.sim, modem_health.sim),"
            " manufacturer = COALESCE(excluded.manufacturer, modem_health.manufacturer),"
            " model = COALESCE(excluded.model, modem_health.model),"
            " last_error = excluded.last_error, updated = excluded.updated",
            row,
        )
        if reading is not None:
            add_to_history(conn, modem, now, reading)

    try:
        store.write(fn)
    except Exception:  # noqa: BLE001 - health is best effort (store may be closing)
        LOGGER.debug("could not record health", exc_info=True)


def add_to_history(conn: sqlite3.Connection, modem: str, now: float, reading: Reading) -> None:
    """Count one poll into its 5-minute bucket of ``radio_history`` (kept 30 days)."""
    known = reading.signal is not None and reading.signal != 99  # 99: "not known"
    signal = reading.signal if known else None
    d: Dialect = getattr(conn, "dialect", SQLITE)
    conn.execute(
        "INSERT INTO radio_history (modem, bucket, samples, signal_n, signal_sum, signal_min,"
        " signal_max, registered, registration, operator) VALUES (?,?,1,?,?,?,?,?,?,?)"
        " ON CONFLICT (modem, bucket) DO UPDATE SET samples = radio_history.samples + 1,"
        " signal_n = radio_history.signal_n + excluded.signal_n,"
        " signal_sum = radio_history.signal_sum + excluded.signal_sum,"
        f" signal_min = COALESCE({d.least}(radio_history.signal_min, excluded.signal_min),"
        "  radio_history.signal_min, excluded.signal_min),"
        f" signal_max = COALESCE({d.greatest}(radio_history.signal_max, excluded.signal_max),"
        "  radio_history.signal_max, excluded.signal_max),"
        " registered = radio_history.registered + excluded.registered,"
        " registration = COALESCE(excluded.registration, radio_history.registration),"
        " operator = COALESCE(excluded.operator, radio_history.operator)",
        (
            modem,
            now - now % BUCKET_SECONDS,
            1 if known else 0,
            signal or 0,
            signal,
            signal,
            1 if reading.registration in REGISTERED else 0,
            reading.registration,
            reading.operator,
        ),
    )
