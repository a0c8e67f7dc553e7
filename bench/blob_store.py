"""Benchmark a large upload and download on the local store and on S3 (issue #15), with the node's peak RSS.

In a temporary folder, one SeaweedFS (tests/seaweed.py) and, one after the other, three Packyard servers (`serve`,
1 worker, SQLite): blobs in the data folder; blobs in the bucket, streamed through the node; blobs in the bucket,
downloads redirected to presigned URLs (`PACKYARD_BLOB_REDIRECT=1`). Against each: one SIZE upload through
`POST /api/repo/OWNER` by curl from disk, then the same file downloaded by curl (following the redirect) to
/dev/null, several times (median). The server's RSS is sampled every 20 ms; the table shows it idle (after one
request), and its peak during the upload and during the downloads.

Run from the repository root: `python bench/blob_store.py` (`--size 1024` MiB by default, `--quick` for 64 MiB).
It prints a table and writes the same as markdown to bench/results/blob_store.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from common import Report, loadavg, machine_context, memory, packyard_env, start_packyard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/seaweed.py
from tests.seaweed import SeaweedS3

MiB = 1 << 20
PASSWORD = "bench-password-1"


class Sampler:
    """The peak RSS of a process, sampled every 20 ms while running."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = memory(pid)[0]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, memory(self.pid)[0])
            time.sleep(0.02)

    def __enter__(self) -> Sampler:
        self.peak = memory(self.pid)[0]
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def curl(*args: str) -> tuple[str, float]:
    start = time.perf_counter()
    done = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return done.stdout, time.perf_counter() - start


def run_one(name: str, tmp: Path, env: dict[str, str], big: Path, downloads: int) -> tuple[str, ...]:
    data = tmp / name
    os.environ.update(env)  # start_packyard passes this process's environment on
    try:
        server = start_packyard(data, tmp / f"{name}.log")
    finally:
        for key in env:
            os.environ.pop(key, None)
    try:
        subprocess.run(
            [sys.executable, "-m", "packyard.cli.main", "user", "create", "bench", "--password", PASSWORD],
            env={**packyard_env(data), **env},
            check=True,
            capture_output=True,
        )
        token = httpx.post(
            f"{server.url}/api/authentications", auth=("bench", PASSWORD), json={"note": "bench"}, timeout=60
        ).json()["token"]
        httpx.get(f"{server.url}/api/download/bench/none/1/none", timeout=60)
        idle = memory(server.process.pid)[0]
        with Sampler(server.process.pid) as up:
            status, upload_s = curl(
                "-H", f"X-Auth: {token}", "-F", "filetype=file", "-F", "name=big", "-F", "version=1",
                "-F", f"content=@{big}", f"{server.url}/api/repo/bench",
            )  # fmt: skip
        assert status == "200", status
        times = []
        with Sampler(server.process.pid) as down:
            for _ in range(downloads):
                status, seconds = curl("-L", f"{server.url}/api/download/bench/big/1/big.bin")
                assert status == "200", status
                times.append(seconds)
        size = big.stat().st_size / MiB
        download_s = statistics.median(times)
        return (
            name,
            f"{idle / MiB:.0f}",
            f"{upload_s:.1f} s ({size / upload_s:.0f} MiB/s)",
            f"{up.peak / MiB:.0f}",
            f"{download_s:.1f} s ({size / download_s:.0f} MiB/s)",
            f"{down.peak / MiB:.0f}",
        )
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=1024, help="MiB to upload (default 1024)")
    parser.add_argument("--downloads", type=int, default=3, help="downloads per store (median; default 3)")
    parser.add_argument("--quick", action="store_true", help="64 MiB, one download")
    parser.add_argument("--out", type=Path, default=Path("bench/results/blob_store.md"))
    args = parser.parse_args()
    size, downloads = (64, 1) if args.quick else (args.size, args.downloads)
    report = Report("Large files on the local store and on S3 (issue #15)")
    report.context = [*machine_context(), ("size", f"{size} MiB")]
    load_before = loadavg()
    rows = report.table(
        "one upload, then downloads (curl, median)",
        "store", "idle RSS MB", "upload", "peak RSS upload MB", "download", "peak RSS download MB",
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="packyard-bench-s3-") as folder:
        tmp = Path(folder)
        big = tmp / "big.bin"
        with big.open("wb") as fh:
            block = os.urandom(MiB)
            for i in range(size):
                fh.write(block[:-1] + bytes([i % 256]))
        seaweed = SeaweedS3.start()
        try:
            bucket = seaweed.new_bucket()
            s3 = {**seaweed.env(), "PACKYARD_BLOB_URL": f"s3://{bucket}/bench"}
            for name, env in (
                ("local folder", {}),
                ("S3, streamed", s3),
                ("S3, redirected", {**s3, "PACKYARD_BLOB_REDIRECT": "1"}),
            ):
                if name == "S3, redirected":
                    env = {**env, "PACKYARD_BLOB_URL": f"s3://{bucket}/bench2"}
                rows.append(
                    run_one(name.split(",")[0].replace(" ", "-") + str(len(rows)), tmp, env, big, downloads)
                )
                rows[-1] = (name, *rows[-1][1:])
        finally:
            seaweed.stop()
    report.context.append(("load average", f"{load_before} -> {loadavg()}"))
    report.print()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.markdown())


if __name__ == "__main__":
    main()
