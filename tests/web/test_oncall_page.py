"""The panel's On call page: behind sign-in and CSRF; who is on call now and next, the
four-week calendar, and people, schedules and overrides added with forms (bad input shown
on the form, nothing stored)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.web.test_panel import PASSWORD, Panel
from web.auth import set_password


def test_oncall_page_shows_the_rotation_and_adds_overrides(make_daemon: Any) -> None:
    d = make_daemon()
    client = d.server.panel.test_client()
    rv = client.get("/oncall/")
    assert rv.status_code == 302 and "/login" in rv.headers["Location"]
    set_password(d.store, PASSWORD)
    panel = Panel(d)
    assert panel.login().status_code == 302
    html = panel.client.get("/oncall/").get_data(as_text=True)
    assert 'href="/oncall/"' in html and "Now: <strong>nobody</strong>" in html
    # Without the CSRF token: refused, nothing stored.
    rv = panel.client.post("/oncall/", data={"form": "person", "name": "Eve", "phone": "+1415"})
    assert rv.status_code == 400 and d.oncall.directory.people() == []
    for name, phone in (("Alice", "+14155550111"), ("Bob", "+14155550122")):
        rv = panel.post("/oncall/", {"form": "person", "name": name, "phone": phone})
        assert rv.status_code == 302, rv.get_data(as_text=True)[:2000]
    html = panel.post("/oncall/", {"form": "person", "name": "X", "phone": "nope"}).get_data(
        as_text=True
    )
    assert 'class="field invalid"' in html and len(d.oncall.directory.people()) == 2
    today = datetime.now(UTC).date()
    rv = panel.post(
        "/oncall/",
        {"form": "schedule", "name": "ops", "timezone": "UTC", "rotation": "weekly",
         "handover_time": "00:00", "start": today.isoformat(), "people": "1 2"},
    )  # fmt: skip
    assert rv.status_code == 302
    html = panel.post(
        "/oncall/", {"form": "schedule", "name": "bad", "timezone": "Mars/Base"}
    ).get_data(as_text=True)
    assert "Unknown time zone" in html and len(d.oncall.directory.schedules()) == 1
    html = panel.client.get("/oncall/").get_data(as_text=True)
    assert "Now: <strong>Alice</strong>" in html and "Next: <strong>Bob</strong>" in html
    calendar = html[html.index('id="oncall-calendar"') : html.index("</table>")]
    assert calendar.count("<tr>") == 6 and "Alice" in calendar and "Bob" in calendar
    # An override for Bob, now: he is on call, and the calendar says so.
    now = datetime.now(UTC)
    rv = panel.post(
        "/oncall/",
        {"form": "override", "person": "2", "timezone": "UTC",
         "starts": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
         "ends": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")},
    )  # fmt: skip
    assert rv.status_code == 302
    html = panel.client.get("/oncall/").get_data(as_text=True)
    assert "Now: <strong>Bob</strong> <small>(override)</small>" in html
    assert 'id="overrides"' in html
    html = panel.post(
        "/oncall/",
        {
            "form": "override",
            "person": "1",
            "starts": "2026-12-10T10:00",
            "ends": "2026-12-09T10:00",
        },
    ).get_data(as_text=True)
    assert "must end after it starts" in html and len(d.oncall.directory.overrides(0)) == 1


def test_escalation_policy_is_edited_in_the_panel(make_daemon: Any) -> None:
    d = make_daemon()
    set_password(d.store, PASSWORD)
    panel = Panel(d)
    assert panel.login().status_code == 302
    d.oncall.directory.add_person("Alice", "+14155550111")
    html = panel.client.get("/oncall/").get_data(as_text=True)
    assert 'id="policy-form"' in html and 'id="f-p-ring_timeout"' in html
    assert 'name="ring_timeout" inputmode="numeric" value="20"' in html  # the default
    # Without the CSRF token: refused, nothing changed.
    rv = panel.client.post("/oncall/", data={"form": "policy", "ring_timeout": "30"})
    assert rv.status_code == 400 and d.oncall.directory.policy()["ring_timeout"] == 20
    rv = panel.post(
        "/oncall/",
        {"form": "policy", "ring_timeout": "35", "ack_timeout": "120", "repeat": "3",
         "default_person": "1"},
    )  # fmt: skip
    assert rv.status_code == 302, rv.get_data(as_text=True)[:2000]
    assert d.oncall.directory.policy() == {
        "ring_timeout": 35, "ack_timeout": 120.0, "repeat": 3, "default_person": 1
    }  # fmt: skip
    assert "Rings 35 s a step" in panel.client.get("/oncall/").get_data(as_text=True)
    # Bad values: the field's error on the form, the policy unchanged.
    for field, value, words in (
        ("ring_timeout", "500", "5 to 120"),
        ("repeat", "many", "is a number"),
        ("default_person", "9", "No person"),
    ):
        html = panel.post("/oncall/", {"form": "policy", field: value}).get_data(as_text=True)
        assert f'id="f-p-{field}"' in html and 'class="field invalid"' in html, field
        assert words in html, field
    assert d.oncall.directory.policy()["ring_timeout"] == 35


def test_named_policies_are_listed_added_edited_and_deleted_in_the_panel(make_daemon: Any) -> None:
    """Two teams: a policy per team with its schedules ticked; the table shows who each has
    on call now; bad input is shown on the form and stores nothing; the number page offers
    the policy's support line and refuses an unknown one."""
    d = make_daemon()
    set_password(d.store, PASSWORD)
    panel = Panel(d)
    assert panel.login().status_code == 302
    directory = d.oncall.directory
    for name, phone in (("Alice", "+14155550111"), ("Carol", "+14155550133")):
        directory.add_person(name, phone)
    today = datetime.now(UTC).date().isoformat()
    for name, people in (("shop", ["1"]), ("it", ["2"])):
        directory.add_schedule({"name": name, "handover_time": "00:00", "start": today}, people)
    html = panel.client.get("/oncall/?policy=new").get_data(as_text=True)
    assert "New escalation policy" in html and 'id="f-p-name"' in html
    assert '<input type="checkbox" name="schedules" value="2">' in html
    rv = panel.post(
        "/oncall/",
        {"form": "policy", "policy_id": "new", "schedules_shown": "1", "name": "it",
         "ring_timeout": "30", "ack_timeout": "120", "repeat": "1", "default_person": "2",
         "schedules": "2"},
    )  # fmt: skip
    assert rv.status_code == 302, rv.get_data(as_text=True)[:2000]
    it = directory.policies.named("it")
    assert it is not None and (it["schedules"], it["ring_timeout"]) == ([2], 30)
    html = panel.client.get("/oncall/").get_data(as_text=True)
    row = html[html.index(f'id="policy-{it["id"]}"') :]
    row = row[: row.index("</tr>")]
    assert "<td>it</td>" in row and "Carol" in row and "30 s, 120 s, 1×" in row
    default_row = html[html.index('id="policy-1"') :]
    assert "Alice" in default_row[: default_row.index("</tr>")]
    # Bad input: the field's error on the form, nothing stored.
    for fields, words in (
        ({"name": "it"}, "already a policy named it"),
        ({"name": "ops", "ring_timeout": "500"}, "5 to 120"),
        ({"name": ""}, "A name of 1 to"),
    ):
        html = panel.post(
            "/oncall/", {"form": "policy", "policy_id": "new", "schedules_shown": "1", **fields}
        ).get_data(as_text=True)
        assert words in html and 'class="field invalid"' in html, fields
    assert [p["name"] for p in directory.policies.all()] == ["default", "it"]
    # Edit: the form shows the policy; untick every schedule (every schedule again).
    html = panel.client.get(f"/oncall/?policy={it['id']}").get_data(as_text=True)
    assert "Escalation policy it" in html and 'value="2" checked' in html
    rv = panel.post(
        "/oncall/",
        {"form": "policy", "policy_id": str(it["id"]), "schedules_shown": "1", "name": "it",
         "ring_timeout": "25", "ack_timeout": "120", "repeat": "2"},
    )  # fmt: skip
    assert rv.status_code == 302
    assert directory.policies.named("it")["schedules"] == []  # type: ignore[index]
    assert directory.policies.named("it")["ring_timeout"] == 25  # type: ignore[index]
    # The number page offers the policy's support line; an unknown policy is refused.
    sid = d.store.read_one("SELECT sid FROM numbers")["sid"]
    html = panel.client.get(f"/numbers/{sid}").get_data(as_text=True)
    assert '<option value="/twimlets/oncall?Policy=it">' in html
    html = panel.post(f"/numbers/{sid}", {"voice_url": "/twimlets/oncall?Policy=nope"}).get_data(
        as_text=True
    )
    assert "No escalation policy named" in html
    assert d.store.read_one("SELECT voice_url FROM numbers")["voice_url"] == ""
    # Delete: the default policy offers no button; "it" goes.
    html = panel.client.get("/oncall/").get_data(as_text=True)
    assert 'aria-label="Delete policy default"' not in html
    assert 'aria-label="Delete policy it"' in html
    rv = panel.post("/oncall/", {"form": "delete-policy", "policy_id": str(it["id"])})
    assert rv.status_code == 302
    assert [p["name"] for p in directory.policies.all()] == ["default"]
    html = panel.post("/oncall/", {"form": "delete-policy", "policy_id": "1"}).get_data(
        as_text=True
    )
    assert "default policy cannot be deleted" in html
