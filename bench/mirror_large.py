"""Benchmark a conda mirror of a large channel (issue #17): time and memory of the merged repodata of one subdir.

conda-forge's linux-64 repodata.json holds hundreds of thousands of records. This writes a synthetic subdir of
`--records` records (default 100,000, ~350 bytes each as conda-forge's are: ~35 MB) and a small noarch, serves them
with nginx (the upstream, and the baseline: the same bytes sent by a static server, measured in the same run), starts
Packyard with one worker and a conda mirror of that channel (TTL 1 s), and measures, each time from a fresh peak:

- **direct**: GET linux-64/repodata.json from nginx;
- **cold**: the first GET through the mirror: upstream's body streamed into the store, `mirror_records` written,
  the merged document rendered into a blob and sent;
- **warm**: the same GET again (the rendering is reused);
- **zst, first / again**: repodata.json.zst (compressed from the rendering once, then reused);
- **revalidated**: after the TTL: upstream answers 304 to If-None-Match; the rendering is reused;
- **upstream changed**: after 1% of the records changed upstream: fetched, the changed records written, rendered.

Each row gives the wall time, its ratio to direct, and the server's peak resident memory during the step above its
resident memory before it (VmHWM after resetting it through /proc/PID/clear_refs). Each document is checked: it
lists every record. Run from the repository root: `python bench/mirror_large.py [--records N]`; it prints the
table and writes it as markdown to bench/results/mirror_large.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import zstandard
from common import (  # bench/common.py: the script's folder is first on sys.path
    Report,
    Server,
    console,
    machine_context,
    memory,
    phase,
    start_nginx,
    start_packyard,
)
from pypi_simple import OWNER, PASSWORD, packyard_token

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "mirror_large.md"
MIRROR = "big"


def record(i: int, changed: bool = False) -> tuple[str, dict[str, object]]:
    """One conda-forge-like record: a name per ~10 records, dependencies, digests, license."""
    name = f"pkg{i // 10:06d}"
    version = f"1.{i % 10}.{1 if changed else 0}"
    build = f"py312h{i:07x}_0"
    digest = hashlib.sha256(f"{i}-{changed}".encode()).hexdigest()
    return f"{name}-{version}-{build}.conda", {
        "build": build,
        "build_number": 0,
        "depends": [
            "libgcc >=13",
            "python >=3.12,<3.13.0a0",
            "python_abi 3.12.* *_cp312",
            f"pkg{(i // 10 + 1):06d}",
        ],
        "license": "BSD-3-Clause",
        "md5": digest[:32],
        "name": name,
        "sha256": digest,
        "size": 100000 + i,
        "subdir": "linux-64",
        "timestamp": 1733000000000 + i,
        "version": version,
    }


def write_channel(root: Path, records: int, changed_every: int = 0) -> None:
    """linux-64 with `records` records (every `changed_every`-th one changed, when given) and an empty noarch."""
    packages = dict(record(i, bool(changed_every) and i % changed_every == 0) for i in range(records))
    for subdir, body in (
        ("linux-64", {"info": {"subdir": "linux-64"}, "packages": {}, "packages.conda": packages}),
        ("noarch", {"info": {"subdir": "noarch"}, "packages": {}, "packages.conda": {}}),
    ):
        target = root / "forge" / subdir / "repodata.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, separators=(",", ":")))
        tmp.replace(target)  # a new inode: nginx's ETag (mtime + size) changes


def reset_peak(pid: int) -> int:
    """Reset the process's VmHWM to its current RSS; returns that RSS (bytes)."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    return memory(pid)[0]


def timed_get(client: httpx.Client, url: str, pid: int | None) -> tuple[float, int, bytes]:
    """Wall time of one GET, the peak memory above the resident memory before it, and the body."""
    before = reset_peak(pid) if pid else 0
    start = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    peak = memory(pid)[1] - before if pid else 0
    return elapsed, peak, response.content


def count(body: bytes) -> int:
    doc = json.loads(body)
    return len(doc.get("packages", {})) + len(doc.get("packages.conda", {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument(
        "--rounds", type=int, default=3, help="direct and warm GETs are the median of this many"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="packyard-bench-mirror-large-"))
    report = Report(f"conda mirror of a {args.records:,}-record subdir")
    report.context = [*machine_context(), ("records", f"{args.records:,}")]
    rows = report.table("GET linux-64/repodata.json", "step", "wall", "vs direct", "peak memory", "records")
    servers: list[Server] = []
    try:
        with phase(f"writing {args.records:,} records"):
            write_channel(tmp / "www", args.records)
        size = (tmp / "www" / "forge" / "linux-64" / "repodata.json").stat().st_size
        report.context.append(("repodata.json", f"{size / 1e6:.1f} MB"))
        nginx, described = start_nginx(tmp / "www", tmp)
        servers.append(nginx)
        report.context.append(("upstream", described))
        packyard = start_packyard(tmp / "packyard", tmp / "packyard.log")
        servers.append(packyard)
        packyard_token(packyard, tmp / "packyard")
        response = httpx.post(
            f"{packyard.url}/api/mirrors/{MIRROR}",
            auth=(OWNER, PASSWORD),
            json={"format": "conda", "upstream": f"{nginx.url}/forge/", "ttl": 1},
            timeout=60,
        )
        if response.status_code != 201:
            raise SystemExit(f"creating the mirror: {response.status_code} {response.text}")
        pid = packyard.process.pid
        direct_url = f"{nginx.url}/forge/linux-64/repodata.json"
        mirror_url = f"{packyard.url}/conda/{MIRROR}/linux-64/repodata.json"
        with httpx.Client(timeout=600) as client:
            directs = [timed_get(client, direct_url, None) for _ in range(args.rounds)]
            direct = statistics.median(d[0] for d in directs)

            def row(step: str, elapsed: float, peak: int, body: bytes, expected: int = args.records) -> None:
                found = count(body)
                if found != expected:
                    raise SystemExit(f"{step}: {found} records, expected {expected}")
                rows.append(
                    (
                        step,
                        f"{elapsed:.2f} s",
                        f"{elapsed / direct:.1f}x",
                        f"{peak / 2**20:.0f} MB",
                        f"{found:,}",
                    )
                )

            row("direct (nginx)", direct, 0, directs[0][2])
            with phase("cold"):
                row("cold", *timed_get(client, mirror_url, pid))
            warm = [timed_get(client, mirror_url, pid) for _ in range(args.rounds)]
            row("warm", statistics.median(w[0] for w in warm), max(w[1] for w in warm), warm[0][2])
            for step in ("zst, first", "zst, again"):
                elapsed, peak, body = timed_get(client, mirror_url + ".zst", pid)
                row(step, elapsed, peak, zstandard.ZstdDecompressor().decompressobj().decompress(body))
            time.sleep(1.2)
            row("revalidated (304 upstream)", *timed_get(client, mirror_url, pid))
            with phase("changing 1% of the records upstream"):
                write_channel(tmp / "www", args.records, changed_every=100)
            time.sleep(1.2)
            # Each changed record is a new file name (a new version); nothing was cached here, so the merged
            # document is upstream's records alone: still `--records` of them.
            row("upstream changed (1%)", *timed_get(client, mirror_url, pid))
        report.context.append(("server idle RSS", f"{memory(pid)[0] / 2**20:.0f} MB"))
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    report.print()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report.markdown())
    console.print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
