"""What a password costs per request (issue #10, item 8): a PyPI project page with each kind of credential.

pip, uv and twine send their credential with every request. A token costs one indexed query; a password costs
argon2 (~150 ms, 64 MiB) unless the server remembers the successful check (core/auth.py `PasswordCache`). This
starts Packyard twice on the same data, with the cache (the default) and without it
(`PACKYARD_PASSWORD_CACHE_TTL_SECONDS=0`, which is what every password request cost before the cache), and for
each credential measures, on both servers in turn, sequential requests on one keep-alive connection (what pip
does) and a short wrk load.

Run from the repository root: `python bench/password_auth.py` (about 3 minutes; see bench/README.md). It prints
the tables and writes them as markdown to bench/results/password_auth.md.
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from common import (  # bench/common.py: the script's folder is first on sys.path
    Load,
    Report,
    Server,
    console,
    loadavg,
    machine_context,
    memory,
    ms,
    phase,
    start_packyard,
    wait_for_quiet,
    wrk,
)
from pypi_simple import OWNER, PASSWORD, PIP_ACCEPT, fill_packyard, packyard_token, wheel_bytes, wheel_name

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "password_auth.md"
PROJECT = "bench-proj-0000"
SERVERS = (("cache on (default)", "300"), ("cache off (TTL 0: every request before)", "0"))
"""(label, PACKYARD_PASSWORD_CACHE_TTL_SECONDS)."""


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def credentials(token: str) -> dict[str, str | None]:
    """Authorization header per credential kind (None: anonymous)."""
    return {
        "anonymous": None,
        "token (`Authorization: token`)": f"token {token}",
        "token (Basic `__token__`)": basic("__token__", token),
        "password (Basic `user:password`)": basic(OWNER, PASSWORD),
    }


def sequential(url: str, header: str | None, count: int) -> tuple[float, list[float]]:
    """The first request's latency, then `count` more on the same connection (pip's pattern)."""
    headers = {"Accept": PIP_ACCEPT.split(": ", 1)[1]}
    if header:
        headers["Authorization"] = header
    times: list[float] = []
    with httpx.Client(headers=headers, timeout=60) as client:
        for _ in range(count + 1):
            t0 = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - t0)
            response.raise_for_status()
    return times[0], times[1:]


@dataclass
class Sample:
    first: list[float] = field(default_factory=list)
    steady: list[float] = field(default_factory=list)
    loads: list[Load] = field(default_factory=list)


def measure(url: str, header: str | None, args: argparse.Namespace, sample: Sample) -> None:
    first, rest = sequential(url, header, args.requests)
    sample.first.append(first)
    sample.steady += rest
    headers = [PIP_ACCEPT] + ([f"Authorization: {header}"] if header else [])
    sample.loads.append(wrk(url, args.seconds, args.connections, threads=2, headers=headers))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=50, help="sequential requests per credential and round (50)"
    )
    parser.add_argument("--seconds", type=float, default=5, help="each wrk run (5)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (4)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds over both servers; medians reported (3)"
    )
    parser.add_argument(
        "--max-load", type=float, default=2.0, help="wait for this 1-minute load average (2.0)"
    )
    parser.add_argument("--max-wait", type=float, default=300, help="...for at most this many seconds (300)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    report = Report("Password vs token per request (PyPI project page)")
    report.context += machine_context()
    report.context.append(
        (
            "load",
            f"per round, server and credential: {args.requests} sequential keep-alive GETs, then "
            f"wrk -t2 -c{args.connections} {args.seconds:g} s; {args.rounds} rounds, the two servers interleaved",
        )
    )
    rows = report.table(
        "per request (medians over the rounds)",
        "server",
        "credential",
        "first request (round 1)",
        "sequential median",
        "sequential p99",
        "wrk req/s",
        "wrk p50",
        "wrk errors",
    )
    peaks = report.table("server memory at the end", "server", "VmRSS", "VmHWM (peak)")
    servers: dict[str, Server] = {}
    with tempfile.TemporaryDirectory(prefix="packyard-bench-pw-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        wheels = tmp / "wheels"
        wheels.mkdir()
        paths = []
        for version in ("1.0.0", "1.1.0", "1.2.0"):
            path = wheels / wheel_name(PROJECT, version)
            path.write_bytes(wheel_bytes(PROJECT, version))
            paths.append(path)
        try:
            with phase("setup: server, user, token, 3 wheels"):
                setup = start_packyard(data, tmp / "setup.log")
                try:
                    token = packyard_token(setup, data)
                    fill_packyard(setup, token, paths, 3)
                finally:
                    setup.stop()
            # Both servers on the same data at once, measured in turn, so machine noise hits both alike.
            for label, ttl in SERVERS:
                os.environ["PACKYARD_PASSWORD_CACHE_TTL_SECONDS"] = ttl
                servers[label] = start_packyard(data, tmp / f"serve-{ttl}.log")
            os.environ.pop("PACKYARD_PASSWORD_CACHE_TTL_SECONDS", None)
            load, waited = wait_for_quiet(args.max_load, args.max_wait)
            report.context.append(("load average before measuring", f"{load:.2f} (waited {waited:.0f} s)"))
            samples = {(label, kind): Sample() for label, _ in SERVERS for kind in credentials(token)}
            for round_ in range(1, args.rounds + 1):
                with phase(f"round {round_}/{args.rounds}"):
                    for kind, header in credentials(token).items():
                        for label, server in servers.items():
                            url = f"{server.url}/pypi/{OWNER}/simple/{PROJECT}/"
                            measure(url, header, args, samples[label, kind])
            for (label, kind), sample in samples.items():
                steady = sorted(sample.steady)
                rows.append(
                    (
                        label,
                        kind,
                        ms(sample.first[0]),
                        ms(statistics.median(steady)),
                        ms(steady[max(0, int(len(steady) * 0.99) - 1)]),
                        f"{statistics.median(load.rps for load in sample.loads):,.1f}",
                        ms(statistics.median(load.p50 for load in sample.loads)),
                        str(sum(load.errors for load in sample.loads)),
                    )
                )
            for label, server in servers.items():
                rss, hwm = memory(server.process.pid)
                peaks.append((label, f"{rss / 2**20:,.0f} MiB", f"{hwm / 2**20:,.0f} MiB"))
        finally:
            for server in servers.values():
                server.stop()
    report.context.append(("load average at the end", loadavg()))
    report.print()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.markdown())
    console.log(f"written to {args.out}")


if __name__ == "__main__":
    main()
