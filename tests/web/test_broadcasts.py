"""Subscribers, CSV import, broadcasts (text, URL, weather), the scheduler's persistence and misfires."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from appliance.campaigns import keywords
from appliance.campaigns.content import RunFailed
from appliance.campaigns.scheduler import PanelScheduler
from appliance.campaigns.spec import BroadcastError, Spec, parse_spec
from appliance.campaigns.subscribers import Subscriber, SubscriberError, parse_subscriber
from appliance.campaigns.weather import Forecast, describe, parse_forecast
from appliance.sms import codec as sms
from appliance.sms import optout
from tests.conftest import NUMBER, wait_for
from tests.fakeforecast import FakeForecast


def weather_daemon(make_daemon: Any, forecast: FakeForecast, **kw: Any) -> Any:
    return make_daemon(
        forecast_base_url=forecast.base,
        geocoding_base_url=forecast.base,
        broadcast_retry_delay=0.3,
        **kw,
    )


def people(d: Any, list_id: int) -> None:
    subs = d.panel.subscribers
    subs.add(list_id, Subscriber("+447700900001", "Ann Smith", "Leeds"))  # town, geocoded
    subs.add(list_id, Subscriber("+34600000002", "Bea", "", 37.39, -5.98, "Europe/Madrid"))
    subs.add(list_id, Subscriber("+4790000003", "Cai", "Bergen"))


def test_weather_broadcast_sends_each_town_its_own_forecast(make_daemon, forecast, sim):
    d = weather_daemon(make_daemon, forecast)
    subs = d.panel.subscribers
    list_id = subs.create_list("Weather", "modem1", "weather", "weather off")
    people(d, list_id)
    subs.add(list_id, Subscriber("+447700900009", "Opted Out", "Leeds"))
    d.store.write(lambda c: optout.opt_out(c, NUMBER, "+447700900009", "STOP"))
    subs.add(list_id, Subscriber("+447700900010", "Nowhere"))  # no location: reported, not sent
    spec = Spec(
        "Morning",
        list_id,
        "modem1",
        "weather",
        "Hi {first_name}! {forecast}",
        "0 7 * * *",
        "Europe/London",
    )
    bid = d.panel.broadcasts.create(spec)
    preview = d.panel.broadcasts.preview(bid)
    assert preview["audience"] == 4 and preview["segments_each"] >= 1
    run_id = d.panel.broadcasts.run(bid)
    run = d.panel.broadcasts.get_run(run_id)
    assert (run["state"], run["queued"], run["skipped"]) == ("done", 3, 1)
    sent = {}
    wait_for(lambda: len(sim.network.outbox()) >= 3)
    for m in sim.network.outbox():
        sent[m.destination] = m.text
    assert sent["+447700900001"].startswith("Hi Ann! Leeds today: rain, 9-14C, rain 90%.")
    assert "umbrella" in sent["+447700900001"]
    assert "clear sky" in sent["+34600000002"] and "umbrella" not in sent["+34600000002"]
    assert "Bergen today: overcast" in sent["+4790000003"]
    assert "+447700900009" not in sent
    recipients = {r["phone_number"]: r for r in d.panel.broadcasts.recipients(run_id)}
    assert "no location" in recipients["+447700900010"]["error"]
    # The geocoded town is kept on the subscriber.
    row = d.store.read_one(
        "SELECT latitude, timezone FROM subscribers WHERE phone_number = '+447700900001'"
    )
    assert abs(row["latitude"] - 53.7965) < 1e-6 and row["timezone"] == "Europe/London"


def test_forecast_down_fails_visibly_and_is_retried(make_daemon, forecast, sim):
    d = weather_daemon(make_daemon, forecast)
    list_id = d.panel.subscribers.create_list("Weather", "modem1", "", "")
    people(d, list_id)
    bid = d.panel.broadcasts.create(
        Spec("W", list_id, "modem1", "weather", "{forecast}", "", "UTC")
    )
    forecast.up = False
    with pytest.raises(RunFailed, match="503"):
        d.panel.broadcasts.run(bid)
    assert sim.network.outbox() == []
    d.panel.scheduler.run_now(bid)  # through the scheduler: the failure schedules a retry
    wait_for(lambda: d.panel.broadcasts.runs(bid)[0]["state"] == "failed")  # run 2, newest
    forecast.up = True
    wait_for(lambda: d.panel.broadcasts.runs(bid)[0]["state"] == "done", timeout=15)
    runs = d.panel.broadcasts.runs(bid)
    assert [r["state"] for r in runs][-2:] == ["failed", "failed"]
    assert "503" in runs[-1]["error"]
    assert runs[0]["reason"] == "retry" and runs[0]["attempt"] == 2
    wait_for(lambda: len(sim.network.outbox()) == 3)


def test_a_slow_forecast_api_does_not_hold_up_other_broadcasts(make_daemon, forecast, sim):
    d = weather_daemon(make_daemon, forecast)
    list_id = d.panel.subscribers.create_list("Weather", "modem1", "", "")
    people(d, list_id)
    weather = d.panel.broadcasts.create(
        Spec("W", list_id, "modem1", "weather", "{forecast}", "", "UTC")
    )
    text = d.panel.broadcasts.create(Spec("T", list_id, "modem1", "text", "Shop open", "", "UTC"))
    forecast.delay = 1.0  # three places: about 3 s for the weather run
    d.panel.scheduler.run_now(weather)
    wait_for(lambda: d.panel.broadcasts.runs(weather))
    d.panel.scheduler.run_now(text)
    wait_for(
        lambda: (
            d.panel.broadcasts.runs(text) and d.panel.broadcasts.runs(text)[0]["state"] == "done"
        )
    )
    assert d.panel.broadcasts.runs(weather)[0]["state"] == "rendering"  # still waiting on the API
    wait_for(lambda: d.panel.broadcasts.runs(weather)[0]["state"] == "done", timeout=15)


def test_text_and_url_broadcasts_and_keywords(make_daemon, sim, webapp):
    d = make_daemon()
    subs = d.panel.subscribers
    list_id = subs.create_list("News", "modem1", "JOIN NEWS", "LEAVE NEWS")
    subs.add(list_id, Subscriber("+447700900051", "Dee Jones", "York"))
    bid = d.panel.broadcasts.create(
        Spec("Hello", list_id, "modem1", "text", "Hello {first_name} in {town}", "", "UTC")
    )
    d.panel.broadcasts.run(bid)
    wait_for(lambda: any(m.text == "Hello Dee in York" for m in sim.network.outbox()))
    webapp.routes["/content"] = lambda req: (
        200,
        "text/xml",
        f"<Response><Message>For {req.param('Name')}: news</Message></Response>".encode(),
    )
    bid = d.panel.broadcasts.create(
        Spec("Feed", list_id, "modem1", "url", webapp.url("/content"), "", "UTC")
    )
    run_id = d.panel.broadcasts.run(bid)
    wait_for(lambda: any(m.text == "For Dee Jones: news" for m in sim.network.outbox()))
    req = webapp.to("/content")[0]
    assert req.headers.get("X-Twilio-Signature") and req.param("To") == "+447700900051"
    assert d.panel.broadcasts.get_run(run_id)["queued"] >= 1


def test_join_and_leave_by_keyword(make_daemon, sim):
    d = make_daemon()
    subs = d.panel.subscribers
    list_id = subs.create_list("Weather", "modem1", "WEATHER", "WEATHER OFF")
    sim.network.deliver_sms("modem1", "+447700900060", "Weather Leeds")
    wait_for(lambda: subs.count(list_id) == 1, timeout=15)
    row = d.store.read_one("SELECT * FROM subscribers")
    assert (row["phone_number"], row["town"], row["status"]) == ("+447700900060", "Leeds", "active")
    wait_for(lambda: any("joined Weather" in m.text for m in sim.network.outbox()))
    sim.network.deliver_sms("modem1", "+447700900060", "weather off")
    wait_for(lambda: d.store.read_one("SELECT status FROM subscribers")[0] == "left", timeout=15)
    assert subs.audience(list_id) == []


def test_csv_import_with_progress_and_row_errors(make_daemon):
    d = make_daemon()
    subs = d.panel.subscribers
    list_id = subs.create_list("Big", "modem1", "", "")
    lines = ["phone_number,name,town,latitude,longitude,timezone"]
    for i in range(10_000):
        if i % 1000 == 7:
            lines.append(f"not-a-number-{i},Bad,,,,")
        elif i % 1000 == 8:
            lines.append(f"+4477009{i:05d},Lat,,95,1,")
        else:
            lines.append(f"+4477009{i:05d},Person {i},Leeds,,,")
    job = subs.start_import(list_id, "\n".join(lines) + "\n")
    seen = set()

    def finished() -> bool:
        state = subs.import_state(job)
        seen.add(state["done"])
        return state["state"] == "done"

    wait_for(finished, timeout=30, interval=0.005)
    state = subs.import_state(job)
    assert state["imported"] == 9980 and len(state["errors"]) == 20
    assert state["errors"][0][0] == 9 and "phone_number" in state["errors"][0][1]
    assert any("latitude" in why for _row, why in state["errors"])
    assert subs.count(list_id) == 9980
    assert len(seen) >= 2  # progress was visible on the way


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"name": ""}, "name"),
        ({"schedule": "0 7 * *"}, "schedule"),
        ({"schedule": "61 7 * * *"}, "schedule"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"kind": "url", "content": "ftp://x"}, "content"),
        ({"kind": "text", "content": "Hi {surname}"}, "content"),
        ({"list_id": "99"}, "list_id"),
    ],
)
def test_bad_broadcast_forms_name_the_field(form, field):
    base = {
        "name": "W",
        "list_id": "1",
        "modem": "modem1",
        "kind": "weather",
        "content": "{forecast}",
        "schedule": "0 7 * * *",
        "timezone": "Europe/London",
    }
    with pytest.raises(BroadcastError) as e:
        parse_spec({**base, **form}, ["modem1"], [1])
    assert e.value.field == field


def test_bad_subscribers_are_refused():
    for values, field in (
        ({"phone_number": "0207 946 0000"}, "phone_number"),
        ({"phone_number": "+447700900123", "latitude": "x", "longitude": "1"}, "latitude"),
        ({"phone_number": "+447700900123", "latitude": "1"}, "latitude"),
        ({"phone_number": "+447700900123", "timezone": "Nowhere/City"}, "timezone"),
    ):
        with pytest.raises(SubscriberError) as e:
            parse_subscriber(values)
        assert e.value.field == field


@pytest.mark.parametrize("order", [1, -1])
def test_a_keyword_picks_the_same_list_whatever_order_the_lists_are_read_in(order):
    """A whole keyword beats a join keyword followed by a town; the longest join wins."""
    lists = [
        {"id": 1, "join_keyword": "WEATHER", "leave_keyword": "WEATHER OFF"},
        {"id": 2, "join_keyword": "WEATHER LEEDS", "leave_keyword": "LEEDS OFF"},
        {"id": 3, "join_keyword": "NEWS", "leave_keyword": ""},
    ][::order]
    for text, want in (
        ("WEATHER", (1, False)),
        ("WEATHER YORK", (1, False)),
        ("WEATHER OFF", (1, True)),  # the leave keyword, not WEATHER for the town OFF
        ("WEATHER LEEDS", (2, False)),
        ("WEATHER LEEDS NORTH", (2, False)),
        ("LEEDS OFF", (2, True)),
        ("NEWS TODAY", (3, False)),
        ("NEWSLETTER", None),
        ("HELLO", None),
    ):
        found = keywords.best_match(text, lists)
        assert (None if found is None else (found[0]["id"], found[1])) == want, text


def test_forecast_words():
    f = parse_forecast(
        {
            "daily": {
                "weather_code": [61],
                "temperature_2m_max": [12.4],
                "temperature_2m_min": [6.6],
                "precipitation_probability_max": [70],
            }
        }
    )
    assert sms.is_gsm7(describe(f, "York"))
    assert (
        describe(f, "York")
        == "York today: light rain, 7-12C, rain 70%. You'll need your umbrella today!"
    )
    assert "Enjoy" in describe(Forecast(0, 25.0, 14.0, 0))
    with pytest.raises(Exception, match="daily"):
        parse_forecast({"hourly": {}})


def _stop(d: Any) -> None:
    d.stop()


def _move_job(d: Any, broadcast_id: int, when: datetime) -> None:
    """As if the appliance had been off since ``when``: the broadcast's next run, in its row."""
    d.store.write(
        lambda c: c.execute(
            "UPDATE broadcasts SET next_run = ? WHERE id = ?", (when.timestamp(), broadcast_id)
        )
    )


