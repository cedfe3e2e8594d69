"""Prometheus metrics: each modem's radio and queue, what it sent, received and rang, and latencies.

Theory of operation
-------------------
A scrape (``GET /metrics``, :mod:`appliance.api.metrics`) runs :class:`StoreCollector`, which
reads everything it reports *at that moment*: the modem threads' state, the last health poll
(``modem_health``), the queues, and the counters of :mod:`appliance.system.tallies`, derived
from the durable store (so they survive restarts and crashes, and stay monotonic across
retention purges).  Nothing in the domain code counts for the metrics.

What the store does not record is observed where it happens, in this process, and starts
from zero at each start (Prometheus handles such resets): the duration of each store commit
(a hook in :class:`~appliance.store.database.Store`: a slow SD card shows here first), of
each webhook request (an observer on the :class:`~appliance.webhooks.client.WebhookClient`),
and the audio underruns of calls (a tally kept by :mod:`appliance.voice.audiostats`).  With
``metrics_enabled = false`` none of these hooks is installed.

A scrape while the database is unreachable (PostgreSQL) still answers: the families read
from the store are left out, ``appliance_database_up`` says 0, and the in-process ones stay.

Every family is per modem (label ``modem``) except the store's, the database's and the webhook
backlog.  The
names, labels and units are in docs/deployment.md ("Metrics"), with a Grafana dashboard in
deploy/grafana/appliance.json.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from appliance.errors import ApplianceError, StoreUnavailable
from appliance.numbers import normalize
from appliance.system import health
from appliance.system.tallies import SEND_LATENCY_BUCKETS, Counts, Tallies, Tally, store_tallies
from appliance.voice import audiostats

if TYPE_CHECKING:
    from appliance.config import Config
    from appliance.modem.modem import Modem
    from appliance.store.database import Store

# Seconds.  A commit is one fsync on the SD card; a webhook has read_timeout (15 s) at most.
STORE_WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
WEBHOOK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
REGISTRATIONS = ("home", "roaming", "searching", "not registered", "denied", "unknown")
LOGGER = logging.getLogger(__name__)


class WebhookAnswer(Protocol):
    """What the metrics read of a :class:`~appliance.webhooks.result.WebhookResult`."""

    @property
    def elapsed(self) -> float: ...
    @property
    def error_code(self) -> int | None: ...
    @property
    def ok(self) -> bool: ...


def csq_dbm(csq: int | None) -> float:
    """AT+CSQ's 0..31 as dBm (3GPP 27.007 8.5); NaN when unknown (None or 99)."""
    if csq is None or csq == 99:
        return math.nan
    return -113.0 + 2.0 * csq


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
    """One appliance's metrics: the registry a scrape renders, and the in-process instruments."""

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
        self.registry = CollectorRegistry(auto_describe=False)
        self.store_write = Histogram(
            "appliance_store_write_seconds",
            "Duration of each store commit (one transaction, one fsync), seconds",
            buckets=STORE_WRITE_BUCKETS,
            registry=self.registry,
        )
        self.webhook = Histogram(
            "appliance_webhook_duration_seconds",
            "Duration of each webhook or status callback request (redirects and retries"
            " included), seconds; outcome is ok or the Twilio error code",
            ["modem", "outcome"],
            buckets=WEBHOOK_BUCKETS,
            registry=self.registry,
        )
        self.tallies = Tallies(store, store_tallies(config.retention_messages_days), clock)
        self.registry.register(StoreCollector(self))
        ProcessCollector(registry=self.registry)
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
            self.webhook.labels(modem, outcome).observe(max(0.0, result.elapsed))
        except Exception:  # noqa: BLE001 - a metric must never cost a webhook
            LOGGER.debug("webhook not timed", exc_info=True)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition (text format, or OpenMetrics if ``accept`` asks) and its content type."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def underruns(self) -> dict[str, int]:
        """Audio underruns of calls since start, per modem."""
        tally = audiostats.underruns()
        out = {}
        for name, modem in self.modems.items():
            spec = str(getattr(modem.phone, "audio_port", "") or "")
            out[name] = tally.get(audio_port_name(spec), 0) if spec else 0
        return out


