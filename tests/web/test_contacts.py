"""Contact names: added, renamed and deleted in the panel, shown as "Name (+number)".

A real daemon on the simulated modem; messages arrive through the simulated network and
are sent through the outbox, so the lists show numbers the appliance really stored.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import PHONE, wait_for
from tests.web.test_panel import Panel, panel  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(60)
OTHER = "+14155550111"


def text(panel: Panel, path: str) -> str:  # noqa: F811
    rv = panel.client.get(path)
    assert rv.status_code == 200, (path, rv.status_code)
    return str(rv.get_data(as_text=True))


def test_a_named_number_reads_name_and_number_everywhere(panel: Panel, sim: Any) -> None:  # noqa: F811
    d = panel.d
    sim.network.deliver_sms("modem1", PHONE, "hello")
    sim.network.deliver_sms("modem1", OTHER, "hi")
    wait_for(lambda: d.store.read_one("SELECT COUNT(*) FROM messages")[0] == 2)

    # A bad number and an empty name are refused beside their fields; nothing is stored.
    rv = panel.post("/contacts/", {"phone_number": "555", "name": ""})
    assert rv.status_code == 400
    html = rv.get_data(as_text=True)
    assert 'id="error-phone_number"' in html and 'id="error-name"' in html
    assert d.store.read_one("SELECT COUNT(*) FROM contacts")[0] == 0
    # Without the CSRF token: refused.
    assert (
        panel.client.post("/contacts/", data={"phone_number": PHONE, "name": "X"}).status_code
        == 400
    )

    # Spaces are normalised to E.164; the name is escaped where it is shown.
    rv = panel.post("/contacts/", {"phone_number": "+1 415 555 0100", "name": "Ann <Lee>"})
    assert rv.status_code == 302
    rows = d.store.read("SELECT phone_number, name FROM contacts")
    assert [tuple(r) for r in rows] == [(PHONE, "Ann <Lee>")]
    shown = f"Ann &lt;Lee&gt; ({PHONE})"
    assert f"<td>Ann &lt;Lee&gt;</td><td>{PHONE}</td>" in text(panel, "/contacts/")
    assert shown in text(panel, "/messages/")
    thread = text(panel, f"/messages/with?party=%2B{PHONE[1:]}")
    assert f"<h1>{shown}</h1>" in thread
    assert f'href="/contacts/?number=%2B{PHONE[1:]}#contact-form"' in thread  # "Name this number"
    assert shown in text(panel, "/messages/list")
    sid = d.store.read_one("SELECT sid FROM messages WHERE from_number = ?", (PHONE,))[0]
    assert f"<dd>{shown}</dd>" in text(panel, f"/messages/{sid}")
    assert f"<strong>{OTHER}</strong>" in text(panel, "/messages/")  # no name: the bare number
    assert "<Lee>" not in text(panel, "/messages/")

    # Saving the number again renames it; the form offers the current name.
    assert 'value="Ann &lt;Lee&gt;"' in text(panel, f"/contacts/?number=%2B{PHONE[1:]}")
    assert panel.post("/contacts/", {"phone_number": PHONE, "name": "Ann"}).status_code == 302
    assert f"Ann ({PHONE})" in text(panel, "/messages/")
    assert d.store.read_one("SELECT COUNT(*) FROM contacts")[0] == 1

    # Deleted: the bare number again; deleting it twice is a 404.
    assert panel.post("/contacts/delete", {"phone_number": PHONE}).status_code == 302
    assert f"<strong>{PHONE}</strong>" in text(panel, "/messages/")
    assert panel.post("/contacts/delete", {"phone_number": PHONE}).status_code == 404


def test_a_subscribers_name_is_used_without_a_contact(panel: Panel, sim: Any) -> None:  # noqa: F811
    d = panel.d
    list_id = d.panel.subscribers.create_list("Weather", "modem1", "WEATHER", "WEATHER OFF")
    rv = panel.post(
        f"/subscribers/{list_id}", {"phone_number": OTHER, "name": "Cai", "town": "Bergen"}
    )
    assert rv.status_code in (200, 302), rv.get_data(as_text=True)[:500]
    sim.network.deliver_sms("modem1", OTHER, "hi")
    wait_for(lambda: d.store.read_one("SELECT COUNT(*) FROM messages")[0] == 1)
    assert f"Cai ({OTHER})" in text(panel, "/messages/")
    # A contact wins over the subscriber's name.
    assert panel.post("/contacts/", {"phone_number": OTHER, "name": "Cai B."}).status_code == 302
    assert f"Cai B. ({OTHER})" in text(panel, "/messages/")


def test_calls_list_names_the_caller(panel: Panel, sim: Any) -> None:  # noqa: F811
    d = panel.d
    assert panel.post("/contacts/", {"phone_number": PHONE, "name": "Ann"}).status_code == 302
    remote = sim.network.incoming_call("modem1", PHONE)
    wait_for(lambda: d.store.read_one("SELECT COUNT(*) FROM calls")[0] == 1, timeout=20)
    remote.hangup()
    assert f"Ann ({PHONE})" in text(panel, "/calls/")
    sid = d.store.read_one("SELECT sid FROM calls")[0]
    assert f"<dd>Ann ({PHONE}) " in text(panel, f"/calls/{sid}")
