"""Two `packyard serve` nodes behind nginx behave as one server (issue #15, "N stateless nodes").

Uploads go to node A with the real clients; node B is asked directly (not through nginx), so a right answer from
B cannot come from A: its indexes, its in-memory front, its sessions and its throttle must all read the shared
database. Installs go through nginx with the real clients. The last test kills node B with SIGKILL in the middle
of 20 concurrent uploads through nginx. docs/architecture.md ("Several nodes") says why each cache is correct.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from tests.builders import build_conda, build_r_source, build_wheel
from tests.clients.anaconda import Anaconda, clients_bin
from tests.clients.test_conda_rattler import solve_and_install
from tests.clients.test_cran_r import curl_upload, install_and_call
from tests.clients.test_pypi_clients import run as tool
from tests.clients.test_pypi_clients import twine
from tests.cluster.conftest import JOBS_INTERVAL, Cluster
from tests.ui.conftest import csrf_from

pytestmark = [pytest.mark.clients, pytest.mark.postgres, pytest.mark.xdist_group("cluster")]
PASSWORD = "secret-pass-1"


@dataclass
class Published:
    owner: str
    token: str
    conda: Path
    wheel: Path
    r_source: Path
    anaconda: Anaconda


@pytest.fixture(scope="module")
def published(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Published:
    """Through node A only: anaconda-client (conda), twine (a wheel), curl as R users do (an R source package).

    anaconda-client's upload form comes back with nginx's URL (PACKYARD_BASE_URL), so its middle request may land
    on node B: the form signed by A must be accepted by B (shared PACKYARD_SECRET_KEY)."""
    tmp = tmp_path_factory.mktemp("published")
    owner = f"cl{uuid.uuid4().hex[:6]}"
    cluster.create_user(owner, PASSWORD)
    anaconda = Anaconda(tmp / "anaconda", cluster.a.api).configure().login(owner, PASSWORD)
    (tmp / "conda").mkdir()
    conda = build_conda(
        tmp / "conda", name="clpkg", version="1.0", fmt="conda", noarch="generic", files={"share/x": b"x\n"}
    )
    anaconda.run("upload", str(conda))
    token = cluster.token(owner, PASSWORD, node=cluster.a)
    (tmp / "wheel").mkdir()
    wheel = build_wheel(
        tmp / "wheel", name="cl-lib", version="1.0", modules={"cl_lib/__init__.py": b"VERSION = '1.0'\n"}
    )
    twine(tmp / "twine", f"{cluster.a.url}/pypi/{owner}/", "__token__", token, wheel)
    (tmp / "r").mkdir()
    r_source = build_r_source(tmp / "r", name="clR", version="1.0")
    curl_upload(f"{cluster.a.url}/api/repo/{owner}", token, r_source)
    return Published(owner, token, conda, wheel, r_source, anaconda)


def test_an_upload_through_a_is_in_every_index_of_b_at_once(cluster: Cluster, published: Published) -> None:
    b, owner = cluster.b.url, published.owner
    repodata = httpx.get(f"{b}/conda/{owner}/noarch/repodata.json", timeout=30).json()
    assert published.conda.name in repodata["packages.conda"]
    simple = httpx.get(f"{b}/pypi/{owner}/simple/cl-lib/", timeout=30).text
    assert published.wheel.name in simple
    packages = httpx.get(f"{b}/cran/{owner}/src/contrib/PACKAGES", timeout=30).text
    assert "Package: clR\nVersion: 1.0" in packages
    listing = httpx.get(f"{b}/api/packages/{owner}", timeout=30).json()
    assert sorted(p["name"] for p in listing) == ["cl-lib", "clR", "clpkg"]
    files = httpx.get(f"{b}/api/package/{owner}/clpkg", timeout=30).json()["files"]
    assert [f["basename"] for f in files] == [f"noarch/{published.conda.name}"]
    download = httpx.get(f"{b}/api/download/{owner}/clpkg/1.0/noarch/{published.conda.name}", timeout=30)
    assert download.content == published.conda.read_bytes()


def test_installs_through_nginx_with_the_real_clients(
    cluster: Cluster, published: Published, tmp_path: Path
) -> None:
    owner = published.owner
    index = f"{cluster.url}/pypi/{owner}/simple"
    tool(tmp_path / "pip", "pip", "install", "--index-url", index, "--target", str(tmp_path / "p"), "cl-lib")
    assert (tmp_path / "p/cl_lib/__init__.py").read_text() == "VERSION = '1.0'\n"
    tool(
        tmp_path / "uv",
        "uv",
        "pip",
        "install",
        "--python",
        str(clients_bin() / "python"),
        "--index-url",
        index,
        "--target",
        str(tmp_path / "u"),
        "cl-lib",
    )
    assert (tmp_path / "u/cl_lib/__init__.py").exists()
    installed = solve_and_install(f"{cluster.url}/conda/{owner}", ["clpkg"], tmp_path / "env", tmp_path / "c")
    assert installed == ["clpkg=1.0"]
    assert (tmp_path / "env/share/x").read_text() == "x\n"
    out = install_and_call(f"{cluster.url}/cran/{owner}", tmp_path / "lib", tmp_path, package="clR")
    assert "installed: clR" in out


def test_a_label_copy_on_a_is_in_bs_repodata_at_once(cluster: Cluster, published: Published) -> None:
    url = f"{cluster.b.url}/conda/{published.owner}/label/stable/noarch/repodata.json"
    before = httpx.get(url, timeout=30)  # B builds (and, anonymous, keeps) its answer for the label
    assert before.status_code == 404 or published.conda.name not in before.json()["packages.conda"]
    published.anaconda.run("copy", f"{published.owner}/clpkg/1.0", "--to-label", "stable")  # through A
    assert published.conda.name in httpx.get(url, timeout=30).json()["packages.conda"]


def test_bs_in_memory_front_never_serves_a_stale_index(
    cluster: Cluster, published: Published, tmp_path: Path
) -> None:
    """An anonymous index read twice on B (the second from B's front), a change on A, and B is fresh."""
    b, owner = cluster.b.url, published.owner
    urls = [
        f"{b}/pypi/{owner}/simple/cl-lib/",
        f"{b}/cran/{owner}/src/contrib/PACKAGES",
        f"{b}/conda/{owner}/noarch/repodata.json",
    ]
    warm = [httpx.get(u, timeout=30) for u in urls]
    assert [httpx.get(u, timeout=30).headers["etag"] for u in urls] == [r.headers["etag"] for r in warm]
    wheel = build_wheel(tmp_path, name="cl-lib", version="2.0", modules={"cl_lib/__init__.py": b"V = 2\n"})
    twine(tmp_path / "twine", f"{cluster.a.url}/pypi/{owner}/", "__token__", published.token, wheel)
    (tmp_path / "r").mkdir()
    curl_upload(
        f"{cluster.a.url}/api/repo/{owner}",
        published.token,
        build_r_source(tmp_path / "r", name="clR", version="1.1"),
    )
    (tmp_path / "c").mkdir()
    conda = build_conda(tmp_path / "c", name="clpkg", version="1.1", fmt="conda", noarch="generic")
    published.anaconda.run("upload", str(conda))
    simple, packages, repodata = (httpx.get(u, timeout=30) for u in urls)
    assert wheel.name in simple.text
    assert "Package: clR\nVersion: 1.1" in packages.text
    assert conda.name in repodata.json()["packages.conda"]
    # and a private package stays out of B's anonymous answers once made private on A
    made_private = httpx.patch(
        f"{cluster.a.api}/package/{owner}/cl-lib",
        headers={"Authorization": f"token {published.token}"},
        json={"public": False},
        timeout=30,
    )
    assert made_private.status_code == 200, made_private.text
    assert httpx.get(urls[0], timeout=30).status_code in (401, 404)


def test_a_web_sign_in_and_a_token_made_on_a_work_on_b(cluster: Cluster, published: Published) -> None:
    with httpx.Client(base_url=cluster.b.url, timeout=30) as anonymous_b:
        assert anonymous_b.get("/notifications").status_code == 303  # anonymous: to the sign-in page
        csrf = csrf_from(anonymous_b.get("/login").text)  # B's anonymous form, signed with the shared key ...
        csrf_cookie = anonymous_b.cookies["packyard_csrf"]
    with httpx.Client(base_url=cluster.a.url, timeout=30, cookies={"packyard_csrf": csrf_cookie}) as on_a:
        signed_in = on_a.post(  # ... is accepted by A
            "/login", data={"login": published.owner, "password": PASSWORD, "csrf_token": csrf, "next": "/"}
        )
        assert signed_in.status_code == 303, signed_in.text
        session = signed_in.cookies["packyard_session"]
    with httpx.Client(base_url=cluster.b.url, timeout=30, cookies={"packyard_session": session}) as on_b:
        page = on_b.get("/notifications")  # A's session opens B's pages
        assert page.status_code == 200
        assert published.owner in page.text
    token = cluster.token(published.owner, PASSWORD, node=cluster.a)
    me = httpx.get(f"{cluster.b.api}/user", headers={"Authorization": f"token {token}"}, timeout=30)
    assert me.status_code == 200 and me.json()["login"] == published.owner


def test_sign_in_throttling_is_shared(cluster: Cluster) -> None:
    """Failures on A (from this address) make B answer 429 to the right password from this address."""
    login = f"th{uuid.uuid4().hex[:6]}"
    cluster.create_user(login, PASSWORD, node=cluster.b)
    for _ in range(3):  # PACKYARD_LOGIN_FAILURES_ALLOWED of the nodes
        wrong = httpx.get(f"{cluster.a.api}/user", auth=(login, "wrong-password"), timeout=30)
        assert wrong.status_code == 401
    right = httpx.get(f"{cluster.b.api}/user", auth=(login, PASSWORD), timeout=30)
    assert right.status_code == 429, right.text
    assert 0 < int(right.headers["retry-after"]) <= 5
    unlocked = httpx.post(  # on B, forgetting the failures A recorded
        f"{cluster.b.api}/admin/users/{login}/unlock",
        headers={"Authorization": f"token {cluster.admin_token}"},
        timeout=30,
    )
    assert unlocked.json()["failures_cleared"] == 3
    assert httpx.get(f"{cluster.b.api}/user", auth=(login, PASSWORD), timeout=30).status_code == 200


def test_readiness_on_each_node_and_through_nginx(cluster: Cluster) -> None:
    for url in (cluster.a.url, cluster.b.url, cluster.url):
        ready = httpx.get(f"{url}/health/ready", timeout=30)
        assert ready.status_code == 200
        assert ready.json()["database"] == ready.json()["blobs"] == "ok"


def test_periodic_jobs_run_once_per_interval_across_the_nodes(cluster: Cluster) -> None:
    engine = sa.create_engine(cluster.database_url)
    try:

        def runs() -> dict[str, int]:
            with engine.connect() as conn:
                return {name: runs for name, runs in conn.execute(sa.text("SELECT name, runs FROM job_runs"))}

        first, started = runs(), time.monotonic()
        time.sleep(4 * JOBS_INTERVAL + 0.5)
        last, elapsed = runs(), time.monotonic() - started
        with engine.connect() as conn:
            nodes = {row[0] for row in conn.execute(sa.text("SELECT node FROM job_runs"))}
    finally:
        engine.dispose()
    assert set(last) == {"expired_stages", "expired_sessions", "old_login_failures"}
    for name, count in last.items():
        ran = count - first.get(name, 0)
        # two nodes offer each job every quarter interval; it ran once per interval, not twice
        assert 2 <= ran <= elapsed / JOBS_INTERVAL + 1, (name, ran, elapsed)
    assert nodes  # host:pid of whichever node ran each last


# kill -9 of one node during 20 concurrent uploads through nginx

WORKERS = 20
PER_WORKER = 3


@dataclass
class Attempt:
    name: str
    version: str
    basename: str
    sha256: str
    confirmed: bool = False


@dataclass
class Storm:
    attempts: list[Attempt] = field(default_factory=list)
    failures: dict[int, int] = field(default_factory=dict)
    confirmed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    reads_after_kill: list[int] = field(default_factory=list)


def _upload(client: httpx.Client, token: str, worker: int, index: int, tmp: Path, storm: Storm) -> None:
    """Even workers: anaconda-client's three requests (stage, form POST, commit); odd: one POST /api/repo."""
    rng = random.Random(worker * 100 + index)
    version = f"{worker}.{index}"
    if worker % 2 == 0:
        path = next((tmp / version).iterdir())  # built before the storm
        data, basename = path.read_bytes(), f"noarch/{path.name}"
        attempt = Attempt("storm", version, basename, hashlib.sha256(data).hexdigest())
        with storm.lock:
            storm.attempts.append(attempt)
        headers = {"Authorization": f"token {token}"}
        staged = client.post(
            f"/api/stage/admin/storm/{version}/{quote(basename)}",
            headers=headers,
            json={"distribution_type": "conda", "attrs": {}, "channels": [], "sha256": attempt.sha256},
        )
        staged.raise_for_status()
        form = staged.json()
        fields = {**form["form_data"], "Content-Length": str(len(data))}
        client.post(form["post_url"], data=fields, files={"file": (path.name, data)}).raise_for_status()
        committed = client.post(
            f"/api/commit/admin/storm/{version}/{quote(basename)}",
            headers=headers,
            json={"dist_id": form["dist_id"]},
        )
        committed.raise_for_status()
    else:
        data = rng.randbytes(1_000_000)
        attempt = Attempt("blobs", version, f"b-{version}.bin", hashlib.sha256(data).hexdigest())
        with storm.lock:
            storm.attempts.append(attempt)
        client.post(
            "/api/repo/admin",
            headers={"X-Auth": token},
            data={"filetype": "file", "name": "blobs", "version": version},
            files={"content": (attempt.basename, data, "application/octet-stream")},
        ).raise_for_status()
    with storm.lock:
        attempt.confirmed = True
        storm.confirmed += 1


def _uploader(url: str, token: str, worker: int, tmp: Path, storm: Storm) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        for index in range(PER_WORKER):
            try:
                _upload(client, token, worker, index, tmp, storm)
            except (httpx.TransportError, httpx.HTTPStatusError):
                with storm.lock:  # the node serving this upload died; the next upload goes to the other
                    storm.failures[worker] = storm.failures.get(worker, 0) + 1


def _fsck_counts(report: str) -> dict[str, int]:
    counts = {}
    for line in report.splitlines():
        cells = [c.strip() for c in line.replace("\u2502", "|").split("|") if c.strip()]
        if len(cells) >= 2 and cells[1].isdigit():
            counts[cells[0]] = int(cells[1])
    return counts


def test_kill_9_of_a_node_during_uploads_through_nginx(cluster: Cluster, tmp_path: Path) -> None:
    token = cluster.admin_token
    for name in ("storm", "blobs"):
        created = httpx.post(
            f"{cluster.a.api}/package/admin/{name}",
            headers={"Authorization": f"token {token}"},
            json={"public": True},
            timeout=30,
        )
        assert created.status_code == 200, created.text
    for worker in range(0, WORKERS, 2):
        for index in range(PER_WORKER):
            version = f"{worker}.{index}"
            (tmp_path / version).mkdir()
            payload = random.Random(worker * 100 + index).randbytes(400_000)
            build_conda(tmp_path / version, name="storm", version=version, files={"share/p": payload})
    storm, killed = Storm(), threading.Event()
    threads = [
        threading.Thread(target=_uploader, args=(cluster.url, token, w, tmp_path, storm), daemon=True)
        for w in range(WORKERS)
    ]

    def reader() -> None:  # what clients of the surviving cluster see meanwhile
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            while any(t.is_alive() for t in threads):
                after = killed.is_set()
                try:
                    status = client.get("/conda/admin/noarch/repodata.json").status_code
                except httpx.TransportError:
                    status = 0
                if after:
                    storm.reads_after_kill.append(status)
                time.sleep(0.02)

    for thread in threads:
        thread.start()
    watcher = threading.Thread(target=reader, daemon=True)
    watcher.start()
    deadline = time.monotonic() + 60
    while storm.confirmed < WORKERS // 2 and time.monotonic() < deadline:  # the storm is well under way
        time.sleep(0.01)
    cluster.b.kill9()
    killed.set()
    at_kill = storm.confirmed
    for thread in threads:
        thread.join(120)
    watcher.join(30)
    assert not any(t.is_alive() for t in threads)

    assert at_kill < WORKERS * PER_WORKER - WORKERS, "the storm was over before the kill: make it longer"
    # A kept serving: every read through nginx after the kill was answered, and uploads went on
    assert storm.reads_after_kill and set(storm.reads_after_kill) == {200}, storm.reads_after_kill
    assert all(n <= 1 for n in storm.failures.values()), storm.failures  # only what B was serving failed
    assert sum(a.confirmed for a in storm.attempts) >= WORKERS * PER_WORKER - WORKERS

    # every upload committed completely or left nothing visible
    with httpx.Client(base_url=cluster.a.url, headers={"X-Auth": token}, timeout=30) as client:
        listed = {
            (name, f["version"], f["basename"]): f["sha256"]
            for name in ("storm", "blobs")
            for f in client.get(f"/api/package/admin/{name}").json()["files"]
        }
        for attempt in storm.attempts:
            key = (attempt.name, attempt.version, attempt.basename)
            got = client.get(f"/api/download/admin/{attempt.name}/{attempt.version}/{attempt.basename}")
            if key in listed:
                assert listed[key] == attempt.sha256
                assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == attempt.sha256
            else:
                assert not attempt.confirmed, f"{key} was confirmed but is not listed"
                assert got.status_code == 404, key

    # B comes back; fsck finds nothing wrong, and nothing at all once the leftovers are cleaned
    cluster.b.launch()
    cluster.b.wait_ready()
    cleaned = cluster.cli("fsck", "--verify", "--repair", "--grace", "0", check=False)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    counts = _fsck_counts(cleaned.stdout)
    assert counts["missing blobs"] == counts["corrupt blobs"] == 0, cleaned.stdout
    again = cluster.cli("fsck", check=False)
    assert again.returncode == 0
    assert all(n == 0 for n in _fsck_counts(again.stdout).values()), again.stdout
    assert httpx.get(f"{cluster.b.url}/health/ready", timeout=30).status_code == 200
