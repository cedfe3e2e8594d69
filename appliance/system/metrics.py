"""Prometheus metrics: each modem's radio and queue, what it sent, received and rang, and latencies.

Theory of operation
-------------------
A scrape (``GET /metrics``, :mod:`appliance.api.metrics`) runs
:class:`~appliance.system.collector.StoreCollector`, which reads everything it reports *at
that moment*: the modem threads' state, the last health poll (``modem_health``), the queues,
and the counters of :mod:`appliance.system.tallies`, derived from the durable store (so they
survive restarts and crashes, and stay monotonic across retention purges).  Nothing in the
domain code counts for the metrics.

What the store does not record is observed where it happens, in this process, and starts
from zero at each start (Prometheus handles such resets): the duration of each store commit
(a hook in :class:`~appliance.store.database.Store`: a slow SD card shows here first), of
each webhook request (an observer on the :class:`~appliance.webhooks.client.WebhookClient`),
and the audio underruns of calls (a tally kept by :mod:`appliance.voice.audiostats`).  With
``metrics_enabled = false`` none of these hooks is installed.  They are kept here as
:class:`~appliance.system.durations.Durations` (per label values: a count per bucket, the sum, the time the series
appeared, as prometheus-client's ``Histogram`` keeps them), so that prometheus-client is
imported by the first scrape, not at start: an idle appliance that nobody scrapes does not
load it (:mod:`appliance.system.collector` builds the registry then; docs/design.md, "What an
idle appliance loads").

A scrape while the database is unreachable (PostgreSQL) still answers: the families read
from the store are left out, ``appliance_database_up`` says 0, and the in-process ones stay.

Every family is per modem (label ``modem``) except the store's, the database's and the webhook
backlog.  The
names, labels and units are in docs/deployment.md ("Metrics"), with a Grafana dashboard in
deploy/grafana/appliance.json.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from appliance.errors import ApplianceError
from appliance.numbers import normalize
from appliance.system.durations import Durations
from appliance.system.tallies import Tallies, store_tallies
from appliance.voice import audiostats

if TYPE_CHECKING:
    from appliance.config import Config
    from appliance.modem.modem import Modem
    from appliance.store.database import Store

# Seconds.  A commit is one fsync on the SD card; a webhook has read_timeout (15 s) at most.
STORE_WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
WEBHOOK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
LOGGER = logging.getLogger(__name__)


class WebhookAnswer(Protocol):
    """What the metrics read of a :class:`~appliance.webhooks.result.WebhookResult`."""

    @property
    def elapsed(self) -> float: ...
    @property
    def error_code(self) -> int | None: ...
    @property
    def ok(self) -> bool: ...


def _e164(number: str) -> str:
    try:
        return normalize(number)
    except ApplianceError:
        return number


def audio_port_name(spec: str) -> str:
    """The name :mod:`appliance.voice.audiostats` tallies a modem's audio port (``audio_port``)
    under."""
    if spec.startswith("alsa:"):
        return "alsa:" + (spec[len("alsa:") :] or "default")
    return spec


class Metrics:
    """One appliance's metrics: the in-process instruments, and the registry a scrape renders
    (made by the first scrape)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        modems: Mapping[str, Modem],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.enabled = config.metrics_enabled
        self.token = config.metrics_token
        self.store = store
        self.modems = modems
        self.store_write = Durations(
            "appliance_store_write_seconds",
            "Duration of each store commit (one transaction, one fsync), seconds",
            buckets=STORE_WRITE_BUCKETS,
        )
        self.webhook = Durations(
            "appliance_webhook_duration_seconds",
            "Duration of each webhook or status callback request (redirects and retries"
            " included), seconds; outcome is ok or the Twilio error code",
            ["modem", "outcome"],
            buckets=WEBHOOK_BUCKETS,
        )
        self.tallies = Tallies(store, store_tallies(config.retention_messages_days), clock)
        self._registry: Any = None  # prometheus-client's, made by the first scrape
        self._registry_lock = threading.Lock()
        self._numbers: dict[str, str] = {}  # E.164 -> modem, to file a webhook under its modem
        for name, modem in modems.items():
            for spelling in {modem.cfg.number, _e164(modem.cfg.number)}:
                self._numbers[spelling] = name
        if self.enabled:
            store.on_commit = self.store_write.observe

    def observe_webhook(self, params: Mapping[str, Any], result: WebhookAnswer) -> None:
        """A webhook request ended (the client's observer): time it under its modem."""
        try:
            modem = ""
            for field in ("To", "From", "Called", "Caller"):  # ours is To (inbound) or From
                value = params.get(field)
                if isinstance(value, str) and value in self._numbers:
                    modem = self._numbers[value]
                    break
            outcome = "ok" if result.ok else str(result.error_code or "error")
            self.webhook.observe(max(0.0, result.elapsed), modem, outcome)
        except Exception:  # noqa: BLE001 - a metric must never cost a webhook
            LOGGER.debug("webhook not timed", exc_info=True)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition (text format, or OpenMetrics if ``accept`` asks) and its content type.

        The first call imports prometheus-client (see the module docstring)."""
        from appliance.system import collector

        with self._registry_lock:
            if self._registry is None:
                self._registry = collector.registry(self)
        encoder, content_type = collector.choose_encoder(accept)
        return encoder(self._registry), content_type

    def underruns(self) -> dict[str, int]:
        """Audio underruns of calls since start, per modem."""
        tally = audiostats.underruns()
        out = {}
        for name, modem in self.modems.items():
            spec = str(getattr(modem.phone, "audio_port", "") or "")
            out[name] = tally.get(audio_port_name(spec), 0) if spec else 0
        return out
