"""The panel's scheduler: one APScheduler per daemon for the polls and the runs.

APScheduler (a memory job store, one per node) runs the polls, each on an interval: due
broadcast firings and retries (:class:`~appliance.campaigns.schedules.Schedules`, which
claims each in the database, so a firing runs once per fleet), keyword join/leave, and
signal-strength samples; and the broadcast runs themselves, on a thread pool, so a slow
forecast API holds up only its own run.  Broadcast schedules are not APScheduler jobs: a job
store must not be shared between schedulers, which every node of a fleet would do.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from appliance.campaigns.schedules import Schedules
from appliance.errors import StoreUnavailable
from appliance.store.database import Store

if TYPE_CHECKING:
    from appliance.campaigns.broadcasts import Broadcasts
    from appliance.campaigns.lists import Subscribers
    from appliance.config import Config
    from appliance.sms.inbox import Inbox
    from appliance.sms.outbox import Outbox
    from appliance.store.account import Account

LOGGER = logging.getLogger(__name__)

SIGNAL_KEEP = 14 * 86400.0  # seconds of signal-strength history kept for the chart
KEYWORD_INTERVAL = 2.0  # seconds between looks for join/leave keywords (also woken by the inbox)
BROADCAST_LOOK = 1.0  # seconds between looks for due broadcast firings and retries
CUT_LOOK = 10.0  # seconds between a fleet node's looks for runs a lost node left unfinished
POLLS = ("keywords", "signal", "broadcasts")  # periodic looks: one skipped is one not needed


class _PollOverlap(logging.Filter):
    """Drops APScheduler's "skipped: maximum number of running instances" for the polls: a
    poll still running when its next tick comes (the catch-up after a database outage) makes
    the next tick needless, not a fault.  Other jobs' skips are still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances" not in str(record.msg) or not record.args:
            return True
        job = record.args[0] if isinstance(record.args, tuple) else None
        return getattr(job, "id", None) not in POLLS


SCHEDULER_LOG = logging.getLogger(__name__ + ".apscheduler")  # APScheduler's own lines
SCHEDULER_LOG.addFilter(_PollOverlap())


def _in(n: int) -> str:
    """``modem IN (?, ?, …)`` for ``n`` names."""
    return "modem IN (" + ", ".join("?" * n) + ")"


