"""Logs a person can follow: one line per event, with its SIDs, at the right level, no secrets.

The daemon tests run the real daemon on the simulator and read what the log formatter wrote:
an SMS in with a webhook reply, an SMS out with its delivery, a call with a recording, a modem
unplugged and plugged back.  The unit tests hold the formatter to one line per record (a body
or a sender with a newline cannot split a line or forge one) and the file to its rotation.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance import config, logs
from appliance.cli.run import setup_logging
from appliance.config import checks
from appliance.daemon import Daemon
from appliance.errors import ConfigError
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import RemoteParty, Say, Silence, WaitHeard
from tests.conftest import NUMBER, PHONE, client_for, wait_for
from tests.webapp import WebApp, twiml

pytestmark = pytest.mark.timeout(120)

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
LINE = re.compile(rf"^{STAMP} (TRACE|DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+) (.*)$")


class Lines(logging.Handler):
    """Every record, as :class:`appliance.logs.LineFormatter` writes it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logs.LineFormatter())
        self.out: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.out.extend(self.format(record).split("\n"))

    def events(self, level: str | None = None) -> list[tuple[str, str, str]]:
        """(level, logger, message) of every event line."""
        found = []
        for line in list(self.out):
            m = LINE.match(line)
            if m and (level is None or m.group(1) == level):
                found.append((m.group(1), m.group(2), m.group(3)))
        return found

    def find(self, level: str, logger: str, *words: str) -> str:
        """The message of the first line of ``level`` and ``logger`` holding every word."""
        for _level, name, message in self.events(level):
            if name == logger and all(w in message for w in words):
                return message
        raise AssertionError(f"no {level} {logger} line with {words}:\n" + "\n".join(self.out))

    def wait(self, level: str, logger: str, *words: str, timeout: float = 15.0) -> str:
        def seen() -> str | None:
            try:
                return self.find(level, logger, *words)
            except AssertionError:
                return None

        wait_for(seen, timeout=timeout)
        return self.find(level, logger, *words)


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Iterator[Lines]:
    caplog.set_level(logging.DEBUG)  # restored at the end
    handler = Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def fields(message: str) -> dict[str, str]:
    """The key=value fields of a message (quoted values unquoted, escapes kept)."""
    return {
        k: v[1:-1] if v.startswith('"') else v
        for k, v in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', message)
    }


def assert_well_formed(
    handler: Lines, *, secrets: tuple[str, ...], bodies: tuple[str, ...]
) -> None:
    """Every line is an event (or a traceback's line); no secret anywhere; bodies at DEBUG only."""
    for line in handler.out:
        assert LINE.match(line) or line.startswith(logs.CONTINUATION), line
        for secret in secrets:
            assert secret not in line, line
    for level, _name, message in handler.events():
        if level != "DEBUG":
            for body in bodies:
                assert body not in message, message


# -- the daemon -------------------------------------------------------------------------------


def test_an_sms_in_with_a_reply_and_an_sms_out_are_one_line_each_with_their_sids(
    sim: SimulatorHost, webapp: WebApp, make_daemon: Callable[..., Daemon], lines: Lines
) -> None:
    webapp.routes["/sms"] = twiml("<Response><Message>Private reply words</Message></Response>")
    d = make_daemon(
        modem={
            "sms_url": webapp.url("/sms"),
            "sms_fallback_url": "ftp://user:hunter2@example.invalid/sms",  # looks wrong
        }
    )
    # A body with a newline and something that looks like a line of its own.
    body = "Private inbound words\n2026-01-01T00:00:00Z ERROR forged line"
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, body)
    inbound = str(webapp.wait(path="/sms").param("MessageSid"))

    received = fields(lines.wait("INFO", "sms.inbox", "message received", inbound))
    assert received == {
        "sid": inbound,
        "modem": "modem1",
        "from": PHONE,
        "to": NUMBER,
        "segments": "1",
    }
    hook = fields(lines.wait("INFO", "webhooks.client", "webhook requested", inbound))
    assert hook["method"] == "POST" and hook["url"] == webapp.url("/sms")
    assert hook["status"] == "200" and int(hook["ms"]) >= 0
    body_line = lines.find("DEBUG", "sms.inbox", "message body", inbound)
    assert "Private inbound words\\n2026" in body_line  # escaped: still one line

    reply = wait_for(
        lambda: d.store.read_one("SELECT sid FROM messages WHERE direction = 'outbound-reply'")
    )["sid"]
    queued = fields(lines.wait("INFO", "sms.outbox", "message queued", reply))
    assert queued["direction"] == "outbound-reply" and queued["to"] == PHONE
    lines.wait("INFO", "sms.journal", "message sent", reply)
    lines.wait("INFO", "sms.journal", "message delivered", reply)

    # An SMS out through the REST API, with its status callbacks.
    client = client_for(d)
    msg = client.messages.create(
        to=PHONE, from_=NUMBER, body="Private outbound words", status_callback=webapp.url("/st")
    )
    lines.wait("INFO", "sms.outbox", "message queued", msg.sid, "direction=outbound-api")
    sent = fields(lines.wait("INFO", "sms.journal", "message sent", msg.sid))
    assert sent["to"] == PHONE and sent["from"] == NUMBER and sent["segments"] == "1"
    lines.wait("INFO", "sms.journal", "message delivered", msg.sid)
    lines.wait("INFO", "webhooks.client", "webhook requested", msg.sid, webapp.url("/st"))

    # Start-up: the settings that look wrong, named; the URL's password masked.
    doubt = fields(lines.find("WARNING", "daemon", "setting looks wrong", "sms_fallback_url"))
    assert doubt["setting"] == "modem1.sms_fallback_url"
    assert doubt["value"] == "ftp://user:***@example.invalid/sms"
    lines.find("WARNING", "daemon", "setting looks wrong", "setting=outbound_rate")
    lines.find("INFO", "daemon", "appliance started")

    assert_well_formed(
        lines,
        secrets=(d.account.auth_token, "hunter2"),
        bodies=("Private inbound words", "Private reply words", "Private outbound words"),
    )
    assert not any(line.startswith("2026-01-01T00:00:00Z") for line in lines.out)


