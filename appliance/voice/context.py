"""What the daemon gives every call flow: the store, the webhook client, the outbox and settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.sms.outbox import Outbox
    from appliance.store.database import Store
    from appliance.webhooks.client import WebhookClient


@dataclasses.dataclass
class Context:
    """Everything a flow needs from the daemon."""

    store: Store
    client: WebhookClient
    outbox: Outbox
    account_sid: Callable[[], str]
    base_url: Callable[[], str]
    recordings_dir: Path
    max_documents: int = 50
    on_job: Callable[[], None] | None = None  # a webhook job was queued
    auth_token: Callable[[], str] | None = None  # signs Media Streams' WebSocket upgrades
    stream_ca_file: Path | None = None  # CAs trusted for wss:// Media Streams, besides the system's
