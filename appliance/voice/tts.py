"""Text to speech for <Say>: espeak-ng streamed through sox as 8 kHz S16LE PCM."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator

LOGGER = logging.getLogger(__name__)

ESPEAK = "espeak-ng"
SOX = "sox"
CHUNK = 1600  # bytes per read from the pipeline (100 ms); smaller chunks reach the call sooner
DEFAULT_LANGUAGE = "en-us"
FEMALE_VARIANT = "+f3"
MAX_TEXT = 20_000  # characters; <Say> text beyond this is cut (Twilio allows 4,096)

# Twilio voices that are female; every other voice (and "man") uses espeak-ng's male default.
FEMALE_VOICES = frozenset(
    name.lower()
    for name in (
        "woman alice Joanna Salli Kimberly Kendra Ivy Amy Emma Nicole Olivia Aria Ayanda "
        "Raveena Aditi Kajal Gwyneth Celine Lea Chantal Gabrielle Vicki Marlene Conchita "
        "Lucia Penelope Mia Lupe Camila Vitoria Ines Carla Bianca Mizuki Seoyeon Zhiyu "
        "Astrid Liv Naja Lotte Ewa Maja Carmen Tatyana Filiz Dora Hannah Ida Suvi Elin"
    ).split()
)


class TtsError(RuntimeError):
    """Speech could not be produced (espeak-ng or sox missing or failing)."""


@functools.lru_cache(maxsize=1)
def installed_languages() -> frozenset[str]:
    """Language codes of the installed espeak-ng voices (lower case)."""
    try:
        out = subprocess.run(
            [ESPEAK, "--voices"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        LOGGER.warning("cannot list espeak-ng voices: %s", exc)
        return frozenset({DEFAULT_LANGUAGE})
    langs = {line.split()[1].lower() for line in out.splitlines()[1:] if len(line.split()) > 1}
    return frozenset(langs)


def espeak_voice(voice: str = "man", language: str = "en-US") -> str:
    """Map a Twilio voice and language to an espeak-ng voice name, e.g. ``en-gb+f3``.

    The language falls back to its base ("pt-PT" -> "pt") and then to US English.
    ``Polly.<Name>`` and ``Google.<lang>-<Name>`` voices map by the name's gender.
    """
    langs = installed_languages()
    lang = (language or DEFAULT_LANGUAGE).strip().lower().replace("_", "-")
    if lang not in langs:
        aliases = {"en": "en-us", "fr": "fr-fr", "zh": "cmn", "zh-cn": "cmn", "zh-tw": "cmn"}
        base = lang.split("-")[0]
        lang = aliases.get(lang) or (base if base in langs else aliases.get(base, ""))
        if lang not in langs:
            LOGGER.info("no espeak-ng voice for language %r; using %s", language, DEFAULT_LANGUAGE)
            lang = DEFAULT_LANGUAGE
    name = (voice or "man").strip().split(".")[-1].split("-")[-1].lower()
    if name.endswith("neural"):
        name = name[: -len("neural")]
    return lang + (FEMALE_VARIANT if name in FEMALE_VOICES else "")


def clean_text(text: str) -> str:
    """Text as espeak-ng should read it: control characters become spaces, length capped."""
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text)
    return cleaned[:MAX_TEXT].strip()


def speak(text: str, voice: str = "man", language: str = "en-US") -> Iterator[bytes]:
    """Stream ``text`` as 8 kHz S16LE PCM chunks; the first one arrives within tens of ms.

    Closing the iterator early (barge-in) kills the pipeline.  Raises TtsError if the
    tools are missing or fail before producing audio.
    """
    body = clean_text(text)
    if not body:
        return
    for tool in (ESPEAK, SOX):
        if shutil.which(tool) is None:
            raise TtsError(f"{tool} is not installed (apt-get install espeak-ng sox)")
    espeak_cmd = [ESPEAK, "--stdout", "--stdin", "-v", espeak_voice(voice, language)]
    sox_cmd = [SOX, "-V1", "-D", "--buffer", "1024", "-t", "wav", "-", "-t", "raw", "-r", "8000"]
    sox_cmd += ["-e", "signed", "-b", "16", "-c", "1", "-L", "-"]
    espeak = subprocess.Popen(
        espeak_cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert espeak.stdin is not None and espeak.stdout is not None
    sox = subprocess.Popen(
        sox_cmd, stdin=espeak.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    espeak.stdout.close()  # sox owns the read end now
    assert sox.stdout is not None and sox.stderr is not None
    produced = 0
    odd = b""
    try:
        try:
            espeak.stdin.write(body.encode("utf-8") + b"\n")
            espeak.stdin.close()
        except BrokenPipeError as exc:
            raise TtsError("espeak-ng exited before reading the text") from exc
        fd = sox.stdout.fileno()
        while True:
            data = os.read(fd, CHUNK)
            if not data:
                break
            data = odd + data
            cut = len(data) & ~1
            odd = data[cut:]
            if cut:
                produced += cut
                yield data[:cut]
        sox.wait(timeout=10)
        espeak.wait(timeout=10)
        if produced == 0 and (sox.returncode or espeak.returncode):
            err = sox.stderr.read().decode("utf-8", "replace").strip()
            raise TtsError(
                f"speech synthesis failed (espeak-ng {espeak.returncode}, sox {sox.returncode}): {err}"
            )
    finally:
        for proc in (espeak, sox):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        sox.stdout.close()
        sox.stderr.close()


def say(text: str, voice: str = "man", language: str = "en-US") -> bytes:
    """The whole utterance as one PCM buffer (for loops and tests)."""
    return b"".join(speak(text, voice, language))


def speak_looped(
    text: str, voice: str = "man", language: str = "en-US", loop: int = 1
) -> Iterator[bytes]:
    """<Say loop="n">: the first pass streams as it is synthesised, the rest repeat it;
    ``loop=0`` repeats until the consumer stops (Media.flush / Playback.cancel)."""
    first = bytearray()
    for chunk in speak(text, voice, language):
        first += chunk
        yield chunk
    pcm = bytes(first)
    if not pcm:
        return
    count = 1
    while loop <= 0 or count < loop:
        yield pcm
        count += 1
