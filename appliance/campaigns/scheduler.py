"""APScheduler wiring: broadcast schedules in the appliance's own store, plus panel chores.

Broadcast jobs live in ``scheduler_jobs`` through :class:`StoreJobStore`, a small job
store on :class:`appliance.store.Store` (the same one-writer database, no second
connection writing behind its back; the same shape as APScheduler's
SQLAlchemyJobStore).  Jobs survive restarts; every job has ``coalesce=True`` and a
``misfire_grace_time``, so runs missed while the power was off happen once at start
if the last one is still within the grace period, and not at all if it is older.

Chores (keyword join/leave, signal-strength samples, one-off "run now" and retry
jobs of a running process) live in a memory job store.  Jobs run on a thread pool,
so a slow forecast API holds up only its own run.
"""

from __future__ import annotations

import base64
import logging
import pickle
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.job import Job
from apscheduler.jobstores.base import BaseJobStore, ConflictingIdError, JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.util import datetime_to_utc_timestamp, utc_timestamp_to_datetime

from appliance.campaigns.content import RunFailed
from appliance.campaigns.spec import BroadcastError, cron_trigger
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
OUTAGE_LOOK = 5.0  # seconds between looks at the job store while the database is unreachable

# Schedulers by database path: persistent jobs name a module function and the path, not objects.
_INSTANCES: dict[str, PanelScheduler] = {}


