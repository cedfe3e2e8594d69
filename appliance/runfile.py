"""The run file, ``data_dir/run.json``: how the commands find the running daemon.

The daemon writes it once its HTTP server is bound (pid, host, bound port, URL, start time),
so a daemon started with another ``APPLIANCE_HTTP_PORT`` is still found, and removes it at
stop if it is still its own.  The commands read it (:func:`live`), and trust it only while its
process lives: a killed daemon leaves it behind.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

LOGGER = logging.getLogger(__name__)


def write(path: Path, host: str, port: int, url: str) -> dict[str, Any] | None:
    """Write this process's run file (replaced whole); what was written, or None when it could
    not be (a WARNING line: the daemon runs on, but the commands will not find it)."""
    run = {"pid": os.getpid(), "host": host, "port": port, "url": url, "started": time.time()}
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps(run) + "\n")
        tmp.replace(path)
    except OSError as e:
        LOGGER.warning("could not write %s (the commands will not find this daemon): %s", path, e)
        return None
    return run


def remove(path: Path, mine: dict[str, Any]) -> None:
    """Remove the run file if it still holds ``mine`` (another daemon's is left alone)."""
    try:
        if json.loads(path.read_text()) == mine:
            path.unlink()
    except (OSError, ValueError):
        pass


def live(path: Path) -> dict[str, Any] | None:
    """The run file of a live daemon, or None (none, or its process is gone)."""
    try:
        run = json.loads(path.read_text())
        pid, port = int(run["pid"]), int(run["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None  # killed without a chance to remove it
    except PermissionError:
        pass  # alive, another user's (the service account's)
    return {**run, "pid": pid, "port": port}
