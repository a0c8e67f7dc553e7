"""A real nginx (Debian's `nginx-light`) in front of Packyard nodes, for tests: no root, no system files.

`Nginx.start(upstreams, root)` writes `root/nginx.conf`, whose `location /` includes the deployed proxy settings
unchanged (deploy/nginx/packyard-proxy.conf: forwarded headers, upload size, unbuffered uploads, timeouts,
failover of idempotent requests), and runs

    nginx -p ROOT -c nginx.conf -g 'daemon off; pid ROOT/nginx.pid; error_log stderr;'

on a free loopback port, every temp path inside ROOT. `stop()` ends it. As root (CI containers), its workers
stay root (`user root;`): they would otherwise drop to `nobody`, who cannot enter pytest's private temp folders.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
PROXY_CONF = DEPLOY / "nginx" / "packyard-proxy.conf"
SITE_CONF = DEPLOY / "nginx" / "packyard.conf"
INSTALL_HINT = (
    "nginx is needed for the cluster tests and none was found: install Debian's `nginx-light` package "
    "(apt-get install nginx-light; .ci/run does it)"
)


def nginx_bin() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise RuntimeError(INSTALL_HINT)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main_conf(root: Path, http: str) -> str:
    """An nginx.conf around `http` (the inside of the http block) that keeps every file nginx writes in `root`."""
    temp = "\n".join(
        f"    {kind}_temp_path {root / 'temp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        f"    access_log {root / 'access.log'};\n"
        f"{temp}\n"
        f"{http}\n"
        "}\n"
    )


def run(root: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`nginx -p ROOT -c nginx.conf -g ...` with more arguments (`-t`)."""
    return subprocess.run(
        [
            nginx_bin(),
            "-p",
            str(root),
            "-c",
            str(root / "nginx.conf"),
            "-g",
            f"daemon off; pid {root / 'nginx.pid'}; error_log stderr;",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Nginx:
    root: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root / "nginx.log"

    @classmethod
    def start(cls, upstreams: list[str], root: Path) -> Nginx:
        """nginx on a free port, balancing over `upstreams` ("127.0.0.1:PORT") with the deployed settings."""
        root.mkdir(parents=True, exist_ok=True)
        (root / "temp").mkdir(exist_ok=True)
        servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=10s;" for u in upstreams)
        last = ""
        for _attempt in range(5):  # another process may take the free port before nginx binds it
            port = free_port()
            http = (
                "    upstream packyard {\n"
                f"{servers}\n"
                "        keepalive 16;\n"
                "    }\n"
                "    server {\n"
                f"        listen 127.0.0.1:{port};\n"
                "        location / {\n"
                f"            include {PROXY_CONF};\n"
                "        }\n"
                "    }"
            )
            (root / "nginx.conf").write_text(main_conf(root, http))
            checked = run(root, "-t")
            if checked.returncode != 0:
                raise RuntimeError(f"nginx -t refused the test config:\n{checked.stderr}")
            with (root / "nginx.log").open("ab") as log:
                process = subprocess.Popen(
                    [
                        nginx_bin(),
                        "-p",
                        str(root),
                        "-c",
                        str(root / "nginx.conf"),
                        "-g",
                        f"daemon off; pid {root / 'nginx.pid'}; error_log stderr;",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            server = cls(root=root, port=port, process=process)
            if server._wait_listening():
                return server
            server.stop()
            last = server.log.read_text()
        raise RuntimeError(f"nginx did not start:\n{last}")

    def _wait_listening(self) -> bool:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:  # a connection, not a request: a request would go to the nodes, and mark them failed if not up
                socket.create_connection(("127.0.0.1", self.port), timeout=2).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: fast shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
