"""HTTPS beside HTTP: the appliance's own CA and server certificate, a user's pair instead,
the CA served for download, and bad pairs refused at start-up in one line."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twilio.rest import Client

from appliance.system import tls
from tests.conftest import settings
from tests.daemonproc import DaemonProcess, free_port
from tests.test_cli import sim_config
from tests.test_errors import RUNTIME, USAGE, one_line, run


def sans(pem: bytes) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(names.get_values_for_type(x509.DNSName)), {
        str(a) for a in names.get_values_for_type(x509.IPAddress)
    }


def served_cert(port: int) -> bytes:
    return ssl.get_server_certificate(("127.0.0.1", port)).encode()


@pytest.mark.fresh_tls
def test_https_with_the_generated_ca(sim, make_daemon, monkeypatch):
    d = make_daemon()
    port = d.server.https_port
    assert port != d.server.port
    folder = d.config.data_dir / "tls"
    ca = folder / "ca.crt"
    # the CA's key and the server's key are the owner's only; the CA's cert is public
    assert stat.S_IMODE((folder / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((folder / "server.key").stat().st_mode) == 0o600
    # TLS is set up at the first HTTPS connection, not at start (idle memory)
    assert not d.server.https.ssl_adapter._ready
    rv = requests.get(f"https://127.0.0.1:{port}/health", verify=str(ca), timeout=10)
    assert rv.status_code in (200, 503) and "modems" in rv.json()
    assert d.server.https.ssl_adapter._ready
    rv = requests.get(f"https://localhost:{port}/health", verify=str(ca), timeout=10)
    assert "modems" in rv.json()
    with pytest.raises(requests.exceptions.SSLError):  # not trusted without the CA
        requests.get(f"https://127.0.0.1:{port}/health", timeout=10)
    # plain HTTP is still there
    assert "modems" in requests.get(f"http://127.0.0.1:{d.server.port}/health", timeout=10).json()

    dns, ips = sans(served_cert(port))
    host = socket.gethostname()
    assert {"localhost", host, f"{host.split('.')[0]}.local"} <= dns
    assert {"127.0.0.1", *tls.local_addresses()} <= ips
    leaf = x509.load_pem_x509_certificate(served_cert(port))
    authority = x509.load_pem_x509_certificate(ca.read_bytes())
    assert leaf.issuer == authority.subject
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc <= dt.timedelta(days=398)

    # the official library over HTTPS, trusting the CA through requests' usual variable
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    client = Client(d.account.sid, d.account.auth_token)
    client.api.base_url = f"https://127.0.0.1:{port}"
    app = client.applications.create(friendly_name="over TLS")
    assert client.applications(app.sid).fetch().friendly_name == "over TLS"

    # the panel serves the CA's certificate, and only it, without sign-in
    for base in (f"https://127.0.0.1:{port}", f"http://127.0.0.1:{d.server.port}"):
        rv = requests.get(f"{base}/ca.crt", verify=str(ca), timeout=10, allow_redirects=False)
        assert rv.status_code == 200 and rv.content == ca.read_bytes()
        assert rv.headers["Content-Type"] == "application/x-x509-ca-cert"
        assert b"PRIVATE KEY" not in rv.content


def test_the_pair_is_reused_and_renewed(sim, tmp_path):
    cfg = settings(tmp_path, sim)
    first = tls.material(cfg)
    ca, cert = first.ca.read_bytes(), first.cert.read_bytes()  # type: ignore[union-attr]
    again = tls.material(cfg)
    assert again == first and again.cert.read_bytes() == cert
    # near its end the server certificate is made again; the CA the clients trust stays
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=tls.SERVER_DAYS - 10)
    tls.generated(cfg, now=later)
    assert first.cert.read_bytes() != cert and first.ca.read_bytes() == ca  # type: ignore[union-attr]
    renewed = x509.load_pem_x509_certificate(first.cert.read_bytes())
    assert renewed.not_valid_after_utc > later + dt.timedelta(days=300)
    # a new name (public_url's host) makes a new certificate naming it
    named = settings(tmp_path, sim, public_url="https://shop-phones.example:8443")
    assert "shop-phones.example" in tls.material(named).names
    dns, _ips = sans(first.cert.read_bytes())
    assert "shop-phones.example" in dns and first.ca.read_bytes() == ca  # type: ignore[union-attr]


def make_pair(folder: Path, name: str = "box.example") -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_a_user_supplied_pair_replaces_the_generated_one(sim, make_daemon, tmp_path):
    cert, key = make_pair(tmp_path / "mine")
    d = make_daemon(tls_cert=str(cert), tls_key=str(key))
    assert served_cert(d.server.https_port) == cert.read_bytes()
    assert not (d.config.data_dir / "tls" / "ca.key").exists()  # no CA was made
    rv = requests.get(f"http://127.0.0.1:{d.server.port}/ca.crt", timeout=10, allow_redirects=False)
    assert rv.status_code == 404 and "tls_cert" in rv.text


def test_bad_pairs_fail_the_start_in_one_line(tmp_path):
    cert, key = make_pair(tmp_path / "a", "a.example")
    other_cert, other_key = make_pair(tmp_path / "b", "b.example")
    cfg = sim_config(tmp_path, free_port())
    base = cfg.read_text()

    def start(extra: str) -> str:
        cfg.write_text(extra + base)
        rv = run(cfg, "run", timeout=60)
        line = one_line(rv, USAGE)
        assert "AccountSid" not in rv.stdout  # before the banner
        return line

    line = start(f'tls_cert = "{tmp_path / "missing.pem"}"\ntls_key = "{key}"\n')
    assert "tls_cert" in line and "missing.pem" in line and "APPLIANCE_TLS_CERT" in line
    line = start(f'tls_cert = "{cert}"\ntls_key = "{other_key}"\n')
    assert "does not belong" in line and str(cert) in line and str(other_key) in line
    line = start(f'tls_cert = "{cert}"\n')
    assert "tls_key" in line and "APPLIANCE_TLS_KEY" in line
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    line = start(f'tls_cert = "{garbage}"\ntls_key = "{key}"\n')
    assert "tls_cert" in line and "garbage.pem" in line
    del other_cert


def test_a_busy_https_port_is_named(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = sim_config(tmp_path, free_port())
        rv = run(cfg, "run", env={"APPLIANCE_HTTPS_PORT": str(port)}, timeout=60)
        line = one_line(rv, RUNTIME)
        assert f":{port}" in line and "HTTPS" in line and "APPLIANCE_HTTPS_PORT" in line


def test_an_appliance_process_serves_https_without_loading_cryptography(tmp_path, monkeypatch):
    """`appliance run` as its own process: HTTPS on https_port with its new CA, the same pair
    after a restart, and the certificate library only ever in the child that made the pair."""
    monkeypatch.delenv("APPLIANCE_HTTPS_PORT", raising=False)  # the file's https_port rules
    port, https = free_port(), free_port()
    cfg = sim_config(tmp_path, port)
    cfg.write_text(cfg.read_text().replace("https_port = 0", f"https_port = {https}"))
    ca = tmp_path / "data" / "tls" / "ca.crt"
    served: list[bytes] = []
    for _start in range(2):
        proc = DaemonProcess(cfg, port, log=tmp_path / "daemon.log")
        proc.start()
        try:
            proc.wait_ready(60)
            rv = requests.get(f"https://127.0.0.1:{https}/health", verify=str(ca), timeout=10)
            assert rv.json()["ready"] is True
            served.append(served_cert(https))
            maps = Path(f"/proc/{proc.pid}/maps").read_text()
            assert "cryptography" not in maps  # its Rust extension was never loaded here
        finally:
            assert proc.terminate() == 0
    assert served[0] == served[1]  # reused, not made again
    _dns, ips = sans(served[0])
    assert "127.0.0.1" in ips
