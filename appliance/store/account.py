"""The account (AccountSid, AuthToken) and the phone numbers, one per modem."""

from __future__ import annotations

import sqlite3
import time

from appliance import sids
from appliance.config import Config
from appliance.store.database import Row, Store

NUMBER_FIELDS = (
    "friendly_name",
    "sms_url",
    "sms_method",
    "sms_fallback_url",
    "sms_fallback_method",
    "voice_url",
    "status_callback",
    "outbound_budget_per_hour",  # applied when set (non-zero), like the URLs
)


class Account:
    """Credentials generated on first start, in Twilio's formats, and the numbers table."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.sid = store.ensure_setting("account_sid", lambda: sids.new("AC"))
        self.auth_token = store.ensure_setting("auth_token", sids.auth_token)

    def seed_numbers(self, config: Config) -> None:
        """One IncomingPhoneNumber per configured modem.

        URLs given in the configuration file are applied at every start; leave
        them empty there to manage them through the REST API or the panel.
        """
        now = time.time()

        def fn(conn: sqlite3.Connection) -> None:
            for m in config.modems:
                row = conn.execute("SELECT sid FROM numbers WHERE modem = ?", (m.name,)).fetchone()
                if row is None:
                    conn.execute("DELETE FROM numbers WHERE phone_number = ?", (m.number,))
                    conn.execute(
                        "INSERT INTO numbers (sid, modem, phone_number, friendly_name, date_created, date_updated)"
                        " VALUES (?,?,?,?,?,?)",
                        (sids.new("PN"), m.name, m.number, m.friendly_name or m.number, now, now),
                    )
                else:
                    conn.execute(
                        "UPDATE numbers SET phone_number = ?, date_updated = ? WHERE modem = ?",
                        (m.number, now, m.name),
                    )
                for field in NUMBER_FIELDS:
                    value = getattr(m, field)
                    if value and field.endswith("method"):
                        value = value.upper()
                    if value and not (field.endswith("method") and value == "POST"):
                        conn.execute(
                            f"UPDATE numbers SET {field} = ?, date_updated = ? WHERE modem = ?",  # noqa: S608 - fixed names
                            (value, now, m.name),
                        )

        self.store.write(fn)

    def number_of(self, modem: str) -> Row:
        row = self.store.read_one("SELECT * FROM numbers WHERE modem = ?", (modem,))
        if row is None:
            raise KeyError(modem)
        return row

    def modem_for_number(self, number: str) -> str | None:
        if number[:1] == " ":
            number = "+" + number.strip()  # an unencoded '+' in a form body
        row = self.store.read_one("SELECT modem FROM numbers WHERE phone_number = ?", (number,))
        return None if row is None else str(row[0])
