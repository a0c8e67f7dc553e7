"""What `packyard serve` does to each worker beyond `create_app` (app.create_served_app)."""

from __future__ import annotations

import subprocess
import sys

from packyard.app import limit_malloc_arenas


def test_the_worker_limits_glibc_malloc_arenas() -> None:
    """On glibc (this machine, Debian) `mallopt(M_ARENA_MAX)` is there and accepts the limit."""
    assert limit_malloc_arenas() is True


def test_a_served_worker_frozen_and_limited_starts_and_answers(tmp_path) -> None:
    """In a fresh interpreter, so the GC freeze and the arena limit do not leak into the test process."""
    script = (
        "from fastapi.testclient import TestClient\n"
        "from packyard.config import Settings\n"
        "from packyard.app import create_served_app\n"
        "import gc\n"
        f"app = create_served_app(Settings(data={str(tmp_path / 'data')!r}, admin_password='x' * 12))\n"
        "assert gc.get_freeze_count() > 10000, gc.get_freeze_count()\n"
        "with TestClient(app) as client:\n"
        "    assert client.get('/health/ready').json()['ok'] is True\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