class PanelScheduler:
    """One BackgroundScheduler per daemon: broadcast firings and retries, and chores."""

    def __init__(
        self,
        store: Store,
        broadcasts: Broadcasts,
        subscribers: Subscribers,
        *,
        grace: float,
        retry_delay: float,
        attempts: int,
        signal_interval: float,
        modems: tuple[str, ...] = (),
        node: str = "",
    ) -> None:
        self.store = store
        self.modems = modems  # this node's modem names (its signal samples on a fleet)
        self.node = node  # this node's id (its own unfinished runs are carried on at start)
        self.broadcasts = broadcasts
        self.subscribers = subscribers
        self.signal_interval = signal_interval
        self._cut_look = 0.0  # monotonic time of the next look for another node's cut runs
        self.schedules = Schedules(
            store,
            broadcasts,
            grace=grace,
            retry_delay=retry_delay,
            attempts=attempts,
            submit=self._submit,
        )
        self.scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone="UTC",
            logger=SCHEDULER_LOG,
        )

    def start(self) -> None:
        self.sync()
        self.scheduler.start()
        # This node's runs cut short by a stop or a crash are carried on: whoever was queued
        # is skipped (their recipient rows), the rest are sent.  On a fleet, a lost or
        # stopped node's runs are taken by another node (fire_due, every CUT_LOOK seconds).
        self.schedules.carry_on_cut(own=True)
        self.scheduler.add_job(self._keywords, "interval", seconds=KEYWORD_INTERVAL, id="keywords")
        self.scheduler.add_job(
            self.sample_signal,
            "interval",
            seconds=max(1.0, self.signal_interval),
            id="signal",
            next_run_time=datetime.now().astimezone(),
        )
        self.scheduler.add_job(
            self.fire_due,
            "interval",
            seconds=BROADCAST_LOOK,
            id="broadcasts",
            next_run_time=datetime.now().astimezone(),
        )

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    # -- broadcast schedules -----------------------------------------------------------------

    def sync(self) -> None:
        self.schedules.sync()

    def schedule(self, broadcast_id: int, schedule: str, timezone: str) -> None:
        """(Re)start a broadcast's schedule from now; an empty schedule stops it."""
        self.schedules.schedule(broadcast_id, schedule, timezone)

    def unschedule(self, broadcast_id: int) -> None:
        self.schedules.schedule(broadcast_id, "", "UTC")

    def next_run(self, broadcast_id: int) -> datetime | None:
        return self.schedules.next_run(broadcast_id)

    def run_now(self, broadcast_id: int) -> int:
        """Start a run now, carried on on the scheduler's pool (the page follows its
        progress); :class:`BroadcastError` says why it was refused."""
        return self.schedules.run_now(broadcast_id)

    def fire_due(self, now: float | None = None) -> int:
        started = self.schedules.fire_due(now)
        if self.store.dialect.name == "postgresql" and time.monotonic() >= self._cut_look:
            self._cut_look = time.monotonic() + CUT_LOOK
            try:
                started += self.schedules.carry_on_cut(own=False)
            except StoreUnavailable:
                pass
        return started

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        self.scheduler.add_job(fn, args=list(args), misfire_grace_time=None)

    # -- chores ------------------------------------------------------------------------------

    def wake_keywords(self) -> None:
        """Inbox listener: look for join/leave keywords now rather than at the next tick."""
        job = self.scheduler.get_job("keywords")
        if job is not None:
            job.modify(next_run_time=datetime.now().astimezone())

    def _keywords(self) -> None:
        if not self.store.available:
            return  # the database is unreachable: the next tick after it is back
        try:
            self.subscribers.process_inbound()
        except StoreUnavailable:
            pass

    def sample_signal(self) -> None:
        """Copy each modem's current signal into ``signal_samples`` (for the chart); a
        sample is skipped while the database is unreachable."""
        if not self.store.available:
            return
        now = time.time()
        # On a fleet, this node's modems only (every node samples its own; copying every
        # modem_health row would add one sample per node).  A single box copies every row,
        # as it always has.
        own = self.modems if self.store.dialect.name == "postgresql" else None
        if own is not None and not own:
            return
        where, params = ("1 = 1", ()) if own is None else (_in(len(own)), own)

        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO signal_samples (modem, at, signal) SELECT modem, ?, signal"
                f" FROM modem_health WHERE {where} ON CONFLICT (modem, at) DO NOTHING",
                (now, *params),
            )
            conn.execute("DELETE FROM signal_samples WHERE at < ?", (now - SIGNAL_KEEP,))

        try:
            self.store.write(fn)
        except StoreUnavailable:
            pass


class PanelServices:
    """What the panel adds to a daemon: subscribers, broadcasts and their scheduler,
    message templates and one-off scheduled sends."""

    def __init__(
        self,
        config: Config,
        store: Store,
        outbox: Outbox,
        inbox: Inbox,
        account: Account,
        node: str = "",
    ) -> None:
        from appliance.campaigns.broadcasts import Broadcasts
        from appliance.campaigns.lists import Subscribers
        from appliance.campaigns.oneoffs import OneOffSends
        from appliance.campaigns.templates import Templates
        from appliance.campaigns.weather import WeatherClient

        cfg = config
        self.subscribers = Subscribers(store, outbox)
        self.templates = Templates(store)  # saved message templates (issue 17, Compose)
        self.oneoffs = OneOffSends(store, outbox)  # single messages scheduled for later
        self.weather = WeatherClient(cfg.forecast_base_url, cfg.geocoding_base_url)
        self.broadcasts = Broadcasts(
            store,
            outbox,
            self.subscribers,
            self.weather,
            auth_token=lambda: account.auth_token,
            number_of=account.number_of,
            rate=cfg.outbound_rate,
            node=node,
        )
        self.scheduler = PanelScheduler(
            store,
            self.broadcasts,
            self.subscribers,
            grace=cfg.broadcast_misfire_grace,
            retry_delay=cfg.broadcast_retry_delay,
            attempts=cfg.broadcast_attempts,
            signal_interval=cfg.health_interval,
            modems=tuple(m.name for m in cfg.modems),
            node=node,
        )
        inbox.listeners.append(self.scheduler.wake_keywords)

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
