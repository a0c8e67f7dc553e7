"""The examples in deploy/ cannot rot: nginx accepts the site config, the units run real commands, the env file
names real settings. (deploy/nginx/packyard-proxy.conf is what tests/nginx.py runs in every cluster test.)"""

from __future__ import annotations

import configparser
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from packyard.config import Settings
from tests.nginx import DEPLOY, PROXY_CONF, SITE_CONF, free_port, main_conf, run

pytestmark = pytest.mark.xdist_group("cluster")


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "fullchain.pem", folder / "privkey.pem"
    subject = ["-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *subject],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_nginx_accepts_the_example_site_with_its_paths_replaced(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    site = SITE_CONF.read_text()
    replacements = {
        "/etc/nginx/packyard-proxy.conf": str(PROXY_CONF),
        "/etc/ssl/packyard/fullchain.pem": str(cert),
        "/etc/ssl/packyard/privkey.pem": str(key),
        "/srv/packyard-data/blobs/": f"{tmp_path}/blobs/",
        "listen 80;": f"listen 127.0.0.1:{free_port()};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{free_port()} ssl http2;",
    }
    for old, new in replacements.items():
        assert old in site, f"deploy/nginx/packyard.conf no longer has {old!r}: update this test with it"
        site = site.replace(old, new)
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "temp").mkdir()
    (tmp_path / "nginx.conf").write_text(main_conf(tmp_path, f"    include {tmp_path / 'site.conf'};"))
    checked = run(tmp_path, "-t")
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


@pytest.mark.parametrize("name", ["packyard@.service", "packyard-migrate.service"])
def test_the_units_run_real_commands_with_the_example_env_file(name: str) -> None:
    unit = _unit(name)
    assert unit["Service"]["EnvironmentFile"] == "/etc/packyard/packyard.env"  # deploy/packyard.env
    command = shlex.split(unit["Service"]["ExecStart"])
    assert command[0] == "/opt/packyard/bin/packyard"
    helped = subprocess.run(
        [sys.executable, "-m", "packyard.cli.main", *command[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert helped.returncode == 0, helped.stderr
    for needed in re.findall(r"[\w@.-]+\.service", unit["Unit"].get("Requires", "")):
        assert (DEPLOY / "systemd" / needed).is_file(), needed


def test_the_env_file_names_only_real_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    fields = set(Settings.model_fields)
    values = {}
    for line in (DEPLOY / "packyard.env").read_text().splitlines():
        line = line.lstrip("#").strip()
        match = re.fullmatch(r"(PACKYARD_[A-Z_]+)=(.*)", line)
        if match:
            key, value = match.groups()
            assert key.removeprefix("PACKYARD_").lower() in fields, f"{key} is not a Packyard setting"
            values[key] = value
    assert {"PACKYARD_BASE_URL", "PACKYARD_SECRET_KEY", "PACKYARD_DATABASE_URL"} <= set(values)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    Settings()  # and every value is valid
