"""The panel's USSD page: behind sign-in and CSRF, a code and its answer, a menu answered in the
same session or cancelled, and each SIM's balance."""

from __future__ import annotations

from typing import Any

from tests.conftest import wait_for
from tests.web.test_panel import PASSWORD, Panel
from web.auth import set_password


def test_ussd_page_sends_codes_answers_menus_and_shows_the_balance(make_daemon: Any) -> None:
    d = make_daemon(modem={"balance_ussd": "*100#"})
    client = d.server.panel.test_client()
    rv = client.get("/ussd/")
    assert rv.status_code == 302 and "/login" in rv.headers["Location"]
    set_password(d.store, PASSWORD)
    panel = Panel(d)
    assert panel.login().status_code == 302
    wait_for(lambda: d.store.read_one("SELECT amount FROM sim_balance WHERE amount IS NOT NULL"))
    html = panel.client.get("/ussd/").get_data(as_text=True)
    assert 'id="balances"' in html and "<strong>10.00</strong>" in html and "*100#" in html
    assert 'href="/ussd/"' in html  # in the menu
    # A form without the CSRF token is refused before anything reaches the modem.
    rv = panel.client.post("/ussd/", data={"modem": "modem1", "code": "*100#"})
    assert rv.status_code == 400
    html = panel.post("/ussd/", {"modem": "modem1", "code": "*123#"}).get_data(as_text=True)
    assert 'id="ussd-reply"' in html and "1 Balance" in html and "2 Data" in html
    assert "Your answer" in html and 'value="cancel"' in html  # the session is open
    html = panel.post("/ussd/", {"modem": "modem1", "code": "1"}).get_data(as_text=True)
    assert "Your balance is 10.00 GBP" in html and 'value="cancel"' not in html
    panel.post("/ussd/", {"modem": "modem1", "code": "*123#"})
    rv = panel.post("/ussd/", {"modem": "modem1", "action": "cancel"}, follow_redirects=True)
    assert "Session on modem1 cancelled." in rv.get_data(as_text=True)
    assert not d.modems["modem1"].ussd.open
    html = panel.post("/ussd/", {"modem": "modem1", "code": '*1"#'}).get_data(as_text=True)
    assert "cannot be sent" in html and 'id="ussd-reply"' not in html