class StoreCollector(Collector):
    """Everything a scrape reads at scrape time (see the module docstring)."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.m
        names = list(m.modems)
        yield from _database(m.store)
        try:  # read first, yield after: a scrape during an outage has none of them, not half
            rows = health.health_rows(m.store)
            families = [
                *_radio(m, rows),
                *_queues(m, names),
                *_balance(m, names),
                *_counters(m.tallies.tallies, m.tallies.collect(), names),
            ]
        except StoreUnavailable:  # the store logged the outage; appliance_database_up says it
            families = []
        yield from families
        underruns = CounterMetricFamily(
            "appliance_audio_underruns",
            "Call audio frames that found the playback not ready (a gap heard), since start",
            labels=["modem"],
        )
        for name, n in m.underruns().items():
            underruns.add_metric([name], n)
        yield underruns


def _database(store: Store) -> Iterator[Metric]:
    """Whether the database answers, its outages since start and (PostgreSQL) the NULs
    replaced in text it was given; read from the store, never from the database."""
    yield GaugeMetricFamily(
        "appliance_database_up",
        "1 while the database answers (always on SQLite; PostgreSQL: 0 during an outage)",
        value=0.0 if store.outage.down else 1.0,
    )
    yield CounterMetricFamily(
        "appliance_database_outages",
        "Times the database stopped answering (PostgreSQL), since start",
        value=float(store.outage.count),
    )
    if store.dialect.name == "postgresql":
        pg = sys.modules.get("appliance.store.pgrows")  # loaded with the store; it owns the tally
        yield CounterMetricFamily(
            "appliance_database_nul_replaced",
            "Text values whose NUL characters were replaced before PostgreSQL stored them"
            " (its text cannot hold NUL), since start",
            value=float(getattr(pg, "nul_replaced", 0)),
        )


def _radio(m: Metrics, rows: Mapping[str, Mapping[str, Any]]) -> Iterator[Metric]:
    up = GaugeMetricFamily("appliance_modem_up", "1 while the modem is connected", labels=["modem"])
    healthy = GaugeMetricFamily(
        "appliance_modem_healthy",
        "1 while the modem can carry traffic (connected, SIM ready, registered), as /health says",
        labels=["modem"],
    )
    condition = GaugeMetricFamily(
        "appliance_modem_condition",
        "1 for the modem's condition: ok, disconnected, sim_not_ready or network_lost",
        labels=["modem", "condition"],
    )
    csq = GaugeMetricFamily(
        "appliance_modem_signal_csq", "Signal (AT+CSQ, 0..31; NaN: unknown)", labels=["modem"]
    )
    dbm = GaugeMetricFamily(
        "appliance_modem_signal_dbm", "Signal in dBm (NaN: unknown)", labels=["modem"]
    )
    registered = GaugeMetricFamily(
        "appliance_modem_registered",
        "1 while registered on a network (home or roaming); NaN before the first poll",
        labels=["modem"],
    )
    registration = GaugeMetricFamily(
        "appliance_modem_registration",
        "1 for the modem's network registration (AT+CREG) at the last poll",
        labels=["modem", "registration"],
    )
    sim = GaugeMetricFamily(
        "appliance_modem_sim_ready", "1 while the SIM is ready (AT+CPIN? READY)", labels=["modem"]
    )
    polled = GaugeMetricFamily(
        "appliance_modem_health_poll_timestamp_seconds",
        "When the modem's health (signal, registration, SIM) was last recorded, Unix time",
        labels=["modem"],
    )
    for c in health.assess_all(m.modems, m.store, rows):
        row = rows.get(c.modem) or {}
        up.add_metric([c.modem], 1.0 if c.state == "ready" else 0.0)
        healthy.add_metric([c.modem], 1.0 if c.healthy else 0.0)
        for name in (health.OK, *health.PROBLEMS):
            condition.add_metric([c.modem, name], 1.0 if c.condition == name else 0.0)
        signal = row.get("signal")
        csq.add_metric([c.modem], math.nan if signal in (None, 99) else float(signal))
        dbm.add_metric([c.modem], csq_dbm(signal))
        reg = row.get("registration")
        registered.add_metric(
            [c.modem], math.nan if reg is None else float(reg in health.REGISTERED)
        )
        for name in sorted({*REGISTRATIONS, *([reg] if reg else [])}):
            registration.add_metric([c.modem, name], 1.0 if reg == name else 0.0)
        state = row.get("sim")
        sim.add_metric(
            [c.modem], math.nan if state is None else float(str(state).upper() == "READY")
        )
        if row.get("updated") is not None:
            polled.add_metric([c.modem], float(row["updated"]))
    yield from (up, healthy, condition, csq, dbm, registered, registration, sim, polled)


def _balance(m: Metrics, names: list[str]) -> Iterator[Metric]:
    """The SIM's prepaid balance as the last USSD check read it (modems with balance_ussd)."""
    balance = GaugeMetricFamily(
        "appliance_sim_balance",
        "The SIM's prepaid balance, as the last USSD balance check read it (balance_ussd)",
        labels=["modem"],
    )
    for r in m.store.read(
        "SELECT modem, amount FROM sim_balance WHERE amount IS NOT NULL ORDER BY modem"
    ):
        if r["modem"] in names:
            balance.add_metric([r["modem"]], float(r["amount"]))
    yield balance


