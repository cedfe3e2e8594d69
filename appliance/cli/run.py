"""``appliance run``: the daemon in the foreground, with its logging and a how-to banner."""

from __future__ import annotations

import argparse
import logging

from appliance import config


def setup_logging(level: str) -> None:
    if level.upper() == "TRACE":
        logging.addLevelName(5, "TRACE")
        numeric = 5
    else:
        numeric = getattr(logging, level.upper(), logging.INFO)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(numeric)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # APScheduler logs every run of every job at INFO: months of journal noise on a Pi.
    logging.getLogger("apscheduler").setLevel(max(numeric, logging.WARNING))


def cmd_run(args: argparse.Namespace) -> int:
    cfg = config.load(args.config)
    setup_logging(cfg.log_level)
    from appliance.daemon import Daemon

    daemon = Daemon(cfg)
    sid, token = daemon.account.sid, daemon.account.auth_token
    number = cfg.modems[0].number
    print(
        f"""
The appliance is starting on {cfg.base_url}  (Ctrl-C stops it)
  AccountSid {sid}
  AuthToken  {token}
  Numbers    {", ".join(f"{m.number} ({m.name}, {'simulated ' + m.profile if m.simulated else m.port})" for m in cfg.modems)}

Try it:
  send an SMS through the REST API, as Twilio code would:
    curl -u {sid}:{token} --data-urlencode To=+15558675310 --data-urlencode From={number} \\
         --data-urlencode Body=Hello {cfg.base_url}/2010-04-01/Accounts/{sid}/Messages.json
  see what the simulated network received:   .venv/bin/appliance sim outbox
  text the appliance from a simulated phone:  .venv/bin/appliance sim sms --from +15558675310 --body "Hi there"
  point the number at your web app:           APPLIANCE_MODEM_{cfg.modems[0].name.upper()}_SMS_URL=http://127.0.0.1:5000/sms make run
  calls: set APPLIANCE_MODEM_{cfg.modems[0].name.upper()}_VOICE_URL the same way ({cfg.base_url}/welcome/voice
         is a built-in greeting that reads back the keys), then ring the number:
                                              .venv/bin/appliance sim call in --from +15558675310 --press 1234#
  the panel: open {cfg.base_url}/ in a browser (the first-run page asks for the AuthToken above)
""",
        flush=True,
    )
    daemon.run_forever()
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("run", help="run the appliance").set_defaults(fn=cmd_run)
