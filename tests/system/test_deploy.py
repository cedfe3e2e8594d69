"""Field deployment: ansible-lint, the rendered unit under systemd-analyze, a converge on bookworm.

The converge builds a Debian bookworm root with debootstrap (when absent; cached
under ``var/deploy/``), copies it, runs the playbook into the copy over Ansible's
chroot connection, runs it again and requires that the second run changes nothing.
About a minute with the cache, two without, so it runs in ``make test``; it needs
root (chroot).  ``make test-deploy`` runs this file alone with
``APPLIANCE_TEST_DEPLOY_COLD=1``: the root is built afresh, never taken from the cache.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from appliance import config
from tests.daemonproc import free_port

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "deploy" / "ansible"
BIN = Path(sys.executable).parent
CACHE = ROOT / "var" / "deploy"
ROLE = ANSIBLE / "roles" / "appliance"
DEBOOTSTRAP_PACKAGES = "python3,python3-apt,systemd,systemd-sysv,udev,sudo,ca-certificates"
COLD = os.environ.get("APPLIANCE_TEST_DEPLOY_COLD") == "1"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    env.update(
        ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_CONFIG=str(ANSIBLE / "ansible.cfg")
    )
    env.pop("PYTHONPATH", None)
    return env


def _run(
    cmd: list[str], cwd: Path = ANSIBLE, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in the virtualenv: pip install -e '.[deploy]'")
    return str(path)


@pytest.mark.timeout(300)
def test_ansible_lint_passes_with_the_production_profile():
    rv = _run([_tool("ansible-lint"), "--profile", "production", "--offline"], timeout=280)
    assert rv.returncode == 0, rv.stdout[-4000:] + rv.stderr[-4000:]
    assert "Profile 'production' was required, and it passed" in rv.stdout + rv.stderr


def _render(tmp_path: Path, extra: dict[str, object] | None = None) -> Path:
    """Render the role's templates on localhost with its defaults (the template module itself)."""
    out = tmp_path / "rendered"
    out.mkdir()
    play = tmp_path / "render.yml"
    names = ["appliance.service", "appliance-firewall.service", "appliance.toml", "firewall.nft"]
    tasks = "\n".join(
        f"    - name: Render {n}\n      ansible.builtin.template:\n"
        f"        src: {ROLE}/templates/{n}.j2\n        dest: {out}/{n}\n        mode: '0644'"
        for n in names
    )
    play.write_text(
        f"- name: Render\n  hosts: localhost\n  gather_facts: false\n  connection: local\n"
        f"  vars_files:\n    - {ROLE}/defaults/main.yml\n  tasks:\n{tasks}\n"
    )
    cmd = [_tool("ansible-playbook"), "-i", "localhost,", str(play)]
    cmd += ["-e", f"ansible_python_interpreter={sys.executable}"]
    for key, value in (extra or {}).items():
        cmd += ["-e", f"{key}={value}"]
    rv = _run(cmd, timeout=120)
    assert rv.returncode == 0, rv.stdout[-3000:]
    return out


