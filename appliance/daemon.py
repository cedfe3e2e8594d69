"""The composition root: builds every part from a Config, starts and stops them."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from appliance.config import Config
from appliance.modem import profiles
from appliance.modem.modem import Modem
from appliance.sms import optout
from appliance.sms.inbox import Inbox
from appliance.sms.outbox import Outbox
from appliance.store.account import Account
from appliance.store.database import Store
from appliance.store.retention import Retention
from appliance.system.service import Service
from appliance.voice.engine import VoiceEngine
from appliance.webhooks.client import Timeouts, WebhookClient
from appliance.webhooks.dispatcher import Dispatcher, queue_status_callback

LOGGER = logging.getLogger(__name__)


class Daemon:
    """Everything one appliance runs: store, modems, webhooks, HTTP server."""

    def __init__(self, config: Config, *, http: bool = True) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(config.db_path)
        self.account = Account(self.store)
        self.account.seed_numbers(config)
        self.outbox = Outbox(
            self.store, lambda: self.account.sid, enforce_opt_outs=config.opt_out_enabled
        )
        self.outbox.callbacks = queue_status_callback
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
            attempts=config.webhook_attempts,
            backoff=config.webhook_backoff,
            max_redirects=config.max_redirects,
        )
        self.inbox.listeners.append(self.dispatcher.wake)
        self.voice = VoiceEngine()
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
        self.outbox.listeners.append(self._wake_modem)
        from appliance.campaigns.scheduler import PanelServices

        self.panel = PanelServices(
            config, self.store, self.outbox, self.inbox, self.account
        )  # subscribers, broadcasts, their scheduler
        self.server: Any = None
        if http:
            from appliance.server import Server

            self.server = Server(self, config.http_host, config.http_port, config.http_threads)
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
        )
        self.voice.flow_factory = lambda phone, leg: CallFlow(phone, leg, ctx)
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
            )

    def base_url(self) -> str:
        """Where apps reach this appliance (recording URLs): public_url, else the bound port."""
        if self.config.public_url or self.server is None:
            return self.config.base_url
        return f"http://{self.config.http_host}:{self.server.port}"

    def _wake_modem(self, name: str) -> None:
        modem = self.modems.get(name)
        if modem is not None:
            modem.wake()
        self.dispatcher.wake()

    def start(self) -> None:
        if self.simulator is not None:
            self.simulator.start()
        self.dispatcher.start()
        for modem in self.modems.values():
            modem.start()
        if self.server is not None:
            self.server.start()
        self.panel.start()
        self.retention = Retention.from_config(self.store, self.config)
        self.retention.start()
        LOGGER.info(
            "appliance started: %d modem(s), HTTP on %s", len(self.modems), self.config.base_url
        )

    def stop(self) -> None:
        """Stop taking work, let the modems finish the part in flight, then close the store."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.server is not None:
            self.server.stop()
        self.panel.stop()
        if hasattr(self, "retention"):
            self.retention.stop()
        self.voice.stop()  # live calls are hung up while the modems still run
        for modem in self.modems.values():
            modem.stop()
        self.dispatcher.stop()
        if self.simulator is not None:
            self.simulator.stop()
        self.store.close()
        LOGGER.info("appliance stopped")

    def run_forever(self) -> None:
        def on_signal(signum: int, _frame: FrameType | None) -> None:
            LOGGER.info("signal %d: stopping", signum)
            self._stopped_request.set()

        self._stopped_request = threading.Event()
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        service = Service(self.modems, self.store, grace=self.config.watchdog_grace)
        service.start()  # READY=1, and the watchdog if systemd asked for one
        try:
            while not self._stopped_request.wait(3600):
                pass
        finally:
            service.stopping()  # STOPPING=1
            self.stop()
