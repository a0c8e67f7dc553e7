"""Benchmark a PyPI mirror (issue #17): installing through a mirror against installing from its upstream.

An upstream Packyard gets N small projects (default 20, one wheel each, uploaded as twine does); a second
Packyard mirrors its index. For each client (pip, uv) and round, a fresh pair of mirrors is created (TTL 600 s, the
default, and TTL 0, which asks the upstream again for every page), and the wall time of one install of all N
projects (no cache, a fresh target folder) is measured:

- **direct**: from the upstream itself: the baseline every ratio is taken against, measured in the same round;
- **cold**: through a new mirror: every page and every wheel is fetched from the upstream, checked and stored;
- **warm**: the same install again: files from the mirror's store, pages from its cache (TTL 600) or
  revalidated with the upstream (TTL 0, `If-None-Match`);
- **offline**: after the upstream is stopped, the same install again: TTL 600 answers from its cache without
  asking; TTL 0 tries the upstream, is refused, and serves the stale pages with `Warning: 110`.

Run from the repository root: `python bench/mirror.py` (`--quick` for a smoke run); see bench/README.md. It prints
the table and writes it as markdown to bench/results/mirror.md. conda and CRAN mirrors are not measured yet (they
do not exist on this branch).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
from common import (  # bench/common.py: the script's folder is first on sys.path
    Report,
    Server,
    console,
    loadavg,
    machine_context,
    phase,
    start_packyard,
    wait_for_quiet,
)
from pypi_simple import (  # the wheel writer, the user + token and the twine-style uploads
    OWNER,
    PASSWORD,
    fill_packyard,
    packyard_token,
    project_name,
    verify_sample,
    wheel_bytes,
    wheel_name,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "mirror.md"
VERSION = "1.0.0"
TTLS = (600, 0)


# --- the projects and the two servers ---------------------------------------------------------------------------


def write_wheels(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        path = folder / wheel_name(project_name(i), VERSION)
        path.write_bytes(wheel_bytes(project_name(i), VERSION))
        paths.append(path)
    verify_sample(paths)
    return paths


def create_mirror(server: Server, name: str, upstream_index: str, ttl: int) -> None:
    response = httpx.post(
        f"{server.url}/api/mirrors/{name}",
        auth=(OWNER, PASSWORD),
        json={"format": "pypi", "upstream": upstream_index, "ttl": ttl},
        timeout=60,
    )
    if response.status_code != 201:
        raise SystemExit(f"creating mirror {name}: {response.status_code} {response.text}")


# --- the clients --------------------------------------------------------------------------------------------------


def clients_bin(option: str | None) -> Path:
    """--clients-bin, else PACKYARD_CLIENTS_BIN (the tests' clients venv), else ./.venv-clients/bin."""
    for candidate in (option, os.environ.get("PACKYARD_CLIENTS_BIN"), str(ROOT / ".venv-clients" / "bin")):
        if candidate and (Path(candidate) / "pip").is_file():
            return Path(candidate)
    raise SystemExit("no clients venv with pip and uv: pass --clients-bin DIR (or set PACKYARD_CLIENTS_BIN)")


def version_of(program: Path) -> str:
    out = subprocess.run([str(program), "--version"], capture_output=True, text=True).stdout
    return out.split(" from ")[0].strip()


def install(client: str, bin_dir: Path, index: str, projects: Sequence[str], work: Path) -> float:
    """Wall time of one install of every project into a fresh folder, with no cache and no configuration."""
    target = Path(tempfile.mkdtemp(prefix=f"{client}-", dir=work))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "UV_NO_CONFIG": "1"}
    if client == "pip":
        cmd = [str(bin_dir / "pip"), "install", "--no-cache-dir", "-q", "--target", str(target)]
    else:
        cmd = [str(bin_dir / "uv"), "pip", "install", "--no-cache", "-q", "--python", str(bin_dir / "python")]
        cmd += ["--target", str(target)]
    cmd += ["--index-url", index, *projects]
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{client} install from {index} failed:\n{result.stdout}\n{result.stderr}")
    missing = [p for p in projects if not (target / p.replace("-", "_") / "__init__.py").is_file()]
    if missing:
        raise RuntimeError(f"{client} install from {index} did not install {missing[:5]}")
    shutil.rmtree(target)
    return elapsed


# --- report -------------------------------------------------------------------------------------------------------


def seconds(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f} s"


