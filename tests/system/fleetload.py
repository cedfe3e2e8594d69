"""Three appliance processes on one PostgreSQL database under traffic, for the fleet's chaos
and outage tests (issue 16, slice 7).

The simulated modems live in this test process (one :class:`SimulatorHost`, three modems on
ptys, one per node): like the hardware and the phone network, they outlive every kill of a
node.  Each node is ``appliance run`` in a process of its own with its one modem's pty.
Traffic: REST creates posted to a random node from a random node's number (the node holding
that number's modem sends it), and SMS delivered by the network into a random modem, whose
webhook (a real HTTP server on 127.0.0.1) answers each with a ``<Message>`` reply.

:meth:`FleetUnderLoad.check` holds the fleet to its promises (docs/fleet.md, "When something
fails"; docs/reliability.md): each inbound SMS stored once, posted to the app under one
MessageSid and one ``I-Twilio-Idempotency-Token``, its reply queued once; nothing reaches the
network twice; every accepted create and every reply sent once, or failed with 30008
("Send interrupted ... may have been delivered") when a kill cut its send.
"""

from __future__ import annotations

import collections
import itertools
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests

from appliance.sim.host import SimulatorHost
from tests.conftest import wait_for
from tests.daemonproc import DaemonProcess, free_port
from tests.webapp import Request, WebApp

IDEMPOTENCY = "I-Twilio-Idempotency-Token"
NODES = {"a": "+15005550021", "b": "+15005550022", "c": "+15005550023"}  # node -> number
PHONES = [f"+1415555{n:04d}" for n in range(200, 207)]  # the people texting in


def node_config(
    directory: Path, port: int, url: str, node: str, pty: Path, sms_url: str, lease: float
) -> Path:
    """A node's appliance.toml: the database, its one modem on ``pty``, quick timings (the
    storage and queue sweep every second, a webhook retried after 0.2 s, a dead node's
    webhook job taken over ``lease`` seconds after its claim; 0: the default, 6 min)."""
    directory.mkdir(parents=True, exist_ok=True)
    cfg = directory / "appliance.toml"
    cfg.write_text(
        f'data_dir = "{directory / "data"}"\ndatabase_url = "{url}"\nnode_name = "node-{node}"\n'
        f"http_port = {port}\nhttps_port = 0\noutbound_rate = 0.0\nsweep_interval = 1.0\n"
        "webhook_backoff = 0.2\nreconnect_delay = 0.2\ncommand_timeout = 3.0\n"
        f'connect_timeout = 1.0\nread_timeout = 5.0\nwebhook_lease = {lease}\nlog_level = "INFO"\n'
        f'[[modems]]\nname = "{node}1"\nnumber = "{NODES[node]}"\nport = "{pty}"\n'
        f'profile = "sim800"\nsms_url = "{sms_url}"\n'
    )
    return cfg


@dataclass
class Traffic:
    """What the test did and what it was told."""

    accepted: dict[str, str] = field(default_factory=dict)  # sid -> body, every 201
    refused: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)  # 503s etc.
    unanswered: list[str] = field(default_factory=list)  # bodies whose request got no answer
    inbound: list[str] = field(default_factory=list)  # bodies the network delivered
    froms: dict[str, str] = field(default_factory=dict)  # body posted -> its From number


