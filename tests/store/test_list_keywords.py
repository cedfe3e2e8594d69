"""A keyword selects one subscriber list per number, enforced by the database (migration 0027,
``list_keywords``), on SQLite and a real PostgreSQL: creates that clash, the upgrade of a
database that already holds duplicates, and two nodes creating the same keyword at once."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import psycopg
import pytest
from psycopg import sql

from appliance.campaigns.lists import Subscribers
from appliance.campaigns.subscribers import SubscriberError
from appliance.store import migrations
from appliance.store.database import SqliteStore, Store
from tests.pg import Engine, PgServer, make_store

T = TypeVar("T")


def claims(store: Store) -> list[tuple[str, str, int]]:
    rows = store.read("SELECT modem, keyword, list_id FROM list_keywords ORDER BY list_id, keyword")
    return [(r[0], r[1], r[2]) for r in rows]


def keywords(store: Store) -> dict[str, tuple[str, str]]:
    rows = store.read("SELECT name, join_keyword, leave_keyword FROM subscriber_lists")
    return {r[0]: (r[1], r[2]) for r in rows}


def refused(subs: Subscribers, *args: str) -> tuple[str, str]:
    with pytest.raises(SubscriberError) as e:
        subs.create_list(*args)
    return e.value.field, e.value.message


def test_a_keyword_selects_one_list_per_number(engine: Engine, tmp_path: Path) -> None:
    store = make_store(engine, tmp_path)
    subs = Subscribers(store)
    weather = subs.create_list("Weather", "modem1", " weather ", "weather   off")
    used = "is already used by another list on this number"
    assert refused(subs, "Rain", "modem1", "WEATHER", "") == (
        "join_keyword",
        f"WEATHER {used}",
    )
    # One namespace for both columns: another list's leave keyword cannot be a join keyword.
    assert refused(subs, "Rain", "modem1", "Weather Off", "") == (
        "join_keyword",
        f"WEATHER OFF {used}",
    )
    assert refused(subs, "Rain", "modem1", "RAIN", "weather") == (
        "leave_keyword",
        f"WEATHER {used}",
    )
    assert refused(subs, "Weather", "modem2", "OTHER", "") == (
        "name",
        "There is already a list named 'Weather'",
    )
    other = subs.create_list("Weather two", "modem2", "WEATHER", "WEATHER OFF")  # another number
    # No keyword, or no number: any count.
    plain = [subs.create_list(f"Plain {i}", "modem1", "", "") for i in range(2)]
    nowhere = [subs.create_list(f"Nowhere {i}", "", "WEATHER", "") for i in range(2)]
    rain = subs.create_list("Rain", "modem1", "RAIN", "")  # the refused creates left nothing
    assert [r[0] for r in store.read("SELECT id FROM subscriber_lists ORDER BY id")] == sorted(
        [weather, other, *plain, *nowhere, rain]
    )
    assert claims(store) == [
        ("modem1", "WEATHER", weather),
        ("modem1", "WEATHER OFF", weather),
        ("modem2", "WEATHER", other),
        ("modem2", "WEATHER OFF", other),
        ("modem1", "RAIN", rain),
    ]


def _store_at(engine: Engine, tmp_path: Path, last: str) -> tuple[Store, str]:
    """A store migrated up to ``last`` only; (store, its PostgreSQL URL or "")."""
    names = [name for name, _sql in migrations.MIGRATIONS]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[: names.index(last) + 1])
        if engine.name == "sqlite":
            return SqliteStore(tmp_path / "s.sqlite3"), ""
        from appliance.store.pg import PgStore

        assert engine.server is not None
        url = engine.server.url(f"old_{uuid.uuid4().hex[:12]}")
        with psycopg.connect(engine.server.admin, autocommit=True) as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.rsplit("/", 1)[1]))
            )
        engine.urls.append(url)  # dropped after the test
        return PgStore(url, check_fsync=False), url


def test_the_upgrade_keeps_the_first_list_s_keyword(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Migration 0027 over a database holding duplicates (written by racing panels, or by hand):
    it does not fail; the earliest list keeps each keyword, a later list's clashing one is
    cleared (join or leave, either column), and each clearing is one WARNING line."""
    old, url = _store_at(engine, tmp_path, "0026_user_messages")
    try:
        old.write(
            lambda c: c.executemany(
                "INSERT INTO subscriber_lists (name, modem, join_keyword, leave_keyword, created)"
                " VALUES (?, ?, ?, ?, 0)",
                [
                    ("Weather", "modem1", "WEATHER", "WEATHER OFF"),
                    ("Weather copy", "modem1", "WEATHER", "WEATHER OFF"),  # both cleared
                    ("Rain", "modem1", " rain ", "weather"),  # trimmed; its leave cleared
                    ("Odd", "modem1", "ODD", "ODD"),  # its leave equals its join
                    ("Other number", "modem2", "WEATHER", "RAIN"),  # kept: another number
                    ("Nowhere", "", "WEATHER", "WEATHER"),  # no number: claims nothing, kept
                    ("Plain", "modem1", "", ""),
                    ("Plain too", "modem1", "", ""),
                ],
            )
        )
    finally:
        old.close()
    caplog.set_level(logging.WARNING, logger="appliance.store.migrations")
    if engine.name == "sqlite":
        store = make_store(engine, tmp_path)  # the same file, now migrated to 0027
    else:
        from appliance.store.pg import PgStore

        store = PgStore(url, check_fsync=False)
        engine.stores.append(store)
    assert keywords(store) == {
        "Weather": ("WEATHER", "WEATHER OFF"),
        "Weather copy": ("", ""),
        "Rain": ("RAIN", ""),
        "Odd": ("ODD", ""),
        "Other number": ("WEATHER", "RAIN"),
        "Nowhere": ("WEATHER", "WEATHER"),
        "Plain": ("", ""),
        "Plain too": ("", ""),
    }
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", f"migration 0027_list_keywords: subscriber list {text}")
        for text in (
            "Weather copy: join keyword WEATHER on modem1 cleared (list Weather has it)",
            "Weather copy: leave keyword WEATHER OFF on modem1 cleared (list Weather has it)",
            "Rain: leave keyword WEATHER on modem1 cleared (list Weather has it)",
            "Odd: leave keyword ODD on modem1 cleared (it is also its join keyword)",
        )
    ]
    assert [(m, k) for m, k, _id in claims(store)] == [
        ("modem1", "WEATHER"),
        ("modem1", "WEATHER OFF"),
        ("modem1", "RAIN"),
        ("modem1", "ODD"),
        ("modem2", "RAIN"),
        ("modem2", "WEATHER"),
    ]
    subs = Subscribers(store)
    assert refused(subs, "New", "modem1", "RAIN", "")[0] == "join_keyword"  # the kept claims hold
    assert subs.create_list("New", "modem1", "WEATHER COPY", "") > 0


