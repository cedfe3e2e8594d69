"""The store on both engines: what must read back the same on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys

import pytest

from appliance.errors import SchemaNewer, StoreError
from appliance.store import migrations
from appliance.store.database import SqliteStore, redact_url
from appliance.store.dialect import POSTGRES, SQLITE
from tests.pg import Engine, PgServer, make_store


def test_real_columns_keep_a_unix_time_to_the_millisecond(engine: Engine, tmp_path):
    """PostgreSQL's REAL is single precision (about 128 s at today's UNIX times): the
    migrations' REAL must become DOUBLE PRECISION there."""
    store = make_store(engine, tmp_path)
    store.write(
        lambda c: c.execute(
            "INSERT INTO settings (key, value) VALUES ('t', 'x')"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )
    )
    store.write(
        lambda c: c.execute(
            "INSERT INTO migrations (name, applied) VALUES (?, ?)", ("zz_probe", 1765000000.123)
        )
    )
    row = store.read_one("SELECT applied FROM migrations WHERE name = ?", ("zz_probe",))
    assert row is not None and row["applied"] == 1765000000.123 and row[0] == 1765000000.123


def test_rows_read_by_index_name_and_as_dicts(engine: Engine, tmp_path):
    store = make_store(engine, tmp_path)
    store.write(lambda c: c.execute("INSERT INTO settings (key, value) VALUES (?, ?)", ("a", "1")))
    row = store.read_one("SELECT key, value FROM settings WHERE key = :k", {"k": "a"})
    assert row is not None
    assert (row[0], row["value"], dict(row), list(row.keys())) == (
        "a",
        "1",
        {"key": "a", "value": "1"},
        ["key", "value"],
    )
    assert store.setting("a") == "1" and store.ensure_setting("b", lambda: "2") == "2"
    assert store.ensure_setting("b", lambda: "3") == "2"


def test_text_with_nul_is_stored(engine: Engine, tmp_path):
    """A UCS-2 PDU or a form value can carry U+0000, which PostgreSQL text cannot hold: it is
    stored as U+FFFD there, and the insert (an inbound SMS's commit) never fails."""
    store = make_store(engine, tmp_path)
    store.write(
        lambda c: c.execute("INSERT INTO settings (key, value) VALUES (?, ?)", ("n", "a\x00b"))
    )
    value = store.setting("n")
    assert value == ("a\x00b" if engine.name == "sqlite" else "a\ufffdb")


def test_like_ignores_ascii_case_on_both(engine: Engine, tmp_path):
    store = make_store(engine, tmp_path)
    store.write(
        lambda c: c.executemany(
            "INSERT INTO settings (key, value) VALUES (?, ?)",
            [("k1", "Hello World"), ("k2", "HELLO there"), ("k3", "50% off")],
        )
    )
    like = store.dialect.like
    hits = store.read(f"SELECT key FROM settings WHERE value {like} ? ORDER BY key", ("%hello%",))
    assert [r[0] for r in hits] == ["k1", "k2"]
    # A literal % in the SQL text and one in a parameter, escaped as the panel's search does.
    pct = store.read(
        f"SELECT key FROM settings WHERE value {like} '%' || ? || '%' ESCAPE '\\'", ("0\\%",)
    )
    assert [r[0] for r in pct] == ["k3"]


def test_a_failing_write_rolls_back_and_bools_are_integers(engine: Engine, tmp_path):
    store = make_store(engine, tmp_path)

    def bad(c) -> None:
        c.execute("INSERT INTO settings (key, value) VALUES ('x', '1')")
        c.execute("INSERT INTO settings (key, value) VALUES ('x', '2')")

    with pytest.raises(Exception) as e:  # noqa: B017 - each engine's own IntegrityError
        store.write(bad)
    assert "unique" in str(e.value).lower()
    assert store.setting("x") is None
    store.write(lambda c: c.execute("INSERT INTO settings (key, value) VALUES ('x', '3')"))
    assert store.read_one("SELECT ? + 1 AS n", (True,))["n"] == 2  # type: ignore[index]
    assert store.submit(lambda c: c.execute("SELECT 1").fetchone()[0]).result(5) == 1


