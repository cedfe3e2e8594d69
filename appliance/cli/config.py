"""``appliance config``: print every setting with its default and help, as a TOML file."""

from __future__ import annotations

import argparse

from appliance import config


def cmd_config(args: argparse.Namespace) -> int:
    print(config.describe(), end="")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("config", help="print every setting with its default").set_defaults(
        fn=cmd_config
    )