def test_schedules_survive_a_restart_and_a_missed_run_happens_once(make_daemon, sim, tmp_path):
    d = make_daemon()
    list_id = d.panel.subscribers.create_list("L", "modem1", "", "")
    d.panel.subscribers.add(list_id, Subscriber("+447700900070", "Eve"))
    minute = (datetime.now(UTC).minute + 30) % 60
    spec = Spec("Hourly", list_id, "modem1", "text", "Tick", f"{minute} * * * *", "UTC")
    bid = d.panel.broadcasts.create(spec)
    d.panel.scheduler.schedule(bid, spec.schedule, spec.timezone)
    d.panel.scheduler.stop()
    # Power cut: three hourly runs were missed.
    _move_job(d, bid, datetime.now(UTC) - timedelta(hours=3, minutes=-1))
    _stop(d)
    d2 = make_daemon()
    wait_for(lambda: len(d2.panel.broadcasts.runs(bid)) == 1, timeout=15)
    time.sleep(1.5)
    assert len(d2.panel.broadcasts.runs(bid)) == 1  # coalesced: once, not three times
    nxt = d2.panel.scheduler.next_run(bid)
    assert nxt is not None and nxt > datetime.now(UTC)
    wait_for(lambda: sum(m.text == "Tick" for m in sim.network.outbox()) == 1)


