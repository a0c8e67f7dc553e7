"""Benchmark PyPI, conda and CRAN mirrors (issue #17): installing through a mirror against installing from its upstream.

An upstream Packyard gets small packages: N PyPI projects (default 20, one wheel each, uploaded as twine does), N
conda packages (default 20, half noarch `.conda`, half linux-64 `.tar.bz2`, uploaded through stage/commit as
anaconda-client does) and a few R source packages (default 5, `POST /api/repo/OWNER` as R users upload). A second
Packyard mirrors it. For each client (pip, uv, py-rattler, R) and round, a fresh pair of mirrors is created (TTL
600 s, the default, and TTL 0, which asks the upstream again for every index page), and the wall time of one
install of all the packages of that format (no cache, a fresh target) is measured:

- **direct**: from the upstream itself: the baseline every ratio is taken against, measured in the same round;
- **cold**: through a new mirror: every index and every file is fetched from the upstream, checked and stored;
- **warm**: the same install again: files from the mirror's store, indexes from its cache (TTL 600) or
  revalidated with the upstream (TTL 0, `If-None-Match`);
- **offline**: after the upstream is stopped, the same install again: TTL 600 answers from its cache without
  asking; TTL 0 tries the upstream, is refused, and serves the stale indexes with `Warning: 110`.

Run from the repository root: `python bench/mirror.py` (`--quick` for a smoke run); see bench/README.md. It prints
the table and writes it as markdown to bench/results/mirror.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import rattler
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
sys.path.insert(0, str(ROOT))  # the test suite's package builders and its stage/commit upload helper

from tests.builders import build_conda, build_r_source  # noqa: E402
from tests.unit.api.helpers import upload  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "mirror.md"
VERSION = "1.0.0"
TTLS = (600, 0)
FORMATS = {"pip": "pypi", "uv": "pypi", "rattler": "conda", "r": "cran"}
"""Each client's mirror format."""
RSCRIPT_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
"""What Rscript runs with (and a fresh HOME): no user profile, no site library, as tests/clients/test_cran_r.py."""


# --- the packages -------------------------------------------------------------------------------------------------


