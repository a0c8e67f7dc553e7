"""`packyard.client.envplan.plan`: an environment.yml's channels mapped to this server's channel URLs.

The expected URLs are written out by hand from the rules in docs/client.md ("Creating an environment from
Packyard"); nothing here asks the module how it builds them.
"""

from __future__ import annotations

import pytest

from packyard.client.envplan import InvalidEnvironment, Plan, plan, redact, server_url, strip_token

BASE = "http://repo.example:8080"
TOKEN = "py-abc123-def456"


def env(*channels: str, deps: str = "  - envapp\n") -> bytes:
    listed = "".join(f"  - {c}\n" for c in channels)
    return f"name: demo\nchannels:\n{listed}dependencies:\n{deps}".encode()


def urls(p: Plan) -> list[str]:
    return [c.url for c in p.channels]


# written channel, token given -> the URL rattler reads, and whether it is on this server
CHANNELS = [
    ("alice", None, f"{BASE}/conda/alice", True),
    ("alice", TOKEN, f"{BASE}/conda/t/{TOKEN}/alice", True),
    ("alice/label/dev", None, f"{BASE}/conda/alice/label/dev", True),
    ("alice/label/dev", TOKEN, f"{BASE}/conda/t/{TOKEN}/alice/label/dev", True),
    (f"{BASE}/conda/alice", None, f"{BASE}/conda/alice", True),
    (f"{BASE}/conda/alice/", TOKEN, f"{BASE}/conda/t/{TOKEN}/alice", True),
    (f"{BASE}/alice/label/dev", None, f"{BASE}/conda/alice/label/dev", True),  # the root channel form
    (f"{BASE}/t/py-old-1/alice", None, f"{BASE}/conda/t/py-old-1/alice", True),  # its token kept...
    (f"{BASE}/t/py-old-1/alice", TOKEN, f"{BASE}/conda/t/{TOKEN}/alice", True),  # ...unless one is given
    (f"{BASE}/conda/t/py-old-1/alice/label/x", TOKEN, f"{BASE}/conda/t/{TOKEN}/alice/label/x", True),
    (f"{BASE}/t/py-old-1/conda/alice", None, f"{BASE}/conda/t/py-old-1/alice", True),
    ("HTTP://REPO.example:8080/conda/alice", None, f"{BASE}/conda/alice", True),
    (f"{BASE}/conda/alice/noarch", None, f"{BASE}/conda/alice/noarch", True),  # not a channel: as written
    ("http://repo.example:9090/conda/alice", TOKEN, "http://repo.example:9090/conda/alice", False),
    ("https://repo.example:8080/conda/alice", TOKEN, "https://repo.example:8080/conda/alice", False),
    ("https://other.example/conda/bob", TOKEN, "https://other.example/conda/bob", False),
    ("conda-forge", TOKEN, "https://conda.anaconda.org/conda-forge", False),
    ("bioconda", None, "https://conda.anaconda.org/bioconda", False),
    ("pkgs/main", None, "https://repo.anaconda.com/pkgs/main", False),
]


@pytest.mark.parametrize(("written", "token", "url", "on_server"), CHANNELS)
def test_channel_mapping(written: str, token: str | None, url: str, on_server: bool) -> None:
    (channel,) = plan(env(written), BASE, token).channels
    assert (channel.written, channel.url, channel.on_server) == (written, url, on_server)


def test_defaults_stands_for_anacondas_main_and_r() -> None:
    p = plan(env("defaults"), BASE, TOKEN)
    assert urls(p) == ["https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r"]
    assert not any(c.on_server for c in p.channels)


def test_channels_keep_their_order_once_each() -> None:
    p = plan(env("bob", "alice", f"{BASE}/conda/bob", "conda-forge"), BASE)
    assert urls(p) == [f"{BASE}/conda/bob", f"{BASE}/conda/alice", "https://conda.anaconda.org/conda-forge"]


@pytest.mark.parametrize("base", [f"{BASE}/", f"{BASE}/api", f"{BASE}/api/", f" {BASE} "])
def test_the_server_url_may_be_anaconda_clients(base: str) -> None:
    assert server_url(base) == BASE
    assert urls(plan(env("alice"), base)) == [f"{BASE}/conda/alice"]


def test_a_server_under_a_path() -> None:
    base = "https://host.example/packyard"
    p = plan(env(f"{base}/conda/alice", "https://host.example/other/conda/bob"), base, TOKEN)
    assert [(c.url, c.on_server) for c in p.channels] == [
        (f"{base}/conda/t/{TOKEN}/alice", True),
        ("https://host.example/other/conda/bob", False),
    ]


@pytest.mark.parametrize("base", ["repo.example", "ftp://repo.example", ""])
def test_a_server_url_must_be_http(base: str) -> None:
    with pytest.raises(Exception, match="must start with http"):
        plan(env("alice"), base)


