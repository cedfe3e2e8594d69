"""Bare-stack ceilings: what this machine does with the same server, disk and pty and no appliance.

The appliance's figures are read as ratios to these, measured in the same run
(bench/ratios.py alternates them), so a noisy or slow machine moves both sides.

* REST ceiling: a minimal WSGI app on cheroot (as many threads as ``bench_api`` gives the
  daemon), in a process of its own like ``appliance run``.  Per request it parses the form,
  does the same durable insert as the appliance (issue 12's definition of the ceiling): the
  ``messages`` row and its ``segments`` row, in the appliance's own schema (its migrations run
  once at set-up, so the tables carry the same indexes), WAL and ``synchronous=FULL`` as the
  store opens it, one commit (one fsync); then it answers 201 with a JSON body shaped like
  the Message resource.  No auth, routing, validation, group commit or writer thread.
  wrk drives it with ``bench_api``'s own command (:func:`bench.run.wrk_post`).
* The bare-table REST ceiling (``schema="bare"``): the same app inserting one row into a
  table with no secondary index (the ceiling of earlier runs); printed beside the other as
  the stricter comparison, without a target.
* Modem ceiling: ``AT+CMGS`` in PDU mode (the PDU the sender would build for the same body)
  straight down the simulated modem's pty (raw tty, ``os.read``/``os.write``), one message
  after another, each after one durable SQLite commit of its journal row.  Measured as
  ``bench_outbound_rate`` is: messages / time between the first and last send, from the
  simulator's own records.
"""

from __future__ import annotations

import json
import os
import select
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tty
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

THREADS = 16  # bench_api's http_threads
ACCOUNT = "AC" + "0" * 32
PREFIX = "/2010-04-01/Accounts"
PORT_TIMEOUT = 10.0  # seconds to wait for the modem's answer to one command

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    direction TEXT NOT NULL,
    modem TEXT NOT NULL,
    from_number TEXT NOT NULL,
    to_number TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    num_segments INTEGER NOT NULL,
    status_callback TEXT,
    status_callback_method TEXT,
    date_created REAL NOT NULL,
    date_updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    sid TEXT NOT NULL,
    part INTEGER NOT NULL,
    state TEXT NOT NULL
);
"""


def connect(path: Path, schema: str = "bare") -> sqlite3.Connection:
    """A connection set up as the store sets up its own: WAL, ``synchronous=FULL``.

    ``schema``: ``bare`` (the one-table :data:`SCHEMA`) or ``same`` (the appliance's
    migrations, run here once, so the tables and indexes are the store's)."""
    conn = sqlite3.connect(path, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    if schema == "same":
        from appliance.store.migrations import migrate

        conn.isolation_level = None  # the runner manages its own transactions
        migrate(conn)
        conn.isolation_level = "DEFERRED"
    else:
        conn.executescript(SCHEMA)
    return conn


# The appliance's insert for a one-part REST create (appliance/sms/outbox.py, insert_row).
SAME_INSERT = (
    "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number, body,"
    " status, num_segments, status_callback, status_callback_method, send_at,"
    " error_code, error_message, date_created, date_updated)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
SAME_PART = "INSERT INTO segments (message_sid, part, state) VALUES (?, 1, 'pending')"


# -- the REST ceiling -------------------------------------------------------------------------


def wsgi_app(db: Path, schema: str = "same") -> Callable[..., Iterable[bytes]]:
    """The minimal app: parse, one durable insert, answer 201 with a Message-shaped body."""
    conn = connect(db, schema)
    same = schema == "same"
    lock = threading.Lock()  # one writer at a time, as SQLite allows

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] != "POST":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        form = urllib.parse.parse_qs(environ["wsgi.input"].read(length).decode())
        to, from_, body = form["To"][0], form["From"][0], form["Body"][0]
        sid = "SM" + uuid.uuid4().hex
        now = time.time()
        with lock:
            if same:
                conn.execute(
                    SAME_INSERT,
                    (sid, ACCOUNT, "outbound-api", "modem1", from_, to, body, "queued", 1)
                    + (None, "POST", None, None, None, now, now),
                )
                conn.execute(SAME_PART, (sid,))
                conn.commit()  # synchronous=FULL: on disk before the answer
            else:
                conn.execute(
                    "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number,"
                    " body, status, num_segments, status_callback, status_callback_method,"
                    " date_created, date_updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (sid, ACCOUNT, "outbound-api", "modem1", from_, to, body, "queued", 1)
                    + (None, "POST", now, now),
                )
                conn.commit()  # synchronous=FULL: on disk before the answer
        date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(now))
        out = json.dumps(
            {
                "account_sid": ACCOUNT,
                "api_version": "2010-04-01",
                "body": body,
                "date_created": date,
                "date_sent": None,
                "date_updated": date,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": from_,
                "messaging_service_sid": None,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued",
                "subresource_uris": {"media": f"{PREFIX}/{ACCOUNT}/Messages/{sid}/Media.json"},
                "to": to,
                "uri": f"{PREFIX}/{ACCOUNT}/Messages/{sid}.json",
            }
        ).encode()
        start_response(
            "201 Created",
            [("Content-Type", "application/json"), ("Content-Length", str(len(out)))],
        )
        return [out]

    return app


def serve(db: Path, port: int, threads: int, schema: str = "same") -> None:
    """Run the minimal app on cheroot until killed (the process ``bench_api_ceiling`` starts)."""
    from cheroot import wsgi

    server = wsgi.Server(("127.0.0.1", port), wsgi_app(db, schema), numthreads=threads)
    server.safe_start()


def bench_api_ceiling_bare() -> dict[str, float]:
    """:func:`bench_api_ceiling` inserting into the one-table, index-free schema."""
    return bench_api_ceiling(schema="bare")


def bench_api_ceiling(
    seconds: float = 15.0, connections: int = 8, schema: str = "same"
) -> dict[str, float]:
    """The minimal app in its own process, driven by ``bench_api``'s wrk command."""
    from bench.run import wrk_post
    from tests.daemonproc import free_port

    with tempfile.TemporaryDirectory() as tdir:
        tmp = Path(tdir)
        port = free_port()
        db = tmp / "ceiling.sqlite3"
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.ceiling", str(db), str(port), str(THREADS), schema],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_http(f"http://127.0.0.1:{port}/health", proc)
            result = wrk_post(
                tmp,
                f"http://127.0.0.1:{port}{PREFIX}/{ACCOUNT}/Messages.json",
                f"{ACCOUNT}:token",
                seconds,
                connections,
            )
            with sqlite3.connect(db) as check:
                result["stored"] = float(
                    check.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
                )
        finally:
            proc.terminate()
            proc.wait(10)
    return result


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the ceiling server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"the ceiling server at {url} did not answer in {timeout} s")


