"""CSV imports of subscribers: one job per upload, run on a thread, with per-row errors.

The first row names the columns (:data:`appliance.campaigns.subscribers.CSV_COLUMNS`,
``phone_number`` required); rows are validated one by one and stored in batches of
:data:`IMPORT_BATCH` per transaction, so the page can follow the progress.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
import threading
import time
from typing import Any

from appliance.campaigns.subscribers import Subscriber, SubscriberError, parse_subscriber, upsert
from appliance.store.database import Store

LOGGER = logging.getLogger(__name__)

IMPORT_BATCH = 500  # rows per transaction when importing a CSV
MAX_IMPORT_ERRORS = 1000  # per-row errors kept for the page (the count is always exact)


class SubscriberImports:
    """Import jobs in ``subscriber_imports``: started, run and reported on."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def start(self, list_id: int, text: str) -> int:
        """Record an import and run it on a thread; the page polls :meth:`state`."""
        rows = list(csv.reader(io.StringIO(text)))
        job = self.store.write(
            lambda conn: int(
                conn.execute(
                    "INSERT INTO subscriber_imports (list_id, state, total, started) VALUES (?,?,?,?)"
                    " RETURNING id",
                    (list_id, "running", max(0, len(rows) - 1), time.time()),
                ).fetchone()[0]
                or 0
            )
        )
        threading.Thread(
            target=self.run, args=(job, list_id, rows), name=f"import {job}", daemon=True
        ).start()
        return job

    def run(self, job: int, list_id: int, rows: list[list[str]]) -> None:
        try:
            self._import(job, list_id, rows)
        except Exception as e:  # noqa: BLE001 - shown on the import's page
            LOGGER.exception("import %d failed", job)
            why = json.dumps([[0, f"{type(e).__name__}: {e}"]])
            self.store.write(
                lambda conn: conn.execute(
                    "UPDATE subscriber_imports SET state = 'failed', errors = ?, finished = ? WHERE id = ?",
                    (why, time.time(), job),
                )
            )

    def _import(self, job: int, list_id: int, rows: list[list[str]]) -> None:
        errors: list[tuple[int, str]] = []
        error_count = 0
        if not rows:
            header: list[str] = []
        else:
            header = [h.strip().lower().replace(" ", "_") for h in rows[0]]
        if "phone_number" not in header:
            errors.append((1, "the first row must name the columns, including phone_number"))
            rows = []
        imported = 0
        for start in range(1, max(1, len(rows)), IMPORT_BATCH):
            batch: list[Subscriber] = []
            for i, row in enumerate(rows[start : start + IMPORT_BATCH], start=start + 1):
                try:
                    batch.append(parse_subscriber(dict(zip(header, row, strict=False))))
                except SubscriberError as e:
                    error_count += 1
                    if len(errors) < MAX_IMPORT_ERRORS:
                        errors.append((i, f"{e.field}: {e.message}" if e.field else e.message))
            done = min(len(rows) - 1, start - 1 + IMPORT_BATCH)
            imported += len(batch)
            now = time.time()

            def fn(
                conn: sqlite3.Connection,
                batch: list[Subscriber] = batch,
                done: int = done,
                now: float = now,
                imported: int = imported,
                refused: str = json.dumps(errors),
            ) -> None:
                for sub in batch:
                    upsert(conn, list_id, sub, now)
                conn.execute(
                    "UPDATE subscriber_imports SET done = ?, imported = ?, errors = ? WHERE id = ?",
                    (done, imported, refused, job),
                )

            self.store.write(fn)
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE subscriber_imports SET state = 'done', imported = ?, errors = ?, finished = ?"
                " WHERE id = ?",
                (imported, json.dumps(errors), time.time(), job),
            )
        )
        LOGGER.info("import %d: %d imported, %d rows refused", job, imported, error_count)

    def state(self, job: int) -> dict[str, Any] | None:
        row = self.store.read_one("SELECT * FROM subscriber_imports WHERE id = ?", (job,))
        if row is None:
            return None
        state = dict(row)
        state["errors"] = json.loads(row["errors"])
        return state
