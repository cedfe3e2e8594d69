"""Making the local CA and the server certificate with ``cryptography`` (for :mod:`appliance.system.tls`).

Run as a child process, ``python -m appliance.system.certmaker <dir> <now> <name>...``, so the
daemon never loads the library (about 13 MB resident).  In ``<dir>`` it keeps or makes
``ca.crt``/``ca.key``, makes ``server.crt``/``server.key`` for the names (DNS names and IP
addresses), and writes ``server.json`` (the names and both ends of validity) last.
Both keys are ECDSA P-256: every current browser and phone accepts them, and making one
takes a millisecond (an RSA key takes a visible pause on a Pi).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import ipaddress
import json
import os
import socket
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

BACKDATE = dt.timedelta(minutes=5)  # a client whose clock is a little behind still accepts it
CA_DAYS = 3650  # the CA a user trusts once: ten years
# Apple's platforms refuse TLS server certificates valid for more than 825 days, even from a
# user-trusted CA; 397 is the public CAs' limit, which every browser accepts.
SERVER_DAYS = 397
CA_RENEW_BEFORE_DAYS = 30  # a CA this close to its end is made again (clients trust it anew)


@dataclasses.dataclass(frozen=True)
class Authority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def not_after(self) -> float:
        return self.cert.not_valid_after_utc.timestamp()


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_or_make_ca(
    cert_path: Path, key_path: Path, now: dt.datetime, days: int, renew_before_days: int
) -> Authority:
    """The CA in ``cert_path``/``key_path``, or a new one when missing, unreadable or near its end."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if (
            isinstance(key, ec.EllipticCurvePrivateKey)
            and cert.public_key() == key.public_key()
            and cert.not_valid_after_utc - now > dt.timedelta(days=renew_before_days)
        ):
            return Authority(cert, key)
    except (OSError, ValueError):
        pass
    key = ec.generate_private_key(ec.SECP256R1())
    host = socket.gethostname() or "appliance"
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Twilio in a box"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Twilio in a box local CA ({host})"[:64]),
        ]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, _pem_key(key))  # 0600: the CA's key never leaves data_dir/tls
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return Authority(cert, key)


def make_server(
    ca: Authority,
    cert_path: Path,
    key_path: Path,
    names: tuple[str, ...],
    now: dt.datetime,
    days: int,
) -> float:
    """A new server key and certificate for ``names`` (DNS names and IP addresses), signed by
    ``ca``; returns its end as a timestamp."""
    key = ec.generate_private_key(ec.SECP256R1())
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    first_dns = next((n for n in names if not _is_ip(n)), "localhost")
    not_after = now + dt.timedelta(days=days)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first_dns[:64])]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(not_after, ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    write_private(key_path, _pem_key(key))
    write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert.not_valid_after_utc.timestamp()


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically, created with ``mode`` (never wider for a moment)."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)  # the umask may have narrowed it
    tmp.replace(path)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def make(folder: Path, names: tuple[str, ...], now: dt.datetime) -> None:
    """The CA (kept when still good) and a new server certificate in ``folder``, then
    ``server.json``."""
    ca = load_or_make_ca(folder / "ca.crt", folder / "ca.key", now, CA_DAYS, CA_RENEW_BEFORE_DAYS)
    not_after = make_server(
        ca, folder / "server.crt", folder / "server.key", names, now, SERVER_DAYS
    )
    info = {"names": list(names), "not_after": not_after, "ca_not_after": ca.not_after}
    write_private(folder / "server.json", json.dumps(info).encode(), mode=0o644)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: python -m appliance.system.certmaker DIR NOW NAME...", file=sys.stderr)
        return 2
    folder, now = Path(argv[0]), dt.datetime.fromtimestamp(float(argv[1]), dt.UTC)
    make(folder, tuple(argv[2:]), now)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
