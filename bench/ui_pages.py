"""The web pages under load (issue #12): package, owner and search pages against /health and nginx.

The goal: a package page and an owner page with 5,000 packages answer in < 50 ms p99 warm. The database gets,
in bulk (the rows the upload path writes; no blobs, since pages never read them):

- `bench`, a user with 1,000 packages x 20 files (10 versions; conda linux-64 + osx-arm64, a wheel + an sdist,
  or conda noarch + a wheel), 10% private, 5% `authenticated`, every file in label `main`, one in five in `dev`;
  and `bench-wide`, one public package with 200 files (100 versions x linux-64 + osx-arm64);
- `big`, an organization with 5,000 packages x `--big-files` files (default 4: conda linux-64 + a wheel in two
  versions), 10% private;
- download counts on every file (random), so the "downloads" sort has something to sort.

Then `packyard serve` (1 worker) is started and, for each page, the first request (cold: nothing cached) is
timed once, then wrk runs twice: one connection (`-t1 -c1`: each request waits for the previous answer, so its
latency is the page's own time: the goal is judged on this p99) and four (`-t2 -c4`, `--connections`: four
requests queue for the one worker, so its p50 is about four service times and its req/s the worker's capacity). Two baselines in the same run: `/health` (the smallest
thing the server answers) and nginx serving the owner page's HTML as a static file (the same bytes, no work).
One signed-in row uses a token of the site administrator, who sees the private packages too.

Run from the repository root: `python bench/ui_pages.py` (about 4 minutes), `--quick` for a smoke run. It
prints the table and writes it as markdown to bench/results/ui_pages.md.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from common import (  # bench/common.py: the script's folder is first on sys.path
    Report,
    console,
    loadavg,
    machine_context,
    ms,
    phase,
    start_nginx,
    start_packyard,
    wait_for_quiet,
    wrk,
)
from sqlalchemy import insert

from packyard.core import migrate
from packyard.core.db import Database
from packyard.core.models import Account, Event, File, FileLabel, Label, Package, Release

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ui_pages.md"
ADMIN_PASSWORD = "bench-admin-password-1"
HTML = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
BASE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


class Rows:
    """Rows to insert per table, with ids handed out here so that children can point at their parents."""

    def __init__(self) -> None:
        self.rows: dict[Any, list[dict[str, Any]]] = {
            m: [] for m in (Package, Release, File, FileLabel, Event)
        }
        self.ids = {Package: 0, Release: 0, File: 0}

    def add(self, model: Any, **values: Any) -> int:
        if model in self.ids:
            self.ids[model] += 1
            values["id"] = self.ids[model]
        self.rows[model].append(values)
        return values.get("id", 0)


def _file(
    rows: Rows,
    pkg: int,
    rel: int,
    owner: int,
    basename: str,
    kind: str,
    at: dt.datetime,
    rng: random.Random,
    labels: Sequence[int],
) -> None:
    digest = hashlib.sha256(basename.encode()).hexdigest()
    file_id = rows.add(
        File,
        package_id=pkg,
        release_id=rel,
        basename=basename,
        package_type=kind,
        size=1000 + len(basename),
        md5=digest[:32],
        sha256=digest,
        description=None,
        attrs={"subdir": basename.split("/", 1)[0]} if kind == "conda" else {},
        dependencies=None,
        extra={},
        ndownloads=rng.randrange(0, 5000),
        uploader_id=owner,
        uploaded_at=at,
    )
    for label in labels:
        rows.add(FileLabel, file_id=file_id, label_id=label)


def _package(
    rows: Rows, owner: int, name: str, access: str, layout: str, versions: int, at: dt.datetime,
    rng: random.Random, labels: dict[str, int],
) -> None:  # fmt: skip
    types = {"conda2": ["conda"], "pypi": ["pypi"], "mixed": ["conda", "pypi"]}[layout]
    pkg = rows.add(
        Package,
        owner_id=owner,
        name=name,
        name_key=name.lower(),
        summary=f"Tools for {name.replace('-', ' ')}: measuring, fitting and plotting",
        description="",
        access=access,
        package_types=types,
        attrs={},
        created_at=at,
        modified_at=at,
    )
    for v in range(versions):
        version = f"1.{v}.0"
        rel = rows.add(
            Release, package_id=pkg, version=version, summary="", description="", attrs={}, created_at=at,
            modified_at=at,
        )  # fmt: skip
        chosen = [labels["main"], *([labels["dev"]] if rng.random() < 0.2 else [])]
        if layout == "conda2":
            for subdir in ("linux-64", "osx-arm64"):
                _file(rows, pkg, rel, owner, f"{subdir}/{name}-{version}-0.tar.bz2", "conda", at, rng, chosen)
        elif layout == "pypi":
            wheel = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
            _file(rows, pkg, rel, owner, wheel, "pypi", at, rng, chosen)
            _file(rows, pkg, rel, owner, f"{name}-{version}.tar.gz", "pypi", at, rng, chosen)
        else:
            subdir = "linux-64" if "big" in name else "noarch"
            _file(rows, pkg, rel, owner, f"{subdir}/{name}-{version}-0.tar.bz2", "conda", at, rng, chosen)
            wheel = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
            _file(rows, pkg, rel, owner, wheel, "pypi", at, rng, chosen)


def build_database(data: Path, big_files: int) -> dict[str, int]:
    """Migrate a fresh database and fill it; returns how many rows of each kind it holds."""
    data.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{(data / 'packyard.db').resolve()}"
    migrate.upgrade(url)
    db = Database(url)
    rng = random.Random(12)
    try:
        with db.write() as session:
            owners = {}
            for login, kind in (("bench", "user"), ("big", "org")):
                account = Account(login=login, login_key=login, kind=kind, name=login.title())
                session.add(account)
                session.flush()
                owners[login] = account.id
            labels = {}
            for login, owner in owners.items():
                for name in ("main", "dev"):
                    label = Label(owner_id=owner, name=name)
                    session.add(label)
                    session.flush()
                    labels[login, name] = label.id
            rows = Rows()
            for i in range(1000):
                access = "private" if i % 10 == 3 else "authenticated" if i % 20 == 7 else "public"
                layout = ("conda2", "pypi", "mixed")[i % 3]
                at = BASE + dt.timedelta(minutes=i)
                owner_labels = {"main": labels["bench", "main"], "dev": labels["bench", "dev"]}
                _package(
                    rows, owners["bench"], f"bench-pkg-{i:04d}", access, layout, 10, at, rng, owner_labels
                )
            # The "package page with 200 files": 100 versions x (linux-64 + osx-arm64).
            owner_labels = {"main": labels["bench", "main"], "dev": labels["bench", "dev"]}
            _package(rows, owners["bench"], "bench-wide", "public", "conda2", 100, BASE, rng, owner_labels)
            for i in range(5000):
                access = "private" if i % 10 == 3 else "public"
                at = BASE + dt.timedelta(minutes=i, seconds=30)
                owner_labels = {"main": labels["big", "main"], "dev": labels["big", "dev"]}
                _package(
                    rows,
                    owners["big"],
                    f"big-{i:04d}",
                    access,
                    "mixed",
                    big_files // 2,
                    at,
                    rng,
                    owner_labels,
                )
            rows.add(Event, kind="package.created", actor_id=None, owner="big", package="big-4999", version=None,
                     basename=None, data={}, at=BASE)  # fmt: skip
            for model, values in rows.rows.items():
                for start in range(0, len(values), 5000):
                    session.execute(insert(model.__table__), values[start : start + 5000])
        return {"packages": rows.ids[Package], "releases": rows.ids[Release], "files": rows.ids[File]}
    finally:
        db.dispose()


def admin_token(url: str) -> str:
    basic = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    response = httpx.post(
        f"{url}/api/authentications", headers={"Authorization": f"Basic {basic}"}, json={"note": "bench"}
    )
    response.raise_for_status()
    return str(response.json()["token"])


PAGES: list[tuple[str, str, bool]] = [
    ("package page (20 files)", "/bench/bench-pkg-0500", False),
    ("package page (200 files)", "/bench/bench-wide", False),
    ("Files tab, 200 files (page 1 of 4)", "/bench/bench-wide/files", False),
    ("labels page, 1,001 packages", "/bench/labels", False),
    ("channel page bench/label/dev", "/bench/label/dev", False),
    ("owner page, 1,000 packages", "/bench", False),
    ("owner page, 5,000 packages (big)", "/big", False),
    ("big, sorted by name, page 100", "/big?sort=name&page=100", False),
    ("big, sorted by downloads", "/big?sort=downloads", False),
    ("big, type=conda platform=linux-64 label=dev", "/big?type=conda&platform=linux-64&label=dev", False),
    ("big, as the site administrator (private too)", "/big", True),
    ("search: exact name", "/search?q=bench-pkg-0500", False),
    ("search: substring of 100 names", "/search?q=pkg-05", False),
    ("search: summary words, every package", "/search?q=fitting+plotting", False),
    ("search: summary words, signed in", "/search?q=fitting+plotting", True),
]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8, help="each wrk run (8)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections (4)")
    parser.add_argument(
        "--big-files", type=int, default=4, help="files per package of the 5,000-package owner (4)"
    )
    parser.add_argument("--quick", action="store_true", help="2 s loads")
    parser.add_argument(
        "--max-load", type=float, default=2.0, help="wait for this 1-minute load average (2.0)"
    )
    parser.add_argument("--max-wait", type=float, default=60, help="...for at most this many seconds (60)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = 2

    report = Report("Web pages (issue #12)")
    report.context += machine_context()
    report.context.append(
        (
            "load",
            f"wrk -t1 -c1 then -t2 -c{args.connections}, {args.seconds:g} s each per page, after one cold GET",
        )
    )
    rows = report.table(
        "pages",
        "page",
        "bytes",
        "first GET (cold)",
        "1 client p50",
        "1 client p99",
        "p99 < 50 ms",
        f"{args.connections} clients p50",
        f"{args.connections} clients p99",
        "req/s",
        "errors",
    )
    with tempfile.TemporaryDirectory(prefix="packyard-bench-ui-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        with phase("populate the database"):
            counts = build_database(data, args.big_files)
        report.context.append(("data", ", ".join(f"{n:,} {what}" for what, n in counts.items())))
        server = start_packyard(data, tmp / "serve.log", admin_password=ADMIN_PASSWORD)
        nginx = None
        try:
            token = admin_token(server.url)
            owner_html = httpx.get(f"{server.url}/big", headers={"Accept": "text/html"}).text
            static = tmp / "static"
            static.mkdir()
            (static / "owner.html").write_text(owner_html)
            nginx, nginx_name = start_nginx(static, tmp, workers=1)
            report.context.append(("static baseline", nginx_name))
            load, waited = wait_for_quiet(args.max_load, args.max_wait)
            report.context.append(("load average before measuring", f"{load:.2f} (waited {waited:.0f} s)"))
            targets = [("baseline: /health", f"{server.url}/health", False)]
            targets.append(
                ("baseline: nginx, the big owner page as a file", f"{nginx.url}/owner.html", False)
            )
            targets += [(label, server.url + path, signed) for label, path, signed in PAGES]
            for label, url, signed in targets:
                headers = [HTML] + ([f"Authorization: token {token}"] if signed else [])
                start = time.perf_counter()
                response = httpx.get(url, headers=dict(h.split(": ", 1) for h in headers), timeout=60)
                cold = time.perf_counter() - start
                response.raise_for_status()
                one = wrk(url, args.seconds, 1, threads=1, headers=headers)
                result = wrk(url, args.seconds, args.connections, threads=2, headers=headers)
                baseline = label.startswith("baseline")
                rows.append(
                    (
                        label,
                        f"{len(response.content):,}",
                        ms(cold),
                        ms(one.p50),
                        ms(one.p99),
                        "" if baseline else ("yes" if one.p99 < 0.05 else "no"),
                        ms(result.p50),
                        ms(result.p99),
                        f"{result.rps:,.0f}",
                        str(result.errors + one.errors),
                    )
                )
                console.log(
                    f"{label}: 1 client p50 {ms(one.p50)} p99 {ms(one.p99)}; "
                    f"{args.connections} clients p50 {ms(result.p50)} p99 {ms(result.p99)}, {result.rps:,.0f} req/s"
                )
        finally:
            server.stop()
            if nginx is not None:
                nginx.stop()
    report.context.append(("load average at the end", loadavg()))
    report.print()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.markdown())
    console.log(f"written to {args.out}")


if __name__ == "__main__":
    main()
