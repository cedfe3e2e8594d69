"""The database's metrics (issue 16): whether it answers, its outages and, on PostgreSQL, the
NULs replaced in text, scraped from a real store (the session's PostgreSQL server, stopped
for a moment as an administrator would) and parsed with prometheus-client's parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from appliance import config
from appliance.store.database import SqliteStore, Store
from appliance.system.metrics import Metrics
from tests.pg import PgServer


def scrape(store: Store, tmp_path: Path) -> dict[str, float]:
    cfg = config.load(None, environ={}, overrides={"data_dir": str(tmp_path)})
    body, _type = Metrics(cfg, store, {}).render()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            if not s.labels:
                out[s.name] = float(s.value)
    return out


def test_sqlite_is_up_with_no_outage_and_no_nul_counter(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        got = scrape(store, tmp_path)
    finally:
        store.close()
    assert got["appliance_database_up"] == 1.0
    assert got["appliance_database_outages_total"] == 0.0
    assert "appliance_database_nul_replaced_total" not in got  # PostgreSQL's alone
    assert "appliance_webhook_jobs_pending" in got


def test_postgresql_outage_and_nul_metrics(pg_server: PgServer, tmp_path: Path) -> None:
    from appliance.store import pgrows
    from appliance.store.pg import PgStore

    url = pg_server.new_database()
    store = PgStore(url, check_fsync=False)
    try:
        before = scrape(store, tmp_path)
        assert before["appliance_database_up"] == 1.0
        assert before["appliance_database_outages_total"] == 0.0
        nuls = before["appliance_database_nul_replaced_total"]
        assert nuls == float(pgrows.nul_replaced)
        store.write(
            lambda c: c.execute("INSERT INTO settings (key, value) VALUES ('k', ?)", ("a\x00b",))
        )
        assert scrape(store, tmp_path)["appliance_database_nul_replaced_total"] == nuls + 1

        pg_server.pause()
        try:
            during: dict[str, Any] = {}
            for _ in range(2):  # the first scrape finds the server gone, the second knows
                during = scrape(store, tmp_path)
            assert during["appliance_database_up"] == 0.0
            assert during["appliance_database_outages_total"] == 1.0
            assert "appliance_webhook_jobs_pending" not in during  # read from the store: left out
        finally:
            pg_server.resume()
        assert store.outage.wait(15), "the store did not find the server again"
        after = scrape(store, tmp_path)
        assert after["appliance_database_up"] == 1.0
        assert after["appliance_database_outages_total"] == 1.0  # a counter: it stays
        assert "appliance_webhook_jobs_pending" in after
    finally:
        store.close()
        pg_server.drop(url)
