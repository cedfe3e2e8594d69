"""Broadcast content: each subscriber's messages, rendered from text, a URL or the weather.

Content is one of three kinds:

* ``text``: a template with per-subscriber fields (``{name}``, ``{town}``,
  ``{phone_number}``, ``{first_name}``);
* ``url``: the app-initiated pattern: the URL is requested once per subscriber
  (signed like a webhook, with ``To``, ``From``, ``Name``, ``Town``, ``Latitude``,
  ``Longitude``) and each ``<Message>`` in the TwiML it returns is sent;
* ``weather``: today's forecast for each subscriber's own place from the
  Open-Meteo-compatible API (:mod:`appliance.campaigns.weather`); the content is a
  template in which ``{forecast}`` stands for the forecast sentence.

A source that is down (the URL answers 5xx or not at all, the forecast API fails)
raises :class:`RunFailed` for the whole run; a problem with one subscriber only is
that subscriber's :attr:`Rendered.error`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import urllib3.exceptions

from appliance.campaigns.lists import Subscribers
from appliance.campaigns.spec import fill
from appliance.campaigns.weather import Forecast, WeatherClient, WeatherError, describe
from appliance.errors import ApplianceError
from appliance.store.database import Row
from appliance.twiml import messaging
from appliance.webhooks import signature
from appliance.webhooks.transport import Pools, failure_text

URL_TIMEOUT = (5.0, 10.0)  # connect, read (seconds)
USER_AGENT = "TwilioProxy/1.1"  # the URL is requested like a webhook


class RunFailed(ApplianceError):
    """A run failed as a whole (e.g. the forecast API is down); it may be retried."""


@dataclasses.dataclass
class Rendered:
    """What one subscriber gets: bodies to send, or why nothing is sent."""

    subscriber: Row
    bodies: list[str]
    error: str = ""


def values(sub: Row) -> dict[str, str]:
    """A subscriber's template fields (all but ``forecast``)."""
    name = sub["name"] or ""
    return {
        "name": name,
        "first_name": name.split()[0] if name.split() else "",
        "town": sub["town"] or "",
        "phone_number": sub["phone_number"],
    }


class Renderer:
    """Renders a broadcast's content for its subscribers."""

    def __init__(
        self,
        subscribers: Subscribers,
        weather: WeatherClient,
        *,
        auth_token: Callable[[], str],
        number_of: Callable[[str], Row],
    ) -> None:
        self.subscribers = subscribers
        self.weather = weather
        self._auth_token = auth_token
        self._number_of = number_of
        self.pools = Pools()  # connections kept per origin between subscribers

    def render(self, b: Row, subs: list[Row]) -> list[Rendered]:
        """Every subscriber's messages.  Raises :class:`RunFailed` if the source is down."""
        if b["kind"] == "text":
            return [Rendered(s, [fill(b["content"], values(s))]) for s in subs]
        if b["kind"] == "url":
            return [self._render_url(b, s) for s in subs]
        return self._render_weather(b, subs)

    def _render_url(self, b: Row, sub: Row) -> Rendered:
        ours = self._number_of(b["modem"])["phone_number"]
        params = {
            "To": sub["phone_number"],
            "From": ours,
            "Name": sub["name"] or "",
            "Town": sub["town"] or "",
            "Latitude": "" if sub["latitude"] is None else str(sub["latitude"]),
            "Longitude": "" if sub["longitude"] is None else str(sub["longitude"]),
            "BroadcastId": str(b["id"]),
        }
        url = b["content"]
        headers = {
            "X-Twilio-Signature": signature.signature(self._auth_token(), url, params),
            "User-Agent": USER_AGENT,
        }
        connect, read = URL_TIMEOUT
        try:
            rv = self.pools.fetch(
                "POST", url, form=params, headers=headers, connect=connect, read=read
            )
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as e:
            raise RunFailed(f"{url}: {failure_text(e)}") from None
        if rv.status >= 500:
            raise RunFailed(f"{url}: HTTP {rv.status}")
        if rv.status != 200:
            return Rendered(sub, [], f"HTTP {rv.status} from the content URL")
        try:
            doc = messaging.parse(rv.body, rv.headers.get("Content-Type"), base_url=url)
        except messaging.TwimlError as e:
            return Rendered(sub, [], f"TwiML error {e.code}: {e.message}")
        bodies = [m.body for m in doc.messages if m.body]
        return Rendered(sub, bodies, "" if bodies else "the TwiML had no <Message>")

    def _render_weather(self, b: Row, subs: list[Row]) -> list[Rendered]:
        forecasts: dict[tuple[float, float, str], Forecast] = {}
        places: dict[str, tuple[float, float, str]] = {}
        out: list[Rendered] = []
        for sub in subs:
            lat, lon, tz = sub["latitude"], sub["longitude"], sub["timezone"] or ""
            if lat is None or lon is None:
                town = (sub["town"] or "").strip()
                if not town:
                    out.append(Rendered(sub, [], "no location: set a town or coordinates"))
                    continue
                if town.lower() not in places:
                    try:
                        place = self.weather.geocode(town)
                    except WeatherError as e:
                        if "no place" in e.message or "no coordinates" in e.message:
                            out.append(Rendered(sub, [], e.message))
                            continue
                        raise RunFailed(f"geocoding {town!r}: {e.message}") from None
                    places[town.lower()] = (place.latitude, place.longitude, place.timezone)
                lat, lon, found_tz = places[town.lower()]
                tz = tz or found_tz
                self.subscribers.set_location(sub["id"], lat, lon, tz)
            key = (round(float(lat), 2), round(float(lon), 2), tz)
            if key not in forecasts:
                try:
                    forecasts[key] = self.weather.forecast(float(lat), float(lon), tz)
                except WeatherError as e:
                    raise RunFailed(f"forecast API: {e.message}") from None
            fields = values(sub)
            fields["forecast"] = describe(forecasts[key], sub["town"] or "")
            out.append(Rendered(sub, [fill(b["content"], fields)]))
        return out
