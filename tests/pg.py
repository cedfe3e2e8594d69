"""A real PostgreSQL server for the tests, started once per session (a pytest plugin).

Debian installs PostgreSQL's programs in ``/usr/lib/postgresql/<version>/bin``, not on PATH,
so the newest ``initdb`` there is used.  initdb refuses to run as root: as root the data
folder is given to ``nobody`` and the programs run through ``runuser``.  The folder is a short
``mkdtemp`` under /tmp (``nobody`` cannot enter pytest's 0700 ``/tmp/pytest-of-root``, and a
Unix socket path is limited to 107 bytes).  The server listens on a socket in that folder and
on 127.0.0.1 at a free port, with fsync off (store-level tests; nothing here measures
durability).  A migrated ``appliance_template`` database is built once; every test gets its
own ``CREATE DATABASE t_N TEMPLATE appliance_template``, dropped after it.

The ``engine`` fixture runs a test once on SQLite and once on PostgreSQL; ``make_store(engine,
tmp_path)`` opens the store of that engine.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.store.database import SqliteStore, Store

ENGINES = ("sqlite", "postgresql")


def _bindir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name.split(".")[0]),
    )
    if not found:
        raise RuntimeError(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run `make deps`"
            " as root, or apt-get install postgresql"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    """One PostgreSQL cluster in a temporary folder, stopped by :meth:`stop`."""

    def __init__(self, *, fsync: bool = False) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._as: list[str] = []
        self.running = False
        if os.geteuid() == 0:
            shutil.chown(self.root, "nobody", "nogroup")
            self._as = ["runuser", "-u", "nobody", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "appliance", "--no-sync")
        options = f"-k {self.root} -h 127.0.0.1 -p {self.port} -c max_connections=300"
        if not fsync:  # store-level tests: nothing here measures durability
            options += " -F -c full_page_writes=off -c synchronous_commit=off"
        self._options = options
        self.resume()
        self._names = itertools.count(1)
        self.admin = self.url("postgres")
        self._sql("CREATE DATABASE appliance_template")
        from appliance.store.pg import PgStore

        PgStore(self.url("appliance_template"), check_fsync=False).close()  # migrated once

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self.bindir / program), *args],
            check=True,
            capture_output=True,
            timeout=60,
            cwd=self.root,
        )

    def url(self, database: str) -> str:
        return f"postgresql://appliance@127.0.0.1:{self.port}/{database}"

    def _sql(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def new_database(self) -> str:
        """A fresh migrated database's URL."""
        name = f"t_{next(self._names)}"
        self._sql(f"CREATE DATABASE {name} TEMPLATE appliance_template STRATEGY FILE_COPY")
        return self.url(name)

    def drop(self, url: str) -> None:
        self._sql(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def pause(self) -> None:
        """Stop the server as an administrator would (``pg_ctl stop -m fast``: sessions are
        ended, the data stays); :meth:`resume` starts it again on the same port."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self.running = False

    def resume(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", self._options,
            "-w", "start",
        )  # fmt: skip
        self.running = True

    def stop(self) -> None:
        try:
            if self.running:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    try:
        yield server
    finally:
        server.stop()


class Engine:
    """One engine of a parametrised test; the stores it opened are closed after the test."""

    def __init__(self, name: str, server: PgServer | None) -> None:
        self.name = name
        self.server = server
        self.stores: list[Store] = []
        self.urls: list[str] = []

    def url(self) -> str:
        assert self.server is not None
        url = self.server.new_database()
        self.urls.append(url)
        return url

    def close(self) -> None:
        for store in self.stores:
            store.close()
        if self.server is not None:
            for url in self.urls:
                self.server.drop(url)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    server = request.getfixturevalue("pg_server") if request.param == "postgresql" else None
    e = Engine(request.param, server)
    try:
        yield e
    finally:
        e.close()


def make_store(engine: Engine, tmp_path: Path, name: str = "s.sqlite3") -> Store:
    """A migrated store on ``engine``: a SQLite file in ``tmp_path``, or a PostgreSQL database
    of its own."""
    store: Store
    if engine.name == "sqlite":
        store = SqliteStore(tmp_path / name)
    else:
        from appliance.store.pg import PgStore

        store = PgStore(engine.url(), check_fsync=False)
    engine.stores.append(store)
    return store


def own_server() -> Iterator[PgServer]:
    """A server with fsync on for one test module whose tests stop and start it (an outage),
    so no other module sees it down.  Each such module takes it as its ``server`` fixture:
    ``server = pytest.fixture(scope="module", name="server")(own_server)``."""
    server = PgServer(fsync=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_durable() -> Iterator[PgServer]:
    """A server with fsync on, as the daemon requires (started only by the tests that ask)."""
    server = PgServer(fsync=True)
    try:
        yield server
    finally:
        server.stop()