def write_wheels(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        path = folder / wheel_name(project_name(i), VERSION)
        path.write_bytes(wheel_bytes(project_name(i), VERSION))
        paths.append(path)
    verify_sample(paths)
    return paths


def conda_name(i: int) -> str:
    return f"bench-conda-{i:04d}"


def conda_subdir(i: int) -> str:
    """Even packages are noarch `.conda`, odd ones linux-64 `.tar.bz2`: both subdirs' repodata and both formats."""
    return "noarch" if i % 2 == 0 else "linux-64"


def write_conda(folder: Path, count: int) -> list[Path]:
    """Genuine conda packages from tests/builders.py (one small file each, no dependencies)."""
    paths = []
    for i in range(count):
        name, subdir = conda_name(i), conda_subdir(i)
        where = folder / name
        where.mkdir(parents=True)
        paths.append(
            build_conda(
                where,
                name=name,
                version=VERSION,
                subdir=subdir,
                fmt="conda" if subdir == "noarch" else "tar.bz2",
                files={f"share/{name}/{VERSION}.txt": f"{name} {VERSION} {subdir}\n".encode()},
                noarch="generic" if subdir == "noarch" else None,
            )
        )
    return paths


def fill_conda(server: Server, token: str, paths: Sequence[Path]) -> None:
    """Stage, POST and commit each package, as anaconda-client does (tests/unit/api/helpers.upload)."""
    with httpx.Client(base_url=server.url, timeout=120) as client:
        for i, path in enumerate(paths):
            basename = f"{conda_subdir(i)}/{path.name}"
            done = upload(client, token, OWNER, conda_name(i), VERSION, path, basename, "conda")  # type: ignore[arg-type]
            if done.status_code != 200:
                raise RuntimeError(f"conda upload {basename}: {done.status_code} {done.text}")


def r_name(i: int) -> str:
    return f"benchR{i:02d}"


def write_r(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True)
    return [build_r_source(folder, name=r_name(i), version="1.0") for i in range(count)]


def fill_r(server: Server, token: str, paths: Sequence[Path]) -> None:
    """`POST /api/repo/OWNER` with `filetype=cran_source_package`, as the docs' curl upload does."""
    with httpx.Client(timeout=120, headers={"X-Auth": token}) as client:
        for path in paths:
            done = client.post(
                f"{server.url}/api/repo/{OWNER}",
                data={"filetype": "cran_source_package"},
                files={"content": (path.name, path.read_bytes())},
            )
            if done.status_code != 200:
                raise RuntimeError(f"R upload {path.name}: {done.status_code} {done.text}")


# --- the servers' URLs and the mirrors ----------------------------------------------------------------------------


def index_url(server: Server, owner: str, fmt: str) -> str:
    """What each client is pointed at: a PyPI simple index, a conda channel, a CRAN repository."""
    return {
        "pypi": f"{server.url}/pypi/{owner}/simple/",
        "conda": f"{server.url}/conda/{owner}",
        "cran": f"{server.url}/cran/{owner}/",
    }[fmt]


def create_mirror(server: Server, name: str, fmt: str, upstream_index: str, ttl: int) -> None:
    response = httpx.post(
        f"{server.url}/api/mirrors/{name}",
        auth=(OWNER, PASSWORD),
        json={"format": fmt, "upstream": upstream_index, "ttl": ttl},
        timeout=60,
    )
    if response.status_code != 201:
        raise SystemExit(f"creating mirror {name}: {response.status_code} {response.text}")


def offline_answer(index: str, fmt: str, first: str) -> str:
    """Status and mirror headers of one index page through a mirror whose upstream is stopped."""
    page = {
        "pypi": f"{first}/",
        "conda": "noarch/repodata.json",
        "cran": "src/contrib/PACKAGES",
    }[fmt]
    answer = httpx.get(f"{index.rstrip('/')}/{page}", timeout=60)
    return (
        f"`{page}` {answer.status_code}, Warning: {answer.headers.get('warning', '(none)')}, "
        f"X-Packyard-Mirror: {answer.headers.get('x-packyard-mirror', '(none)')}"
    )


# --- the clients --------------------------------------------------------------------------------------------------


@dataclass
class Clients:
    bin_dir: Path | None
    """A folder with pip, uv and python (pip and uv only)."""
    rscript: str | None


def clients_bin(option: str | None) -> Path:
    """--clients-bin, else PACKYARD_CLIENTS_BIN (the tests' clients venv), else ./.venv-clients/bin."""
    for candidate in (option, os.environ.get("PACKYARD_CLIENTS_BIN"), str(ROOT / ".venv-clients" / "bin")):
        if candidate and (Path(candidate) / "pip").is_file():
            return Path(candidate)
    raise SystemExit("no clients venv with pip and uv: pass --clients-bin DIR (or set PACKYARD_CLIENTS_BIN)")


def version_of(program: str | Path) -> str:
    out = subprocess.run([str(program), "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0].split(" from ")[0].strip() if out else "unknown"


def client_versions(clients: Clients, names: Sequence[str]) -> str:
    versions = {
        "pip": lambda: version_of(clients.bin_dir / "pip") if clients.bin_dir else "",
        "uv": lambda: version_of(clients.bin_dir / "uv") if clients.bin_dir else "",
        "rattler": lambda: f"py-rattler {rattler.__version__} (solve + install in this process)",
        "r": lambda: version_of(clients.rscript) if clients.rscript else "",
    }
    return ", ".join(f"{c}: {versions[c]()}" for c in names)


def install(client: str, clients: Clients, index: str, packages: Sequence[str], work: Path) -> float:
    """Wall time of one install of every package into a fresh target, with no cache and no configuration."""
    target = Path(tempfile.mkdtemp(prefix=f"{client}-", dir=work))
    try:
        if client == "rattler":
            return rattler_install(index, packages, target)
        if client == "r":
            return r_install(clients, index, packages, target)
        return pypi_install(client, clients, index, packages, target, work)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def pypi_install(
    client: str, clients: Clients, index: str, projects: Sequence[str], target: Path, work: Path
) -> float:
    assert clients.bin_dir is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "UV_NO_CONFIG": "1"}
    if client == "pip":
        cmd = [str(clients.bin_dir / "pip"), "install", "--no-cache-dir", "-q", "--target", str(target)]
    else:
        cmd = [str(clients.bin_dir / "uv"), "pip", "install", "--no-cache", "-q"]
        cmd += ["--python", str(clients.bin_dir / "python"), "--target", str(target)]
    cmd += ["--index-url", index, *projects]
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{client} install from {index} failed:\n{result.stdout}\n{result.stderr}")
    missing = [p for p in projects if not (target / p.replace("-", "_") / "__init__.py").is_file()]
    if missing:
        raise RuntimeError(f"{client} install from {index} did not install {missing[:5]}")
    return elapsed


def rattler_install(channel: str, packages: Sequence[str], target: Path) -> float:
    """py-rattler's solve (repodata of linux-64 and noarch; sharded repodata first, as rattler and pixi do) and
    install into a fresh prefix, with a fresh cache folder (repodata and packages) and a fresh HTTP client."""
    prefix, cache = target / "env", target / "cache"

    async def run() -> list[str]:
        client = rattler.Client()
        gateway = rattler.Gateway(cache_dir=cache, client=client)
        records = await rattler.solve(
            sources=[channel],
            specs=list(packages),
            platforms=["linux-64", "noarch"],
            virtual_packages=[],
            gateway=gateway,
        )
        await rattler.install(
            records, target_prefix=prefix, cache_dir=cache / "pkgs", show_progress=False, client=client
        )
        return sorted(r.name.normalized for r in records)

    start = time.perf_counter()
    try:
        installed = asyncio.run(run())
    except Exception as error:
        raise RuntimeError(f"rattler install from {channel} failed: {error}") from error
    elapsed = time.perf_counter() - start
    missing = [
        p for p in packages if p not in installed or not (prefix / "share" / p / f"{VERSION}.txt").is_file()
    ]
    if missing:
        raise RuntimeError(f"rattler install from {channel} did not install {missing[:5]}")
    return elapsed


def r_install(clients: Clients, repos: str, packages: Sequence[str], target: Path) -> float:
    """`Rscript --vanilla -e 'install.packages(...)'` of the source packages into a fresh library (R downloads into
    its session's temporary folder, so there is no cache to clear)."""
    assert clients.rscript is not None
    library = target / "lib"
    library.mkdir()
    names = ", ".join(f'"{p}"' for p in packages)
    code = (
        f'install.packages(c({names}), repos = "{repos}", lib = "{library}", type = "source", quiet = TRUE)'
    )
    start = time.perf_counter()
    result = subprocess.run(
        [clients.rscript, "--vanilla", "-e", code],
        env={**RSCRIPT_ENV, "HOME": str(target)},
        cwd=target,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    missing = [p for p in packages if not (library / p / "DESCRIPTION").is_file()]
    if result.returncode != 0 or missing:
        raise RuntimeError(
            f"R install from {repos} did not install {missing[:5]}:\n{result.stdout}\n{result.stderr}"
        )
    return elapsed


# --- report -------------------------------------------------------------------------------------------------------


def seconds(values: Sequence[float]) -> str:
    return f"{_s(statistics.median(values))} s"


def _s(value: float) -> str:
    """Two decimals, three under a second: rattler's installs of 20 packages take well under 0.1 s."""
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def ratio(values: Sequence[float], baseline: Sequence[float]) -> str:
    return f"{statistics.median(values) / statistics.median(baseline):.2f}x"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=20, help="PyPI projects (pip, uv)")
    parser.add_argument("--conda", type=int, default=20, help="conda packages (rattler)")
    parser.add_argument("--r-packages", type=int, default=5, help="R source packages (r)")
    parser.add_argument("--rounds", type=int, default=3, help="fresh mirrors per client and TTL; medians")
    parser.add_argument(
        "--clients", default="pip,uv,rattler,r", help="any of pip, uv, rattler, r (comma-separated)"
    )
    parser.add_argument(
        "--clients-bin", help="a folder with pip, uv and python (default: PACKYARD_CLIENTS_BIN)"
    )
    parser.add_argument("--quick", action="store_true", help="1 round, 5 projects, 5 conda, 2 R packages")
    parser.add_argument("--max-load", type=float, default=2.0)
    parser.add_argument("--max-wait", type=float, default=120.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, data)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.projects, args.conda, args.r_packages, args.max_wait = 1, 5, 5, 2, 0.0
    args.clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    if not args.clients or set(args.clients) - set(FORMATS):
        parser.error("--clients takes any of pip, uv, rattler, r")
    return args


def find_clients(args: argparse.Namespace) -> Clients:
    bin_dir = clients_bin(args.clients_bin) if {"pip", "uv"} & set(args.clients) else None
    rscript = shutil.which("Rscript") if "r" in args.clients else None
    if "r" in args.clients and rscript is None:
        raise SystemExit(
            "Rscript is not installed (apt-get install r-base-core): install it or leave r out of --clients"
        )
    return Clients(bin_dir, rscript)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    clients = find_clients(args)
    tmp = Path(tempfile.mkdtemp(prefix="packyard-bench-mirror-"))
    work = tmp / "work"
    work.mkdir()
    report = Report("Mirrors: install through a mirror vs from its upstream (issue #17)", machine_context())
    formats = {FORMATS[c] for c in args.clients}
    packages = {
        "pypi": [project_name(i) for i in range(args.projects)],
        "conda": [conda_name(i) for i in range(args.conda)],
        "cran": [r_name(i) for i in range(args.r_packages)],
    }
    times: dict[tuple[str, str, int], list[float]] = {}
    """(client, step, ttl) -> seconds per round; `direct` under ttl -1."""
    offline: dict[str, str] = {}
    """format -> the offline check's answer."""
    servers: list[Server] = []
    try:
        upstream = start_packyard(tmp / "upstream", tmp / "upstream.log")
        servers.append(upstream)
        mirror = start_packyard(tmp / "mirror", tmp / "mirror.log")
        servers.append(mirror)
        token = packyard_token(upstream, tmp / "upstream")
        if "pypi" in formats:
            with phase(f"writing and uploading {args.projects} wheels"):
                fill_packyard(upstream, token, write_wheels(tmp / "wheels", args.projects), 4)
        if "conda" in formats:
            with phase(f"writing and uploading {args.conda} conda packages"):
                fill_conda(upstream, token, write_conda(tmp / "conda", args.conda))
        if "cran" in formats:
            with phase(f"writing and uploading {args.r_packages} R source packages"):
                fill_r(upstream, token, write_r(tmp / "r", args.r_packages))
        packyard_token(
            mirror, tmp / "mirror"
        )  # the same user on the mirror's server, who creates the mirrors
        load, waited = wait_for_quiet(args.max_load, args.max_wait)
        mirrors: dict[tuple[str, int, int], str] = {}
        for client in args.clients:
            fmt = FORMATS[client]
            upstream_index = index_url(upstream, OWNER, fmt)
            for r in range(args.rounds):
                with phase(f"{client}, round {r + 1}: direct, then cold and warm through new mirrors"):
                    times.setdefault((client, "direct", -1), []).append(
                        install(client, clients, upstream_index, packages[fmt], work)
                    )
                    for ttl in TTLS:
                        name = f"mirror-{client}-{r}-ttl{ttl}"
                        create_mirror(mirror, name, fmt, upstream_index, ttl)
                        mirrors[client, r, ttl] = name
                        index = index_url(mirror, name, fmt)
                        for step in ("cold", "warm"):
                            times.setdefault((client, step, ttl), []).append(
                                install(client, clients, index, packages[fmt], work)
                            )
        upstream.stop()
        for (client, _r, ttl), name in mirrors.items():
            fmt = FORMATS[client]
            index = index_url(mirror, name, fmt)
            with phase(f"{client}: offline through {name}"):
                times.setdefault((client, "offline", ttl), []).append(
                    install(client, clients, index, packages[fmt], work)
                )
            if ttl == 0 and fmt not in offline:
                offline[fmt] = offline_answer(index, fmt, packages[fmt][0])
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    described = {
        "pypi": f"{args.projects} PyPI projects, one ~1.3 kB pure-Python wheel each (pip, uv)",
        "conda": f"{args.conda} conda packages of one small file each, half noarch `.conda`, half linux-64 "
        "`.tar.bz2` (rattler)",
        "cran": f"{args.r_packages} R source packages (one R function each), installed from source (r)",
    }
    report.context += [
        (
            "packages",
            "; ".join(described[f] for f in ("pypi", "conda", "cran") if f in formats) + "; no dependencies",
        ),
        ("servers", "two `packyard serve` (1 worker, SQLite) on this machine: the upstream and the mirror"),
        (
            "clients",
            client_versions(clients, args.clients)
            + "; no cache (`--no-cache-dir`, `--no-cache`, a fresh rattler cache folder, R's per-session "
            "download folder), no config, a fresh target each time",
        ),
        ("rounds", f"{args.rounds} (a fresh pair of mirrors per client and round); medians"),
        (
            "offline check",
            "an index page through a TTL 0 mirror with the upstream stopped: "
            + "; ".join(f"{fmt} {answer}" for fmt, answer in offline.items()),
        ),
        ("load average before measuring", f"{load:.2f} (waited {waited:.0f} s); at the end {loadavg()}"),
    ]
    rows = report.table(
        "Install of every package of the client's format (median wall time; ratio against direct from the upstream)",
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
    return ", ".join(_s(v) for v in values)


if __name__ == "__main__":
    main()