def test_a_run_missed_beyond_the_grace_period_is_skipped(make_daemon, sim):
    d = make_daemon(broadcast_misfire_grace=60.0)
    list_id = d.panel.subscribers.create_list("L", "modem1", "", "")
    d.panel.subscribers.add(list_id, Subscriber("+447700900071", "Fay"))
    bid = d.panel.broadcasts.create(
        Spec("Daily", list_id, "modem1", "text", "Late", "0 7 * * *", "UTC")
    )
    d.panel.scheduler.schedule(bid, "0 7 * * *", "UTC")
    d.panel.scheduler.stop()
    _move_job(d, bid, datetime.now(UTC) - timedelta(minutes=10))
    _stop(d)
    d2 = make_daemon(broadcast_misfire_grace=60.0)
    wait_for(lambda: d2.panel.scheduler.next_run(bid) > datetime.now(UTC), timeout=10)
    time.sleep(1.0)
    assert d2.panel.broadcasts.runs(bid) == []


def test_a_poll_still_running_at_its_next_tick_is_not_logged(caplog):
    """The keyword poll's catch-up after a database outage can outlast its interval: APScheduler
    skips the ticks meanwhile, and used to warn "maximum number of running instances" for each.
    A poll's skip is dropped; another job's is still logged."""
    slow = SimpleNamespace(process_inbound=lambda: time.sleep(0.6))
    panel = PanelScheduler(
        SimpleNamespace(available=True),  # type: ignore[arg-type]  # all _keywords asks
        None,  # type: ignore[arg-type]
        slow,  # type: ignore[arg-type]
        grace=60,
        retry_delay=60,
        attempts=1,
        signal_interval=60,
    )
    panel.scheduler.start()
    try:
        panel.scheduler.add_job(panel._keywords, "interval", seconds=0.1, id="keywords")
        panel.scheduler.add_job(lambda: time.sleep(0.6), "interval", seconds=0.1, id="other")
        time.sleep(1.0)
    finally:
        panel.stop()
    skipped = [
        r.args[0].id
        for r in caplog.records
        if "maximum number of running instances" in str(r.msg) and isinstance(r.args, tuple)
    ]
    assert "other" in skipped and "keywords" not in skipped, skipped