def ratio(values: Sequence[float], baseline: Sequence[float]) -> str:
    return f"{statistics.median(values) / statistics.median(baseline):.2f}x"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="fresh mirrors per client and TTL; medians")
    parser.add_argument("--clients", default="pip,uv", help="pip, uv or both (comma-separated)")
    parser.add_argument(
        "--clients-bin", help="a folder with pip, uv and python (default: PACKYARD_CLIENTS_BIN)"
    )
    parser.add_argument("--quick", action="store_true", help="1 round, 5 projects")
    parser.add_argument("--max-load", type=float, default=2.0)
    parser.add_argument("--max-wait", type=float, default=120.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, data)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.projects, args.max_wait = 1, 5, 0.0
    args.clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    if not args.clients or set(args.clients) - {"pip", "uv"}:
        parser.error("--clients takes pip, uv or both")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    bin_dir = clients_bin(args.clients_bin)
    tmp = Path(tempfile.mkdtemp(prefix="packyard-bench-mirror-"))
    work = tmp / "work"
    work.mkdir()
    report = Report(
        "PyPI mirror: install through a mirror vs from its upstream (issue #17)", machine_context()
    )
    projects = [project_name(i) for i in range(args.projects)]
    times: dict[tuple[str, str, int], list[float]] = {}
    """(client, step, ttl) -> seconds per round; `direct` under ttl -1."""
    servers: list[Server] = []
    try:
        with phase(f"writing {args.projects} wheels"):
            paths = write_wheels(tmp / "wheels", args.projects)
        upstream = start_packyard(tmp / "upstream", tmp / "upstream.log")
        servers.append(upstream)
        mirror = start_packyard(tmp / "mirror", tmp / "mirror.log")
        servers.append(mirror)
        with phase("uploading to the upstream"):
            fill_packyard(upstream, packyard_token(upstream, tmp / "upstream"), paths, 4)
        packyard_token(
            mirror, tmp / "mirror"
        )  # the same user on the mirror's server, who creates the mirrors
        upstream_index = f"{upstream.url}/pypi/{OWNER}/simple/"
        load, waited = wait_for_quiet(args.max_load, args.max_wait)
        mirrors: dict[tuple[str, int, int], str] = {}
        for client in args.clients:
            for r in range(args.rounds):
                with phase(f"{client}, round {r + 1}: direct, then cold and warm through new mirrors"):
                    times.setdefault((client, "direct", -1), []).append(
                        install(client, bin_dir, upstream_index, projects, work)
                    )
                    for ttl in TTLS:
                        name = f"mirror-{client}-{r}-ttl{ttl}"
                        create_mirror(mirror, name, upstream_index, ttl)
                        mirrors[client, r, ttl] = name
                        index = f"{mirror.url}/pypi/{name}/simple/"
                        for step in ("cold", "warm"):
                            times.setdefault((client, step, ttl), []).append(
                                install(client, bin_dir, index, projects, work)
                            )
        upstream.stop()
        offline_header = ""
        for (client, _r, ttl), name in mirrors.items():
            index = f"{mirror.url}/pypi/{name}/simple/"
            with phase(f"{client}: offline through {name}"):
                times.setdefault((client, "offline", ttl), []).append(
                    install(client, bin_dir, index, projects, work)
                )
            if ttl == 0 and not offline_header:
                page = httpx.get(f"{index}{projects[0]}/", timeout=60)
                offline_header = (
                    f"{page.status_code}, Warning: {page.headers.get('warning', '(none)')}, "
                    f"X-Packyard-Mirror: {page.headers.get('x-packyard-mirror', '(none)')}"
                )
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    report.context += [
        ("projects", f"{args.projects} projects, one ~1.3 kB pure-Python wheel each (no dependencies)"),
        ("servers", "two `packyard serve` (1 worker, SQLite) on this machine: the upstream and the mirror"),
        (
            "clients",
            ", ".join(
                f"{c}: {version_of(bin_dir / 'pip') if c == 'pip' else version_of(bin_dir / 'uv')}"
                for c in args.clients
            )
            + "; no cache (`--no-cache-dir`, `--no-cache`), no config, a fresh `--target` each time",
        ),
        ("rounds", f"{args.rounds} (a fresh pair of mirrors per client and round); medians"),
        (
            "offline check",
            f"a project page through a TTL 0 mirror with the upstream stopped: {offline_header}",
        ),
        ("load average before measuring", f"{load:.2f} (waited {waited:.0f} s); at the end {loadavg()}"),
    ]
    rows = report.table(
        f"Install of {args.projects} projects (median wall time; ratio against direct from the upstream)",
        "client",
        "path",
        "TTL",
        "time",
        "vs direct",
        "runs",
    )
    labels = {
        "cold": "mirror, cold (first install: all fetched from the upstream)",
        "warm": "mirror, warm (second install: cached)",
        "offline": "mirror, warm, upstream stopped",
    }
    for client in args.clients:
        direct = times[client, "direct", -1]
        rows.append(
            (client, "direct from the upstream (baseline)", "-", seconds(direct), "1.00x", _runs(direct))
        )
        for step in ("cold", "warm", "offline"):
            for ttl in TTLS:
                values = times[client, step, ttl]
                rows.append(
                    (client, labels[step], f"{ttl} s", seconds(values), ratio(values, direct), _runs(values))
                )
    report.print()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.markdown())
    console.log(f"written to {args.out}")


def _runs(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
