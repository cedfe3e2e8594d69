"""One-click backup: the database (a consistent snapshot) and the recordings, as one .tar.gz.

The snapshot goes through SQLite's online backup API (:meth:`appliance.store.database.Store.snapshot`)
while the appliance keeps running.  The archive is built in a temporary directory inside
``data_dir`` (the same disk as the data; a Pi's /tmp may be RAM) and streamed from there a
chunk at a time; the directory is removed when the download ends.  Restoring is unpacking the
archive into an empty ``data_dir`` (docs/panel.md).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from flask import Blueprint, Response, abort, render_template

from web.auth import is_admin
from web.helpers import daemon

bp = Blueprint("backup", __name__, url_prefix="/backup")
CHUNK = 256 * 1024  # bytes per write of the download


def build(data_dir: Path, db_name: str, snapshot: Callable[[Path], None], work: Path) -> Path:
    """Write ``work/backup.tar.gz``: ``db_name`` (snapshotted by ``snapshot(path)``) and
    ``recordings/`` from ``data_dir``."""
    import tarfile  # here, not at start: an idle appliance does not load it

    db = work / db_name
    snapshot(db)
    archive = work / "backup.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(db, arcname=db_name)
        recordings = data_dir / "recordings"
        if recordings.is_dir():
            tar.add(recordings, arcname="recordings")
    db.unlink()
    return archive


class Download:
    """The archive's bytes a chunk at a time; closing (done or not) removes the work directory."""

    def __init__(self, archive: Path, work: Path) -> None:
        self.archive, self.work = archive, work

    def __iter__(self) -> Iterator[bytes]:
        with self.archive.open("rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


@bp.get("/")
def index() -> str:
    return render_template("backup.html", postgres=daemon().store.dialect.name == "postgresql")


@bp.post("/download")
def download() -> Response:
    if not is_admin():
        abort(403)
    d = daemon()
    if d.store.dialect.name == "postgresql":
        abort(409)  # the page says: pg_dump (a snapshot here is SQLite's online backup)
    data_dir = d.config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".backup-", dir=data_dir))
    try:
        archive = build(data_dir, d.config.db_path.name, d.store.snapshot, work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    rv = Response(Download(archive, work), mimetype="application/gzip")
    rv.headers["Content-Disposition"] = f'attachment; filename="appliance-backup-{stamp}.tar.gz"'
    rv.headers["Content-Length"] = str(archive.stat().st_size)
    return rv
