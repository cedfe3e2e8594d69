"""The fleet's identity: this node's id, its heartbeat and its modems' leases (issue 16, slice 3).

Every appliance is a *node*: a UUID kept in ``data_dir/node_id`` (made on first start, so a
restart is the same node), and a row in ``nodes`` with its name, URL, version, start time and
last heartbeat.  Each modem name is held by one node at a time: ``modem_owners`` says which,
until when (``lease_until``).  :meth:`Fleet.join` takes the node's modems at start-up, in one
transaction, and refuses (:class:`~appliance.errors.FleetError`, one line naming the modem and
the other node) when another node's lease on one of them has not run out: two nodes
configured with the same modem name would otherwise send each other's queue.  A node renews
its leases with every heartbeat (:data:`HEARTBEAT`, 10 s; a lease lasts :data:`LEASE`, 30 s),
so a node that died frees its modem names 30 s after its last heartbeat; a clean stop frees
them at once (:meth:`Fleet.leave`).

Each process writes a random token in its row at join; its heartbeat goes on only while the
row holds it.  A start cannot tell a crash's restart (the old process is dead) from a copy of
``data_dir/node_id`` on another box (a cloned SD card: both live), so it takes the row; if
the other process is alive, its next heartbeat finds another token, and it writes its beats in
``clash`` instead: both log it once and show it (``/health``, the Fleet page), and a third
start with that id is refused while a ``clash`` is under :data:`LEASE` old.  Rows of nodes
stopped or silent for longer than ``retention_nodes_days`` are removed (:meth:`Fleet.prune`,
once per fleet per hour).  On SQLite (one daemon per file) a join takes its modem names even
from another node's unexpired lease: that lease was copied in by a restore.

Times are the database's clock (:attr:`~appliance.store.dialect.Dialect.now`), so nodes whose
clocks disagree still agree on a lease.  The same statements run on both engines.  The
heartbeat thread runs only on PostgreSQL (the daemon starts it there): a single box on SQLite
writes its row at start and at stop, and has nobody to tell it is alive.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from appliance import __version__, logs
from appliance.errors import FleetError, StoreClosed, StoreUnavailable
from appliance.store.database import Store
from appliance.store.firings import fire

LOGGER = logging.getLogger(__name__)
HEARTBEAT = 10.0  # seconds between a node's heartbeats (each renews its modems' leases)
LEASE = 30.0  # seconds a heartbeat keeps a node's modem names, and counts it as up
FORGET = 7 * 86400.0  # seconds a stopped or lost node's row is kept (retention_nodes_days)
PRUNE_EVERY = 3600.0  # seconds between prunings of old nodes' rows (once per fleet)
PRUNE_FIRING = "prune_nodes"  # the pruning's name in fleet_firings
NODE_ID_FILE = "node_id"
CLONED = (
    "one of the two has a copy of the other's data_dir (a cloned SD card?): stop it, delete its"
    " data_dir/node_id and start it again, and it joins as a new node"
)
# NOTIFY channel: a message was queued for the modem named in the payload (on another node).
OUTBOX_CHANNEL = "appliance_outbox"
# NOTIFY channel: a call was queued on the modem named in the payload (on another node).
CALLS_CHANNEL = "appliance_calls"
# NOTIFY channel: a REST update (calls.control) was written for the call SID in the payload,
# which another node holds.
CONTROL_CHANNEL = "appliance_control"

# Take a modem name, or renew it: only when it is free, already this node's, or its lease
# has run out.  RETURNING says whether it was taken (a row) or held by another node (none);
# on PostgreSQL two nodes taking a free name together are serialised by the conflict.
_TAKE = """
    INSERT INTO modem_owners (modem, node_id, lease_until) VALUES (?, ?, ?)
    ON CONFLICT (modem) DO UPDATE SET node_id = excluded.node_id,
        lease_until = excluded.lease_until
    WHERE modem_owners.node_id = excluded.node_id OR modem_owners.lease_until < ?
    RETURNING modem
"""


def node_id(data_dir: Path) -> str:
    """This node's id: ``data_dir/node_id``, made (a random UUID) on first use."""
    path = data_dir / NODE_ID_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as e:
        raise FleetError(f"the node id in {path} cannot be read ({e})") from None
    if text:
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise FleetError(
                f"{path} does not hold a node id (a UUID): remove the file and the appliance"
                " makes a new one"
            ) from None
    made = str(uuid.uuid4())
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(made + "\n", encoding="ascii")
    os.replace(tmp, path)
    return made


def clashing(row: Any, now: float, lease: float) -> bool:
    """Whether a process other than the row's token holder beat for this node id within
    ``lease`` seconds (two live processes with one id: a cloned data_dir)."""
    return row["clash"] is not None and now - float(row["clash"]) <= lease


