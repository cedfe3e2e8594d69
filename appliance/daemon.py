"""The composition root: builds every part from a Config, starts and stops them.

Before building anything it runs the start-up checks (:mod:`appliance.preflight`).  Once
the HTTP server is bound it writes data_dir/run.json (:mod:`appliance.runfile`), which the
commands read to find it; stop removes it.  Browser phones' parts are built by
:mod:`appliance.browserphones`.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sqlite3
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from appliance import logs, runfile
from appliance.config import Config, checks
from appliance.errors import StoreClosed, StoreUnavailable
from appliance.modem import profiles
from appliance.modem.balance import BalanceMonitor
from appliance.modem.modem import Modem
from appliance.preflight import busy_port, preflight
from appliance.sms import optout
from appliance.sms.inbox import Inbox
from appliance.sms.outbox import Outbox
from appliance.sms.statuscallback import queue_status_callback
from appliance.store.account import Account
from appliance.store.database import Row, Store
from appliance.store.engines import open_store
from appliance.store.fleet import CALLS_CHANNEL, CONTROL_CHANNEL, OUTBOX_CHANNEL, Fleet, node_id
from appliance.store.retention import Retention
from appliance.system.metrics import Metrics
from appliance.system.nodeproxy import NodeProxy
from appliance.system.service import Service
from appliance.voice import backlog
from appliance.voice.engine import VoiceEngine
from appliance.webhooks.client import Timeouts, WebhookClient
from appliance.webhooks.dispatcher import Dispatcher

LOGGER = logging.getLogger(__name__)


class Daemon:
    """Everything one appliance runs: store, modems, webhooks, HTTP server."""

    def __init__(self, config: Config, *, http: bool = True) -> None:
        self.config = config
        preflight(config, http=http)
        self.server: Any = None  # the HTTP server, made last (below)
        self._run_file: dict[str, Any] | None = None  # what start wrote to data_dir/run.json
        me = node_id(config.data_dir)  # before the store: an unreadable id stops nothing open
        self.store: Store = open_store(config)
        # This node's row, heartbeat and modem leases (docs/design.md, "A fleet on PostgreSQL").
        self.fleet = Fleet(
            self.store,
            me,
            config.node_name.strip() or socket.gethostname(),
            self.base_url,
            [m.name for m in config.modems],
            forget=config.retention_nodes_days * 86400.0,
        )
        try:  # first: a modem name another live node holds stops the start before any write
            self.fleet.join()
        except BaseException:
            self.store.close()
            raise
        self.account = Account(self.store)
        logs.secret(self.account.auth_token)
        # what lives on another node (recording media, modem admin routes): forwarded there
        self.proxy = NodeProxy(self.fleet.id, lambda: self.account.auth_token)
        if config.metrics_token:
            logs.secret(config.metrics_token)
        for doubt in checks.review(config):
            logs.event(
                LOGGER,
                logging.WARNING,
                "setting looks wrong",
                setting=doubt.setting,
                value=doubt.value,
                why=doubt.why,
            )
        self.account.seed_numbers(config)
        self.outbox = Outbox(
            self.store, lambda: self.account.sid, enforce_opt_outs=config.opt_out_enabled
        )
        self.outbox.callbacks = self._status_callback
        self.inbox = Inbox(
            self.store,
            self.outbox,
            lambda: self.account.sid,
            self.account.number_of,
            config.reassembly_timeout,
            optout.Policy.from_config(config),
        )
        self.client = WebhookClient(
            lambda: self.account.auth_token,
            timeouts=Timeouts(
                connect=config.connect_timeout, read=config.read_timeout, total=config.read_timeout
            ),
        )
        self.dispatcher = Dispatcher(
            self.store,
            self.client,
            self.outbox,
            self.account.modem_for_number,
            workers=config.webhook_workers,
            per_origin=config.webhook_workers_per_origin,
            attempts=config.webhook_attempts,
            backoff=config.webhook_backoff,
            max_redirects=config.max_redirects,
            node=self.fleet.id,  # the owner of the jobs this node's workers hold (leases)
            lease=config.webhook_lease if config.webhook_lease > 0 else None,
        )
        self.inbox.listeners.append(self.dispatcher.wake)
        self.voice = VoiceEngine()
        # a call queued (REST, on-call paging) for another node's modem: that node hears it
        self.voice.elsewhere = lambda modem: self.store.announce(CALLS_CHANNEL, modem)
        # a REST update of a call another node holds: that node's flow takes it at once
        self.voice.control_elsewhere = lambda sid: self.store.announce(CONTROL_CHANNEL, sid)
        self.simulator: Any = None
        self.modems: dict[str, Modem] = {}
        for m in config.modems:
            port = m.port
            if m.simulated:
                port = str(self._simulated(m.name, m.profile, m.number, m.pin))
            self.modems[m.name] = Modem(
                m, profiles.load(m.profile), config, self.store, self.inbox, self.outbox, port
            )
        self._wire_voice()
        from appliance.oncall.service import OnCall

        self.oncall = OnCall(self.store, self.outbox, self.voice.wake)  # rotation and paging
        self.inbox.interceptors.append(self.oncall.intercept)  # ACK/RESOLVE replies first
        self.outbox.listeners.append(self._wake_modem)
        self.metrics = Metrics(config, self.store, self.modems)  # read by GET /metrics
        self.balance = BalanceMonitor(  # the SIMs' prepaid balance, by USSD (balance_ussd)
            self.store, self.outbox, self.modems, lambda: self.account.sid, self.dispatcher.wake
        )
        if config.metrics_enabled:
            self.client.observers.append(self.metrics.observe_webhook)
        from appliance.campaigns.scheduler import PanelServices

        self.panel = PanelServices(  # subscribers, broadcasts, their scheduler
            config, self.store, self.outbox, self.inbox, self.account, node=self.fleet.id
        )
        # The database back after an outage (PostgreSQL): everything that waits looks now.
        self.store.outage.listeners.append(self._store_back)
        if http:
            from appliance.server import Server

            self.server = Server(self, config.http_host, config.http_port, config.http_threads)
            self.phones.ring_through(self.server.hub)
        self._stopped = threading.Event()

    def _simulated(self, name: str, family: str, number: str, pin: str) -> Path:
        from appliance.sim.host import SimulatorHost

        if self.simulator is None:
            self.simulator = SimulatorHost(
                self.config.sim_dir, report_delay=self.config.sim_report_delay
            )
        modem = self.simulator.add(
            name, family, number, latency=self.config.sim_latency, pin=pin or None
        )
        return Path(modem.port_path)

    def _wire_voice(self) -> None:
        """A Phone per modem (in its thread) and a CallFlow thread per live call."""
        from appliance.browserphones import BrowserPhones
        from appliance.voice import recordingrows
        from appliance.voice.context import Context
        from appliance.voice.flow import CallFlow
        from appliance.voice.phone import Phone

        ctx = Context(
            store=self.store,
            client=self.client,
            outbox=self.outbox,
            account_sid=lambda: self.account.sid,
            base_url=self.base_url,
            recordings_dir=self.config.data_dir / "recordings",
            max_documents=self.config.max_call_documents,
            on_job=self.dispatcher.wake,
            auth_token=lambda: self.account.auth_token,
            stream_ca_file=self.config.stream_ca_path,
        )
        self.voice.flow_factory = lambda phone, leg: CallFlow(phone, leg, ctx)
        recordingrows.recover_at_start(self.store, ctx.recordings_dir)  # rows a dead one left
        # browser phones' calls: the client line in the engine, the media loop thread
        self.phones = BrowserPhones(
            self.config,
            self.store,
            lambda: self.account.sid,
            self.dispatcher.wake,
            self.voice,
            ctx,
            self.fleet.id,
        )
        self.media, self.client_line = self.phones.media, self.phones.line
        self.client_calls = self.phones.calls
        for m in self.config.modems:
            audio = m.audio_port
            if not audio and m.simulated and self.simulator is not None:
                sim_modem = self.simulator.modems.get(m.name)
                path = getattr(sim_modem, "audio_path", None)
                audio = str(path) if path else ""
            modem = self.modems[m.name]
            modem.phone = Phone(
                modem,
                modem.profile.voice,
                self.store,
                self.voice,
                lambda: self.account.sid,
                audio,
                self.dispatcher.wake,
                node=self.fleet.id,  # calls.node_id of the calls it places
            )

    def base_url(self) -> str:
        """Where apps reach this appliance (recording URLs): public_url, else the bound port."""
        if self.config.public_url or self.server is None:
            return self.config.base_url
        return f"http://{self.config.http_host}:{self.server.port}"

    def _wake_modem(self, name: str) -> None:
        """The outbox queued a message: its modem looks at the queue (the dispatcher is woken
        by :meth:`_status_callback`, only when a job was queued).  Another node's modem (a
        fleet): that node hears it (NOTIFY; nothing on SQLite)."""
        modem = self.modems.get(name)
        if modem is not None:
            modem.wake()
        else:
            self.store.announce(OUTBOX_CHANNEL, name)

    def _heard(self, channel: str, modem: str | None) -> None:
        """Another node queued a message or a call for ``modem`` (the modem thread looks at
        both queues when woken; None: wake-ups may have been missed), or wrote a REST update
        of a call (``appliance_control``, the payload its SID) a flow here may run."""
        if channel == CONTROL_CHANNEL and modem is not None:
            self.voice.control(modem, tell=False)
            return
        if modem is None:
            self.voice.control_all()
        for name, m in self.modems.items():
            if modem is None or name == modem:
                m.wake()

    def _store_back(self) -> None:
        """The database answers again: the modems sweep and send, the webhook workers and
        the on-call thread look (they also retry on their own, each second or so)."""
        for modem in self.modems.values():
            modem.wake()
        self.dispatcher.store_back()
        self.oncall.wake()

    def _status_callback(self, conn: sqlite3.Connection, row: Row) -> None:
        """The outbox's hook: queue a message's status callback; a queued job wakes a worker.

        Woken from inside the transaction, which is safe: workers claim jobs through the
        same writer thread, so a claim runs after this transaction's commit (and finds
        nothing if it rolled back).  A message without a StatusCallback wakes nobody: a
        wake with no job costs a claim write and a read on a worker."""
        if queue_status_callback(conn, row):
            self.dispatcher.wake()

    def start(self) -> None:
        """Start every part; if one fails, stop those already started (no thread left behind)."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        if self.simulator is not None:
            self.simulator.start()
        self.dispatcher.start()
        self.client_line.start()  # browser calls a crash left open end
        for modem in self.modems.values():
            modem.start()
        self.balance.start()
        if self.server is not None:
            try:
                self.server.start()
            except OSError as e:  # taken since preflight
                busy = e.errno == errno.EADDRINUSE or "Address already in use" in str(e)
                raise busy_port(self.config) if busy else e from None
            self._run_file = runfile.write(
                self.config.run_path, self.config.http_host, self.server.port, self.base_url()
            )
        self.fleet.beat()  # the bound URL
        if self.store.dialect.name == "postgresql":  # a single box has nobody to tell
            self.fleet.start()
            self.store.listen((OUTBOX_CHANNEL, CALLS_CHANNEL, CONTROL_CHANNEL), self._heard)
        self.panel.start()
        self.oncall.start()
        # once per fleet on PostgreSQL (a claimed slot); a single box purges as before
        fleet = self.store.dialect.name == "postgresql"
        self.retention = Retention.from_config(
            self.store, self.config, node=self.fleet.id if fleet else None
        )
        self.retention.start()
        logs.event(
            LOGGER, logging.INFO, "appliance started", modems=len(self.modems), url=self.base_url()
        )

    def stop(self) -> None:
        """Stop taking work, let the modems finish the part in flight, then close the store."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.fleet.stop()
        if self._run_file is not None:
            runfile.remove(self.config.run_path, self._run_file)
        if self.server is not None:
            self.server.stop()
        self.panel.stop()
        self.oncall.stop()
        if hasattr(self, "retention"):
            self.retention.stop()
        self.balance.stop()
        self.voice.stop()  # live calls are hung up while the modems still run
        self.client_calls.stop()  # no reconnect grace outlives the daemon
        self.media.stop()  # browser calls' media (if one ever started)
        for modem in self.modems.values():
            modem.stop()
        self.dispatcher.stop()
        if self.simulator is not None:
            self.simulator.stop()
        try:
            self.fleet.leave()  # this node's modem names free at once, its row says stopped
        except (StoreUnavailable, StoreClosed) as e:
            LOGGER.warning("could not record this node's stop (its leases run out): %s", e)
        backlog.closing(self.store)  # calls' writes kept in an outage: a last chance
        self.proxy.close()
        self.store.close()
        LOGGER.info("appliance stopped")

    def run_forever(self) -> None:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            logs.event(LOGGER, logging.INFO, "appliance stopping", signal=signum)
            self._stopped_request.set()

        self._stopped_request = threading.Event()
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            self.start()
        except BaseException:
            self.stop()  # the threads already started, or the process would not exit
            raise
        service = Service(self.modems, self.store, grace=self.config.watchdog_grace)
        service.start()  # READY=1, and the watchdog if systemd asked for one
        try:
            while not self._stopped_request.wait(3600):
                pass
        finally:
            service.stopping()  # STOPPING=1
            self.stop()