def test_a_failing_webhook_is_a_warning_with_its_error_code_and_giving_up_an_error(
    sim: SimulatorHost, webapp: WebApp, make_daemon: Callable[..., Daemon], lines: Lines
) -> None:
    webapp.routes["/sms"] = lambda req: (500, "text/plain", b"boom")
    make_daemon(modem={"sms_url": webapp.url("/sms")}, webhook_attempts=2)
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "Private words")
    sid = str(webapp.wait(path="/sms").param("MessageSid"))
    failed = fields(lines.wait("WARNING", "webhooks.client", "webhook failed", sid))
    assert failed["status"] == "500" and failed["error_code"] == "11200"
    retry = fields(lines.wait("INFO", "webhooks.dispatcher", "webhook retry scheduled", sid))
    assert retry["attempt"] == "1" and retry["of"] == "2"
    gave_up = fields(lines.wait("ERROR", "webhooks.dispatcher", "webhook given up", sid))
    assert gave_up["attempts"] == "2" and gave_up["error_code"] == "11200"


def test_a_call_rings_is_answered_recorded_and_ends_with_its_duration(
    sim: SimulatorHost, webapp: WebApp, make_daemon: Callable[..., Daemon], lines: Lines
) -> None:
    d = make_daemon(
        modem={
            "voice_url": webapp.url("/voice"),
            "audio_port": str(sim.modems["modem1"].audio_path),
        }
    )
    webapp.routes["/voice"] = twiml(
        '<Response><Record maxLength="4" timeout="2" action="/recorded" playBeep="true"/>'
        "</Response>"
    )
    webapp.routes["/recorded"] = twiml("<Response><Hangup/></Response>")
    party = RemoteParty(
        [WaitHeard(0.2, timeout=15), Say("Hello, a short message for the log."), Silence(8)]
    )
    remote = sim.network.incoming_call("modem1", PHONE, party=party)
    sid = str(webapp.wait(15, path="/voice").param("CallSid"))

    ringing = fields(lines.wait("INFO", "voice.phone", "call ringing", sid))
    assert ringing["direction"] == "inbound" and ringing["to"] == NUMBER
    assert ringing["from"] in (PHONE, "unknown")  # RING may come before the caller's number
    lines.wait("INFO", "webhooks.client", "webhook requested", sid, webapp.url("/voice"))
    lines.wait("INFO", "voice.phone", "call answered", sid)
    rsid = str(webapp.wait(40, path="/recorded").param("RecordingSid"))
    saved = fields(lines.wait("INFO", "voice.verbs.record", "recording saved", rsid))
    assert saved["call"] == sid and int(saved["duration"]) >= 1
    ended = fields(lines.wait("INFO", "voice.phone", "call ended", sid, timeout=20))
    assert ended["status"] == "completed" and ended["reason"] == "hung up by the appliance"
    assert int(ended["duration"]) >= 1
    assert remote.wait_state("ended", timeout=10)
    assert_well_formed(lines, secrets=(d.account.auth_token,), bodies=())


