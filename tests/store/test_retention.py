"""Retention: old logs, finished messages and calls, and recordings are purged; nothing live is."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from appliance.store import retention
from appliance.store.database import Store
from appliance.store.retention import DAY, Policy, Retention, purge
from tests.conftest import wait_for
from tests.pg import Engine, make_store

NOW = 1_800_000_000.0
OLD = NOW - 400 * DAY  # older than every default
RECENT = NOW - 1 * DAY


@pytest.fixture
def store(engine: Engine, tmp_path: Path):
    """On SQLite and on PostgreSQL (tests/pg.py)."""
    s = make_store(engine, tmp_path / "data", "appliance.sqlite3")
    yield s
    s.close()


def _message(conn: sqlite3.Connection, sid: str, status: str, created: float) -> None:
    conn.execute(
        "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number, body,"
        " status, num_segments, date_created, date_updated) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (sid, "AC1", "outbound-api", "modem1", "+1500", "+1415", "hi", status, 1, created, created),
    )
    conn.execute("INSERT INTO segments (message_sid, part, state) VALUES (?, 1, 'sent')", (sid,))
    for state in ("done", "pending"):
        conn.execute(
            "INSERT INTO webhook_jobs (kind, message_sid, url, method, params, token, state,"
            " next_attempt_at, created) VALUES ('status', ?, 'http://x', 'POST', '{}', 't', ?, ?, ?)",
            (sid, state, created, created),
        )


def _call(conn: sqlite3.Connection, sid: str, status: str, created: float) -> None:
    conn.execute(
        "INSERT INTO calls (sid, modem, direction, from_number, to_number, status, date_created,"
        " date_updated) VALUES (?, 'modem1', 'inbound', '+1415', '+1500', ?, ?, ?)",
        (sid, status, created, created),
    )
    conn.execute(
        "INSERT INTO call_events (call_sid, at, kind) VALUES (?, ?, 'ringing')", (sid, RECENT)
    )


def _recording(conn: sqlite3.Connection, sid: str, path: str, created: float) -> None:
    conn.execute(
        "INSERT INTO recordings (sid, call_sid, status, path, date_created, date_updated)"
        " VALUES (?, 'CA1', 'completed', ?, ?, ?)",
        (sid, path, created, created),
    )


def _count(store: Store, table: str, where: str = "1=1") -> int:
    row = store.read_one(f"SELECT COUNT(*) FROM {table} WHERE {where}")
    assert row is not None
    return int(row[0])


def test_purge_deletes_what_is_old_and_finished_and_nothing_else(store, tmp_path):
    data = tmp_path / "data"
    rec_dir = data / "recordings"
    rec_dir.mkdir(parents=True)
    (rec_dir / "RE_old.wav").write_bytes(b"RIFF")
    (rec_dir / "RE_new.wav").write_bytes(b"RIFF")
    outside = tmp_path / "elsewhere.wav"
    outside.write_bytes(b"RIFF")

    def seed(conn: sqlite3.Connection) -> None:
        _message(conn, "SM_old_delivered", "delivered", OLD)
        _message(conn, "SM_old_received", "received", OLD)
        _message(conn, "SM_old_queued", "queued", OLD)  # still to send: never purged
        _message(conn, "SM_old_scheduled", "scheduled", OLD)
        _message(conn, "SM_new", "delivered", RECENT)
        _call(conn, "CA_old", "completed", OLD)
        _call(conn, "CA_live", "in-progress", OLD)
        _call(conn, "CA_new", "completed", RECENT)
        _recording(conn, "RE_old", str(rec_dir / "RE_old.wav"), OLD)
        _recording(conn, "RE_rel", "recordings/missing.wav", OLD)  # file already gone
        _recording(conn, "RE_outside", str(outside), OLD)
        _recording(conn, "RE_new", str(rec_dir / "RE_new.wav"), RECENT)
        for at in (OLD, RECENT):
            conn.execute(
                "INSERT INTO webhook_log (url, method, request, at) VALUES ('u', 'POST', '{}', ?)",
                (at,),
            )
            conn.execute(
                "INSERT INTO call_events (call_sid, at, kind) VALUES ('CA9', ?, 'x')", (at,)
            )
            conn.execute(
                "INSERT INTO quarantine (modem, source, raw, error, received_at)"
                " VALUES ('modem1', 'cmgr', '00', 'bad', ?)",
                (at,),
            )
        conn.execute("INSERT INTO cookies VALUES ('a', '{}', ?)", (NOW - 5 * 3600,))
        conn.execute("INSERT INTO cookies VALUES ('b', '{}', ?)", (NOW - 60,))

    store.write(seed)
    counts = purge(store, Policy(), data, now=NOW)

    assert counts["messages"] == 2 and counts["calls"] == 1
    assert counts["recordings"] == 3 and counts["recording_files"] == 1
    assert counts["cookies"] == 1 and counts["quarantine"] == 1
    left = {r[0] for r in store.read("SELECT sid FROM messages")}
    assert left == {"SM_old_queued", "SM_old_scheduled", "SM_new"}
    assert {r[0] for r in store.read("SELECT DISTINCT message_sid FROM segments")} == left
    # Finished jobs of purged messages went with them; a pending job is never deleted.
    assert _count(store, "webhook_jobs", "message_sid = 'SM_old_delivered'") == 1
    assert _count(store, "webhook_jobs", "state = 'pending'") == 5
    assert {r[0] for r in store.read("SELECT sid FROM calls")} == {"CA_live", "CA_new"}
    assert _count(store, "call_events", "call_sid = 'CA_old'") == 0
    assert _count(store, "call_events", "call_sid = 'CA9'") == 1  # the recent one
    assert {r[0] for r in store.read("SELECT sid FROM recordings")} == {"RE_new"}
    assert not (rec_dir / "RE_old.wav").exists() and (rec_dir / "RE_new.wav").exists()
    assert outside.exists(), "a path outside data_dir is never deleted"
    assert _count(store, "webhook_log") == 1 and _count(store, "quarantine") == 1
    assert {r[0] for r in store.read("SELECT conversation FROM cookies")} == {"b"}
    # A second run finds nothing more.
    again = purge(store, Policy(), data, now=NOW)
    assert not any(again.values()), again


def test_zero_days_keeps_forever(store, tmp_path):
    store.write(lambda conn: _message(conn, "SM1", "delivered", OLD))
    store.write(
        lambda conn: conn.execute(
            "INSERT INTO webhook_log (url, method, request, at) VALUES ('u', 'POST', '{}', ?)",
            (OLD,),
        )
    )
    keep = Policy(0, 0, 0, 0, 0, 0)
    counts = purge(store, keep, tmp_path, now=NOW)
    assert "messages" not in counts and "webhook_log" not in counts
    assert _count(store, "messages") == 1 and _count(store, "webhook_log") == 1


def test_support_steps_go_two_days_after_their_call_ended(store, tmp_path):
    """oncall_support_steps only matter while the call runs (a retried step fetch must not
    text twice): purged after SUPPORT_STEPS_DAYS once the call ended or is gone."""
    assert Policy().support_steps_days == retention.SUPPORT_STEPS_DAYS == 2
    three_days = NOW - 3 * DAY

    def seed(conn: sqlite3.Connection) -> None:
        _call(conn, "CA_ended", "completed", three_days)
        _call(conn, "CA_running", "in-progress", three_days)  # a call still up keeps its steps
        _call(conn, "CA_recent", "no-answer", RECENT)
        rows = [
            ("CA_ended", 1, three_days),
            ("CA_ended", 2, three_days),
            ("CA_running", 1, three_days),
            ("CA_gone", 1, three_days),  # its call was deleted
            ("CA_recent", 1, RECENT),  # ended, but only a day ago
        ]
        conn.executemany(
            "INSERT INTO oncall_support_steps (call_sid, step, people, at) VALUES (?,?,'[]',?)",
            rows,
        )

    store.write(seed)
    counts = purge(store, Policy(), tmp_path, now=NOW)
    assert counts["oncall_support_steps"] == 3
    left = {(r[0], r[1]) for r in store.read("SELECT call_sid, step FROM oncall_support_steps")}
    assert left == {("CA_running", 1), ("CA_recent", 1)}
    assert _count(store, "calls") == 3  # the calls themselves follow retention_calls_days
    # 0 keeps them forever, as for every other kind.
    keep = dataclasses.replace(Policy(), support_steps_days=0)
    store.write(lambda conn: _call(conn, "CA_old", "completed", OLD))
    store.write(
        lambda conn: conn.execute(
            "INSERT INTO oncall_support_steps (call_sid, step, people, at)"
            " VALUES ('CA_old', 1, '[]', ?)",
            (OLD,),
        )
    )
    assert "oncall_support_steps" not in purge(store, keep, tmp_path, now=NOW)
    assert _count(store, "oncall_support_steps", "call_sid = 'CA_old'") == 1


def test_large_backlogs_go_in_batches(store, tmp_path, monkeypatch):
    monkeypatch.setattr(retention, "BATCH", 100)
    store.write(
        lambda conn: conn.executemany(
            "INSERT INTO webhook_log (url, method, request, at) VALUES ('u', 'POST', '{}', ?)",
            [(OLD,)] * 250 + [(RECENT,)] * 3,
        )
    )
    for i in range(230):
        store.write(lambda conn, i=i: _message(conn, f"SM{i:04d}", "failed", OLD))
    writes = []
    real_write = store.write
    monkeypatch.setattr(store, "write", lambda fn: writes.append(1) or real_write(fn))
    counts = purge(store, Policy(), tmp_path, now=NOW)
    assert counts["webhook_log"] == 250 and counts["messages"] == 230
    assert _count(store, "webhook_log") == 3 and _count(store, "messages") == 0
    assert len(writes) >= 3 + 3  # several short transactions, not one long one


def test_thread_purges_periodically_and_survives_a_failure(store, tmp_path, monkeypatch):
    calls = []
    real = retention.purge

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk hiccup")
        return real(*args, **kwargs)

    monkeypatch.setattr(retention, "purge", flaky)
    store.write(
        lambda conn: conn.execute(
            "INSERT INTO quarantine (modem, source, raw, error, received_at)"
            " VALUES ('m', 's', '00', 'e', 1.0)"
        )
    )
    r = Retention(store, Policy(), tmp_path, interval=0.05, first_delay=0.0)
    r.start()
    try:
        wait_for(lambda: _count(store, "quarantine") == 0, timeout=5)
        wait_for(lambda: r.runs >= 2, timeout=5)
    finally:
        r.stop()
    assert len(calls) >= 3


def test_daemon_runs_retention_from_its_settings(make_daemon):
    daemon = make_daemon(retention_interval=0.1, retention_webhook_log_days=7)
    daemon.store.write(
        lambda conn: conn.executemany(
            "INSERT INTO webhook_log (url, method, request, at) VALUES ('u', 'POST', '{}', ?)",
            [(1.0,), (9e99,)],
        )
    )
    wait_for(lambda: _count(daemon.store, "webhook_log") == 1, timeout=10)


def test_cookie_idle_time_agrees_with_the_webhook_cookie_jar() -> None:
    from appliance.webhooks.cookies import COOKIE_IDLE_SECONDS

    assert Policy().cookie_idle_seconds == COOKIE_IDLE_SECONDS
