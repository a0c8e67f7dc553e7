"""The per-file fetch lock of mirrors (core/mirrors/service._one_fetch): first fetches of one file run one at a
time, fetches of different files do not wait on each other, and nothing is left behind afterwards."""

from __future__ import annotations

import threading
import time

from packyard.core.mirrors import service


def test_one_file_is_fetched_by_one_thread_at_a_time_and_the_lock_is_forgotten() -> None:
    inside = 0
    most = 0
    guard = threading.Lock()

    def fetch(basename: str) -> None:
        nonlocal inside, most
        with service._one_fetch(1, basename):
            with guard:
                inside += 1
                most = max(most, inside)
            time.sleep(0.02)
            with guard:
                inside -= 1

    threads = [threading.Thread(target=fetch, args=("a.whl",)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 1
    assert service._FETCHING == {}


def test_different_files_are_fetched_side_by_side() -> None:
    both = threading.Barrier(2, timeout=5)

    def fetch(basename: str) -> None:
        with service._one_fetch(1, basename):
            both.wait()  # would time out (BrokenBarrierError) if the second file waited on the first

    threads = [threading.Thread(target=fetch, args=(name,)) for name in ("a.whl", "b.whl")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not both.broken and service._FETCHING == {}