def test_a_modem_lost_and_recovered_says_why(
    sim: SimulatorHost, make_daemon: Callable[..., Daemon], lines: Lines
) -> None:
    d = make_daemon()
    connected = fields(lines.find("INFO", "modem.modem", "modem connected"))
    assert connected["modem"] == "modem1" and connected["port"] == d.modems["modem1"].port
    sim.modems["modem1"].unplug()
    lost = fields(lines.wait("WARNING", "modem.modem", "modem lost", "modem=modem1"))
    assert lost["reason"]
    sim.modems["modem1"].replug()
    recovered = fields(lines.wait("INFO", "modem.modem", "modem recovered", timeout=30))
    assert recovered["reason"] and int(recovered["down_s"]) >= 0


def test_the_http_servers_own_messages_take_the_log_format(
    make_daemon: Callable[..., Daemon], lines: Lines
) -> None:
    # cheroot writes its messages to stderr by default; plain HTTP sent into the HTTPS port
    # is one it logs (per connection, so at DEBUG here: a scanner must not fill the journal).
    d = make_daemon()
    assert d.server is not None
    with socket.create_connection(("127.0.0.1", d.server.https_port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with contextlib.suppress(OSError):  # cheroot may answer 400 or just close
            sock.recv(4096)
    message = lines.wait("DEBUG", "server", "https server:", "plain HTTP")
    assert "127.0.0.1" in message
    assert_well_formed(lines, secrets=(d.account.auth_token,), bodies=())


# -- the formatter ----------------------------------------------------------------------------


def record(
    msg: str, *args: object, level: int = logging.INFO, name: str = "appliance.sms.inbox"
) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_values_are_quoted_only_when_they_must_be_and_never_break_a_line() -> None:
    assert logs.value("SM123") == "SM123"
    assert logs.value(12) == "12" and logs.value(0.25) == "0.25" and logs.value(True) == "true"
    assert logs.value("two words") == '"two words"'
    assert logs.value("") == '""'
    assert logs.value('say "hi"') == r'"say \"hi\""'
    assert logs.value("a=b") == '"a=b"'
    assert logs.value("back\\slash") == r'"back\\slash"'
    assert logs.value("+1555\n2026 ERROR x") == r'"+1555\n2026 ERROR x"'
    assert logs.value("cr\rtab\tnul\x00") == r'"cr\rtab\tnul\x00"'
    assert logs.value("sep\u2028par\u2029nel\x85") == r'"sep\u2028par\u2029nel\x85"'
    assert logs.value("Zürich 😀") == '"Zürich 😀"'  # printable text stays readable
    assert logs.render("message received", {"sid": "SM1", "from_": "+1 555", "error": None}) == (
        'message received sid=SM1 from="+1 555"'
    )


def test_a_line_per_record_whatever_the_values_and_tracebacks_indented() -> None:
    fmt = logs.LineFormatter()
    msg = logs.render("message received", {"from_": "+1555\n2026-01-01T00:00:00Z ERROR forged"})
    line = fmt.format(record(msg))
    assert "\n" not in line
    assert re.match(rf"^{STAMP} INFO sms\.inbox message received from=\"\+1555\\n2026", line)
    # A library's own message, with a newline in its arguments.
    line = fmt.format(record("got %r and %s", "x", "two\nlines", name="gsmmodem.modem"))
    assert "\n" not in line and " gsmmodem.modem got 'x' and two\\nlines" in line
    try:
        raise ValueError("bad\n2026-01-01T00:00:00Z ERROR forged")
    except ValueError:
        rec = record("loop error", level=logging.ERROR)
        rec.exc_info = sys.exc_info()
    first, *rest = fmt.format(rec).split("\n")
    assert LINE.match(first) and rest
    # The exception's own newline stays a continuation line: it cannot forge an event.
    assert all(r.startswith(logs.CONTINUATION) and not LINE.match(r) for r in rest)
    assert rest[-2:] == [
        logs.CONTINUATION + "ValueError: bad",
        logs.CONTINUATION + "2026-01-01T00:00:00Z ERROR forged",
    ]


def test_secrets_are_masked_in_any_logger_line() -> None:
    fmt = logs.LineFormatter()
    token = "0123456789abcdef0123456789abcdef"
    logs.secret(token)
    logs.secret("1234")  # too short to mask by value: it would mask digits of numbers
    line = fmt.format(record("auth %s for +15551234567", token, name="urllib3"))
    assert token not in line and "auth *** for +15551234567" in line
    line = fmt.format(record(logs.render("x", {"url": "https://bob:s3cret@app.example/sms?a=1"})))
    assert "s3cret" not in line and "https://bob:***@app.example/sms?a=1" in line
    for command in ('AT+CPIN="1234"', "AT+CPIN=1234", 'AT+CPIN="12345678","1234"'):
        line = fmt.format(record("no answer to %r within 5 s", command))
        assert "1234" not in line and "+CPIN=***" in line, line
        line = fmt.format(record(logs.render("modem lost", {"reason": f"{command} timed out"})))
        assert "1234" not in line and "+CPIN=***" in line, line


def test_journald_gets_each_lines_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None
) -> None:
    with open(tmp_path / "journal", "w+", encoding="utf-8") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        logs.configure("INFO", stream=stream)
        log = logging.getLogger("appliance.test")
        logs.event(log, logging.WARNING, "modem lost", modem="modem1")
        logs.event(log, logging.INFO, "modem recovered", modem="modem1")
        logs.event(log, logging.DEBUG, "not written")
        stream.seek(0)
        written = stream.read().splitlines()
    assert [w[:3] for w in written] == ["<4>", "<6>"]
    assert re.match(rf"^<4>{STAMP} WARNING test modem lost modem=modem1$", written[0])


# -- the file ---------------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def test_log_file_rotates_keeps_its_backups_and_is_not_world_readable(
    tmp_path: Path, restore_logging: None
) -> None:
    cfg = config.load(
        None,
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "log_file": "logs/appliance.log",
            "log_max_bytes": 2000,
            "log_backups": 2,
            "log_level": "INFO",
        },
    )
    assert cfg.log_path == tmp_path / "data" / "logs" / "appliance.log"
    setup_logging(cfg)
    log = logging.getLogger("appliance.sms.inbox")
    for i in range(100):
        logs.event(log, logging.INFO, "message received", sid=f"SM{i:032d}", from_=PHONE)
    logs.event(log, logging.DEBUG, "message body", body="not at INFO")
    path = cfg.log_path
    assert path is not None
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["appliance.log", "appliance.log.1", "appliance.log.2"]
    for p in path.parent.iterdir():
        assert p.stat().st_size <= 2000
        assert not p.stat().st_mode & stat.S_IROTH
        for line in p.read_text().splitlines():
            assert LINE.match(line), line
    newest = path.read_text().splitlines()[-1]
    assert newest.endswith(f"message received sid=SM{99:032d} from={PHONE}")
    assert "not at INFO" not in "".join(p.read_text() for p in path.parent.iterdir())


