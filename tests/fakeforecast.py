"""A fake Open-Meteo on 127.0.0.1: /v1/forecast and /v1/search, answers by coordinates or town."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# town -> (latitude, longitude, timezone, weather_code, max, min, precipitation probability)
TOWNS: dict[str, tuple[float, float, str, int, float, float, int]] = {
    "Leeds": (53.7965, -1.5478, "Europe/London", 63, 14.2, 8.6, 90),
    "Seville": (37.3886, -5.9823, "Europe/Madrid", 0, 31.4, 18.1, 0),
    "Bergen": (60.3930, 5.3242, "Europe/Oslo", 3, 9.0, 4.0, 40),
}


class FakeForecast:
    """``up`` False makes every request answer 503 (a forecast API that is down);
    ``delay`` seconds are slept before each answer (a slow one)."""

    def __init__(self) -> None:
        self.up = True
        self.delay = 0.0
        self.requests: list[tuple[str, dict[str, str]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query))
                fake.requests.append((parts.path, query))
                if fake.delay:
                    time.sleep(fake.delay)
                status, body = fake.answer(parts.path, query)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, path: str, q: dict[str, str]) -> tuple[int, Any]:
        if not self.up:
            return 503, {"error": True, "reason": "down for maintenance"}
        if path == "/v1/search":
            for town, (lat, lon, tz, *_rest) in TOWNS.items():
                if town.lower() == q.get("name", "").lower():
                    return 200, {
                        "results": [
                            {"name": town, "latitude": lat, "longitude": lon, "timezone": tz}
                        ]
                    }
            return 200, {"generationtime_ms": 0.1}
        if path == "/v1/forecast":
            try:
                lat, lon = float(q["latitude"]), float(q["longitude"])
            except (KeyError, ValueError):
                return 400, {"error": True, "reason": "latitude and longitude required"}
            if q.get("daily", "").split(",") != [
                "weather_code",
                "temperature_2m_max",
                "temperature_2m_min",
                "precipitation_probability_max",
            ]:
                return 400, {"error": True, "reason": "unexpected daily variables"}
            town = min(TOWNS, key=lambda t: (TOWNS[t][0] - lat) ** 2 + (TOWNS[t][1] - lon) ** 2)
            _lat, _lon, tz, code, tmax, tmin, rain = TOWNS[town]
            return 200, {
                "latitude": lat,
                "longitude": lon,
                "timezone": q.get("timezone", tz),
                "daily_units": {"temperature_2m_max": "°C"},
                "daily": {
                    "time": ["2026-11-22"],
                    "weather_code": [code],
                    "temperature_2m_max": [tmax],
                    "temperature_2m_min": [tmin],
                    "precipitation_probability_max": [rain],
                },
            }
        return 404, {"error": True, "reason": "not found"}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
