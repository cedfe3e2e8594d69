"""The twimlets that only speak or play: Simple Message, Echo and Hold Music.  Pure.

Hold Music differs from the classic (docs/twimlets.md): the classic listed an S3 bucket
(``Bucket``, required); the appliance plays the files of a local folder (the
``holdmusic_dir`` setting), which the HTTP layer lists and passes in as URLs.  Like the
Menu, it loops with a ``<Redirect>`` to its own URL where the classic wrote an empty one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from appliance.twimlets.document import Answer, Document
from appliance.twimlets.php import Params

__all__ = ["HOLD_MUSIC_EXTENSIONS", "echo", "holdmusic", "message"]

HOLD_MUSIC_EXTENSIONS = (".mp3", ".wav", ".ul")  # the files Hold Music plays (case matters)
NO_MUSIC = "Failed to fetch the hold music."


def message(p: Params) -> Answer:
    """Simple Message: ``Message[]`` (or one ``Message``), each played or spoken in order."""
    doc = Document()
    for text in Params.strings(p.get("Message")):
        doc.prompt(text)
    return doc.answer()


def echo(p: Params) -> bytes:
    """Echo: the ``Twiml`` parameter as it is, unchecked (``text/xml``)."""
    return Params.string(p.get("Twiml")).encode("utf-8")


def holdmusic(
    p: Params, url: str, files: Sequence[str], rng: random.Random | None = None
) -> Answer:
    """Hold Music: each of ``files`` (URLs) in a shuffled order, ``Message`` between them,
    then a ``<Redirect>`` to ``url`` (this twimlet) to go round again.  ``Bucket`` is ignored."""
    doc = Document()
    if not files:
        doc.add("Say", NO_MUSIC)
        return doc.answer()
    order = list(files)
    (rng or random.Random()).shuffle(order)
    note = Params.string(p.get("Message"))
    for file in order:
        doc.add("Play", file)
        doc.prompt(note, trimmed=False)
    doc.add("Redirect", url)
    return doc.answer()