def test_a_log_file_that_cannot_be_written_is_a_one_line_config_error(
    tmp_path: Path, restore_logging: None
) -> None:
    (tmp_path / "afile").write_text("")
    cfg = config.load(
        None,
        environ={},
        overrides={"data_dir": str(tmp_path), "log_file": str(tmp_path / "afile" / "x.log")},
    )
    with pytest.raises(ConfigError, match="log_file .* cannot be opened.*APPLIANCE_LOG_FILE"):
        setup_logging(cfg)


# -- the start-up check -----------------------------------------------------------------------


def test_settings_that_look_wrong_are_named_and_the_defaults_are_not() -> None:
    assert checks.review(config.load(None, environ={})) == []
    cfg = config.load(
        None,
        environ={},
        overrides={
            "http_host": "0.0.0.0",
            "public_url": "http://127.0.0.1:8080",
            "log_level": "VERBOSE",
            "log_file": "a.log",
            "log_backups": 0,
            "outbound_rate": 0.0,
            "webhook_lease": 3.0,
            "panel_secure_cookie": False,
            "metrics_token": "short",
            "modems": [{"port": "/dev/ttyUSB2", "sms_url": "example.com/sms"}],
        },
    )
    doubts = {d.setting: d for d in checks.review(cfg)}
    assert set(doubts) == {
        "public_url",
        "log_level",
        "log_backups",
        "outbound_rate",
        "webhook_lease",
        "panel_secure_cookie",
        "metrics_token",
        "modem1.sms_url",
    }
    assert doubts["metrics_token"].value is None  # a secret is named, never written
    assert doubts["webhook_lease"].value == "3" and "(20 s)" in doubts["webhook_lease"].why
    assert "loopback" in doubts["public_url"].why and "modem1" in doubts["outbound_rate"].why
    # A fleet node bound to every interface without public_url: the others cannot reach it.
    fleet = {"database_url": "postgresql://a:b@db/appliance", "http_host": "0.0.0.0"}

    def named(overrides: dict[str, object]) -> dict[str, checks.Doubt]:
        cfg = config.load(None, environ={}, overrides={"panel_secure_cookie": True, **overrides})
        return {d.setting: d for d in checks.review(cfg)}

    assert "http://0.0.0.0:8080" in named(fleet)["public_url"].why
    assert named({**fleet, "public_url": "http://10.0.0.11:8080"}) == {}
    assert named({"http_host": "0.0.0.0"}) == {}  # a single box: no node forwards to it
