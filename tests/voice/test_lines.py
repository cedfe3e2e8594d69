"""The voice engine's seams for lines other than modems (appliance.voice.line): a fake client
line's calls are reached by stop, control, redirects and streams, never claimed by a <Dial>,
and CallRecords keeps a line's rows under its name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance.store.database import SqliteStore as Store
from appliance.voice.call import CallEvent, CallLeg
from appliance.voice.engine import VoiceEngine
from appliance.voice.records import CallRecords


class FakeFlow:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None: ...

    def join(self, timeout: float | None = None) -> None:
        self.calls.append("join")

    def notify(self, step: Any) -> None: ...

    def digit(self, digit: str, source: str) -> None: ...

    def stop(self) -> None:
        self.calls.append("stop")

    def control(self) -> None:
        self.calls.append("control")

    def start_stream(self, spec: Any) -> Any:
        self.calls.append("stream")
        return "state"


class FakeLine:
    """A line that is not a modem, as the browser phones' client line will be."""

    can_conference = False

    def __init__(self) -> None:
        self.legs: dict[str, CallLeg] = {}
        self.flows: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return "client"

    def run(self, fn: Callable[[], Any], timeout: float = 60.0) -> Any:
        return fn()

    def answer(self, leg: CallLeg) -> bool:
        return True

    def hangup(self, leg: CallLeg, status: str = "completed") -> None: ...

    def enable_audio(self) -> bool:
        return True

    def open_audio(self) -> None:
        return None


def test_the_engines_entry_points_reach_a_client_lines_calls() -> None:
    engine = VoiceEngine()
    assert engine.lines() == []
    line, flow = FakeLine(), FakeFlow()
    line.flows["CA1"] = flow
    engine.client_line = line
    assert engine.lines() == [line] and engine.phones == {}  # never a modem to claim
    engine.control("CA1")
    assert engine.redirectable("CA1") and not engine.redirectable("CA2")
    assert engine.start_stream("CA1", type("Spec", (), {"name": ""})()) == "state"
    engine.stop(timeout=1)
    assert flow.calls == ["control", "stream", "stop", "join"]


def test_call_records_keep_a_lines_rows_under_its_name(tmp_path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    jobs: list[int] = []
    try:
        records = CallRecords(store, "client", "", lambda: "AC" + "0" * 32, lambda: jobs.append(1))
        records.insert_incoming("CA" + "1" * 32, CallEvent("ring", number="client:alice"))
        row = store.read_one("SELECT modem, from_number, to_number, status FROM calls")
        assert dict(row) == {
            "modem": "client",
            "from_number": "client:alice",
            "to_number": "",
            "status": "ringing",
        }
        assert [r["sid"] for r in records.stale()] == ["CA" + "1" * 32]
        other = CallRecords(store, "modem1", "+15005550006", lambda: "AC", lambda: None)
        assert other.stale() == [] and other.claim_queued() is None
    finally:
        store.close()
