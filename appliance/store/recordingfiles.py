"""Where a recording's WAV file is, from the path the ``recordings`` table holds.

One rule for the REST media route and the panel, which may not import each other.
"""

from __future__ import annotations

from pathlib import Path


def resolve_stored(data_dir: Path, stored: str) -> Path:
    """Where the file of a stored recording path is; the first candidate if none exists.

    Absolute paths are taken as they are; relative ones are relative to ``data_dir``
    (``recordings/RE….wav``).  Rows written so far hold the path the voice engine built,
    ``data_dir / "recordings" / name``: with the default relative ``data_dir = "var"``
    that is ``var/recordings/RE….wav``, relative to the working directory rather than to
    ``data_dir``; older rows a bare name in ``data_dir/recordings``.  If ``data_dir``
    moved since, the file is looked for by name in ``data_dir/recordings``."""
    path = Path(stored)
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [data_dir / path, data_dir / "recordings" / path]
        prefix = data_dir.parts
        if not data_dir.is_absolute() and prefix and path.parts[: len(prefix)] == prefix:
            candidates.insert(0, path)  # data_dir / the rest, i.e. the path as written
    candidates.append(data_dir / "recordings" / path.name)
    return next((c for c in candidates if c.is_file()), candidates[0])


# A recording whose row an outage kept in memory has this file next to its WAV
# (``RE….row.json``: the row and its status callback) until the row is written: a process
# that dies first leaves it for the next start (appliance.voice.recordingrows.recover), and
# the orphan sweep (appliance.store.retention.orphans) never deletes a file that has one.
PENDING_SUFFIX = ".row.json"