class FleetUnderLoad:
    """The simulator, the app, three node processes and the traffic between them."""

    def __init__(self, tmp_path: Path, url: str, seed: int, lease: float = 0.0) -> None:
        self.tmp_path, self.url = tmp_path, url
        self.rng = random.Random(seed)
        self.sim = SimulatorHost(tmp_path / "sim", report_delay=0.2)
        for node, number in NODES.items():
            self.sim.add(f"{node}1", "sim800", number, latency=0.01, boot_delay=0.0)
        self.sim.start()
        wait_for(lambda: all(m.booted for m in self.sim.modems.values()), timeout=15)
        self.app = WebApp()
        self.app.routes["/sms"] = self._reply
        self.nodes: dict[str, DaemonProcess] = {}
        for node in NODES:
            port = free_port()
            cfg = node_config(
                tmp_path / node, port, url, node,
                self.sim.modems[f"{node}1"].port_path, self.app.url("/sms"), lease,
            )  # fmt: skip
            self.nodes[node] = DaemonProcess(cfg, port, log=tmp_path / f"{node}.log")
        self.traffic = Traffic()
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sid = self.token = ""

    @staticmethod
    def _reply(req: Request) -> tuple[int, str, bytes]:
        body = f"<Response><Message>re: {req.flat['Body']}</Message></Response>"
        return 200, "text/xml", body.encode()

    def start_nodes(self) -> None:
        self.nodes["a"].start()  # first: it makes the account the others share
        self.nodes["a"].wait_ready(60)
        for node in ("b", "c"):
            self.nodes[node].start()
        for node in ("b", "c"):
            self.nodes[node].wait_ready(60)
        with psycopg.connect(self.url) as conn:
            rows: dict[str, str] = dict(conn.execute("SELECT key, value FROM settings").fetchall())
        self.sid, self.token = rows["account_sid"], rows["auth_token"]

    # -- traffic ---------------------------------------------------------------------------

    def create_url(self, node: str) -> str:
        port = self.nodes[node].port
        return f"http://127.0.0.1:{port}/2010-04-01/Accounts/{self.sid}/Messages.json"

    def _post(self) -> None:
        t = self.traffic
        rng = random.Random(self.rng.random())
        with requests.Session() as http:
            for n in itertools.count(1):
                if self.stop.is_set():
                    return
                body, sender = f"out {n}", rng.choice(list(NODES.values()))
                t.froms[body] = sender
                node = rng.choice(list(NODES))
                data = {"To": rng.choice(PHONES), "From": sender, "Body": body}
                try:
                    rv = http.post(
                        self.create_url(node), data=data, auth=(self.sid, self.token), timeout=10
                    )
                except requests.RequestException:
                    t.unanswered.append(body)  # the node died under it (or was dead)
                    http.close()
                else:
                    if rv.status_code == 201:
                        t.accepted[rv.json()["sid"]] = body
                    else:
                        try:
                            error = rv.json()
                        except ValueError:
                            error = {"text": rv.text[:200]}
                        error["retry_after"] = rv.headers.get("Retry-After")
                        t.refused.append((body, rv.status_code, error))
                self.stop.wait(rng.uniform(0.05, 0.25))

    def _receive(self) -> None:
        rng = random.Random(self.rng.random())
        for n in itertools.count(1):
            if self.stop.is_set():
                return
            body = f"in {n}"
            modem = self.sim.modems[f"{rng.choice(list(NODES))}1"]
            self.sim.network.deliver_sms(modem, rng.choice(PHONES), body)
            self.traffic.inbound.append(body)
            self.stop.wait(rng.uniform(0.1, 0.4))

    def start_traffic(self) -> None:
        self._threads = [threading.Thread(target=f) for f in (self._post, self._receive)]
        for t in self._threads:
            t.start()

    def stop_traffic(self) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(20)

    # -- the end ---------------------------------------------------------------------------

    def _count(self, sql: str) -> int:
        with psycopg.connect(self.url) as conn:
            row = conn.execute(sql.encode()).fetchone()
        assert row is not None
        return int(row[0])

    def settled(self) -> bool:
        """Every delivered SMS off the network and the SIMs and stored, nothing queued or
        sending, no webhook job waiting."""
        if any(self.sim.network.pending(m) for m in self.sim.modems.values()):
            return False
        if any(m.receive_memory().used for m in self.sim.modems.values()):
            return False
        stored = self._count("SELECT COUNT(*) FROM messages WHERE direction = 'inbound'")
        busy = self._count(
            "SELECT COUNT(*) FROM messages WHERE status IN ('accepted', 'queued', 'sending')"
        )
        jobs = self._count(
            "SELECT COUNT(*) FROM webhook_jobs WHERE state IN ('pending', 'running')"
            " AND kind = 'sms'"
        )
        return stored >= len(self.traffic.inbound) and busy == 0 and jobs == 0

    def rows(self, direction: str) -> dict[str, dict[str, Any]]:
        """``messages`` rows of ``direction``, by body."""
        with psycopg.connect(self.url) as conn:
            cur = conn.cursor(row_factory=psycopg.rows.dict_row)
            found = cur.execute(
                "SELECT sid, body, status, error_code, error_message, from_number, modem"
                " FROM messages WHERE direction = %s",
                (direction,),
            ).fetchall()
        by_body: dict[str, dict[str, Any]] = {}
        for row in found:
            assert row["body"] not in by_body, f"{direction} {row['body']!r} stored twice"
            by_body[row["body"]] = row
        return by_body

    def check(self, cuts_allowed: int) -> dict[str, int]:
        """The promises, once the traffic has drained; returns figures for the test's line.

        ``cuts_allowed``: sends a kill may have cut (30008, not sent again): one per kill."""
        t = self.traffic
        inbound, replies, api = (
            self.rows("inbound"), self.rows("outbound-reply"), self.rows("outbound-api")
        )  # fmt: skip
        # Inbound: every SMS stored once (rows() asserts once), none invented.
        assert sorted(inbound) == sorted(t.inbound), "inbound lost or invented"
        # Posted to the app under its one MessageSid and one idempotency token, repeated
        # only after a kill; the app saw every one.
        posts: dict[str, set[tuple[str, str | None]]] = collections.defaultdict(set)
        for req in self.app.to("/sms"):
            posts[req.flat["Body"]].add((req.flat["MessageSid"], req.headers.get(IDEMPOTENCY)))
        assert set(posts) == set(t.inbound), set(t.inbound) ^ set(posts)
        for body, seen in posts.items():
            assert len(seen) == 1, (body, seen)
            ((sid, token),) = seen
            assert sid == inbound[body]["sid"] and token, (body, seen)
        # Each reply queued once (rows() asserts once), from the number texted.
        assert sorted(replies) == sorted(f"re: {b}" for b in t.inbound)
        for body, row in inbound.items():
            assert replies[f"re: {body}"]["modem"] == row["modem"]
        # The network: nothing twice; each text from the modem of its From number.
        sent = collections.Counter(m.text for m in self.sim.network.outbox())
        twice = [text for text, n in sent.items() if n > 1]
        assert not twice, twice
        number_of = {f"{node}1": number for node, number in NODES.items()}
        for m in self.sim.network.outbox():
            wanted = t.froms.get(m.text) or replies[m.text]["from_number"]
            assert number_of[m.modem] == wanted, (m.text, m.modem, wanted)
        # Every accepted create and every reply sent once, unless a kill cut its send.
        assert set(t.accepted) <= {r["sid"] for r in api.values()}, "an accepted create lost"
        cut = []
        for row in [*(api[b] for b in t.accepted.values()), *replies.values()]:
            if row["status"] == "failed":
                assert row["error_code"] == 30008, row
                assert "interrupted" in row["error_message"], row
                cut.append(row["body"])
            else:
                assert row["status"] in ("sent", "delivered"), row
                assert sent[row["body"]] == 1, row
        assert len(cut) <= cuts_allowed, cut
        # A refused create (503) is never stored nor sent.
        for body, _status, _error in t.refused:
            assert body not in api and body not in sent, body
        return {
            "accepted": len(t.accepted),
            "refused": len(t.refused),
            "unanswered": len(t.unanswered),
            "inbound": len(t.inbound),
            "webhook_posts": len(self.app.to("/sms")),
            "cut": len(cut),
            "sent": sum(sent.values()),
        }

    def close(self) -> None:
        self.stop_traffic()
        for proc in self.nodes.values():
            if proc.proc is not None and proc.proc.poll() is None:
                proc.kill()
        self.app.close()
        self.sim.stop()
