"""<Play>: fetch a WAV or MP3 from a URL and decode it to 8 kHz S16LE PCM with sox."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from collections.abc import Iterator

import urllib3
import urllib3.exceptions

from appliance.webhooks.transport import Pools, failure_text

LOGGER = logging.getLogger(__name__)

SOX = "sox"
MAX_BYTES = 64 * 1024 * 1024  # a <Play> file larger than this is refused
DECODE_TIMEOUT = 60.0  # seconds sox may take to decode one file
USER_AGENT = "TwilioProxy/1.1"  # what Twilio's media fetcher sends

# Content-Type (without parameters) -> sox input type
CONTENT_TYPES = {
    "audio/wav": "wav",
    "audio/wave": "wav",
    "audio/x-wav": "wav",
    "audio/vnd.wave": "wav",
    "audio/mpeg": "mp3",
    "audio/mpeg3": "mp3",
    "audio/mp3": "mp3",
    "audio/x-mpeg-3": "mp3",
    "audio/aiff": "aiff",
    "audio/x-aiff": "aiff",
    "audio/x-aifc": "aifc",
    "audio/basic": "ul",
    "audio/ulaw": "ul",
    "audio/x-gsm": "gsm",
    "audio/gsm": "gsm",
}


class AudioFetchError(Exception):
    """A <Play> URL could not be fetched or is not audio; the message says which and why."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{message} ({url})" if url else message)
        self.url = url
        self.reason = message


def sniff(body: bytes, content_type: str) -> str | None:
    """The sox input type of ``body``: by magic bytes first, then by Content-Type."""
    if body[:4] == b"RIFF" and body[8:12] == b"WAVE":
        return "wav"
    if body[:3] == b"ID3" or (len(body) > 1 and body[0] == 0xFF and body[1] & 0xE0 == 0xE0):
        return "mp3"
    if body[:4] == b"FORM" and body[8:12] in (b"AIFF", b"AIFC"):
        return "aiff" if body[8:12] == b"AIFF" else "aifc"
    if body[:4] == b".snd":
        return "au"
    mime = content_type.split(";")[0].strip().lower()
    kind = CONTENT_TYPES.get(mime)
    if kind in ("ul", "gsm"):  # headerless formats: only the Content-Type says so
        return kind
    return None


def decode(body: bytes, kind: str, url: str = "") -> bytes:
    """Decode ``body`` of sox type ``kind`` to 8 kHz S16LE mono PCM."""
    if shutil.which(SOX) is None:
        raise AudioFetchError(url, "sox is not installed (apt-get install sox libsox-fmt-mp3)")
    cmd = [SOX, "-V1", "-D", "-t", kind]  # -D: no dither, the same input decodes the same
    if kind in ("ul", "gsm"):
        cmd += ["-r", "8000", "-c", "1"]
    cmd += ["-", "-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", "-L", "-"]
    try:
        proc = subprocess.run(cmd, input=body, capture_output=True, timeout=DECODE_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise AudioFetchError(url, f"decoding took longer than {DECODE_TIMEOUT:.0f} s") from exc
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = err[-1] if err else f"sox exit status {proc.returncode}"
        raise AudioFetchError(url, f"not playable {kind} audio: {detail}")
    return proc.stdout[: len(proc.stdout) & ~1]


def decode_audio(body: bytes, content_type: str = "", url: str = "") -> bytes:
    """Audio bytes already in hand (a webhook that answered with audio) -> 8 kHz PCM.

    Raises AudioFetchError if ``body`` is empty or not WAV/MP3 (or another format sox
    reads that ``content_type`` names).
    """
    if not body:
        raise AudioFetchError(url, "empty response body, not audio")
    kind = sniff(body, content_type)
    if kind is None:
        shown = content_type.split(";")[0].strip() or "no Content-Type"
        raise AudioFetchError(url, f"not audio ({shown}); expected WAV or MP3")
    return decode(body, kind, url)


def fetch_audio(url: str, *, timeout: float = 10.0, pools: Pools | None = None) -> bytes:
    """GET ``url`` (redirects followed, at most 30) and return its audio as 8 kHz S16LE mono PCM.

    Raises AudioFetchError for a bad URL, a network error, a non-2xx status, a body
    over ``MAX_BYTES``, a download slower than ``timeout`` overall, or a body that is
    not WAV/MP3 (or another format sox reads and the Content-Type names).  ``pools``
    keeps connections between fetches; without it, the fetch has its own.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise AudioFetchError(url, "only http and https URLs can be played")
    http = pools or Pools()
    deadline = time.monotonic() + timeout
    try:
        resp = http.urlopen(
            "GET",
            url,
            headers={"User-Agent": USER_AGENT},
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            redirects=30,
        )
    except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
        if pools is None:
            http.close()
        raise AudioFetchError(url, f"fetch failed: {failure_text(exc)}") from exc
    try:
        if not 200 <= resp.status < 300:
            raise AudioFetchError(url, f"fetch failed: HTTP {resp.status}")
        content_type = resp.headers.get("Content-Type", "")
        length = resp.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > MAX_BYTES:
            raise AudioFetchError(url, f"audio too large: {length} bytes")
        body = bytearray()
        # The read timeout is per socket read; read1 returns after each read, so a
        # server that drips bytes still meets the overall deadline.
        try:
            while True:
                if time.monotonic() > deadline:
                    raise AudioFetchError(url, f"fetch timed out after {timeout:g} s")
                chunk = resp.read1(65536, decode_content=True)
                if not chunk:
                    break
                body += chunk
                if len(body) > MAX_BYTES:
                    raise AudioFetchError(url, f"audio too large: over {MAX_BYTES} bytes")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise AudioFetchError(url, f"fetch failed: {exc.__class__.__name__}: {exc}") from exc
    finally:
        resp.close()
        resp.release_conn()
        if pools is None:
            http.close()
    return decode_audio(bytes(body), content_type, url)


def repeat(pcm: bytes, loop: int = 1) -> Iterator[bytes]:
    """``pcm`` played ``loop`` times as a stream for Media.play; 0 repeats until cancelled."""
    if not pcm:
        return
    count = 0
    while loop == 0 or count < loop:
        yield pcm
        count += 1
