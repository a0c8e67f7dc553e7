"""A 64 MiB file up and down through the library in a process of its own, whose peak memory must stay far below
the file's size: uploads (the stage flow and the one-request flow) and downloads are streamed in chunks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.client.conftest import new_account
from tests.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("client-streaming")

SIZE = 64 * 1024 * 1024
ALLOWED_GROWTH = 24 * 1024 * 1024  # well under the file: holding it once would exceed this by far

SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    from packyard.client import Client

    url, token, owner, source, target = sys.argv[1:]
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    seen = []
    with Client(url, token) as api:
        api.user()  # imports and the connection pool are in the baseline
        before = peak()
        api.add_package(owner, "big", summary="a big file")
        api.add_release(owner, "big", "1.0", [], None, {})
        with open(source, "rb") as fh:
            done = api.upload(owner, "big", "1.0", "big.bin", fh, "file", callback=lambda d, t: seen.append((d, t)))
        message = api.upload_repo(owner, source, "file", name="big-too", version="2.0")
        got = api.download_file(owner, "big", "1.0", "big.bin", target, callback=lambda d, t: seen.append((d, t)))
        streamed = 0
        with api.download(owner, "big-too", "2.0", Path(source).name) as answer:
            for chunk in answer.iter_content(1 << 20):
                streamed += len(chunk)
    print(json.dumps({"before": before, "after": peak(), "sha256": done["sha256"], "message": message,
                      "saved": str(got), "streamed": streamed, "progress": seen[-1], "calls": len(seen)}))
    """
)


def test_a_64_mib_file_up_and_down_in_little_memory(live_server: LiveServer, tmp_path: Path) -> None:
    account = new_account(live_server, "big")
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with source.open("wb") as out:
        for _ in range(SIZE // (1 << 20)):
            chunk = os.urandom(1 << 20)
            digest.update(chunk)
            out.write(chunk)
    target = tmp_path / "downloaded.bin"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            live_server.url,
            account.token,
            account.login,
            str(source),
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["sha256"] == digest.hexdigest()
    assert out["message"] == f"uploaded {account.login}/big-too/2.0/big.bin"
    assert Path(out["saved"]) == target and target.stat().st_size == SIZE and out["streamed"] == SIZE
    with target.open("rb") as fh:
        assert hashlib.file_digest(fh, "sha256").hexdigest() == digest.hexdigest()
    assert out["progress"] == [SIZE, SIZE] and out["calls"] > 64  # reported chunk by chunk
    growth = out["after"] - out["before"]
    assert growth < ALLOWED_GROWTH, f"the client's peak memory grew by {growth >> 20} MiB for a 64 MiB file"