# -- the modem ceiling ------------------------------------------------------------------------


class RawPort:
    """The simulated modem's pty in raw mode: write a command, read until a terminator."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.buf = b""

    def close(self) -> None:
        os.close(self.fd)

    def until(self, *ends: bytes) -> bytes:
        """Bytes up to and including the first of ``ends``; raises on ``ERROR``."""
        deadline = time.monotonic() + PORT_TIMEOUT
        while True:
            for end in ends:
                i = self.buf.find(end)
                if i >= 0:
                    out, self.buf = self.buf[: i + len(end)], self.buf[i + len(end) :]
                    return out
            if b"ERROR" in self.buf and self.buf.endswith(b"\r\n"):
                raise RuntimeError(f"modem answered {self.buf!r}")
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise TimeoutError(f"no {ends!r} from the modem; have {self.buf!r}")
            self.buf += os.read(self.fd, 4096)

    def command(self, text: str, *ends: bytes) -> bytes:
        os.write(self.fd, text.encode() + b"\r")
        return self.until(*(ends or (b"OK\r\n",)))


def bench_modem_ceiling(n: int = 2000) -> dict[str, float]:
    """``n`` messages as ``bench_outbound_rate`` sends them, with nothing but the PDU, the pty
    and one durable commit of a journal row before each ``AT+CMGS``."""
    from appliance.sms import codec, pdu
    from bench.run import PHONE, sim_host

    with tempfile.TemporaryDirectory() as tdir:
        tmp = Path(tdir)
        sim = sim_host(tmp, 0.0)
        conn = connect(tmp / "journal.sqlite3")
        port = RawPort(sim.modems["modem1"].port_path)
        try:
            port.command("ATE0")
            port.command("AT+CMGF=0")
            pdus = [pdu.encode_submit(PHONE, codec.split(f"rate {i}")[0]) for i in range(n)]
            for i, (pdu_hex, length) in enumerate(pdus):
                conn.execute(
                    "INSERT INTO journal (sid, part, state) VALUES (?, 1, 'sending')", (str(i),)
                )
                conn.commit()  # on disk before the part may leave: at most once
                port.command(f"AT+CMGS={length}", b"> ")
                os.write(port.fd, pdu_hex.encode() + b"\x1a")
                port.until(b"OK\r\n")
            assert sim.network.wait_outbox(n, timeout=60)
            segs = sim.network.outbox_segments("modem1")
        finally:
            port.close()
            conn.close()
            sim.stop()
    span = segs[-1].time - segs[0].time
    return {"n": float(n), "per_second": (n - 1) / span}


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:5])