@pytest.mark.parametrize("written", ["alice/dev", "alice/label", "alice/label/dev/x", "-alice", "a b"])
def test_a_channel_that_is_no_channel_is_refused(written: str) -> None:
    with pytest.raises(InvalidEnvironment, match="neither OWNER, OWNER/label/LABEL, a URL"):
        plan(env(written), BASE)


def test_no_channels_means_the_owners_channel() -> None:
    raw = b"name: demo\ndependencies:\n  - envapp\n"
    assert urls(plan(raw, BASE, TOKEN, owner="alice")) == [f"{BASE}/conda/t/{TOKEN}/alice"]
    with pytest.raises(InvalidEnvironment, match="names no channels"):
        plan(raw, BASE)


def test_specs_naming_a_channel_are_mapped_and_solved_with_it() -> None:
    p = plan(env("alice", deps="  - envapp >=1\n  - bob/label/dev::envlib 2.*\n"), BASE, TOKEN)
    assert p.specs == ("envapp >=1", f"{BASE}/conda/t/{TOKEN}/bob/label/dev::envlib 2.*")
    assert urls(p) == [f"{BASE}/conda/t/{TOKEN}/alice", f"{BASE}/conda/t/{TOKEN}/bob/label/dev"]


def test_pip_sections_and_the_pypi_indexes_they_would_use() -> None:
    deps = "  - python\n  - pip:\n    - requests==2.*\n    - rich\n"
    p = plan(env("alice", "conda-forge", "bob", deps=deps), BASE, TOKEN)
    assert p.specs == ("python",)
    assert p.pip == ("requests==2.*", "rich")
    assert p.pip_indexes == (f"{BASE}/pypi/t/{TOKEN}/alice/simple", f"{BASE}/pypi/t/{TOKEN}/bob/simple")
    assert plan(env("alice", deps=deps), BASE).pip_indexes == (f"{BASE}/pypi/alice/simple",)
    assert plan(env("alice"), BASE).pip_indexes == ()
    # no channel of this server: the environment owner's index, else none (pip's own configuration)
    assert plan(env("conda-forge", deps=deps), BASE, owner="carol").pip_indexes == (
        f"{BASE}/pypi/carol/simple",
    )
    assert plan(env("conda-forge", deps=deps), BASE).pip_indexes == ()


def test_name_platforms_and_selectors() -> None:
    raw = b"name: demo\nplatforms: [linux-64, osx-arm64]\nchannels: [alice]\ndependencies:\n  - sel(linux): a\n  - b\n"
    p = plan(raw, BASE)
    assert (p.name, p.platforms, p.specs) == ("demo", ("linux-64", "osx-arm64"), ("a", "b"))
    assert plan(b"channels: [alice]\ndependencies: [a]\n", BASE).name is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"name: [unclosed\n", "not valid YAML"),
        (b"\xff\xfe", "not UTF-8"),
        (b"- a\n- b\n", "must be a YAML mapping"),
        (b"name: x\nchannels: [alice]\n", "has no dependencies"),
        (b"name: x\nchannels: [alice]\ndependencies: []\n", "has no dependencies"),
        (
            b"name: x\nchannels: [alice]\ndependencies:\n  - {conda: [a]}\n",
            "neither a package spec nor a pip",
        ),
        (b"name: x\nchannels: alice\ndependencies: [a]\n", "channels must be a list of strings"),
        (b"name: x\nchannels: [alice]\ndependencies:\n  - pip: [1]\n", "the pip section must be a list"),
    ],
)
def test_unusable_files_say_what_is_wrong(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidEnvironment, match=message):
        plan(raw, BASE)


def test_tokens_are_masked_in_messages_and_removed_from_exported_channels() -> None:
    (channel,) = plan(env("alice"), BASE, TOKEN).channels
    assert channel.has_token and channel.shown == f"{BASE}/conda/t/<TOKEN>/alice"
    assert not plan(env("alice"), BASE).channels[0].has_token
    assert (
        redact(f"GET {BASE}/t/{TOKEN}/conda/a/noarch/x.conda: 404")
        == f"GET {BASE}/t/<TOKEN>/conda/a/noarch/x.conda: 404"
    )
    assert strip_token(f"{BASE}/conda/t/{TOKEN}/alice/") == f"{BASE}/conda/alice/"
    assert strip_token(f"{BASE}/t/{TOKEN}/alice") == f"{BASE}/alice"
    # an account named "t" is not a token
    assert strip_token(f"{BASE}/conda/t/label/dev") == f"{BASE}/conda/t/label/dev"
    assert strip_token(f"{BASE}/conda/t") == f"{BASE}/conda/t"
