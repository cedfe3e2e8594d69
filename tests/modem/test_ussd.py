"""USSD (issue 12, part 8): the pure codec on real-world strings, then the whole path on every
simulated family: a balance check that is stored, served as a metric and alerts once by SMS and
webhook when low; menus answered in the same session; the network's idle timeout and ours; the
REST route's auth."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from appliance import config
from appliance.config import settings as table
from appliance.daemon import Daemon
from appliance.errors import ConfigError
from appliance.modem import profiles, ussd
from appliance.modem.ussd import Cusd, CusdAssembler, UssdDialect
from appliance.modem.ussdsession import UssdTimeout
from appliance.sim.host import SimulatorHost
from appliance.store import apikeys
from tests.conftest import NUMBER, PHONE, wait_for

FAMILIES = ["sim800", "huawei_e173", "sim7600", "quectel_ec25", "generic"]
TEXT = UssdDialect()
HUAWEI = UssdDialect(request="packed", reply="packed", charset="")

# --------------------------------------------------------------------------- the codec


class TestCodec:
    """The pure core (appliance.modem.ussd) and the settings: in `make check` (UNIT_TESTS)."""

    def test_huawei_requests_are_packed_gsm7_hex(self) -> None:
        assert ussd.pack_gsm7_hex("*100#") == "AA180C3602"  # ArchWiki, Huawei E1550
        assert ussd.request_command("*100#", HUAWEI) == 'AT+CUSD=1,"AA180C3602",15'
        assert ussd.request_command("*100#", TEXT) == 'AT+CUSD=1,"*100#",15'
        assert (
            ussd.charset_command(TEXT) == 'AT+CSCS="GSM"' and ussd.charset_command(HUAWEI) is None
        )
        assert ussd.unpack_gsm7_hex("AA180C3602") == "*100#"
        assert ussd.unpack_gsm7_hex("E8329BFD4697D9EC37") == "hellohello"  # the classic PDU example
        # 7 septets leave 7 spare bits that would read as '@': a CR pads them (TS 23.038 6.1.2.3.1)
        assert ussd.pack_gsm7_hex("1234567") == "31D98C56B3DD1A"
        assert ussd.unpack_gsm7_hex("31D98C56B3DD1A") == "1234567"
        for text in ("1", "12345678", "Menu\n1 Balance\n2 Data", "Saldo: 12,34 EUR"):
            assert ussd.unpack_gsm7_hex(ussd.pack_gsm7_hex(text)) == text

    def test_answers_decode_by_their_dcs(self) -> None:
        # A Huawei's balance answer in UCS-2 (ArchWiki, Huawei E1550: "151,25 руб. ")
        russian = Cusd(0, "003100350031002C003200350020044004430431002E0020", 72)
        assert ussd.decode(russian, HUAWEI) == "151,25 руб. "
        assert ussd.decode(russian, TEXT) == "151,25 руб. "  # UCS-2 is hex on every family
        assert ussd.read_amount(ussd.decode(russian, TEXT)) == 151.25
        arabic = Cusd(
            0,
            "06310635064A062F0643002006270644062D06270644064A002000310032002E0035003000200631064A06270644",
            72,
        )
        assert ussd.decode(arabic, TEXT) == "رصيدك الحالي 12.50 ريال"
        assert ussd.read_amount(ussd.decode(arabic, TEXT)) == 12.5
        packed = Cusd(0, "D9775D0E1287D961F7B80C4ACF4131996B460315AB52", 15)
        assert ussd.decode(packed, HUAWEI) == "Your balance is 12.34 EUR"
        assert ussd.decode(packed, TEXT) == packed.raw  # a text family: the hex is the text
        assert ussd.decode(Cusd(0, "Your balance is 5.00", 15), TEXT) == "Your balance is 5.00"
        assert ussd.decode(Cusd(0, "Balance 5.00", None), TEXT) == "Balance 5.00"  # no dcs: GSM-7
        # "GSM" character set: control characters are GSM-7 codes, ESC an extension character
        assert ussd.decode(Cusd(0, "Credit \x025.00 \x1be1", 15), TEXT) == "Credit $5.00 €1"
        # 8-bit data is hex of octets; UCS-2 with a language prefix skips its two octets
        assert ussd.decode(Cusd(0, "48656C6C6F", 0x44), TEXT) == "Hello"
        assert ussd.decode(Cusd(0, "E5D30041", 0x11), TEXT) == "A"
        assert ussd.decode(Cusd(0, "en\rHello", 0x10), TEXT) == "Hello"
        assert ussd.decode(Cusd(2), TEXT) == ""

    def test_dcs_alphabets_follow_ts_23038(self) -> None:
        assert [ussd.alphabet(d) for d in (0x0F, 0x00, 0x20, 0x10)] == ["gsm7"] * 4
        assert [ussd.alphabet(d) for d in (0x48, 0x11, 0x58, 0x98)] == ["ucs2"] * 4
        assert [ussd.alphabet(d) for d in (0x44, 0xF4, 0xE0, 0x68)] == ["8bit"] * 4
        assert ussd.alphabet(0xF0) == "gsm7"

    def test_cusd_lines_parse_and_split_answers_are_joined(self) -> None:
        assert ussd.parse_cusd('+CUSD: 0,"Your balance is 1.00",15') == Cusd(
            0, "Your balance is 1.00", 15
        )
        assert ussd.parse_cusd("+CUSD: 2") == Cusd(2)
        assert ussd.parse_cusd("+CUSD:4") == Cusd(4)
        assert ussd.parse_cusd('+CUSD: 1,"Menu"') == Cusd(1, "Menu", None)
        assert ussd.parse_cusd('+CUSD: 0,"He said "hi"",15') == Cusd(0, 'He said "hi"', 15)
        assert ussd.parse_cusd('+CUSD: 1,"Menu') is None  # not whole yet
        assembler = CusdAssembler()
        assert assembler.feed('+CMTI: "SM",1') == (False, None)
        assert assembler.feed('+CUSD: 1,"Menu') == (True, None) and assembler.waiting
        assert assembler.feed("1 Balance") == (True, None)
        mine, whole = assembler.feed('2 Data",15')
        assert mine and whole == Cusd(1, "Menu\n1 Balance\n2 Data", 15)
        assert not assembler.waiting
        assert assembler.feed("RING") == (False, None)
        broken = CusdAssembler()
        broken.feed('+CUSD: 0,"never closed')
        for _ in range(ussd.MAX_ASSEMBLED_LINES - 2):
            assert broken.feed("more") == (True, None)
        mine, whole = broken.feed("last")
        assert whole is not None and whole.status == 0 and whole.raw is not None
        assert whole.raw.startswith("never closed")

    def test_requests_are_checked_and_amounts_read(self) -> None:
        assert ussd.request_problem("*100#") is None and ussd.request_problem("1") is None
        assert "empty" in (ussd.request_problem("") or "")
        assert ussd.request_problem('*100#"') and ussd.request_problem("*100#\r\nATD123;")
        assert ussd.request_problem("€") and ussd.request_problem("@")  # not the same byte in GSM
        assert ussd.request_problem("1" * 183)
        with pytest.raises(ValueError, match="cannot be sent"):
            ussd.request_command('*1"#', TEXT)
        assert ussd.read_amount("Your balance is 10.00 GBP") == 10.0
        assert ussd.read_amount("Balance: -2.50 EUR, valid until 31.12.2030") == -2.5
        assert ussd.read_amount("no money here") is None
        assert ussd.read_amount("Saldo 1.234,56 EUR", r"([0-9.]+,[0-9]{2})") == 1234.56
        assert ussd.read_amount("Balance $1,234.56", r"\$([0-9,]+\.[0-9]{2})") == 1234.56
        assert ussd.read_amount("Credit 42 units", r"Credit [0-9]+") is None  # no number as a whole
        assert ussd.read_amount("Credit 42 units", r"[0-9]+") == 42.0
        # the setting's default is the codec's
        default = next(s.default for s in table.MODEM_SETTINGS if s.name == "balance_pattern")
        assert default == ussd.DEFAULT_BALANCE_PATTERN

    def test_every_profile_says_how_it_writes_ussd_and_cites_its_manual(self) -> None:
        for family in profiles.available():
            p = profiles.load(family)
            dialect = UssdDialect.from_table(p.raw["ussd"])
            assert dialect.source, family
        assert UssdDialect.from_table(profiles.load("huawei_e173").raw["ussd"]).request == "packed"
        for bad in ({"request": "binary"}, {"colour": 1}, {"dcs": 300}, {"charset": 'GSM"'}):
            with pytest.raises(ValueError):
                UssdDialect.from_table(bad)

    def test_balance_settings_are_checked_at_load(self) -> None:
        def load(**modem: Any) -> config.Config:
            return config.load(None, environ={}, overrides={"modems": [{"name": "m", **modem}]})

        assert load(balance_ussd="*100#").modems[0].balance_interval == 21600.0
        with pytest.raises(ConfigError, match="balance_alert_to"):
            load(balance_alert_to="12345")
        with pytest.raises(ConfigError, match="balance_pattern"):
            load(balance_pattern="([0-9]")
        with pytest.raises(ConfigError, match="one, around the amount"):
            load(balance_pattern="([0-9]+)([.,])")
        with pytest.raises(ConfigError, match="at least 60"):
            load(balance_ussd="*100#", balance_interval=5)


# --------------------------------------------------------------------------- on the simulator


@pytest.fixture
def host(tmp_path: Path) -> Iterator[SimulatorHost]:
    h = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    yield h
    h.stop()


@pytest.fixture
def start(tmp_path: Path, host: SimulatorHost) -> Iterator[Callable[..., Daemon]]:
    """A daemon on one simulated modem of ``family`` (sim options: ``sim={...}``)."""
    started: list[Daemon] = []

    def make(family: str = "sim800", sim: dict[str, Any] | None = None, **settings: Any) -> Daemon:
        modem_settings = settings.pop("modem", {})
        if "modem1" not in host.modems:
            opts: dict[str, Any] = {"latency": 0.005, "boot_delay": 0.0, "ussd_delay": 0.05}
            opts.update(sim or {})
            host.add("modem1", family, NUMBER, **opts)
            host.start()
            wait_for(lambda: host.modems["modem1"].booted, timeout=15)
        values: dict[str, Any] = {
            "data_dir": str(tmp_path / "data"),
            "http_port": 0,
            "https_port": 0,
            "outbound_rate": 0.0,
            "reconnect_delay": 0.2,
            "command_timeout": 2.0,
            "webhook_backoff": 0.2,
            "ussd_timeout": 5.0,
            "modems": [
                {
                    "name": "modem1",
                    "number": NUMBER,
                    "port": str(host.modems["modem1"].port_path),
                    "profile": host.modems["modem1"].profile.family,
                    **modem_settings,
                }
            ],
        }
        values.update(settings)
        d = Daemon(config.load(None, environ={}, overrides=values))
        d.start()
        started.append(d)
        assert d.modems["modem1"].connected.wait(20), d.modems["modem1"].last_error
        return d

    yield make
    for d in started:
        d.stop()


def balance_row(d: Daemon) -> Any:
    return d.store.read_one("SELECT * FROM sim_balance WHERE modem = 'modem1'")


def scrape(d: Daemon) -> dict[str, float]:
    assert d.server is not None
    text = requests.get(f"http://127.0.0.1:{d.server.port}/metrics", timeout=10).text
    return {
        s.labels.get("modem", ""): s.value
        for f in text_string_to_metric_families(text)
        if f.name == "appliance_sim_balance"
        for s in f.samples
    }


def sent_commands(host: SimulatorHost, prefix: str) -> list[str]:
    return [c for c in host.modems["modem1"].rx_log if c.upper().startswith(prefix)]


@pytest.mark.parametrize("family", FAMILIES)
def test_balance_check_menus_and_ucs2_on_each_family(start, host, family):
    d = start(family, modem={"balance_ussd": "*100#"})
    row = wait_for(lambda: (r := balance_row(d)) is not None and r["amount"] is not None and r)
    assert row["amount"] == 10.0 and row["text"] == "Your balance is 10.00 GBP"
    assert row["error"] is None and row["low_since"] is None
    assert wait_for(lambda: scrape(d)) == {"modem1": 10.0}
    if family == "huawei_e173":  # the request went out packed, as the E173 wants it
        assert 'AT+CUSD=1,"AA180C3602",15' in sent_commands(host, "AT+CUSD")
    else:
        assert 'AT+CUSD=1,"*100#",15' in sent_commands(host, "AT+CUSD")
        assert 'AT+CSCS="GSM"' in sent_commands(host, "AT+CSCS")
    session = d.modems["modem1"].ussd
    russian = session.request("*101#")
    assert russian.text == "Баланс: 10,00 руб." and russian.dcs == 72 and russian.name == "done"
    menu = session.request("*123#")
    assert menu.open and menu.text == "Menu\n1 Balance\n2 Data" and session.open
    data = session.request("2")
    assert data.open and data.text.startswith("Data bundles")
    bought = session.request("1")
    assert not bought.open and bought.text == "1 GB added. Your balance is 7.00 GBP"
    assert not session.open and host.modems["modem1"].balance == 7.0
    assert session.request("*999#").name == "not-supported"


def test_menus_through_the_rest_api_and_its_auth(start, host):
    d = start()
    assert d.server is not None
    url = f"http://127.0.0.1:{d.server.port}/appliance/modems/modem1/ussd"
    auth = (d.account.sid, d.account.auth_token)
    key, secret = apikeys.create(d.store, "bot")
    for who in ((key.sid, secret), None):
        rv = requests.post(url, data={"code": "*100#"}, auth=who, timeout=10)
        assert rv.status_code == (403 if who else 401) and rv.json()["code"] == 20003
    assert not sent_commands(host, "AT+CUSD=1")  # refused before reaching the modem
    rv = requests.post(url, data={"code": "*123#"}, auth=auth, timeout=10)
    assert rv.status_code == 200, rv.text
    assert rv.json()["session_open"] is True and rv.json()["status"] == "more"
    rv = requests.post(url, data={"code": "2"}, auth=auth, timeout=10)
    assert rv.json()["text"].startswith("Data bundles") and rv.json()["session_open"]
    rv = requests.post(url, data={"cancel": "1"}, auth=auth, timeout=10)
    assert rv.status_code == 200 and rv.json()["status"] == "cancelled"
    assert "AT+CUSD=2" in sent_commands(host, "AT+CUSD")
    assert host.modems["modem1"].ussd_session() is None and not d.modems["modem1"].ussd.open
    rv = requests.post(url, data={"code": "1"}, auth=auth, timeout=10)  # no session: not a menu
    assert rv.json()["status"] == "not-supported"
    for bad in ("", "*100#\r\nATH", '*1"#'):
        rv = requests.post(url, data={"code": bad}, auth=auth, timeout=10)
        assert rv.status_code == 400 and rv.json()["code"] == 20001, bad
    rv = requests.post(url.replace("modem1", "modem9"), data={"code": "*100#"}, auth=auth)
    assert rv.status_code == 404


def test_the_network_ends_an_idle_menu_and_we_end_an_unanswered_request(start, host):
    d = start(sim={"ussd_timeout": 0.5}, ussd_timeout=1.0)
    session = d.modems["modem1"].ussd
    assert session.request("*123#").open
    wait_for(lambda: not session.open, timeout=5)  # +CUSD: 2 from the network, nobody waiting
    assert host.modems["modem1"].ussd_session() is None
    assert session.request("1").name == "not-supported"  # a new request, not a menu answer
    host.modems["modem1"].profile = host.modems["modem1"].profile.replace(ussd_delay=3.0)
    before = len(sent_commands(host, "AT+CUSD=2"))
    started = time.monotonic()
    with pytest.raises(UssdTimeout, match="did not answer"):
        session.request("*100#", timeout=0.5)
    assert time.monotonic() - started < 3.0
    assert len(sent_commands(host, "AT+CUSD=2")) == before + 1  # cancelled: the modem is free
    assert d.server is not None
    rv = requests.post(
        f"http://127.0.0.1:{d.server.port}/appliance/modems/modem1/ussd",
        data={"code": "*100#"},
        auth=(d.account.sid, d.account.auth_token),
        timeout=20,
    )
    assert rv.status_code == 504 and "did not answer" in rv.json()["message"]


def test_low_balance_alerts_once_by_sms_and_signed_webhook(start, host, webapp):
    alert_url = webapp.url("/balance")
    modem = {
        "balance_ussd": "*100#",
        "balance_low": 5.0,
        "balance_alert_to": PHONE,
        "balance_alert_url": alert_url,
        "balance_interval": 3600.0,
    }
    d = start(sim={"balance": 1.5}, modem=modem)
    host_modem = host.modems["modem1"]
    assert host.network.wait_outbox(1, timeout=20)
    alert = host.network.outbox("modem1")[0]
    assert alert.destination == PHONE and "Low balance on" in alert.text and "1.50" in alert.text
    req = webapp.wait(path="/balance", timeout=20)
    assert req.flat["Event"] == "balance-low" and req.flat["Balance"] == "1.50"
    assert req.flat["BalanceLow"] == "5.00" and req.flat["From"] == NUMBER
    assert req.flat["Text"] == "Your balance is 1.50 GBP"
    assert RequestValidator(d.account.auth_token).validate(
        alert_url, req.flat, req.headers.get("X-Twilio-Signature", "")
    )
    row = balance_row(d)
    assert row["amount"] == 1.5 and row["low_since"] is not None
    assert wait_for(lambda: scrape(d)) == {"modem1": 1.5}
    assert d.server is not None
    status = requests.get(
        f"http://127.0.0.1:{d.server.port}/appliance/status",
        auth=(d.account.sid, d.account.auth_token),
        timeout=10,
    ).json()
    assert status["modems"][0]["balance"] == 1.5 and status["modems"][0]["balance_read"]
    # Still low: a manual check (any answer to the balance code counts) alerts no more.
    assert d.modems["modem1"].ussd.request("*100#").text == "Your balance is 1.50 GBP"
    time.sleep(0.5)
    assert len(host.network.outbox("modem1")) == 1 and len(webapp.to("/balance")) == 1
    # A top-up re-arms it; the next drop alerts again.
    host_modem.set_balance(20)
    d.modems["modem1"].ussd.request("*100#")
    assert balance_row(d)["low_since"] is None and balance_row(d)["amount"] == 20.0
    host_modem.set_balance(2.25)
    d.modems["modem1"].ussd.request("*100#")
    assert host.network.wait_outbox(2, timeout=20)
    assert "2.25" in host.network.outbox("modem1")[1].text


def test_a_restart_does_not_check_again_before_the_interval(start, host):
    d = start(modem={"balance_ussd": "*100#", "balance_interval": 3600.0})
    wait_for(lambda: (r := balance_row(d)) is not None and r["amount"] == 10.0)
    checked = balance_row(d)["checked"]
    d.stop()
    for _ in range(3):  # a restart burst
        d = start(modem={"balance_ussd": "*100#", "balance_interval": 3600.0})
        assert d.balance.due("modem1") == pytest.approx(checked + 3600.0)
        time.sleep(0.3)
        assert balance_row(d)["checked"] == checked
        d.stop()
    assert len(sent_commands(host, "AT+CUSD=1")) == 1


def test_a_failed_check_is_recorded_and_retried_sooner(start, host):
    d = start(modem={"balance_ussd": "*999#", "balance_interval": 3600.0})
    row = wait_for(lambda: (r := balance_row(d)) is not None and r["error"] and r)
    assert row["amount"] is None and "not-supported" in row["error"]
    assert d.balance.due("modem1") == pytest.approx(row["checked"] + 600.0)
    assert scrape(d) == {}
