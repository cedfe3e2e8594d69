"""``appliance apikey``: create, list and revoke API keys (``SK…:secret`` for Basic auth)."""

from __future__ import annotations

import argparse
import sys

from appliance import config
from appliance.cli.failures import UsageError


def cmd_apikey(args: argparse.Namespace) -> int:
    """API keys for Basic auth as ``SK…:secret``; the secret is printed once, at creation."""
    cfg = config.load(args.config)
    from appliance.store import apikeys
    from appliance.store.engines import open_store

    store = open_store(cfg)
    try:
        if args.apikey_command == "create":
            key, secret = apikeys.create(store, args.name or "")
            print(f"Sid     {key.sid}\nSecret  {secret}")
            print(
                "(the secret is shown only now: store it; use it as the password with the Sid as"
                " the username)",
                file=sys.stderr,
            )
        elif args.apikey_command == "list":
            for key in apikeys.list_keys(store):
                state = "revoked" if key.revoked_at is not None else "active"
                print(f"{key.sid}  {state:7}  {key.friendly_name}")
        else:
            if not apikeys.revoke(store, args.sid):
                raise UsageError(
                    f"no active API key {args.sid} (`appliance apikey list` shows the keys)"
                )
            print(f"revoked {args.sid}")
    finally:
        store.close()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "apikey",
        help="create, list or revoke API keys (SK…:secret)",
        description="API keys for the REST API's Basic auth (the key's Sid as the user name, its"
        " secret as the password): they use the Twilio resources, not the admin surface.",
    )
    keys = p.add_subparsers(dest="apikey_command", required=True)
    k = keys.add_parser("create", help="create a key; prints its Sid and secret once")
    k.add_argument("--name", help="a friendly name")
    keys.add_parser("list", help="every key, active or revoked")
    k = keys.add_parser("revoke", help="revoke a key at once")
    k.add_argument("sid", help="the key's SK… Sid")
    p.set_defaults(fn=cmd_apikey)
