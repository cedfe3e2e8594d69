"""Serial ports of this host: the ones worth probing, and the USB device behind each (sysfs).

:func:`usb_info` reads ``idVendor``/``idProduct``/``bInterfaceNumber`` from sysfs (its
root is a parameter, so tests use a fake tree).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path

SCAN_GLOBS = ("/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*", "/dev/serial0")


@dataclasses.dataclass(frozen=True)
class UsbInfo:
    vendor: str  # four lowercase hex digits, as in idVendor
    product: str
    interface: int | None  # bInterfaceNumber of the tty's interface
    manufacturer: str = ""
    product_name: str = ""
    serial: str = ""

    @property
    def ids(self) -> str:
        return f"{self.vendor}:{self.product}"


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def usb_info(port: str, sysfs: Path = Path("/sys")) -> UsbInfo | None:
    """USB ids of the device behind a tty (``/dev/ttyUSB2``, a by-id link), or None if not USB."""
    name = Path(os.path.realpath(port)).name
    device = sysfs / "class" / "tty" / name / "device"
    if not device.exists():
        return None
    node = Path(os.path.realpath(device))
    interface: int | None = None
    root = Path(os.path.realpath(sysfs))
    while node != root and node != node.parent:
        if interface is None and (node / "bInterfaceNumber").exists():
            try:
                interface = int(_read(node / "bInterfaceNumber"), 16)
            except ValueError:
                interface = None
        if (node / "idVendor").exists() and (node / "idProduct").exists():
            return UsbInfo(
                vendor=_read(node / "idVendor").lower(),
                product=_read(node / "idProduct").lower(),
                interface=interface,
                manufacturer=_read(node / "manufacturer"),
                product_name=_read(node / "product"),
                serial=_read(node / "serial"),
            )
        node = node.parent
    return None


def candidates(globs: Iterable[str] = SCAN_GLOBS) -> list[str]:
    """Serial ports worth probing, stable by-id names first, each device once."""
    import glob

    seen, out = set(), []
    for pattern in globs:
        for path in sorted(glob.glob(pattern)):
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                out.append(path)
    return out
