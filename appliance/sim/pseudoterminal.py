"""A raw pseudo-terminal behind a stable symlink: the port of the AT and audio ttys."""

from __future__ import annotations

import fcntl
import os
import select
import time
import tty
from pathlib import Path


def open_pty(link: Path) -> tuple[int, int]:
    """A raw pty whose master does not block, with ``link`` -> its slave (replaced atomically)."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    fl = fcntl.fcntl(master, fcntl.F_GETFL)
    fcntl.fcntl(master, fcntl.F_SETFL, fl | os.O_NONBLOCK)
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(link.name + ".new")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    os.symlink(os.ttyname(slave), tmp)
    os.replace(tmp, link)
    return master, slave


def write_master(fd: int, data: bytes, timeout: float) -> None:
    """Write ``data`` to a pty's non-blocking master, waiting up to ``timeout`` seconds for
    room.  What nobody drains by then (no driver has the slave open) is dropped, as a real
    modem's output into an unplugged cable is; so is what a closed pty refuses."""
    view = memoryview(data)
    deadline = time.monotonic() + timeout
    while view:
        try:
            n = os.write(fd, view)
            view = view[n:]
        except BlockingIOError:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            select.select([], [fd], [], min(remaining, 0.5))
        except OSError:
            return
