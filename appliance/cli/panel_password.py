"""``appliance panel-password``: set the web panel's password (asked twice, or from stdin)."""

from __future__ import annotations

import argparse
import sys

from appliance import config


def cmd_panel_password(args: argparse.Namespace) -> int:
    """Set the panel password: typed twice at a terminal, or one line on standard input."""
    import getpass

    from appliance.store.engines import open_store
    from web.auth import set_password

    if sys.stdin.isatty():
        password = getpass.getpass("New panel password: ")
        if password != getpass.getpass("Again: "):
            print("the two passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    cfg = config.load(args.config)
    store = open_store(cfg)
    try:
        set_password(store, password)
    except ValueError as e:
        print(f"not set: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print("panel password set")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser(
        "panel-password", help="set the web panel's password (stdin or asked twice)"
    ).set_defaults(fn=cmd_panel_password)
