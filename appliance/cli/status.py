"""``appliance status``: the running daemon's modems, queues, last errors and URLs.

It reads ``GET /appliance/status`` (the admin surface: the AccountSid and AuthToken, which the
command takes from the store), found through data_dir/run.json like every daemon command.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from appliance import config
from appliance.cli.client import api


def _value(value: Any, none: str = "-") -> str:
    return none if value in (None, "") else str(value)


def render(status: dict[str, Any]) -> str:
    """The status as a person reads it: a few aligned sections."""
    urls = status["urls"]
    lines = [
        f"Appliance  {urls['api']}  (pid {status['pid']})",
        f"  panel    {urls['panel']}",
        f"  health   {urls['health']}",
        "",
        "Modems",
    ]
    for m in status["modems"]:
        csq = m["signal"]
        # +CSQ 99 means "not known or not detectable" (3GPP TS 27.007 8.5), e.g. no network.
        signal = "-" if csq is None else "unknown" if csq == 99 else f"{csq}/31"
        lines.append(
            f"  {m['name']:<10} {m['number']:<16} {m['state']:<12} signal {signal:<6}"
            f" registration {_value(m['registration'])}"
            + (f" ({m['operator']})" if m["operator"] else "")
        )
        lines.append(f"  {'':<10} port {m['port']} ({m['profile']})")
        if m.get("balance") is not None:
            lines.append(f"  {'':<10} SIM balance {m['balance']:.2f} (read {m['balance_read']})")
        if m["last_error"]:
            lines.append(f"  {'':<10} last error: {m['last_error']}")
    q = status["queues"]
    lines += [
        "",
        "Queues",
        f"  SMS to send       {q['messages_queued']}  (scheduled {q['messages_scheduled']})",
        f"  webhooks pending  {q['webhooks_pending']}",
        f"  calls queued      {q['calls_queued']}",
        "",
        "Numbers (webhook URLs; change them without a restart: see README.md)",
    ]
    for n in status["numbers"]:
        lines.append(f"  {n['phone_number']} ({n['modem']})")
        lines.append(f"    SMS URL          {_value(n['sms_url'], '(none)')} {n['sms_method']}")
        if n["sms_fallback_url"]:
            lines.append(f"    SMS fallback     {n['sms_fallback_url']}")
        lines.append(f"    Voice URL        {_value(n['voice_url'], '(none)')} {n['voice_method']}")
        if n["status_callback"]:
            lines.append(f"    status callback  {n['status_callback']}")
    errors = status["last_errors"]
    lines += ["", "Last errors"]
    shown = 0
    for kind in ("messages", "calls"):
        for e in errors[kind]:
            shown += 1
            lines.append(
                f"  {e['date_updated']}  {e['sid']} ({e['modem']}, {e['status']})"
                f"  {e['error_code']} {_value(e['error_message'], '')}".rstrip()
            )
    for e in errors["webhooks"]:
        shown += 1
        lines.append(
            f"  {e['at']}  webhook {e['url']} -> {_value(e['status'])}"
            f"  {e['error_code']} {_value(e['error_message'], '')}".rstrip()
        )
    if not shown:
        lines.append("  none")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    status = api(cfg, "GET", "/appliance/status")
    if args.json:
        print(json.dumps(status, indent=2, ensure_ascii=False))
    else:
        print(render(status))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "status",
        help="modems, queues, last errors and URLs of the running appliance",
        description="Ask the running appliance (found through data_dir/run.json) for its"
        " modems (state, signal, registration, last error), queue depths, last errors and"
        " the URLs in use. Fails with exit status 1 when it is not running.",
    )
    p.add_argument("--json", action="store_true", help="the raw JSON of GET /appliance/status")
    p.set_defaults(fn=cmd_status)
