"""Call writes kept during a PostgreSQL outage: nothing twice, nothing lost (store level).

A kept write may run twice: the outage may have cut the answer of a COMMIT that landed
(here: the store's ``write`` commits, then reports the database gone).  The re-run must not
double a call's event or webhook log line.  And a recording whose row was kept in memory by
a process that then died must come back from the file next to its WAV (``RE….row.json``),
which the orphan sweep leaves alone until it has.

No server is stopped: the outage is the store's own state (``outage.begin``/``end``, which
runs the backlog's flush at once), so each test takes well under a second.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from appliance.errors import StoreUnavailable
from appliance.sids import new as new_sid
from appliance.store import retention
from appliance.store.database import Store
from appliance.store.pg import PgStore
from appliance.store.recordingfiles import PENDING_SUFFIX
from appliance.voice import recordingrows, timeline
from appliance.voice.backlog import Backlog
from appliance.voice.documents import Documents
from appliance.voice.recorder import write_wav
from appliance.webhooks.result import WebhookResult
from tests.pg import Engine, PgServer, make_store

CALL = "CA" + "0" * 32


@pytest.fixture
def pg(pg_server: PgServer, tmp_path: Path) -> Iterator[Store]:
    engine = Engine("postgresql", pg_server)
    try:
        yield make_store(engine, tmp_path)
    finally:
        engine.close()


def cut_commits(store: Store, n: int = 1) -> list[int]:
    """The next ``n`` writes commit, then report the database gone (a COMMIT whose answer
    the outage cut): the caller cannot know they landed.  Returns the list of cut ones."""
    original = store.write
    cut: list[int] = []

    def write(fn):  # type: ignore[no-untyped-def]
        result = original(fn)
        if len(cut) < n:
            cut.append(1)
            store.outage.begin("test: connection lost after COMMIT")
            raise StoreUnavailable("the database is unreachable (test)")
        return result

    store.write = write  # type: ignore[method-assign]
    return cut


def count(store: Store, sql: str, *args: object) -> int:
    return int(store.read_one(sql, args)[0])


def test_an_event_and_a_log_line_whose_commit_was_cut_are_written_once(pg: Store) -> None:
    docs = Documents(SimpleNamespace(store=pg), SimpleNamespace(sid=CALL))  # type: ignore[arg-type]
    result = WebhookResult(
        "http://app.test/voice", "POST", {}, 500, "text/plain", b"no", None, None, 0.1
    )
    cut = cut_commits(pg)
    docs._log(result, {"CallSid": CALL}, 11200, "HTTP retrieval failure")  # a line, an event
    assert cut and Backlog.of(pg).size == 2  # the log line landed, its answer cut; the event
    pg.outage.end()  # the flush: the log line again, the event
    assert Backlog.of(pg).size == 0
    cut = cut_commits(pg)
    docs.event("warning", 13227, "No International Permission")
    assert cut and Backlog.of(pg).size == 1
    pg.outage.end()
    assert Backlog.of(pg).size == 0
    assert count(pg, "SELECT COUNT(*) FROM webhook_log WHERE call_sid = ?", CALL) == 1
    kinds = pg.read("SELECT kind FROM call_events WHERE call_sid = ? ORDER BY id", (CALL,))
    assert [r[0] for r in kinds] == ["error", "warning"]
    docs.event("warning", 13227, "No International Permission")  # the same, later: its own
    assert count(pg, "SELECT COUNT(*) FROM call_events WHERE call_sid = ?", CALL) == 3


def test_a_timeline_row_kept_whose_flush_was_cut_is_written_once(pg: Store) -> None:
    pg.outage.begin("test: away")
    timeline.note(pg, CALL, timeline.VERB, 'Say "Hello"')  # kept, not tried
    timeline.note(pg, CALL, timeline.VERB, 'Say "Hello"')  # the same verb again: its own row
    assert Backlog.of(pg).size == 2
    cut = cut_commits(pg)
    pg.outage.end()  # the first lands, its answer is cut: both kept
    assert cut and Backlog.of(pg).size == 2
    pg.outage.end()
    assert Backlog.of(pg).size == 0
    assert count(pg, "SELECT COUNT(*) FROM call_events WHERE call_sid = ?", CALL) == 2


def recording(folder: Path) -> tuple[recordingrows.RecordingRow, recordingrows.StatusCallback]:
    sid = new_sid("RE")
    path = write_wav(folder / f"{sid}.wav", b"\x01\x00" * 16000)
    row = recordingrows.RecordingRow(sid, CALL, 2, 1, "RecordVerb", str(path), 1.0e9, 1.0e9 + 2)
    status = recordingrows.StatusCallback(
        "http://app.test/rec", "POST", {"RecordingSid": sid, "RecordingStatus": "completed"}
    )
    return row, status


def pending(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*" + PENDING_SUFFIX))


def test_a_recording_written_at_once_leaves_no_pending_file(pg: Store, tmp_path: Path) -> None:
    row, status = recording(tmp_path)
    recordingrows.keep(pg, row, status)
    assert count(pg, "SELECT COUNT(*) FROM recordings WHERE sid = ?", row.sid) == 1
    assert pending(tmp_path) == []


def test_a_kept_recording_whose_commit_was_cut_is_written_once_then_its_file_goes(
    pg: Store, tmp_path: Path
) -> None:
    row, status = recording(tmp_path)
    cut = cut_commits(pg)
    recordingrows.keep(pg, row, status)  # the row lands, its answer is cut: kept, on disk
    assert cut and pending(tmp_path) == [row.sid + PENDING_SUFFIX]
    data = json.loads((tmp_path / pending(tmp_path)[0]).read_text())
    assert data["row"]["call_sid"] == CALL and data["callback"]["url"] == "http://app.test/rec"
    pg.outage.end()
    assert Backlog.of(pg).size == 0 and pending(tmp_path) == []
    assert count(pg, "SELECT COUNT(*) FROM recordings WHERE sid = ?", row.sid) == 1
    assert count(pg, "SELECT COUNT(*) FROM webhook_jobs WHERE message_sid = ?", CALL) == 1


def test_a_recording_whose_process_died_in_an_outage_is_recovered_not_swept(
    engine: Engine, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    folder = data_dir / "recordings"
    folder.mkdir(parents=True)
    row, status = recording(folder)
    store = make_store(engine, tmp_path)
    if engine.name == "postgresql":
        store.outage.begin("test: away")
        recordingrows.keep(store, row, status)  # kept in memory, and next to the file
        assert Backlog.of(store).size == 3  # the row, the callback, the pending file's removal
        store.close()  # the process dies: what it kept is gone
        store = PgStore(engine.urls[-1], check_fsync=False)
        engine.stores.append(store)
        recordingrows._OURS.clear()  # a new process wrote none of them
    else:  # SQLite has no outage: the file a dead process left
        recordingrows._write_pending(folder / (row.sid + PENDING_SUFFIX), row, status)
        recordingrows._OURS.clear()
    gone_sid = new_sid("RE")  # a pending file whose WAV is gone: removed, nothing written
    (folder / (gone_sid + PENDING_SUFFIX)).write_text(
        (folder / (row.sid + PENDING_SUFFIX)).read_text().replace(row.sid, gone_sid)
    )
    later = time.time() + 2 * retention.ORPHAN_GRACE
    assert retention.orphans(store, data_dir, later) == 0  # no row yet, but one pending
    assert (folder / f"{row.sid}.wav").exists()
    if engine.name == "postgresql":  # a start during the outage: once the database is back
        store.outage.begin("test: still away")
        recordingrows.recover_at_start(store, folder)
        assert row.sid + PENDING_SUFFIX in pending(folder)
        store.outage.end()
    else:
        assert recordingrows.recover(store, folder) == 1
    assert pending(folder) == []
    got = store.read_one("SELECT * FROM recordings WHERE sid = ?", (row.sid,))
    assert (got["call_sid"], got["status"], got["duration"]) == (CALL, "completed", 2)
    assert count(store, "SELECT COUNT(*) FROM recordings") == 1
    job = store.read_one("SELECT url, params FROM webhook_jobs WHERE message_sid = ?", (CALL,))
    assert job["url"] == "http://app.test/rec" and json.loads(job["params"]) == status.params
    assert recordingrows.recover(store, folder) == 0
    assert retention.orphans(store, data_dir, later) == 0  # it has its row now
    assert (folder / f"{row.sid}.wav").exists()