class HeldStore:
    """A store whose next write holds its transaction open after the function ran, until
    ``release``: a create that has inserted its rows and not committed them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ran, self.release = threading.Event(), threading.Event()

    def write(self, fn: Callable[[Any], T]) -> T:
        def held(conn: Any) -> T:
            result = fn(conn)
            self.ran.set()
            assert self.release.wait(10)
            return result

        return self.store.write(held)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        (("Weather", "WEATHER", ""), ("Rain", "RAIN", "WEATHER"), "leave_keyword"),
        (("Weather", "WEATHER", ""), ("Weather", "RAIN", ""), "name"),
    ],
    ids=["keyword", "name"],
)
def test_two_nodes_creating_at_once_one_wins(
    pg_server: PgServer,
    tmp_path: Path,
    first: tuple[str, str, str],
    second: tuple[str, str, str],
    field: str,
) -> None:
    """Two nodes (two stores, READ COMMITTED) create clashing lists at once: node one has
    inserted its rows and not committed when node two's create runs.  A check that read first
    would see nothing and let both in; the unique key makes node two wait for node one's
    commit, then insert nothing: node two gets the form's error, not a 500."""
    from appliance.store.pg import PgStore

    engine = Engine("postgresql", pg_server)
    try:
        one = make_store(engine, tmp_path)
        two = PgStore(engine.urls[-1], check_fsync=False)
        engine.stores.append(two)
        held = HeldStore(one)
        outcome: dict[str, Any] = {}

        def create(name: str, subs: Subscribers, args: tuple[str, str, str]) -> None:
            try:
                outcome[name] = subs.create_list(args[0], "modem1", args[1], args[2])
            except SubscriberError as e:
                outcome[name] = e

        first_node = threading.Thread(
            target=create, args=("one", Subscribers(cast(Store, held)), first)
        )
        second_node = threading.Thread(target=create, args=("two", Subscribers(two), second))
        first_node.start()
        try:
            assert held.ran.wait(10)
            second_node.start()
            waiting = "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            for _ in range(100):  # node two blocked on node one's key (or, wrongly, done)
                if not second_node.is_alive() or one.read(waiting)[0][0] == 1:
                    break
                second_node.join(0.05)
            assert second_node.is_alive(), outcome  # it waits for node one's commit
        finally:
            held.release.set()
            first_node.join(10)
            second_node.join(10)
        assert isinstance(outcome["one"], int)
        assert isinstance(outcome["two"], SubscriberError) and outcome["two"].field == field
        assert [tuple(r) for r in one.read("SELECT name FROM subscriber_lists")] == [("Weather",)]
        assert claims(one) == [("modem1", "WEATHER", outcome["one"])]
    finally:
        engine.close()
