"""The one asyncio thread for all WebRTC media, and the probe of the ``webrtc`` extra.

Browser phone calls use aiortc (with av, FFmpeg's bindings), installed by the optional
``webrtc`` extra: about 100 MB, with no wheels for 32-bit Raspberry Pi OS.  :func:`missing`
says whether it is installed *without importing it*, so an idle appliance never maps it
(idle memory is a tracked figure; tests/clients/test_medialoop.py checks ``sys.modules``).
:class:`MediaLoop` imports it when the first call starts, and from then on runs every
PeerConnection on one event loop thread (``webrtc``): modules cannot be unloaded, and one loop
costs less than one per call.

ICE host candidates: aioice gathers them from :func:`aioice.ice.get_host_addresses` (every
address but 127.0.0.1).  :meth:`MediaLoop.start` replaces that function with the
``webrtc_addresses`` setting when it is not empty, so a box with a VPN or a container bridge
offers only its LAN address, and tests can offer 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import importlib.util
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

MODULES = ("aiortc", "av")  # what the webrtc extra brings that calls import
EXTRA_NEEDED = (
    "Calls from a browser need the appliance's webrtc extra (aiortc): pip install"
    " 'sim-appliance[webrtc]' (`make run` and the Ansible role install it; it needs a 64-bit"
    " OS, e.g. 64-bit Raspberry Pi OS)"
)
STOP_TIMEOUT = 5.0


def missing() -> str | None:
    """Why browser calls cannot have media here (the extra is not installed), or None.

    Only looks for the packages (``find_spec`` on top-level names imports nothing)."""
    for name in MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                return EXTRA_NEEDED
        except (ImportError, ValueError):
            return EXTRA_NEEDED
    return None


def host_addresses(addresses: Sequence[str]) -> Callable[[bool, bool], list[str]]:
    """A replacement for aioice's ``get_host_addresses``: the configured addresses, IPv4 and
    IPv6 as asked (aioice calls it with ``use_ipv4`` and ``use_ipv6``)."""
    chosen = tuple(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    return get_host_addresses


class MediaLoop:
    """The ``webrtc`` event loop thread: started at the first call, stopped with the daemon."""

    def __init__(self, addresses: Sequence[str] = ()) -> None:
        self.addresses = tuple(addresses)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._original: Callable[[bool, bool], list[str]] | None = None

    @property
    def running(self) -> bool:
        return self._loop is not None

    def start(self) -> asyncio.AbstractEventLoop:
        """Imports aiortc (a :class:`RuntimeError` with :data:`EXTRA_NEEDED` without the
        extra), points ICE at ``addresses`` and starts the loop thread; idempotent."""
        with self._lock:
            if self._loop is not None:
                return self._loop
            reason = missing()
            if reason is not None:
                raise RuntimeError(reason)
            importlib.import_module("aiortc")
            if self.addresses:
                ice = importlib.import_module("aioice.ice")
                self._original = getattr(ice, "get_host_addresses")  # noqa: B009
                setattr(ice, "get_host_addresses", host_addresses(self.addresses))  # noqa: B010
            loop = asyncio.new_event_loop()
            # aiortc encodes on the loop's default executor: two workers are enough for a Pi
            loop.set_default_executor(
                concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="webrtc-codec")
            )
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            self._thread = threading.Thread(target=run, name="webrtc", daemon=True)
            self._thread.start()
            ready.wait()
            self._loop = loop
            return loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Runs ``coro`` on the loop (starting it); its result from any thread."""
        loop = self.start()
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def call_soon(self, fn: Callable[..., object], *args: object) -> None:
        """Calls ``fn(*args)`` on the loop thread (from any thread)."""
        self.start().call_soon_threadsafe(fn, *args)

    def stop(self) -> None:
        """Cancels what is left on the loop and joins its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return

        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await loop.shutdown_default_executor()

        try:
            asyncio.run_coroutine_threadsafe(drain(), loop).result(STOP_TIMEOUT)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STOP_TIMEOUT)
        if not thread.is_alive():
            loop.close()
        if self._original is not None:
            ice = importlib.import_module("aioice.ice")
            setattr(ice, "get_host_addresses", self._original)  # noqa: B010
            self._original = None
