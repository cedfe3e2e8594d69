"""Fixtures of the panel's tests: a fake weather service for broadcasts; Playwright's waits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.fakeforecast import FakeForecast

EXPECT_MS = 15_000  # Playwright's default is 5 s


@pytest.fixture(autouse=True)
def patient_expect() -> Iterator[None]:
    """``expect(...)`` waits up to 15 s where a test names no timeout: a page on a busy machine
    (a live stream to open, a form's round trip to the modem) may take more than Playwright's
    5 s, and the wait ends as soon as the page shows what is expected.  Explicit timeouts (a
    "within 2 s" promise of docs/panel.md) stay as they are."""
    before = getattr(expect, "_timeout", None)  # None: Playwright's own default
    expect.set_options(timeout=EXPECT_MS)
    yield
    expect.set_options(timeout=before)


@pytest.fixture
def forecast() -> Iterator[FakeForecast]:
    """A fake Open-Meteo forecast and geocoding API on 127.0.0.1."""
    fake = FakeForecast()
    yield fake
    fake.close()
