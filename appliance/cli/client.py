"""The daemon client of the commands: the account's credentials and calls to the REST API."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from appliance.config import Config
from appliance.errors import ApplianceError


def credentials(cfg: Config) -> tuple[str, str]:
    """The AccountSid and AuthToken, read from the store."""
    from appliance.store.account import Account
    from appliance.store.database import Store

    store = Store(cfg.db_path)
    try:
        account = Account(store)
        return account.sid, account.auth_token
    finally:
        store.close()


def api(cfg: Config, method: str, path: str, data: dict[str, str] | None = None) -> Any:
    """Call the running daemon's REST API (``{AccountSid}`` in ``path`` is filled in)."""
    sid, token = credentials(cfg)
    url = cfg.base_url + path.replace("{AccountSid}", sid)
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as rv:  # noqa: S310 - our own base URL
            return json.loads(rv.read() or b"{}")
    except urllib.error.HTTPError as e:
        payload = json.loads(e.read() or b"{}")
        raise ApplianceError(
            f"{payload.get('message', e.reason)} (error {payload.get('code')})"
        ) from None
