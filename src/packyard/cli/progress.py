"""Progress of file transfers for `upload` and `download`: one rich bar per file (bytes, speed, time left) when
standard error is a terminal, else a plain line when a file starts and when it is done, so that logs and pipes get
no control characters."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rich.console import Console

from packyard.cli import session

Report = Callable[[int, int], None]
"""`report(bytes_done, total)`: the library's `callback` (packyard.client.Progress)."""


@contextmanager
def transfers(names: Sequence[str], started: str, finished: str) -> Iterator[Callable[[int], Report]]:
    """`callback(i)` is the progress callback of the i-th of `names`; `started`/`finished` are the plain lines'
    verbs ("uploading"/"sent")."""
    console = Console(stderr=True)
    if not console.is_terminal:
        lock = threading.Lock()

        def plain(index: int) -> Report:
            seen = [False]

            def report(done: int, total: int) -> None:
                with lock:
                    if not seen[0]:
                        seen[0] = True
                        session.say(f"{started} {names[index]} ({total:,} bytes)")
                    if done >= total:
                        session.say(f"{finished} {names[index]}")

            return report

        yield plain
        return

    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    tasks = [bars.add_task(name, total=None) for name in names]

    def bar(index: int) -> Report:
        def report(done: int, total: int) -> None:
            bars.update(tasks[index], completed=done, total=total)

        return report

    with bars:
        yield bar