def test_run_now_while_a_run_goes_on_says_it_was_not_started(make_daemon, forecast, sim):
    from tests.web.test_panel import PASSWORD, Panel
    from web.auth import set_password

    d = weather_daemon(make_daemon, forecast)
    set_password(d.store, PASSWORD)
    p = Panel(d)
    assert p.login().status_code == 302
    list_id = d.panel.subscribers.create_list("Weather", "modem1", "", "")
    people(d, list_id)
    bid = d.panel.broadcasts.create(
        Spec("W", list_id, "modem1", "weather", "{forecast}", "", "UTC")
    )
    forecast.delay = 1.0  # the first run waits on the forecast API for about 3 s
    page = f"/broadcasts/{bid}"
    rv = p.post(f"{page}/run", {}, same=False, follow_redirects=True)
    assert "Run started" in rv.get_data(as_text=True)
    rv = p.post(f"{page}/run", {}, same=False, follow_redirects=True)
    html = rv.get_data(as_text=True)
    assert "Not started: broadcast" in html and "already running" in html
    assert "Run started" not in html
    assert len(d.panel.broadcasts.runs(bid)) == 1
    wait_for(lambda: d.panel.broadcasts.runs(bid)[0]["state"] == "done", timeout=15)
    assert len(d.panel.broadcasts.runs(bid)) == 1