def test_identity_keys_after_the_0016_copy(engine: Engine, tmp_path):
    """0016 copies policy id 1 explicitly; PostgreSQL's sequence must have moved past it."""
    store = make_store(engine, tmp_path)
    new_id = store.write(
        lambda c: c.execute(
            "INSERT INTO oncall_policies (name, ack_timeout, repeat, created)"
            " VALUES ('night', 60, 1, 0) RETURNING id"
        ).fetchone()[0]
    )
    ids = [r[0] for r in store.read("SELECT id FROM oncall_policies ORDER BY id")]
    assert ids == [1, new_id] and new_id == 2


def test_a_database_newer_than_the_code_is_refused(engine: Engine, tmp_path, monkeypatch):
    store = make_store(engine, tmp_path)
    store.write(
        lambda c: c.executemany(
            "INSERT INTO migrations (name, applied) VALUES (?, ?)",
            [("0098_future", 0.0), ("0099_later", 0.0)],
        )
    )
    store.close()
    with pytest.raises(SchemaNewer) as e:
        if engine.name == "sqlite":
            SqliteStore(tmp_path / "s.sqlite3")
        else:
            from appliance.store.pg import PgStore

            PgStore(engine.urls[-1], check_fsync=False)
    text = str(e.value)
    assert "0098_future, 0099_later" in text and migrations.MIGRATIONS[-1][0] in text
    assert "\n" not in text


def test_opt_outs_is_a_migration(engine: Engine, tmp_path):
    store = make_store(engine, tmp_path)
    names = {r[0] for r in store.read("SELECT name FROM migrations")}
    assert {"0017_opt_outs", "0018_calls_seq"} <= names
    assert store.read("SELECT * FROM opt_outs") == []


def test_an_existing_opt_outs_table_keeps_its_rows(tmp_path):
    """A box where somebody opted out before 0017 had the lazily made table already."""
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    upto = [n for n, _ in migrations.MIGRATIONS].index("0016_oncall_policies") + 1
    with pytest.MonkeyPatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:upto])
        migrations.migrate(conn)
    conn.execute(
        "CREATE TABLE opt_outs (phone_number TEXT NOT NULL, sender TEXT NOT NULL,"
        " opted_out_at REAL NOT NULL, keyword TEXT NOT NULL, PRIMARY KEY (phone_number, sender))"
    )
    conn.execute("INSERT INTO opt_outs VALUES ('+1500', '+1415', 1.5, 'STOP')")
    conn.close()
    store = SqliteStore(path)
    assert [tuple(r) for r in store.read("SELECT * FROM opt_outs")] == [
        ("+1500", "+1415", 1.5, "STOP")
    ]
    store.close()


def test_broadcast_schedules_move_from_the_job_store_to_their_rows(tmp_path):
    """0023: a scheduled broadcast keeps the next run time its APScheduler job had (a run
    missed while the box was off still fires); a paused one gets none; the table goes."""
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    upto = [n for n, _ in migrations.MIGRATIONS].index("0022_fleet_firings") + 1
    with pytest.MonkeyPatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:upto])
        migrations.migrate(conn)
    conn.executemany(
        "INSERT INTO broadcasts (id, name, list_id, modem, kind, content, schedule, enabled,"
        " created, updated) VALUES (?, ?, 1, 'm1', 'text', 'Hi', ?, ?, 0, 0)",
        [(1, "daily", "0 7 * * *", 1), (2, "paused", "0 7 * * *", 0), (3, "manual", "", 1)],
    )
    conn.executemany(
        "INSERT INTO scheduler_jobs (id, next_run_time, job_state) VALUES (?, ?, 'x')",
        [("broadcast-1", 1765090800.0), ("broadcast-2", 1765090800.0), ("retry-3-2-1", 5.0)],
    )
    conn.close()
    store = SqliteStore(path)
    try:
        rows = store.read("SELECT id, next_run, retry_at FROM broadcasts ORDER BY id")
        assert [tuple(r) for r in rows] == [
            (1, 1765090800.0, None),
            (2, None, None),
            (3, None, None),
        ]
        assert store.read_one("SELECT 1 FROM sqlite_master WHERE name = 'scheduler_jobs'") is None
    finally:
        store.close()


