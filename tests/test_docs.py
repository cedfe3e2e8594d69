"""The documentation keeps up with the code."""

from __future__ import annotations

from pathlib import Path

from appliance import config
from appliance.modem import profiles

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_setting_is_documented():
    text = (DOCS / "configuration.md").read_text()
    for s in (*config.SETTINGS, *config.MODEM_SETTINGS):
        assert f"`{s.name}`" in text, s.name


def test_env_overrides_and_bad_values_get_clear_errors(tmp_path):
    cfg = config.load(
        None,
        environ={"APPLIANCE_HTTP_PORT": "9001", "APPLIANCE_MODEM_MODEM1_SMS_URL": "http://x/y"},
    )
    assert cfg.http_port == 9001 and cfg.modems[0].sms_url == "http://x/y"
    import pytest

    from appliance.errors import ConfigError

    with pytest.raises(ConfigError, match="APPLIANCE_HTTP_PORT"):
        config.load(None, environ={"APPLIANCE_HTTP_PORT": "eighty"})
    bad = tmp_path / "a.toml"
    bad.write_text('[[modems]]\nnumber = "12345"\n')
    with pytest.raises(ConfigError, match="`number` setting"):  # not Twilio's 'To' wording
        config.load(bad, environ={})
    bad.write_text("colour = 1\n")
    with pytest.raises(ConfigError, match="unknown settings"):
        config.load(bad, environ={})


def test_describe_is_a_loadable_config(tmp_path):
    path = tmp_path / "all.toml"
    path.write_text(config.describe())
    assert config.load(path, environ={}).http_port == 8080


def test_every_profile_loads_and_names_its_family():
    names = profiles.available()
    assert {"sim800", "huawei_e173", "sim7600", "quectel_ec25"} <= set(names)
    for name in names:
        p = profiles.load(name)
        assert p.family == name and p.manufacturer and p.storage


def test_paths_the_docs_name_exist():
    """Every repository path a document's prose names (``../x``, ``docs/…``, ``tests/….py``)
    exists; code blocks are left out (their commands create files)."""
    import re

    root = DOCS.parent
    tops = "|".join(("appliance", "bench", "deploy", "docs", "firmware_config", "tests", "web"))
    path = re.compile(rf"(?<![\w/.-])((?:\.\./)+[\w./-]+|(?:{tops})/[\w./-]*\w)")
    for doc in (root / "README.md", *sorted(DOCS.glob("*.md"))):
        prose = re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.S | re.M)
        for name in path.findall(prose):
            base = doc.parent if name.startswith("../") else root
            assert (base / name).exists(), f"{doc.name} names {name}, which does not exist"


def test_reliability_says_what_a_resend_of_an_interrupted_send_repeats():
    text = " ".join((DOCS / "reliability.md").read_text().split())
    assert "usually leaves the first parts at the recipient" in text
    assert (
        "an app that re-sends on 30008 makes the recipient read the start of the text twice" in text
    )