def _queues(m: Metrics, names: list[str]) -> Iterator[Metric]:
    depth = dict.fromkeys(names, 0.0)
    scheduled = dict.fromkeys(names, 0.0)
    for r in m.store.read(
        "SELECT modem, status, COUNT(*) AS n FROM messages"
        " WHERE status IN ('queued', 'sending', 'scheduled') GROUP BY modem, status"
    ):
        into = scheduled if r["status"] == "scheduled" else depth
        into[r["modem"]] = into.get(r["modem"], 0.0) + r["n"]
    live = dict.fromkeys(names, 0.0)
    for r in m.store.read(
        "SELECT modem, COUNT(*) AS n FROM calls"
        " WHERE status IN ('queued', 'ringing', 'in-progress') GROUP BY modem"
    ):
        live[r["modem"]] = float(r["n"])
    pending = m.store.read_one(
        "SELECT COUNT(*) FROM webhook_jobs WHERE state IN ('pending', 'running')"
    )
    for name, help_text, values in (
        ("appliance_sms_queue_depth", "Messages queued or being sent", depth),
        ("appliance_sms_scheduled", "Messages scheduled for later (SendAt)", scheduled),
        ("appliance_calls_live", "Calls queued, ringing or in progress", live),
    ):
        family = GaugeMetricFamily(name, help_text, labels=["modem"])
        for modem, value in sorted(values.items()):
            family.add_metric([modem], value)
        yield family
    yield GaugeMetricFamily(
        "appliance_webhook_jobs_pending",
        "Webhooks and status callbacks waiting to be posted (or being posted)",
        value=float(pending[0]) if pending else 0.0,
    )


COUNTER_HELP = {
    "appliance_sms_segments_sent": ("SMS parts the network accepted (+CMGS)", ("modem",)),
    "appliance_sms_segments_delivered": (
        "SMS parts a status report said were delivered",
        ("modem",),
    ),
    "appliance_sms_segments_failed": (
        "SMS parts that failed, by Twilio error code: never sent (the message failed) or"
        " reported undelivered by the network",
        ("modem", "error_code"),
    ),
    "appliance_sms_inbound": (
        "Inbound SMS by outcome: received, incomplete (30009), failed, quarantined (undecodable)",
        ("modem", "outcome"),
    ),
    "appliance_calls": (
        "Finished calls by direction and outcome (completed, busy, no-answer, failed, canceled)",
        ("modem", "direction", "outcome"),
    ),
}


def _counters(
    tallies: tuple[Tally, ...], figures: Mapping[str, Counts], names: list[str]
) -> Iterator[Metric]:
    families: dict[str, CounterMetricFamily] = {}
    totals: dict[str, Counts] = {family: {} for family in COUNTER_HELP}
    # Every modem has these from its first scrape, so that rate() has a start.
    for name in names:
        totals["appliance_sms_segments_sent"][(name,)] = 0.0
        totals["appliance_sms_inbound"][(name, "received")] = 0.0
    for tally in tallies:
        if tally.family not in totals:
            continue
        for key, value in figures.get(tally.name, {}).items():
            into = totals[tally.family]
            into[key] = into.get(key, 0.0) + value
    for family, (help_text, labels) in COUNTER_HELP.items():
        counter = CounterMetricFamily(family, help_text, labels=list(labels))
        for key, value in sorted(totals[family].items()):
            counter.add_metric(list(key), value)
        families[family] = counter
    yield from families.values()
    latency = HistogramMetricFamily(
        "appliance_sms_send_latency_seconds",
        "From a message's creation (or SendAt) to the network accepting its last part, seconds",
        labels=["modem"],
    )
    sent = figures.get("send_latency", {})
    for name in sorted({k[0] for k in sent} | set(names)):
        buckets = [(repr(b), sent.get((name, repr(b)), 0.0)) for b in SEND_LATENCY_BUCKETS]
        total = sent.get((name, "count"), 0.0)
        buckets.append(("+Inf", total))
        latency.add_metric([name], buckets, sent.get((name, "sum"), 0.0))
    yield latency