def test_a_run_cut_short_is_carried_on_at_the_next_start_each_sent_once(
    make_daemon, sim, monkeypatch
):
    # The appliance dies after the first batch of a run committed (BATCH = 1: one recipient
    # a batch): the next start carries the run on, skipping whoever was queued.
    from appliance.campaigns import broadcasts as module

    class Died(Exception):
        pass

    d = make_daemon()
    list_id = d.panel.subscribers.create_list("Shop", "modem1", "", "")
    people(d, list_id)
    bid = d.panel.broadcasts.create(Spec("T", list_id, "modem1", "text", "Shop open", "", "UTC"))
    monkeypatch.setattr(module, "BATCH", 1)

    def die(modem: str) -> None:
        raise Died("the appliance died after its first batch")

    monkeypatch.setattr(d.panel.broadcasts.outbox, "wake", die)
    with pytest.raises(Died):
        d.panel.broadcasts.run(bid)
    [run] = d.panel.broadcasts.runs(bid)
    assert run["state"] == "queueing" and run["queued"] == 1
    d.stop()

    d = make_daemon()  # the same data_dir: the same node
    wait_for(lambda: d.panel.broadcasts.runs(bid)[0]["state"] == "done", timeout=15)
    [run] = d.panel.broadcasts.runs(bid)  # the same run, carried on, not a new one
    assert (run["queued"], run["skipped"], run["total"]) == (3, 0, 3)
    wait_for(lambda: len(sim.network.outbox()) >= 3, timeout=15)
    time.sleep(0.5)
    sent = sorted(m.destination for m in sim.network.outbox())
    assert sent == sorted(r["phone_number"] for r in d.panel.broadcasts.recipients(run["id"]))
    assert len(sent) == len(set(sent)) == 3