@pytest.mark.timeout(180)
def test_rendered_unit_passes_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing (Debian package systemd)")
    # Lay out the paths the unit names, so verify can check them, under a root of our own.
    home = tmp_path / "opt"
    out = _render(tmp_path, {"appliance_home": home, "appliance_data_dir": tmp_path / "data"})
    exe = home / "current" / "venv" / "bin" / "appliance"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    (tmp_path / "data").mkdir()
    unit = out / "appliance.service"
    text = unit.read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=60",
        "Restart=always",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "SupplementaryGroups=dialout audio",
    ):
        assert line in text.splitlines(), line
    for name in ("appliance.service",):  # the firewall unit needs nft: verified after converge
        rv = subprocess.run(
            ["systemd-analyze", "verify", str(out / name)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        problems = [
            line
            for line in (rv.stdout + rv.stderr).splitlines()
            if name in line or "Unknown" in line or "Failed" in line
        ]
        assert rv.returncode == 0 and not problems, rv.stdout + rv.stderr
    # The rendered configuration is one the appliance itself loads.
    cfg = config.load(out / "appliance.toml", environ={})
    assert cfg.modems[0].port == "/dev/gsm/sim7600-at" and cfg.watchdog_grace == 120.0
    assert cfg.retention_webhook_log_days == 30


def _release_archive(dest: Path, version: str) -> Path:
    """The release as the README says to make it: the source tree under one top directory."""
    archive = dest / f"appliance-{version}.tar.gz"

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if "__pycache__" in info.name or info.name.endswith(".pyc"):
            return None
        # What git archive leaves out (.gitignore): npm's files and the bundle `make sdk` made.
        if "/node_modules" in info.name or info.name.endswith("/sdk/twilio.min.js"):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    with tarfile.open(archive, "w:gz") as tar:
        for name in ("pyproject.toml", "README.md", "appliance", "web", "firmware_config", "docs"):
            tar.add(ROOT / name, arcname=f"appliance-{version}/{name}", filter=keep)
    return archive


def _bookworm_root(cache: Path) -> Path:
    """A pristine debootstrapped bookworm under ``cache``, built when absent (about a minute)."""
    root = cache / "bookworm-root"
    if (root / "usr" / "bin" / "python3").exists():
        return root
    mirror = "http://deb.debian.org/debian"
    for source in Path("/etc/apt").glob("sources.list*"):
        for file in [source] if source.is_file() else source.glob("*"):
            m = re.search(r"(?:URIs:|deb)\s+(http\S+/debian)\b", file.read_text())
            if m:
                mirror = m.group(1)
    partial = cache / "bookworm-root.partial"
    shutil.rmtree(partial, ignore_errors=True)
    (CACHE / "debs").mkdir(parents=True, exist_ok=True)  # downloaded packages: always reused
    rv = subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={DEBOOTSTRAP_PACKAGES}",
            f"--cache-dir={CACHE / 'debs'}",
            "bookworm",
            str(partial),
            mirror,
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert rv.returncode == 0, rv.stdout[-3000:] + rv.stderr[-3000:]
    partial.rename(root)
    return root


def _recap(output: str) -> dict[str, int]:
    m = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert m, output[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups()), strict=True))


