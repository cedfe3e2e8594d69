"""What a scrape reads: prometheus-client's registry of one appliance's metrics.

Imported by the first scrape (:meth:`appliance.system.metrics.Metrics.render`), with
prometheus-client, which an idle appliance does not load.  The registry holds, in this
order: the in-process histograms (:class:`~appliance.system.durations.Durations`, exported
with the samples prometheus-client's ``Histogram`` would give), :class:`StoreCollector`
(everything read from the modems and the store at scrape time) and the process's own
figures (``process_*``).  :mod:`appliance.system.metrics` says what each family is.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client import metrics as client_metrics
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from appliance.errors import StoreUnavailable
from appliance.system import health
from appliance.system.durations import Durations
from appliance.system.tallies import SEND_LATENCY_BUCKETS, Counts, Tallies, Tally

if TYPE_CHECKING:
    from appliance.modem.modem import Modem
    from appliance.store.database import Store

__all__ = ["Metrics", "StoreCollector", "choose_encoder", "csq_dbm", "histogram", "registry"]

REGISTRATIONS = ("home", "roaming", "searching", "not registered", "denied", "unknown")


class Metrics(Protocol):
    """What a scrape reads of :class:`appliance.system.metrics.Metrics` (named here, not
    imported: that module imports this one, at its first scrape)."""

    @property
    def store(self) -> Store: ...
    @property
    def modems(self) -> Mapping[str, Modem]: ...
    @property
    def tallies(self) -> Tallies: ...
    @property
    def store_write(self) -> Durations: ...
    @property
    def webhook(self) -> Durations: ...
    def underruns(self) -> dict[str, int]: ...


def csq_dbm(csq: int | None) -> float:
    """AT+CSQ's 0..31 as dBm (3GPP 27.007 8.5); NaN when unknown (None or 99)."""
    if csq is None or csq == 99:
        return math.nan
    return -113.0 + 2.0 * csq


def registry(m: Metrics) -> CollectorRegistry:
    """``m``'s registry: its histograms, the store's families and the process's."""
    made = CollectorRegistry(auto_describe=False)
    made.register(HistogramCollector(m.store_write))
    made.register(HistogramCollector(m.webhook))
    made.register(StoreCollector(m))
    ProcessCollector(registry=made)
    return made


def histogram(d: Durations) -> Metric:
    """``d`` as the family prometheus-client's ``Histogram`` would collect: per series, the
    cumulative ``_bucket`` samples (``le`` last among the labels), ``_count``, ``_sum`` and
    ``_created`` (unless prometheus-client's created series are off)."""
    family = Metric(d.name, d.documentation, "histogram")
    created = getattr(client_metrics, "_use_created", True)
    for values, series in d.snapshot():
        labels = dict(zip(d.labelnames, values, strict=True))
        acc = 0.0
        for bound, count in zip(d.bounds, series.counts, strict=True):
            acc += count
            le = floatToGoString(bound)  # type: ignore[no-untyped-call]
            family.add_sample(d.name + "_bucket", {**labels, "le": le}, acc)
        family.add_sample(d.name + "_count", dict(labels), acc)
        if d.bounds[0] >= 0:
            family.add_sample(d.name + "_sum", dict(labels), series.sum)
        if created:
            family.add_sample(d.name + "_created", dict(labels), series.created)
    return family


class HistogramCollector(Collector):
    """One :class:`~appliance.system.durations.Durations`, for the registry."""

    def __init__(self, durations: Durations) -> None:
        self.durations = durations

    def collect(self) -> Iterator[Metric]:
        yield histogram(self.durations)


class StoreCollector(Collector):
    """Everything a scrape reads at scrape time (:mod:`appliance.system.metrics` says what)."""

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