def test_dialect_translation():
    assert SQLITE.sql("SELECT ? WHERE a LIKE '%x'") == "SELECT ? WHERE a LIKE '%x'"
    assert (
        POSTGRES.sql("SELECT ?, :name, 'a?:b%' FROM t WHERE x::text = ? -- c?")
        == "SELECT %s, %(name)s, 'a?:b%%' FROM t WHERE x::text = %s -- c?"
    )
    assert POSTGRES.ddl("id INTEGER PRIMARY KEY, at REAL NOT NULL, s TEXT DEFAULT 'REAL'") == (
        "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, at DOUBLE PRECISION NOT NULL,"
        " s TEXT DEFAULT 'REAL'"
    )
    assert POSTGRES.rowkey("calls") == "seq" and SQLITE.rowkey("calls") == "rowid"


def test_start_up_errors_are_one_line_and_never_show_the_password(
    pg_server: PgServer, caplog: pytest.LogCaptureFixture
):
    from appliance.store.pg import PgStore

    caplog.set_level(logging.DEBUG)
    secret = "s3cret-Pa55"
    port = pg_server.port
    cases = {
        "unreachable": f"postgresql://appliance:{secret}@127.0.0.1:1/db",
        "no such database": f"postgresql://appliance:{secret}@127.0.0.1:{port}/missing",
        "no such user": f"postgresql://nobody9:{secret}@127.0.0.1:{port}/postgres",
        "bad port": f"postgresql://appliance:{secret}@127.0.0.1:notaport/db",
        "not postgresql": f"mysql://appliance:{secret}@127.0.0.1/db",
    }
    for case, url in cases.items():
        with pytest.raises(StoreError) as e:
            PgStore(url, check_fsync=False)
        text = str(e.value)
        assert text.startswith("database_url"), (case, text)
        assert "\n" not in text and secret not in text, (case, text)
    assert secret not in caplog.text
    assert redact_url(f"x postgresql://u:{secret}@h/d", f"postgresql://u:{secret}@h/d") == (
        "x postgresql://u:***@h/d"
    )


@pytest.mark.parametrize("case", ["unreachable", "not a postgresql url", "fsync off"])
def test_the_daemon_stops_at_start_with_one_line_naming_database_url(
    case: str, pg_server: PgServer, tmp_path
):
    """`appliance run` with a database it cannot use: exit status 1, one line on stderr that
    names the setting, never the password (the test server runs with fsync off, which a
    store that acknowledges durably must refuse)."""
    secret = "s3cret-Pa55"
    url = {
        "unreachable": f"postgresql://appliance:{secret}@127.0.0.1:1/db",
        "not a postgresql url": f"mysql://appliance:{secret}@127.0.0.1/db",
        "fsync off": pg_server.url("postgres").replace("appliance@", f"appliance:{secret}@"),
    }[case]
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\ndatabase_url = "{url}"\nhttp_port = 0\n'
        'https_port = 0\n[[modems]]\nname = "modem1"\nnumber = "+15005550006"\nport = "sim"\n'
    )
    rv = subprocess.run(
        [sys.executable, "-m", "appliance", "--config", str(cfg), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "APPLIANCE_LOG_LEVEL": "DEBUG"},
    )
    assert rv.returncode == 1, rv.stderr
    lines = rv.stderr.strip().splitlines()
    assert lines[-1].startswith("appliance: database_url"), rv.stderr
    assert secret not in rv.stderr + rv.stdout
    assert "fsync = off" in lines[-1] if case == "fsync off" else True
    assert not (tmp_path / "data" / "appliance.sqlite3").exists()  # no SQLite fallback


