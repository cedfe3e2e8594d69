"""The built-in weather source: an Open-Meteo-compatible forecast API, and words for a forecast.

``GET {base}/v1/forecast?latitude=..&longitude=..&daily=weather_code,temperature_2m_max,
temperature_2m_min,precipitation_probability_max&timezone=..&forecast_days=1`` gives today's
forecast; ``GET {geo_base}/v1/search?name=..&count=1`` resolves a town.  No API key is
needed.  :func:`describe` (no I/O) turns a forecast into the text of one SMS.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from typing import Any
from urllib.parse import urlencode

import urllib3.exceptions

from appliance.errors import ApplianceError
from appliance.webhooks.transport import Pools, failure_text

LOGGER = logging.getLogger(__name__)

DAILY = "weather_code,temperature_2m_max,temperature_2m_min,precipitation_probability_max"
TIMEOUT = (5.0, 10.0)  # connect, read: a forecast API that hangs fails the run, not the scheduler
UMBRELLA_PERCENT = 50  # precipitation probability from which the umbrella line is added

# WMO weather interpretation codes (the ones Open-Meteo documents).
WMO: dict[int, str] = {
    0: "clear sky",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "freezing fog",
    51: "light drizzle",
    53: "drizzle",
    55: "dense drizzle",
    56: "light freezing drizzle",
    57: "freezing drizzle",
    61: "light rain",
    63: "rain",
    65: "heavy rain",
    66: "light freezing rain",
    67: "freezing rain",
    71: "light snow",
    73: "snow",
    75: "heavy snow",
    77: "snow grains",
    80: "light showers",
    81: "showers",
    82: "violent showers",
    85: "snow showers",
    86: "heavy snow showers",
    95: "thunderstorms",
    96: "thunderstorms with hail",
    99: "thunderstorms with heavy hail",
}
WET_CODES = {51, 53, 55, 56, 57, 61, 63, 65, 66, 67, 80, 81, 82, 95, 96, 99}


class WeatherError(ApplianceError):
    """The forecast or geocoding API failed or answered something unusable."""


@dataclasses.dataclass(frozen=True)
class Forecast:
    """Today's forecast for one place."""

    weather_code: int | None
    temp_max: float | None
    temp_min: float | None
    precipitation_probability: int | None


@dataclasses.dataclass(frozen=True)
class Place:
    latitude: float
    longitude: float
    timezone: str
    name: str


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def parse_forecast(payload: Any) -> Forecast:
    """The first day of an Open-Meteo ``daily`` block; raises :class:`WeatherError` if malformed."""
    if not isinstance(payload, dict) or not isinstance(payload.get("daily"), dict):
        raise WeatherError("the forecast API answered without a 'daily' block")
    daily = payload["daily"]

    def first(key: str) -> float | None:
        values = daily.get(key)
        if not isinstance(values, list) or not values:
            return None
        return _number(values[0])

    code = first("weather_code")
    if code is None:
        code = first("weathercode")  # older Open-Meteo spelling
    tmax, tmin = first("temperature_2m_max"), first("temperature_2m_min")
    rain = first("precipitation_probability_max")
    if code is None and tmax is None and tmin is None:
        raise WeatherError("the forecast API answered a 'daily' block with no values for today")
    return Forecast(
        None if code is None else int(code), tmax, tmin, None if rain is None else int(rain)
    )


def describe(forecast: Forecast, town: str = "") -> str:
    """Words for one SMS: "Leeds today: light rain, 9-14C, rain 80%. You'll need your umbrella today!".

    Plain GSM-7 characters only ("C", not "°C"): a degree sign would make the SMS UCS-2,
    70 characters a segment instead of 160.
    """
    parts: list[str] = []
    if forecast.weather_code is not None:
        parts.append(WMO.get(forecast.weather_code, f"weather code {forecast.weather_code}"))
    if forecast.temp_min is not None and forecast.temp_max is not None:
        parts.append(f"{round(forecast.temp_min)}-{round(forecast.temp_max)}C")
    elif forecast.temp_max is not None:
        parts.append(f"up to {round(forecast.temp_max)}C")
    if forecast.precipitation_probability is not None:
        parts.append(f"rain {forecast.precipitation_probability}%")
    head = f"{town} today" if town else "Today"
    text = f"{head}: {', '.join(parts)}."
    wet = forecast.weather_code in WET_CODES or (
        forecast.precipitation_probability is not None
        and forecast.precipitation_probability >= UMBRELLA_PERCENT
    )
    if wet:
        text += " You'll need your umbrella today!"
    elif forecast.weather_code in (0, 1) and (forecast.temp_max or 0) >= 20:
        text += " Enjoy the sunshine!"
    return text


class WeatherClient:
    """HTTP client for the forecast and geocoding APIs (base URLs from the configuration)."""

    def __init__(self, forecast_base: str, geocoding_base: str) -> None:
        self.forecast_base = forecast_base.rstrip("/")
        self.geocoding_base = geocoding_base.rstrip("/")
        self.pools = Pools()  # connections kept between runs

    def _get(self, url: str, params: dict[str, str]) -> Any:
        connect, read = TIMEOUT
        try:
            rv = self.pools.fetch("GET", f"{url}?{urlencode(params)}", connect=connect, read=read)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as e:
            raise WeatherError(f"{url}: {failure_text(e)}") from None
        if rv.status != 200:
            raise WeatherError(f"{url}: HTTP {rv.status}: {rv.text()[:200]}")
        try:
            return json.loads(rv.body)
        except ValueError:
            raise WeatherError(f"{url}: the answer is not JSON") from None

    def forecast(self, latitude: float, longitude: float, timezone: str = "") -> Forecast:
        payload = self._get(
            f"{self.forecast_base}/v1/forecast",
            {
                "latitude": f"{latitude:.4f}",
                "longitude": f"{longitude:.4f}",
                "daily": DAILY,
                "timezone": timezone or "auto",
                "forecast_days": "1",
            },
        )
        return parse_forecast(payload)

    def geocode(self, name: str) -> Place:
        payload = self._get(
            f"{self.geocoding_base}/v1/search",
            {"name": name, "count": "1", "format": "json"},
        )
        results = payload.get("results") if isinstance(payload, dict) else None
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            raise WeatherError(f"no place called {name!r} was found")
        first = results[0]
        lat, lon = _number(first.get("latitude")), _number(first.get("longitude"))
        if lat is None or lon is None:
            raise WeatherError(f"the geocoding API gave no coordinates for {name!r}")
        return Place(lat, lon, str(first.get("timezone") or ""), str(first.get("name") or name))
