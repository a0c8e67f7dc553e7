"""The pure parts of the UI: Markdown sanitising, link filtering, install lines, the owner-login route pattern."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from packyard.ui.install_lines import conda_channel, instructions
from packyard.ui.render import markdown, web_url
from packyard.ui.routes import LoginConvertor


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        '<a href="javascript:alert(1)">x</a>',
        "<svg onload=alert(1)>",
        "![x](javascript:alert(1))",
        '<iframe src="https://evil.example"></iframe>',
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    ],
)
def test_markdown_never_lets_active_content_through(hostile: str) -> None:
    elements = _elements(str(markdown(f"before\n\n{hostile}\n\nafter")))
    assert {tag for tag, _ in elements} <= {"p", "a", "h1", "strong", "em", "code", "pre"}
    for _tag, attrs in elements:
        assert not [name for name, _ in attrs if name.startswith("on")]
        for name, value in attrs:
            if name in ("href", "src"):
                assert (value or "").startswith(("https://", "http://", "mailto:")), value


def _elements(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every element the browser would build from `html`, with its attributes (text that looks like tags is not)."""
    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collect().feed(html)
    return found


def test_markdown_keeps_ordinary_formatting() -> None:
    html = str(markdown("# Title\n\nSome **bold**, `code`, a [link](https://example.org).\n\n- a\n- b"))
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert '<a href="https://example.org" rel="nofollow noopener ugc">link</a>' in html
    assert "<li>a</li>" in html


def test_only_http_urls_become_links() -> None:
    assert web_url("https://example.org/x") == "https://example.org/x"
    assert web_url("javascript:alert(1)") is None
    assert web_url("//evil.example") is None
    assert web_url("ftp://example.org") is None
    assert web_url("") is None


def test_install_lines_for_a_public_conda_and_pypi_package() -> None:
    found = instructions(
        "https://repo.example.org", "lab", "tools", ["conda", "pypi"], public=True, labels=["dev", "main"],
        latest_files=[("1.0", "tools-1.0-py3-none-any.whl")],
    )  # fmt: skip
    lines = [line for recipe in found.recipes for line in recipe.lines]
    assert "conda install --channel https://repo.example.org/lab tools" in lines
    assert "conda install --channel https://repo.example.org/lab/label/dev tools" in lines
    assert "pip install --index-url https://repo.example.org/pypi/lab/simple/ tools" in lines
    assert not found.needs_token and not any("<TOKEN>" in line for line in lines)


def test_install_lines_for_a_private_package_carry_the_token_form() -> None:
    found = instructions(
        "http://h",
        "lab",
        "tools",
        ["r", "file"],
        public=False,
        labels=["main"],
        latest_files=[("2", "data.csv")],
    )
    lines = [line for recipe in found.recipes for line in recipe.lines]
    assert 'install.packages("tools", repos = "http://h/t/<TOKEN>/cran/lab")' in lines
    assert "curl -fLO http://h/t/<TOKEN>/lab/tools/2/download/data.csv" in lines
    assert found.needs_token


def test_conda_lines_name_the_channel_at_the_site_root() -> None:
    found = instructions(
        "http://h", "lab", "tools", ["conda"], public=False, labels=["main", "dev"], latest_files=[]
    )
    lines = [line for recipe in found.recipes for line in recipe.lines]
    assert "conda install --channel http://h/t/<TOKEN>/lab tools" in lines
    assert "conda install --channel http://h/t/<TOKEN>/lab/label/dev tools" in lines
    assert "pixi workspace channel add http://h/t/<TOKEN>/lab" in lines
    assert conda_channel("http://h", "lab") == "http://h/lab"
    assert conda_channel("http://h", "lab", "main") == "http://h/lab"
    assert conda_channel("http://h", "lab", "rc.1", needs_token=True) == "http://h/t/<TOKEN>/lab/label/rc.1"


@pytest.mark.parametrize(
    "segment",
    [
        "api",
        "API",
        "conda",
        "pypi",
        "cran",
        "static",
        "t",
        "login",
        "health",
        "RPC2",
        "dashboard",
        "notifications",
    ],
)
def test_reserved_first_segments_are_not_owners(segment: str) -> None:
    pattern = re.compile(f"^{LoginConvertor.regex}$")
    assert not pattern.match(segment)


@pytest.mark.parametrize("login", ["alice", "Bob", "acme-lab", "a.b_c", "apiary", "tester", "conda-forge"])
def test_ordinary_logins_are_owners(login: str) -> None:
    assert re.compile(f"^{LoginConvertor.regex}$").match(login)
