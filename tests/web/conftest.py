"""Fixtures of the panel's tests: a fake weather service for broadcasts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakeforecast import FakeForecast


@pytest.fixture
def forecast() -> Iterator[FakeForecast]:
    """A fake Open-Meteo forecast and geocoding API on 127.0.0.1."""
    fake = FakeForecast()
    yield fake
    fake.close()
