"""API keys: an ``SK…`` SID and a secret, for Basic auth instead of the AuthToken.

Twilio clients authenticate with ``SKxxx:secret`` while the path keeps the
``AC…`` account SID.  The secret is shown once, when the key is created
(``appliance apikey create``); Basic auth checks it against a salted scrypt hash.  The secret
itself is kept too (``signing_secret``, beside the AuthToken in the same store), because a
browser phone's Access Token is an HMAC keyed with it, which no hash can check.
A revoked key stays in the table (``revoked_at`` set) so ``apikey list`` can
show it, and is refused from the next request on, even by a running daemon:
every request reads the key's row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
import sqlite3
import string
import threading
import time

from appliance import sids
from appliance.store.database import Row, Store

# scrypt cost: 16 MiB and ~30 ms per check, done once per key and process (see Verifier).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SECRET_ALPHABET = string.ascii_letters + string.digits


@dataclasses.dataclass(frozen=True)
class ApiKey:
    sid: str
    friendly_name: str
    date_created: float
    revoked_at: float | None

    @classmethod
    def from_row(cls, row: Row) -> ApiKey:
        return cls(row["sid"], row["friendly_name"], row["date_created"], row["revoked_at"])


def new_secret() -> str:
    """32 random letters and digits, like a Twilio key secret."""
    return "".join(secrets.choice(SECRET_ALPHABET) for _ in range(32))


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(
            secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual.hex(), digest)


def create(store: Store, friendly_name: str = "") -> tuple[ApiKey, str]:
    """A new key; returns it with its secret (the only time the secret is known)."""
    secret = new_secret()
    hashed = hash_secret(secret)
    sid = sids.new("SK")
    now = time.time()

    def fn(conn: sqlite3.Connection) -> None:
        # signing_secret: browser phones' Access Tokens are HMACs keyed with the secret itself
        # (migration 0012_applications; appliance.clients.tokens)
        conn.execute(
            "INSERT INTO api_keys (sid, friendly_name, secret_hash, signing_secret, date_created,"
            " date_updated) VALUES (?,?,?,?,?,?)",
            (sid, friendly_name or sid, hashed, secret, now, now),
        )

    store.write(fn)
    return ApiKey(sid, friendly_name or sid, now, None), secret


def signing_secret(store: Store, sid: str) -> str | None:
    """The secret an unrevoked key signs Access Tokens with; None for an unknown or revoked
    key, or one created before keys kept it (such a key cannot sign tokens: make a new one)."""
    row = store.read_one(
        "SELECT signing_secret FROM api_keys WHERE sid = ? AND revoked_at IS NULL", (sid,)
    )
    return None if row is None else row["signing_secret"]


def list_keys(store: Store) -> list[ApiKey]:
    rows = store.read("SELECT * FROM api_keys ORDER BY date_created, sid")
    return [ApiKey.from_row(r) for r in rows]


def revoke(store: Store, sid: str) -> bool:
    """Revoke a key; False if there is no such (unrevoked) key."""
    now = time.time()

    def fn(conn: sqlite3.Connection) -> bool:
        cur = conn.execute(
            "UPDATE api_keys SET revoked_at = ?, date_updated = ? WHERE sid = ? AND revoked_at IS NULL",
            (now, now, sid),
        )
        return cur.rowcount == 1

    return store.write(fn)


class Verifier:
    """Checks ``SK…:secret`` pairs.  scrypt runs once per key; later requests compare
    against a SHA-256 of the secret kept in memory.  Revocation is read from the
    store on every request, so it takes effect at once across processes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._verified: dict[str, bytes] = {}

    def verify(self, sid: str, secret: str) -> bool:
        if not sids.is_sid(sid, "SK"):
            return False
        row = self.store.read_one(
            "SELECT secret_hash, revoked_at FROM api_keys WHERE sid = ?", (sid,)
        )
        if row is None or row["revoked_at"] is not None:
            with self._lock:
                self._verified.pop(sid, None)
            return False
        quick = hashlib.sha256(secret.encode()).digest()
        with self._lock:
            known = self._verified.get(sid)
        if known is not None and hmac.compare_digest(known, quick):
            return True
        if not check_secret(secret, row["secret_hash"]):
            return False
        with self._lock:
            self._verified[sid] = quick
        return True
