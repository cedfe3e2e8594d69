"""Saved message templates: named SMS bodies the panel offers when composing.

A template is plain text, copied into the message, scheduled send or broadcast being
written (a broadcast's ``{first_name}``-style fields are filled at its run, as ever).
Names are unique ignoring case; a body follows the same rules as a message's: not
empty, at most :data:`appliance.sms.codec.MAX_BODY_CHARS` characters.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time

from appliance.errors import ApplianceError
from appliance.sms import codec as sms
from appliance.store.database import Row, Store

MAX_NAME = 80


class TemplateError(ApplianceError):
    """A template the panel cannot save; ``field`` names the form field it belongs to."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclasses.dataclass(frozen=True)
class Template:
    """A template as submitted, validated."""

    name: str
    body: str


def parse_template(name: str, body: str) -> Template:
    """Validate a template form: a name (1-80 characters) and an SMS body."""
    name = " ".join(name.split())
    if not name:
        raise TemplateError("Give the template a name", "name")
    if len(name) > MAX_NAME:
        raise TemplateError(f"The name is {len(name)} characters: at most {MAX_NAME}", "name")
    if not body.strip():
        raise TemplateError("Write the template's text", "body")
    if len(body) > sms.MAX_BODY_CHARS:
        raise TemplateError(
            f"The text is {len(body)} characters: a message holds at most"
            f" {sms.MAX_BODY_CHARS} (error 21617)",
            "body",
        )
    return Template(name, body)


class Templates:
    """The ``message_templates`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def all(self) -> list[Row]:
        return self.store.read("SELECT * FROM message_templates ORDER BY lower(name), id")

    def get(self, template_id: int) -> Row | None:
        return self.store.read_one("SELECT * FROM message_templates WHERE id = ?", (template_id,))

    def create(self, t: Template) -> int:
        now = time.time()

        def fn(conn: sqlite3.Connection) -> int:
            self._check_name(conn, t.name, None)
            cur = conn.execute(
                "INSERT INTO message_templates (name, body, date_created, date_updated)"
                " VALUES (?, ?, ?, ?) RETURNING id",
                (t.name, t.body, now, now),
            )
            return int(cur.fetchone()[0])

        return self.store.write(fn)

    def update(self, template_id: int, t: Template) -> bool:
        """Replace a template's name and body; False if it no longer exists."""

        def fn(conn: sqlite3.Connection) -> bool:
            self._check_name(conn, t.name, template_id)
            return (
                conn.execute(
                    "UPDATE message_templates SET name = ?, body = ?, date_updated = ?"
                    " WHERE id = ?",
                    (t.name, t.body, time.time(), template_id),
                ).rowcount
                == 1
            )

        return self.store.write(fn)

    def delete(self, template_id: int) -> bool:
        return self.store.write(
            lambda conn: (
                conn.execute("DELETE FROM message_templates WHERE id = ?", (template_id,)).rowcount
                == 1
            )
        )

    @staticmethod
    def _check_name(conn: sqlite3.Connection, name: str, own_id: int | None) -> None:
        row = conn.execute(
            "SELECT id FROM message_templates WHERE lower(name) = lower(?) AND id != ?",
            (name, -1 if own_id is None else own_id),
        ).fetchone()
        if row is not None:
            raise TemplateError(f"There is already a template named {name!r}", "name")