def _stop_postgres(root: Path) -> None:
    """Stop the cluster the appliance_db role started in the chroot (no systemd there)."""
    subprocess.run(
        ["chroot", str(root), "sh", "-c", "for d in /var/lib/postgresql/*/*; do"
         " v=$(basename $(dirname $d)); runuser -u postgres --"
         " /usr/lib/postgresql/$v/bin/pg_ctl -D $d stop -m immediate; done"],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot and debootstrap need root")
@pytest.mark.timeout(1500)
def test_playbook_converges_on_bookworm_and_a_second_run_changes_nothing(tmp_path, request):
    if shutil.which("debootstrap") is None:
        pytest.fail("debootstrap is missing: `make deps` installs it (Debian package debootstrap)")
    pristine = _bookworm_root(tmp_path / "cold" if COLD else CACHE)
    target = tmp_path / "bookworm"
    subprocess.run(["cp", "-a", "--reflink=auto", str(pristine), str(target)], check=True)
    request.addfinalizer(lambda: _stop_postgres(target))
    # Raspberry Pi OS boot files, as the image ships them, so the GPIO UART tasks run too.
    boot = target / "boot" / "firmware"
    boot.mkdir(parents=True)
    (boot / "config.txt").write_text("dtparam=audio=on\ncamera_auto_detect=1\n\n[all]\n")
    (boot / "cmdline.txt").write_text(
        "console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 rootwait\n"
    )

    version = "0.1.0.dev0"
    files = tmp_path / "files"
    files.mkdir()
    archive = _release_archive(files, version)
    # The SIM PIN comes from an ansible-vault file, as in production.
    password = tmp_path / "vault-pass"
    password.write_text("correct horse battery staple\n")
    vault = tmp_path / "vault.yml"
    # So do the fleet's database password and URL: the same host is also the fleet's
    # PostgreSQL server (the appliance_db role), on a free port, and the node points at it.
    db_port = free_port()
    db_url = f"postgresql://appliance:s3cret@127.0.0.1:{db_port}/appliance"
    vault.write_text(
        '---\nvault_appliance_modem_pins:\n  modem1: "4321"\n'
        'vault_appliance_db_password: "s3cret"\n'
        f'vault_appliance_database_url: "{db_url}"\n'
    )
    rv = _run(
        [_tool("ansible-vault"), "encrypt", "--vault-password-file", str(password), str(vault)]
    )
    assert rv.returncode == 0, rv.stderr
    assert vault.read_text().startswith("$ANSIBLE_VAULT")
    cas = sorted(str(p) for p in Path("/usr/local/share/ca-certificates").glob("*.crt"))
    # The controller has no npm registry here: the bundle is a fixture file the role takes as
    # built (as after `make sdk`).  Your own HTTPS pair, made by the appliance's certificate code.
    bundle = tmp_path / "twilio.min.js"
    bundle.write_text("/* the Voice SDK bundle (a fixture) */ window.Twilio = {};\n")
    pair = tmp_path / "pair"
    pair.mkdir()
    made = subprocess.run(
        [sys.executable, "-m", "appliance.system.certmaker", str(pair), str(time.time()), "pi.lan"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    inventory = tmp_path / "hosts.yml"
    # Root already, in a chroot: `su` (in every Debian) for become, not sudo (not installed).
    inventory.write_text(
        f"""---
appliance_db:
  hosts:
    {target}:
      ansible_connection: community.general.chroot
      ansible_become_method: ansible.builtin.su
      ansible_python_interpreter: /usr/bin/python3
  vars:
    appliance_db_port: {db_port}
    appliance_db_listen: 127.0.0.1
    appliance_db_clients: ["127.0.0.1/32"]
appliance:
  hosts:
    {target}:
      ansible_connection: community.general.chroot
      ansible_become_method: ansible.builtin.su
      ansible_python_interpreter: /usr/bin/python3
  vars:
    appliance_archive: {archive}
    appliance_extra_ca_certificates: {cas}
    appliance_gpio_uart: true
    appliance_firewall: true
    appliance_sdk_bundle: {bundle}
    appliance_tls_cert: {pair / "server.crt"}
    appliance_tls_key: {pair / "server.key"}
    appliance_database_url: "{{{{ vault_appliance_database_url }}}}"
"""
    )
    # The example inventory's group_vars apply to the test host, as they would to a Pi.
    (tmp_path / "group_vars").symlink_to(ANSIBLE / "inventory" / "group_vars")
    cmd = [
        _tool("ansible-playbook"),
        "-i",
        str(inventory),
        "--vault-password-file",
        str(password),
        "-e",
        f"@{vault}",
        "site.yml",
    ]
    first = _run(cmd, timeout=1200)
    log = tmp_path / "converge.log"
    log.write_text(first.stdout + first.stderr)
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-3000:]
    assert _recap(first.stdout)["changed"] > 10

    second = _run(cmd, timeout=900)
    (tmp_path / "idempotence.log").write_text(second.stdout + second.stderr)
    recap = _recap(second.stdout)
    changed = re.findall(r"^changed: .*$|^TASK \[.*\]", second.stdout, re.M)
    assert second.returncode == 0 and recap["changed"] == 0, "\n".join(changed)[-4000:]

    # What converged.
    etc = target / "etc"
    unit = etc / "systemd/system/appliance.service"
    assert (etc / "systemd/system/multi-user.target.wants/appliance.service").is_symlink()
    assert (etc / "systemd/system/multi-user.target.wants/appliance-firewall.service").is_symlink()
    groups = {
        line.split(":")[0]: line.split(":")[3] for line in (etc / "group").read_text().splitlines()
    }
    assert "appliance" in groups["dialout"].split(",") and "appliance" in groups["audio"].split(",")
    toml = etc / "appliance" / "appliance.toml"
    cfg = config.load(toml, environ={})
    assert cfg.modems[0].pin == "4321" and cfg.modems[0].port == "/dev/gsm/sim7600-at"
    assert cfg.database_url == db_url
    assert oct(toml.stat().st_mode & 0o777) == "0o640"
    assert (etc / "udev/rules.d/90-appliance-modems.rules").read_text() == (
        ROOT / "firmware_config/udev/90-appliance-modems.rules"
    ).read_text()
    assert (etc / "udev/rules.d/77-appliance-mm-ignore.rules").exists()
    assert "Storage=persistent" in (etc / "systemd/journald.conf.d/appliance.conf").read_text()
    assert "enable_uart=1" in (boot / "config.txt").read_text().splitlines()
    assert "console=serial0" not in (boot / "cmdline.txt").read_text()
    assert os.readlink(etc / "systemd/system/serial-getty@ttyS0.service") == "/dev/null"
    # The appliance runs inside the target: its profiles resolve from the release.
    rv = subprocess.run(
        [
            "chroot",
            str(target),
            "/opt/appliance/current/venv/bin/python",
            "-c",
            "from appliance.modem import profiles; from appliance.system import service;"
            " from appliance.store import retention; print(profiles.load('sim7600').name);"
            # the webrtc extra (browser phone calls) is installed on a 64-bit target
            " from appliance.clients import medialoop; print(medialoop.missing());"
            # the fleet extra, since a database URL is set: the PostgreSQL store's driver
            " import psycopg, psycopg_pool; print(psycopg.pq.version() > 0)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rv.returncode == 0 and rv.stdout.split() == ["SIMCom", "SIM7600", "None", "True"], (
        rv.stderr
    )
    # The node reaches the fleet's database the role made: a SCRAM password over TCP, allowed
    # by pg_hba; the store's migrations run there.
    rv = subprocess.run(
        [
            "chroot",
            str(target),
            "/opt/appliance/current/venv/bin/python",
            "-c",
            "from appliance import config; from appliance.store.engines import open_store;"
            " s = open_store(config.load('/etc/appliance/appliance.toml', environ={}));"
            " print(type(s).__name__, s.read_one('SELECT COUNT(*) FROM messages')[0]); s.close()",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rv.returncode == 0 and rv.stdout.split() == ["PgStore", "0"], rv.stdout + rv.stderr
    conf = next((etc / "postgresql").glob("*/main"))
    assert "password_encryption = scram-sha-256" in (conf / "conf.d/appliance.conf").read_text()
    assert (
        "host appliance appliance 127.0.0.1/32 scram-sha-256" in (conf / "pg_hba.conf").read_text()
    )
    for name in ("appliance.service", "appliance-firewall.service"):
        rv = subprocess.run(
            ["systemd-analyze", "verify", f"--root={target}", f"/etc/systemd/system/{name}"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert rv.returncode == 0 and name not in rv.stdout + rv.stderr, rv.stdout + rv.stderr
    assert "Type=notify" in unit.read_text()
    # The SDK bundle is where the installed panel serves /sdk/twilio.min.js from.
    rv = subprocess.run(
        [
            "chroot",
            str(target),
            "/opt/appliance/current/venv/bin/python",
            "-c",
            "from web import voicesdk; print(voicesdk.BUNDLE)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rv.returncode == 0, rv.stderr
    served = target / rv.stdout.strip().lstrip("/")
    assert served.read_bytes() == bundle.read_bytes()
    assert oct(served.stat().st_mode & 0o777) == "0o644"
    # Your own certificate and key, copied with restrictive modes and set in the config; the
    # appliance accepts the pair (tls.material checks the key belongs to the certificate).
    assert (cfg.tls_cert, cfg.tls_key) == (
        "/etc/appliance/tls/server.crt",
        "/etc/appliance/tls/server.key",
    )
    tls_dir = etc / "appliance" / "tls"
    assert (tls_dir / "server.crt").read_bytes() == (pair / "server.crt").read_bytes()
    assert (tls_dir / "server.key").read_bytes() == (pair / "server.key").read_bytes()
    assert oct((tls_dir / "server.key").stat().st_mode & 0o777) == "0o640"
    assert oct(tls_dir.stat().st_mode & 0o777) == "0o750"
    rv = subprocess.run(
        [
            "chroot",
            str(target),
            "/opt/appliance/current/venv/bin/python",
            "-c",
            "from appliance import config; from appliance.system import tls;"
            " m = tls.material(config.load('/etc/appliance/appliance.toml', environ={}));"
            " print(m.cert, m.ca)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rv.returncode == 0, rv.stderr
    assert rv.stdout.split() == ["/etc/appliance/tls/server.crt", "None"], rv.stdout
    _stop_postgres(target)
    shutil.rmtree(target)  # 0.6 GB; kept only when the test fails, for a look inside
    if COLD:
        shutil.rmtree(pristine)