def prune(conn: Any, now: float, keep: float, this: str) -> int:
    """Remove the rows of nodes (and their modem names) stopped or silent for longer than
    ``keep`` seconds, except ``this`` node's; how many nodes went.  ``keep`` <= 0: none."""
    if keep <= 0:
        return 0
    cutoff = now - keep  # a clean stop writes its time as the last heartbeat too
    conn.execute(
        "DELETE FROM modem_owners WHERE node_id IN"
        " (SELECT id FROM nodes WHERE heartbeat < ? AND id != ?)",
        (cutoff, this),
    )
    return int(
        conn.execute("DELETE FROM nodes WHERE heartbeat < ? AND id != ?", (cutoff, this)).rowcount
    )


class Fleet:
    """This node's place in the fleet: its row, its modems' leases, its heartbeat thread."""

    def __init__(
        self,
        store: Store,
        node_id: str,
        name: str,
        url: Callable[[], str],
        modems: Sequence[str],
        *,
        interval: float = HEARTBEAT,
        lease: float = LEASE,
        forget: float = FORGET,
    ) -> None:
        self.store, self.id, self.name, self.url = store, node_id, name, url
        self.modems = tuple(modems)
        self.interval, self.lease, self.forget = interval, lease, forget
        self.token = uuid.uuid4().hex  # this process's, in the row while it holds the node id
        self.lost: set[str] = set()  # modem names another node took while this one was away
        self.clash: str | None = None  # another live process has this node id: what to do
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pruned = 0.0  # monotonic time of the last pruning attempt
        self.joined = False

    def _now(self, conn: Any) -> float:
        return float(conn.execute(f"SELECT {self.store.dialect.now}").fetchone()[0])

    def _row(self, conn: Any) -> Any:
        return conn.execute(
            "SELECT url, heartbeat, stopped, token, clash, clash_token, clash_url FROM nodes"
            f" WHERE id = ?{self.store.dialect.lock}",
            (self.id,),
        ).fetchone()

    def join(self) -> None:
        """Write this node's row (with this process's token) and take its modem names, or
        refuse (:class:`FleetError`, nothing written) if another node's lease on one of them
        has not run out, or if two live processes already share this node id."""

        def fn(conn: Any) -> None:
            now = self._now(conn)
            row = self._row(conn)
            if row is not None and clashing(row, now, self.lease):
                raise FleetError(
                    f"node id {self.id} (data_dir/node_id) is in use by another running"
                    f" appliance, at {row['clash_url'] or '?'} and {row['url'] or '?'}, seen"
                    f" {max(0, round(now - float(row['clash'])))} s ago: {CLONED}"
                )
            conn.execute(
                "INSERT INTO nodes (id, name, url, version, started, heartbeat, stopped, token)"
                " VALUES (?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (id) DO UPDATE SET"
                " name = excluded.name, url = excluded.url, version = excluded.version,"
                " started = excluded.started, heartbeat = excluded.heartbeat, stopped = NULL,"
                " token = excluded.token, clash = NULL, clash_token = NULL, clash_url = NULL",
                (self.id, self.name, self.url(), __version__, now, now, self.token),
            )
            sqlite = self.store.dialect.name == "sqlite"
            for modem in self.modems:
                if sqlite:  # one daemon per SQLite file (data_dir's; preflight refuses a
                    # second): another node's lease here was copied in by a restore
                    conn.execute(
                        "DELETE FROM modem_owners WHERE modem = ? AND node_id != ?",
                        (modem, self.id),
                    )
                if conn.execute(_TAKE, (modem, self.id, now + self.lease, now)).fetchone():
                    continue
                raise FleetError(self._held(conn, modem, now))

        self.store.write(fn)
        self.joined = True
        try:
            self.prune()
        except Exception:  # noqa: BLE001 - the bookkeeping must not stop a start
            LOGGER.exception("pruning old nodes failed; the heartbeat tries again in an hour")

    def _held(self, conn: Any, modem: str, now: float) -> str:
        row = conn.execute(
            "SELECT o.node_id, o.lease_until, n.name, n.url FROM modem_owners o"
            " LEFT JOIN nodes n ON n.id = o.node_id WHERE o.modem = ?",
            (modem,),
        ).fetchone()
        other = f"node {row['name'] or '?'} ({row['url'] or 'no URL'}, id {row['node_id']})"
        left = max(0, round(float(row["lease_until"]) - now))
        return (
            f"modem {modem} is held by another node, {other}, for {left} s more: modem names"
            " are fleet-wide, so give this one another name in [[modems]], or stop that node"
            f" first (its modems are freed {self.lease:g} s after its last heartbeat)"
        )

    def beat(self) -> list[str]:
        """The heartbeat: this node's row and its modems' leases renewed; returns the modem
        names another node holds now (taken while this node was silent past its lease).

        The row's heartbeat is written only while it holds this process's token (or its
        holder is gone: stopped, or silent past the lease).  Another live holder means two
        processes have this node id: this one writes its beats in ``clash`` instead, and
        both say so (:attr:`clash`)."""
        lost: list[str] = []
        clash: list[str] = []

        def fn(conn: Any) -> None:
            lost.clear()
            clash.clear()
            now = self._now(conn)
            row = self._row(conn)
            if row is None:  # the row was removed meanwhile (pruned): write it again
                conn.execute(
                    "INSERT INTO nodes (id, name, url, version, started, heartbeat, token)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                    (self.id, self.name, self.url(), __version__, now, now, self.token),
                )
            elif (
                row["token"] in (self.token, None)
                or now - float(row["heartbeat"]) > self.lease
                or (row["stopped"] is not None and float(row["stopped"]) >= float(row["heartbeat"]))
            ):
                mine = row["token"] == self.token
                conn.execute(
                    "UPDATE nodes SET heartbeat = ?, url = ?, stopped = NULL, token = ?"
                    + ("" if mine else ", clash = NULL, clash_token = NULL, clash_url = NULL")
                    + " WHERE id = ?",
                    (now, self.url(), self.token, self.id),
                )
                if mine and clashing(row, now, self.lease) and row["clash_token"] != self.token:
                    clash.append(f"another appliance beats with this node id at {row['clash_url']}")
            else:  # another live process holds this node id's row
                conn.execute(
                    "UPDATE nodes SET clash = ?, clash_token = ?, clash_url = ? WHERE id = ?",
                    (now, self.token, self.url(), self.id),
                )
                clash.append(f"another appliance took this node id at {row['url']}")
            for modem in self.modems:
                if not conn.execute(_TAKE, (modem, self.id, now + self.lease, now)).fetchone():
                    lost.append(modem)

        self.store.write(fn)
        for modem in set(lost) - self.lost:
            logs.event(
                LOGGER,
                logging.ERROR,
                "modem name held by another node",
                modem=modem,
                then="two nodes have a modem of this name: rename one in [[modems]]",
            )
        self.lost = set(lost)
        seen = f"node id {self.id} is shared: {clash[0]}: {CLONED}" if clash else None
        if seen is not None and self.clash is None:
            logs.event(LOGGER, logging.ERROR, "node id shared with another appliance",
                       node_id=self.id, then=seen)  # fmt: skip
        elif seen is None and self.clash is not None:
            logs.event(LOGGER, logging.WARNING, "node id no longer shared", node_id=self.id)
        self.clash = seen
        return lost

    def leave(self) -> None:
        """A clean stop: this node's row says stopped, its modem names are free at once
        (only if the row holds this process's token: else the other process's clash ends)."""
        if not self.joined:
            return

        def fn(conn: Any) -> None:
            now = self._now(conn)
            if conn.execute(
                "UPDATE nodes SET heartbeat = ?, stopped = ? WHERE id = ?"
                " AND (token = ? OR token IS NULL)",
                (now, now, self.id, self.token),
            ).rowcount:
                conn.execute("DELETE FROM modem_owners WHERE node_id = ?", (self.id,))
            else:  # another process holds the row: it is alone with this id from now on
                conn.execute(
                    "UPDATE nodes SET clash = NULL, clash_token = NULL, clash_url = NULL"
                    " WHERE id = ? AND clash_token = ?",
                    (self.id, self.token),
                )

        self.store.write(fn)
        self.joined = False

    def prune(self) -> int:
        """Remove old nodes' rows (:func:`prune`), once per fleet per :data:`PRUNE_EVERY` (a
        slot claimed in ``fleet_firings``); how many nodes went."""
        self._pruned = time.monotonic()
        if self.forget <= 0 or not fire(self.store, PRUNE_FIRING, PRUNE_EVERY, self.id):
            return 0
        gone = int(self.store.write(lambda c: prune(c, self._now(c), self.forget, self.id)))
        if gone:
            logs.event(LOGGER, logging.INFO, "old nodes removed", nodes=gone)
        return gone

    def start(self) -> None:
        """Beat every :attr:`interval` seconds on a thread of its own."""
        self._thread = threading.Thread(target=self._run, name="fleet heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
                if time.monotonic() - self._pruned >= PRUNE_EVERY:
                    self.prune()
            except StoreClosed:
                return
            except StoreUnavailable:  # the store logged the outage; the next beat renews
                continue
            except Exception:  # noqa: BLE001 - a failed beat must not stop the next one
                LOGGER.exception("fleet heartbeat failed; trying again in %.0f s", self.interval)