class StoreJobStore(BaseJobStore):  # type: ignore[misc]
    """APScheduler 3 job store in the ``scheduler_jobs`` table (pickled job state, base64)."""

    def __init__(self, store: Store, pickle_protocol: int = pickle.HIGHEST_PROTOCOL) -> None:
        super().__init__()
        self.store = store
        self.pickle_protocol = pickle_protocol

    def _dump(self, job: Job) -> str:
        return base64.b64encode(pickle.dumps(job.__getstate__(), self.pickle_protocol)).decode()

    def _reconstitute(self, state: str) -> Job:
        job_state = pickle.loads(base64.b64decode(state))  # noqa: S301 - our own table
        job_state["jobstore"] = self
        job = Job.__new__(Job)
        job.__setstate__(job_state)
        job._scheduler = self._scheduler
        job._jobstore_alias = self._alias
        return job

    def lookup_job(self, job_id: str) -> Job | None:
        row = self.store.read_one("SELECT job_state FROM scheduler_jobs WHERE id = ?", (job_id,))
        return self._reconstitute(row[0]) if row else None

    def get_due_jobs(self, now: datetime) -> list[Job]:
        try:
            return self._jobs(
                "WHERE next_run_time IS NOT NULL AND next_run_time <= ?",
                (datetime_to_utc_timestamp(now),),
            )
        except StoreUnavailable:  # logged once by the store: due jobs run when it is back
            return []

    def get_next_run_time(self) -> datetime | None:
        try:
            row = self.store.read_one(
                "SELECT next_run_time FROM scheduler_jobs WHERE next_run_time IS NOT NULL"
                " ORDER BY next_run_time LIMIT 1"
            )
        except StoreUnavailable:  # look again soon (APScheduler would warn every 10 s)
            return datetime.now(UTC) + timedelta(seconds=OUTAGE_LOOK)
        return utc_timestamp_to_datetime(row[0]) if row else None

    def get_all_jobs(self) -> list[Job]:
        jobs = self._jobs("", ())
        self._fix_paused_jobs_sorting(jobs)
        return jobs

    def add_job(self, job: Job) -> None:
        values = (job.id, datetime_to_utc_timestamp(job.next_run_time), self._dump(job))

        def fn(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM scheduler_jobs WHERE id = ?", (job.id,)).fetchone():
                raise ConflictingIdError(job.id)
            conn.execute(
                "INSERT INTO scheduler_jobs (id, next_run_time, job_state) VALUES (?,?,?)", values
            )

        self.store.write(fn)

    def update_job(self, job: Job) -> None:
        values = (datetime_to_utc_timestamp(job.next_run_time), self._dump(job), job.id)

        def fn(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "UPDATE scheduler_jobs SET next_run_time = ?, job_state = ? WHERE id = ?", values
            ).rowcount

        if self.store.write(fn) == 0:
            raise JobLookupError(job.id)

    def remove_job(self, job_id: str) -> None:
        def fn(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM scheduler_jobs WHERE id = ?", (job_id,)).rowcount

        if self.store.write(fn) == 0:
            raise JobLookupError(job_id)

    def remove_all_jobs(self) -> None:
        self.store.write(lambda conn: conn.execute("DELETE FROM scheduler_jobs"))

    def _jobs(self, where: str, params: tuple[Any, ...]) -> list[Job]:
        jobs: list[Job] = []
        broken: list[str] = []
        rows = self.store.read(
            f"SELECT id, job_state FROM scheduler_jobs {where} ORDER BY next_run_time", params
        )
        for row in rows:
            try:
                jobs.append(self._reconstitute(row["job_state"]))
            except Exception:  # noqa: BLE001 - a job whose function moved away
                LOGGER.exception("cannot restore scheduled job %s: removing it", row["id"])
                broken.append(row["id"])
        if broken:
            self.store.write(
                lambda conn: conn.executemany(
                    "DELETE FROM scheduler_jobs WHERE id = ?", [(b,) for b in broken]
                )
            )
        return jobs


def _in(n: int) -> str:
    """``modem IN (?, ?, …)`` for ``n`` names."""
    return "modem IN (" + ", ".join("?" * n) + ")"


def run_broadcast_job(
    key: str, broadcast_id: int, attempt: int = 1, reason: str = "schedule"
) -> None:
    """The function every broadcast job names (a textual reference survives restarts)."""
    instance = _INSTANCES.get(key)
    if instance is None:
        LOGGER.warning("broadcast %s due but its appliance is not running here", broadcast_id)
        return
    instance.run_broadcast(broadcast_id, attempt, reason)


def job_id(broadcast_id: int) -> str:
    return f"broadcast-{broadcast_id}"


class PanelScheduler:
    """One BackgroundScheduler per daemon: broadcast schedules, retries and chores."""

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
    ) -> None:
        self.store = store
        self.modems = modems  # this node's modem names (its signal samples on a fleet)
        self.broadcasts = broadcasts
        self.subscribers = subscribers
        self.retry_delay = retry_delay
        self.attempts = attempts
        self.signal_interval = signal_interval
        self.key = store.key
        self.scheduler = BackgroundScheduler(
            jobstores={"default": StoreJobStore(store), "memory": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "misfire_grace_time": int(grace), "max_instances": 1},
            timezone="UTC",
        )

    def start(self) -> None:
        _INSTANCES[self.key] = self
        # A run cut short by a stop or a crash: what was committed stays queued, the run says so.
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE broadcast_runs SET state = 'failed', finished = ?,"
                " error = 'interrupted: the appliance stopped during the run'"
                " WHERE state IN ('rendering', 'queueing')",
                (time.time(),),
            )
        )
        self.scheduler.start()
        self.scheduler.add_job(
            self._keywords,
            "interval",
            seconds=KEYWORD_INTERVAL,
            id="keywords",
            jobstore="memory",
            misfire_grace_time=None,
        )
        self.scheduler.add_job(
            self.sample_signal,
            "interval",
            seconds=max(1.0, self.signal_interval),
            id="signal",
            jobstore="memory",
            next_run_time=datetime.now().astimezone(),
        )
        self.sync()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if _INSTANCES.get(self.key) is self:
            del _INSTANCES[self.key]

    # -- broadcast schedules -----------------------------------------------------------------

    def sync(self) -> None:
        """Add missing schedules, drop stale ones; an existing job keeps its next run time
        (so a run missed while the appliance was off still fires within the grace period)."""
        wanted = {
            job_id(b["id"]): b
            for b in self.store.read(
                "SELECT * FROM broadcasts WHERE enabled = 1 AND schedule != ''"
            )
        }
        for job in self.scheduler.get_jobs(jobstore="default"):
            if job.id.startswith("broadcast-") and job.id not in wanted:
                job.remove()
        for jid, b in wanted.items():
            if self.scheduler.get_job(jid, jobstore="default") is None:
                self.schedule(b["id"], b["schedule"], b["timezone"])

    def schedule(self, broadcast_id: int, schedule: str, timezone: str) -> None:
        """(Re)place the cron job of a broadcast; an empty schedule removes it."""
        self.unschedule(broadcast_id)
        if not schedule:
            return
        self.scheduler.add_job(
            run_broadcast_job,
            cron_trigger(schedule, timezone),
            args=[self.key, broadcast_id],
            id=job_id(broadcast_id),
            name=f"broadcast {broadcast_id}",
            replace_existing=True,
        )

    def unschedule(self, broadcast_id: int) -> None:
        if self.scheduler.get_job(job_id(broadcast_id), jobstore="default") is not None:
            self.scheduler.remove_job(job_id(broadcast_id), jobstore="default")

    def next_run(self, broadcast_id: int) -> datetime | None:
        job = self.scheduler.get_job(job_id(broadcast_id), jobstore="default")
        when: datetime | None = None if job is None else job.next_run_time
        return when

    def run_now(self, broadcast_id: int) -> None:
        """Start a run on the scheduler's pool (the page follows its progress)."""
        self.scheduler.add_job(
            run_broadcast_job,
            "date",
            run_date=datetime.now().astimezone(),
            args=[self.key, broadcast_id, 1, "manual"],
            jobstore="memory",
            misfire_grace_time=None,
        )

    def run_broadcast(self, broadcast_id: int, attempt: int, reason: str) -> None:
        try:
            self.broadcasts.run(broadcast_id, reason=reason, attempt=attempt)
        except RunFailed:
            if attempt >= self.attempts:
                LOGGER.error("broadcast %d: attempt %d failed, giving up", broadcast_id, attempt)
                return
            when = datetime.now().astimezone() + timedelta(seconds=self.retry_delay)
            LOGGER.info("broadcast %d: retrying at %s", broadcast_id, when.isoformat())
            self.scheduler.add_job(
                run_broadcast_job,
                "date",
                run_date=when,
                args=[self.key, broadcast_id, attempt + 1, "retry"],
                id=f"retry-{broadcast_id}-{attempt + 1}-{int(time.time())}",
                misfire_grace_time=None,
            )
        except BroadcastError as e:
            LOGGER.warning("broadcast %d: %s", broadcast_id, e.message)

    # -- chores ------------------------------------------------------------------------------

    def wake_keywords(self) -> None:
        """Inbox listener: look for join/leave keywords now rather than at the next tick."""
        job = self.scheduler.get_job("keywords", jobstore="memory")
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
        self, config: Config, store: Store, outbox: Outbox, inbox: Inbox, account: Account
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
        )
        inbox.listeners.append(self.scheduler.wake_keywords)

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
