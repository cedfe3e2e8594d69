"""The SIM's prepaid balance: a USSD check on a schedule, stored, and an alert when it runs low.

Theory of operation
-------------------
A prepaid SIM that runs dry stops every send without a word.  For each modem with a
``balance_ussd`` code (``*100#``), one thread of :class:`BalanceMonitor` sends the code every
``balance_interval`` seconds through the modem's :class:`~appliance.modem.ussdsession.UssdSession`
and reads the amount out of the answer with ``balance_pattern``
(:func:`appliance.modem.ussd.read_amount`).  Any answer to that code counts, whoever asked
(``appliance ussd modem1 '*100#'`` updates it too): the monitor listens to the session.

The ``sim_balance`` table keeps, per modem, the amount, the answer's text and when it was
read, and ``checked``: the last attempt, written *before* the request goes out.  The next
check is due ``balance_interval`` after it (a failed one is tried again sooner), so a
daemon that restarts ten times in a minute checks once, not ten times.

When the amount drops below ``balance_low`` the alert goes out once, in the same transaction
that records the drop (``low_since``): an SMS to ``balance_alert_to`` through the Outbox like
any message, and a webhook to ``balance_alert_url`` through the webhook job queue (signed,
retried, logged like a status callback).  It goes out again only after a top-up has lifted
the balance to the threshold or above.  The figure is the ``appliance_sim_balance`` gauge of
``/metrics``.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from appliance import logs
from appliance.errors import ApplianceError, ModemError, StoreUnavailable
from appliance.modem import ussd
from appliance.modem.ussdsession import UssdReply
from appliance.sids import idempotency_token
from appliance.store.database import Store

if TYPE_CHECKING:
    from appliance.modem.modem import Modem
    from appliance.sms.outbox import Outbox

LOGGER = logging.getLogger(__name__)

RETRY_AFTER_FAILURE = 600.0  # seconds before a check that got no amount is tried again
WAIT_FOR_CONNECT = 1.0  # seconds between looks while a due modem is not connected
IDLE_WAKE = 3600.0  # the thread looks at its schedule at least this often
WEBHOOK_KIND = "balance"  # webhook_jobs.kind of the low-balance webhook


class BalanceMonitor:
    """The balance checks of every modem with a ``balance_ussd`` code (one thread)."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        modems: Mapping[str, Modem],
        account_sid: Callable[[], str],
        wake_webhooks: Callable[[], None],
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.modems = {n: m for n, m in modems.items() if m.cfg.balance_ussd.strip()}
        self.account_sid = account_sid
        self.wake_webhooks = wake_webhooks
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for modem in self.modems.values():
            modem.ussd.listeners.append(self._listener(modem))

    def _listener(self, modem: Modem) -> Callable[[str, UssdReply], None]:
        def heard(request: str, reply: UssdReply) -> None:
            if request.strip() == modem.cfg.balance_ussd.strip():
                self.record(modem, reply)

        return heard

    # -- the schedule ------------------------------------------------------------------------

    def start(self) -> None:
        if not self.modems:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="balance checks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def due(self, name: str) -> float:
        """When the next check of ``name`` is due (Unix time; 0 if it was never checked)."""
        row = self.store.read_one("SELECT checked, error FROM sim_balance WHERE modem = ?", (name,))
        if row is None:
            return 0.0
        interval = self.modems[name].cfg.balance_interval
        if row["error"] is not None:
            interval = min(interval, RETRY_AFTER_FAILURE)
        return float(row["checked"]) + interval

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time()
            wake = now + IDLE_WAKE
            for name, modem in self.modems.items():
                try:
                    due = self.due(name)
                    if due <= now:
                        if modem.connected.is_set():
                            self.check(modem)
                            due = self.due(name)
                        else:
                            due = now + WAIT_FOR_CONNECT
                    wake = min(wake, due)
                except StoreUnavailable:  # the store logged the outage: check when it is back
                    wake = min(wake, now + RETRY_AFTER_FAILURE)
                except Exception:  # noqa: BLE001 - the schedule must outlive one bad check
                    logs.event(
                        LOGGER, logging.ERROR, "balance check error", modem=name, exc_info=True
                    )
                    wake = min(wake, now + RETRY_AFTER_FAILURE)
            self._stop.wait(max(0.1, wake - time.time()))

    def check(self, modem: Modem) -> None:
        """Send the modem's balance code now; the answer is recorded by the listener."""
        code = modem.cfg.balance_ussd.strip()
        self._mark(modem.name, time.time(), None)  # first: a restart meanwhile does not repeat it
        try:
            reply = modem.ussd.request(code)
        except (ModemError, ValueError) as e:
            self._mark(modem.name, time.time(), str(e))
            logs.event(
                LOGGER, logging.WARNING, "balance check failed", modem=modem.name, error=str(e)
            )
            return
        if reply.open:  # a menu, not the balance: do not leave the session hanging
            try:
                modem.ussd.cancel()
            except ApplianceError as e:
                LOGGER.debug("%s: cancelling after the balance check: %s", modem.name, e)

    def _mark(self, name: str, when: float, error: str | None) -> None:
        self.store.write(
            lambda conn: conn.execute(
                "INSERT INTO sim_balance (modem, checked, error) VALUES (?, ?, ?)"
                " ON CONFLICT (modem) DO UPDATE SET checked = excluded.checked,"
                " error = excluded.error",
                (name, when, error),
            )
        )

    # -- an answer ---------------------------------------------------------------------------

    def record(self, modem: Modem, reply: UssdReply) -> float | None:
        """Store the balance an answer states; alert once if it is below ``balance_low``."""
        cfg = modem.cfg
        try:
            amount = ussd.read_amount(reply.text, cfg.balance_pattern)
        except re.error:  # checked at load time; a pattern that still fails reads nothing
            amount = None
        error = None
        if amount is None:
            error = (
                f"the network answered {reply.name}"
                if reply.status not in (0, 1)
                else "no amount in the answer matches balance_pattern"
            )
        now = time.time()
        low = amount is not None and amount < cfg.balance_low

        def fn(conn: sqlite3.Connection) -> tuple[bool, bool]:
            row = conn.execute(
                "SELECT low_since FROM sim_balance WHERE modem = ?", (modem.name,)
            ).fetchone()
            was_low = row is not None and row["low_since"] is not None
            low_since = row["low_since"] if row is not None else None
            sms = hook = False
            if amount is not None:
                low_since = (low_since if was_low else now) if low else None
                if low and not was_low:
                    sms, hook = self._alert(conn, modem, amount, reply.text, now)
            conn.execute(
                "INSERT INTO sim_balance (modem, amount, text, updated, checked, error, low_since)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (modem) DO UPDATE SET"
                " amount = COALESCE(excluded.amount, sim_balance.amount), text = excluded.text,"
                " updated = excluded.updated, checked = excluded.checked,"
                " error = excluded.error, low_since = excluded.low_since",
                (modem.name, amount, reply.text, now, now, error, low_since),
            )
            return sms, hook

        sms, hook = self.store.write(fn)
        logs.event(
            LOGGER,
            logging.WARNING if low or error else logging.INFO,
            "sim balance low" if low else "sim balance",
            modem=modem.name,
            amount=amount,
            low_below=cfg.balance_low if low else None,
            error=error,
        )
        if sms:
            self.outbox.wake(modem.name)
        if hook:
            self.wake_webhooks()
        return amount

    def _alert(
        self, conn: sqlite3.Connection, modem: Modem, amount: float, text: str, now: float
    ) -> tuple[bool, bool]:
        """Queue the low-balance SMS and webhook in the caller's transaction."""
        cfg = modem.cfg
        sms = hook = False
        if cfg.balance_alert_to:
            body = (
                f"Low balance on {cfg.number} ({modem.name}): {amount:.2f}, below"
                f" {cfg.balance_low:.2f}. Top up the SIM or sending will stop."
            )
            conn.execute("SAVEPOINT balance_sms")
            try:
                sid = self.outbox.insert(
                    conn,
                    modem=modem.name,
                    from_number=cfg.number,
                    to=cfg.balance_alert_to,
                    body=body,
                )
            except ApplianceError as e:  # opted out, or an invalid number
                conn.execute("ROLLBACK TO balance_sms")
                logs.event(
                    LOGGER,
                    logging.ERROR,
                    "balance alert not sent",
                    modem=modem.name,
                    to=cfg.balance_alert_to,
                    error=e.message,
                )
            else:
                sms = True
                logs.event(LOGGER, logging.INFO, "balance alert queued", modem=modem.name, sid=sid)
            conn.execute("RELEASE balance_sms")
        if cfg.balance_alert_url:
            params = {
                "AccountSid": self.account_sid(),
                "Event": "balance-low",
                "Modem": modem.name,
                "From": cfg.number,
                "Balance": f"{amount:.2f}",
                "BalanceLow": f"{cfg.balance_low:.2f}",
                "Text": text,
                "Timestamp": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            }
            conn.execute(
                "INSERT INTO webhook_jobs (kind, message_sid, url, method, params, token, state,"
                " next_attempt_at, created) VALUES (?, ?, ?, 'POST', ?, ?, 'pending', ?, ?)",
                (
                    WEBHOOK_KIND,
                    f"balance-{modem.name}-{int(now)}",
                    cfg.balance_alert_url,
                    json.dumps(params, sort_keys=True),
                    idempotency_token(),
                    now,
                    now,
                ),
            )
            hook = True
        return sms, hook
