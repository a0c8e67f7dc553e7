"""A bounded mixed load (issue #14, item 8): many concurrent clients for a fixed time against `packyard serve`.

Each client loops, picking a request kind by weight: web pages (a package page, an owner page, search), the PyPI
simple index, conda repodata, the REST API, downloads of a conda package, and uploads (`POST /api/repo/OWNER` of
a small generated file, a new version each time). Every answer must be a success: the script prints p50/p99 per
kind, the error count (non-2xx answers and transport errors, which must be 0) and the server's peak RSS, and
exits 1 on any error.

Run from the repository root: `python bench/load.py` (200 clients for 60 s, about 90 s in all) or
`python bench/load.py --quick` (20 clients for 10 s). The table is also written to bench/results/load.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from common import Report, console, loadavg, machine_context, memory, ms, start_packyard  # bench/ on sys.path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.builders import build_conda, build_wheel

ADMIN_PASSWORD = "bench-admin-password-1"
OWNER = "admin"

KINDS: list[tuple[str, str, int]] = [
    ("page: package", "/admin/demo", 10),
    ("page: owner", "/admin", 5),
    ("page: search", "/search?q=demo", 5),
    ("pypi simple", "/pypi/admin/simple/demo-pkg/", 20),
    ("conda repodata", "/conda/admin/noarch/repodata.json", 20),
    ("api: package", "/api/package/admin/demo", 15),
    ("download", "/api/download/admin/demo/1.0/noarch/demo-1.0-0.tar.bz2", 20),
    ("upload", "", 5),
]
"""(kind, path, weight): the reads a busy repository sees most, a few uploads."""


@dataclass
class Results:
    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: list[str] = field(default_factory=list)
    uploads: int = 0


def prepare(url: str, tmp: Path) -> str:
    """A token, a conda package and a wheel to read; returns the token."""
    with httpx.Client(base_url=url, timeout=60) as client:
        token = client.post(
            "/api/authentications", auth=(OWNER, ADMIN_PASSWORD), json={"note": "load", "scopes": ["all"]}
        ).json()["token"]
        headers = {"X-Auth": token}
        conda = build_conda(tmp, version="1.0")
        created = client.post(
            f"/api/package/{OWNER}/demo",
            headers=headers,
            json={"public": True, "publish": False, "public_attrs": {"summary": "load test"}},
        )
        created.raise_for_status()
        data = conda.read_bytes()
        staged = client.post(
            f"/api/stage/{OWNER}/demo/1.0/noarch%2F{conda.name}",
            headers=headers,
            json={
                "distribution_type": "conda",
                "attrs": {},
                "channels": [],
                "sha256": hashlib.sha256(data).hexdigest(),
            },
        )
        staged.raise_for_status()
        form = staged.json()
        fields = dict(form["form_data"])
        fields["Content-Length"] = str(len(data))
        fields["Content-MD5"] = base64.b64encode(hashlib.md5(data).digest()).decode()
        client.post(form["post_url"], data=fields, files={"file": (conda.name, data)}).raise_for_status()
        client.post(
            f"/api/commit/{OWNER}/demo/1.0/noarch%2F{conda.name}",
            headers=headers,
            json={"dist_id": form["dist_id"]},
        ).raise_for_status()
        wheel = build_wheel(tmp)
        uploaded = client.post(
            f"/pypi/{OWNER}",
            auth=("__token__", token),
            data={
                ":action": "file_upload",
                "protocol_version": "1",
                "name": "demo-pkg",
                "version": "1.0",
                "filetype": "bdist_wheel",
                "pyversion": "py3",
                "metadata_version": "2.1",
                "sha256_digest": hashlib.sha256(wheel.read_bytes()).hexdigest(),
            },
            files={"content": (wheel.name, wheel.read_bytes(), "application/octet-stream")},
        )
        if not 200 <= uploaded.status_code < 300:
            raise SystemExit(f"the wheel upload failed: {uploaded.status_code} {uploaded.text}")
    return token


async def client_loop(
    index: int, url: str, token: str, deadline: float, results: Results, rng: random.Random
) -> None:
    kinds = [k for k, _, _ in KINDS]
    weights = [w for _, _, w in KINDS]
    paths = {k: p for k, p, _ in KINDS}
    headers = {"X-Auth": token}
    count = 0
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            started = time.perf_counter()
            try:
                if kind == "upload":
                    count += 1
                    body = f"client,count\n{index},{count}\n".encode()
                    response = await client.post(
                        f"/api/repo/{OWNER}",
                        data={"filetype": "file", "name": "load-data", "version": f"{index}.{count}"},
                        files={"content": (f"data-{index}-{count}.csv", body, "text/csv")},
                    )
                else:
                    response = await client.get(paths[kind])
                ok = 200 <= response.status_code < 300
                problem = f"{kind}: {response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                ok, problem = False, f"{kind}: {type(exc).__name__} {exc}"
            results.timings[kind].append(time.perf_counter() - started)
            if not ok:
                results.errors[kind] += 1
                if len(results.examples) < 10:
                    results.examples.append(problem)
            elif kind == "upload":
                results.uploads += 1


async def run(url: str, token: str, clients: int, seconds: float, results: Results) -> None:
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(client_loop(i, url, token, deadline, results, random.Random(i)) for i in range(clients))
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--quick", action="store_true", help="20 clients for 10 s")
    parser.add_argument("--out", type=Path, default=Path("bench/results/load.md"))
    args = parser.parse_args()
    if args.quick:
        args.clients, args.seconds = 20, 10
    with tempfile.TemporaryDirectory(prefix="packyard-load-") as tmp:
        server = start_packyard(Path(tmp) / "data", Path(tmp) / "server.log", admin_password=ADMIN_PASSWORD)
        try:
            token = prepare(server.url, Path(tmp))
            results = Results()
            load_before = loadavg()
            started = time.monotonic()
            asyncio.run(run(server.url, token, args.clients, args.seconds, results))
            elapsed = time.monotonic() - started
            _rss, peak = memory(server.process.pid)
        finally:
            server.stop()
    report = Report("Mixed load (bench/load.py)")
    report.context = [
        *machine_context(),
        ("clients", str(args.clients)),
        ("duration", f"{elapsed:.0f} s"),
        ("load average", f"{load_before} -> {loadavg()}"),
        ("server peak RSS (VmHWM)", f"{peak / 1e6:.0f} MB"),
        ("uploads stored", str(results.uploads)),
    ]
    rows = report.table("per kind", "kind", "requests", "req/s", "p50", "p99", "errors")
    total = errors = 0
    for kind, _path, _weight in KINDS:
        values = results.timings.get(kind, [])
        total += len(values)
        errors += results.errors.get(kind, 0)
        if values:
            rows.append(
                (
                    kind,
                    str(len(values)),
                    f"{len(values) / elapsed:.0f}",
                    ms(statistics.median(values)),
                    ms(percentile(values, 0.99)),
                    str(results.errors.get(kind, 0)),
                )
            )
    rows.append(("all", str(total), f"{total / elapsed:.0f}", "", "", str(errors)))
    report.print()
    for example in results.examples:
        console.print(f"[red]error[/red] {example}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.markdown())
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
