"""Index reads from one node against two nodes behind nginx (issue #15), in one run on one PostgreSQL.

In a temporary folder: a throw-away PostgreSQL (tests/postgres.py), one data folder and one secret key shared by
two `packyard serve` nodes (1 worker each), and nginx balancing over them with the deployed proxy settings
(deploy/nginx/packyard-proxy.conf, through tests/nginx.py). It uploads `--projects` PyPI projects (4 wheels each)
and `--conda` conda packages through node A, then runs wrk against, for each document:

  a. node A directly (no proxy: the baseline),
  b. nginx in front of node A only (what the proxy costs),
  c. nginx in front of A and B,

for a PEP 691 simple page and a conda `repodata.json`, anonymous (the in-memory front answers these after one SQL
statement) and with a token (the full route: permissions, the index cache). Every configuration is measured
in the same run, and the ratios are c / b (what a second node adds) and c / a. Each node's CPU time during the
two-node run is read from /proc, to show whether both nodes did work.

The load generator, nginx, both nodes and PostgreSQL share the machine's cores: on a 2-core machine a second
node cannot double anything, and the table says how much it does add there. Run from the repository root:
`python bench/cluster.py` (about 3 minutes; `--quick` for a smoke run). It prints the table and writes it as
markdown to bench/results/cluster.md.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from common import (  # bench/common.py: the script's folder is first on sys.path
    Load,
    Report,
    Server,
    console,
    free_port,
    machine_context,
    ms,
    phase,
    wait_for,
    wait_for_quiet,
    wrk,
)
from pypi_simple import OWNER, fill_packyard, project_name, write_wheels

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test suite's PostgreSQL, nginx and package builders

from tests import postgres  # noqa: E402
from tests.builders import build_conda  # noqa: E402
from tests.nginx import Nginx  # noqa: E402
from tests.unit.api.helpers import upload  # noqa: E402

ADMIN_PASSWORD = "bench-admin-password-1"


@dataclass
class Node:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time of the node so far (from /proc; clock ticks are 100 Hz on Linux)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_node(name: str, env: dict[str, str], log: Path) -> Node:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "packyard.cli.main", "serve"],
        env={**env, "PACKYARD_PORT": str(port)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    node = Node(name, f"http://127.0.0.1:{port}", process, log)
    wait_for(f"{node.url}/health/ready", process, log)
    return node


def fill(node: Node, token: str, tmp: Path, projects: int, conda: int) -> None:
    httpx.post(
        f"{node.url}/api/admin/users",
        headers={"Authorization": f"token {token}"},
        json={"login": OWNER, "password": ADMIN_PASSWORD},
        timeout=60,
    ).raise_for_status()
    owner_token = token_for(node.url, OWNER)
    wheels, _ = write_wheels(tmp / "wheels", projects, 4)
    fill_packyard(Server(node.url, node.process, node.log), owner_token, wheels, concurrency=4)
    with httpx.Client(base_url=node.url, timeout=120) as client:
        for i in range(conda):
            folder = tmp / "conda" / str(i)
            folder.mkdir(parents=True)
            path = build_conda(folder, name=f"cbench{i % 20}", version=f"1.{i // 20}", subdir="noarch")
            done = upload(
                client,  # type: ignore[arg-type]  # the helpers use only get/post, which httpx.Client has
                owner_token,
                OWNER,
                f"cbench{i % 20}",
                f"1.{i // 20}",
                path,
                f"noarch/{path.name}",
                "conda",
            )
            if done.status_code != 200:
                raise RuntimeError(f"conda upload {path.name}: {done.status_code} {done.text}")


def token_for(url: str, login: str) -> str:
    response = httpx.post(
        f"{url}/api/authentications",
        auth=(login, ADMIN_PASSWORD),
        json={"note": f"bench-{secrets.token_hex(4)}", "scopes": ["all"]},
        timeout=60,
    )
    response.raise_for_status()
    return str(response.json()["token"])


@dataclass
class Row:
    document: str
    caller: str
    setup: str
    load: Load
    cpu: str = ""


def measure(
    url: str, path: str, token: str | None, seconds: float, connections: int, headers: Sequence[str] = ()
) -> Load:
    extra = [*headers, *([f"Authorization: token {token}"] if token else [])]
    httpx.get(f"{url}{path}", headers=dict(h.split(": ", 1) for h in extra), timeout=60).raise_for_status()
    return wrk(f"{url}{path}", seconds, connections, threads=2, headers=extra)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=50, help="PyPI projects, 4 wheels each (default 50)")
    parser.add_argument("--conda", type=int, default=60, help="conda packages in noarch (default 60)")
    parser.add_argument("--seconds", type=float, default=8, help="each wrk run (default 8)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--quick", action="store_true", help="10 projects, 10 conda packages, 3 s runs")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cluster.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.projects, args.conda, args.seconds = 10, 10, 3
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    report = Report("Index reads: one node, one node behind nginx, two nodes behind nginx")
    report.context += machine_context()
    wait_for_quiet()
    with tempfile.TemporaryDirectory(prefix="packyard-bench-cluster-") as folder:
        tmp = Path(folder)
        pg = postgres.Cluster.start()
        nodes: list[Node] = []
        proxies: list[Nginx] = []
        try:
            with postgres.database(pg.url) as database_url:
                data = tmp / "data"
                data.mkdir()
                env = {
                    **os.environ,
                    "PACKYARD_DATA": str(data),
                    "PACKYARD_DATABASE_URL": database_url,
                    "PACKYARD_SECRET_KEY": secrets.token_hex(32),
                    "PACKYARD_HOST": "127.0.0.1",
                    "PACKYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
                    "PACKYARD_TRUSTED_PROXIES": "127.0.0.1",
                }
                subprocess.run(
                    [sys.executable, "-m", "packyard.cli.main", "migrate"],
                    env=env,
                    check=True,
                    capture_output=True,
                )
                with phase("two nodes"):
                    nodes = [start_node(n, env, tmp / f"node-{n}.log") for n in ("a", "b")]
                a = nodes[0]
                admin = token_for(a.url, "admin")
                with phase(
                    f"uploading {args.projects * 4} wheels and {args.conda} conda packages through node A"
                ):
                    fill(a, admin, tmp, args.projects, args.conda)
                token = token_for(a.url, OWNER)
                one = Nginx.start([a.url.removeprefix("http://")], tmp / "nginx-one")
                two = Nginx.start([n.url.removeprefix("http://") for n in nodes], tmp / "nginx-two")
                proxies = [one, two]
                documents = {
                    "PyPI simple page (PEP 691 JSON)": (
                        f"/pypi/{OWNER}/simple/{project_name(0)}/",
                        ["Accept: application/vnd.pypi.simple.v1+json"],
                    ),
                    "conda repodata.json": (f"/conda/{OWNER}/noarch/repodata.json", []),
                }
                rows: list[Row] = []
                for document, (path, headers) in documents.items():
                    for caller, credential in (("anonymous", None), ("token", token)):
                        for setup, url in (
                            ("a. node A directly", a.url),
                            ("b. nginx -> node A", one.url),
                            ("c. nginx -> nodes A + B", two.url),
                        ):
                            cpu_before = [n.cpu_seconds() for n in nodes]
                            with phase(f"{document}, {caller}, {setup}"):
                                load = measure(url, path, credential, args.seconds, args.connections, headers)
                            used = [n.cpu_seconds() - c for n, c in zip(nodes, cpu_before, strict=True)]
                            cpu = ", ".join(f"{n.name} {u:.1f} s" for n, u in zip(nodes, used, strict=True))
                            rows.append(Row(document, caller, setup, load, cpu))
        finally:
            for proxy in proxies:
                proxy.stop()
            for node in nodes:
                node.stop()
            pg.stop()
    report.context += [
        ("nodes", "2 x `packyard serve` (1 worker each), one PostgreSQL, one data folder, one secret key"),
        ("proxy", "nginx with deploy/nginx/packyard-proxy.conf (keep-alive upstream, proxy_buffering off)"),
        ("load", f"wrk -t2 -c{args.connections}, {args.seconds:g} s per run"),
        ("data", f"{args.projects} projects x 4 wheels, {args.conda} conda packages (noarch)"),
    ]
    table = report.table(
        "Requests per second (ratios in the same run)",
        "document",
        "caller",
        "setup",
        "req/s",
        "p50",
        "p99",
        "errors",
        "vs b (one node behind nginx)",
        "node CPU during the run",
    )
    for row in rows:
        base = next(
            r for r in rows if (r.document, r.caller) == (row.document, row.caller) and r.setup[0] == "b"
        )
        table.append(
            (
                row.document,
                row.caller,
                row.setup,
                f"{row.load.rps:,.0f}",
                ms(row.load.p50),
                ms(row.load.p99),
                str(row.load.errors),
                f"{row.load.rps / base.load.rps:.2f}x",
                row.cpu,
            )
        )
    report.print()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.markdown())
    console.log(f"written {args.out}")
    if any(row.load.errors for row in rows):
        raise SystemExit("some requests failed: see the errors column")


if __name__ == "__main__":
    start = time.monotonic()
    main()
    console.log(f"done in {time.monotonic() - start:.0f} s")
