"""What the REST API and the panel may use of a running appliance: a Protocol, not the daemon.

The composition root (:class:`appliance.daemon.Daemon`) satisfies it.  Typing against this
Protocol, instead of importing the daemon, keeps ``api`` and ``web`` below the composition root
in the import graph (import-linter's contracts in pyproject.toml), and says in one place which
parts of the appliance the HTTP layers touch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from appliance.campaigns.scheduler import PanelServices
    from appliance.clients.calls import ClientCalls
    from appliance.config import Config
    from appliance.modem.modem import Modem
    from appliance.oncall.service import OnCall
    from appliance.sms.inbox import Inbox
    from appliance.sms.outbox import Outbox
    from appliance.store.account import Account
    from appliance.store.database import Store
    from appliance.store.fleet import Fleet
    from appliance.system.metrics import Metrics
    from appliance.system.nodeproxy import NodeProxy
    from appliance.voice.engine import VoiceEngine
    from appliance.webhooks.client import WebhookClient


class Appliance(Protocol):
    """The running parts the HTTP layers read and write through."""

    @property
    def config(self) -> Config: ...
    @property
    def store(self) -> Store: ...
    @property
    def fleet(self) -> Fleet: ...  # this node's id and name (the fleet page, /health)
    @property
    def proxy(self) -> NodeProxy: ...  # recording media and modem routes of other nodes
    @property
    def account(self) -> Account: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def inbox(self) -> Inbox: ...
    @property
    def modems(self) -> Mapping[str, Modem]: ...  # each with its AT tap (Modem.tap): AT monitor
    @property
    def voice(self) -> VoiceEngine: ...
    @property
    def panel(self) -> PanelServices: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def oncall(self) -> OnCall: ...
    @property
    def client(self) -> WebhookClient: ...  # the webhook client (the panel's replay and tests)
    @property
    def client_calls(self) -> ClientCalls: ...  # browser calls (user-defined messages)