def test_a_single_box_never_imports_psycopg(tmp_path):
    """Idle memory is a tracked target: the SQLite path (the daemon's modules, a store opened
    from the configuration) leaves psycopg unloaded."""
    code = (
        "import sys, appliance.daemon, appliance.server\n"
        "from appliance import config\n"
        "from appliance.store.engines import open_store\n"
        f"s = open_store(config.load(None, environ={{}}, overrides={{'data_dir': {str(tmp_path)!r}}}))\n"
        "s.close()\n"
        "print(sorted(m for m in sys.modules if m.startswith('psycopg')))\n"
    )
    rv = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert rv.returncode == 0, rv.stderr
    assert rv.stdout.strip() == "[]"


def test_new_rows_get_their_ids_from_returning(engine: Engine, tmp_path):
    """The domain's inserts read the new id with RETURNING (PostgreSQL has no lastrowid)."""
    from appliance.campaigns.lists import Subscribers
    from appliance.campaigns.templates import Templates, parse_template
    from appliance.oncall.directory import Directory

    store = make_store(engine, tmp_path)
    directory = Directory(store)
    ann = directory.add_person("Ann", "+14155550177")
    bob = directory.add_person("Bob", "+14155550178")
    assert (ann["id"], bob["id"]) == (1, 2)
    assert directory.add_override(str(ann["id"]), "2030-01-01T00:00", "2030-01-02T00:00") == 1
    policy = directory.policies.create({"name": "night"}, None)
    assert policy["id"] == 2  # after the default policy that 0016 copied as id 1
    subscribers = Subscribers(store)
    assert subscribers.create_list("news", "modem1", "JOIN", "LEAVE") == 1
    templates = Templates(store)
    assert templates.create(parse_template("hello", "Hi {name}")) == 1
    assert templates.create(parse_template("bye", "Bye")) == 2


def test_radio_history_buckets_and_the_panel_queries(engine: Engine, tmp_path):
    """LEAST/GREATEST in the radio upsert, the hour buckets (SQLite's CAST truncates, so
    PostgreSQL uses FLOOR), the live page's change marks and the calls export's key."""
    from appliance.modem.health import Reading, add_to_history
    from web import export, live

    store = make_store(engine, tmp_path)
    at = 1765000000.0
    for signal in (12, 20, 7):
        store.write(lambda c, s=signal: add_to_history(c, "modem1", at, Reading(s, "1")))
    store.write(lambda c: add_to_history(c, "modem1", at, Reading(None, "1")))
    row = store.read_one("SELECT samples, signal_n, signal_min, signal_max FROM radio_history")
    assert tuple(row) == (4, 3, 7, 20)  # type: ignore[arg-type]
    hour = store.dialect.floor_div("bucket", "?")
    (bucket,) = store.read(f"SELECT {hour} * ? AS hour FROM radio_history", (3600.0, 3600.0))
    assert float(bucket["hour"]) == (at // 3600) * 3600

    for n in range(3):
        store.write(
            lambda c, n=n: c.execute(
                "INSERT INTO calls (sid, direction, modem, from_number, to_number,"
                " status, date_created, date_updated) VALUES (?,?,?,?,?,?,?,?)",
                (f"CA{n}", "inbound", "modem1", "+1415", "+1500", "completed", n, n),
            )
        )
    marks = live.versions(store)
    assert marks["calls"] == {"rowid": 3, "updated": 2.0}
    key = store.dialect.rowkey("calls")
    rows = export.keyset_rows(store, f"SELECT {key} AS _key, * FROM calls", "1 = 1", (), key)
    assert [r["sid"] for r in rows] == ["CA2", "CA1", "CA0"]
