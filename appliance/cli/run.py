"""``appliance run``: the daemon in the foreground, with its logging and a how-to banner."""

from __future__ import annotations

import argparse
import sys

from appliance import config, logs
from appliance.errors import ConfigError


def setup_logging(cfg: config.Config) -> None:
    """The daemon's log: stderr, and ``log_file`` when set (docs/configuration.md)."""
    path = cfg.log_path
    try:
        logs.configure(
            cfg.log_level, log_file=path, max_bytes=cfg.log_max_bytes, backups=cfg.log_backups
        )
    except OSError as e:
        where = (
            f"set log_file in {cfg.source} or APPLIANCE_LOG_FILE"
            if cfg.source
            else "set APPLIANCE_LOG_FILE"
        )
        raise ConfigError(
            f"log_file {path} cannot be opened for writing ({e.strerror or e}); {where} to a"
            " file the appliance's user can write, or to nothing for stderr only"
        ) from None


def banner(cfg: config.Config, sid: str, token: str | None) -> str:
    """How to try it: the credentials, a REST call, and the simulator's commands when in use.

    ``token`` is None when the output is not a terminal (a journal, a log file): an AuthToken
    is never written into a log; ``appliance account`` prints it.
    """
    first = cfg.modems[0]
    numbers = ", ".join(
        f"{m.number} ({m.name}, {'simulated ' + m.profile if m.simulated else m.port})"
        for m in cfg.modems
    )
    password = token or "$TWILIO_AUTH_TOKEN"
    lines = [
        "",
        f"The appliance is starting on {cfg.base_url}  (Ctrl-C stops it)",
        f"  AccountSid {sid}",
        f"  AuthToken  {token}"
        if token
        else '  AuthToken  (not written to a log: `appliance account` prints it, `eval "$(appliance'
        ' account --shell)"` exports it)',
        f"  Numbers    {numbers}",
        "",
        "Try it:",
        "  send an SMS through the REST API, as Twilio code would:",
        f"    curl -u {sid}:{password} --data-urlencode To=+15558675310"
        f" --data-urlencode From={first.number} \\",
        f"         --data-urlencode Body=Hello"
        f" {cfg.base_url}/2010-04-01/Accounts/{sid}/Messages.json",
        "  the modems, queues and last errors:       .venv/bin/appliance status",
    ]
    simulated = [m for m in cfg.modems if m.simulated]
    # --modem only when the first modem is not the simulated one (the commands' default)
    which = f" --modem {simulated[0].name}" if simulated and simulated[0] is not first else ""
    if simulated:
        lines += [
            "  the simulated network takes a few seconds to deliver"
            f" (sim_latency {cfg.sim_latency:g} s, delivery reports after"
            f" {cfg.sim_report_delay:g} s more):",
            "  see what the simulated network received:   .venv/bin/appliance sim outbox",
            "  text the appliance from a simulated phone:  .venv/bin/appliance sim sms"
            f' --from +15558675310 --body "Hi there"{which}',
        ]
    upper = first.name.upper()
    lines += [
        f"  point the number at your web app:           APPLIANCE_MODEM_{upper}_SMS_URL="
        "http://127.0.0.1:5000/sms make run",
        "    (or, while it runs, without a restart: the panel's Numbers page, or the REST API's"
        " IncomingPhoneNumbers; README.md)",
        f"  calls: set APPLIANCE_MODEM_{upper}_VOICE_URL the same way"
        f" ({cfg.base_url}/welcome/voice",
        "         is a built-in greeting that reads back the keys)"
        + (", then ring the number:" if simulated else ""),
    ]
    if simulated:
        lines.append(
            "                                              .venv/bin/appliance sim call in"
            f" --from +15558675310 --press 1234#{which}"
        )
    lines += [
        f"  the panel: open {cfg.base_url}/ in a browser"
        " (the first-run page asks for the AuthToken)",
    ]
    if cfg.https_port:
        host = cfg.base_url.split("://", 1)[1].rsplit(":", 1)[0]
        lines.append(
            f"  the same over HTTPS (browser phones need it): https://{host}:{cfg.https_port}/"
            f"  (trust the appliance's CA once: {cfg.base_url}/ca.crt, docs/deployment.md)"
        )
    lines.append("")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    setup_logging(cfg)
    from appliance.daemon import Daemon

    daemon = Daemon(cfg)  # checks the HTTP port, the profiles and data_dir first
    token = daemon.account.auth_token if sys.stdout.isatty() else None
    print(banner(cfg, daemon.account.sid, token), flush=True)
    daemon.run_forever()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser(
        "run",
        help="run the appliance",
        description="Run the appliance in the foreground: the modems (or simulated ones), the"
        " webhooks, the REST API and the panel, until Ctrl-C or SIGTERM. It checks first that"
        " the HTTP port is free and every modem's profile is known, and writes data_dir/run.json"
        " so the other commands find it.",
    ).set_defaults(fn=cmd_run)
