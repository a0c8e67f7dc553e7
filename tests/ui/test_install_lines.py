"""The install lines as data: which program each is for, and the private forms (no browser, no server).

tests/ui/test_install_lines_real.py runs them with the real clients; these pin the forms it found working.
"""

from __future__ import annotations

import pytest

from packyard.ui.install_lines import instructions, mirror_instructions, program


def lines_of(types: list[str], *, public: bool, owner: str = "lab", files=()) -> dict[str, list[str]]:
    found = instructions(
        "http://h", owner, "tools", types, public=public, labels=["main"], latest_files=list(files)
    )
    out: dict[str, list[str]] = {}
    for recipe in found.recipes:
        for name, line in recipe.commands:
            out.setdefault(name, []).append(line)
    return out


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("pip install --index-url http://h/pypi/lab/simple/ tools", "pip"),
        ("uv pip install --index-url http://h/pypi/lab/simple/ tools", "uv"),
        (
            "UV_INDEX_LAB_USERNAME=__token__ UV_INDEX_LAB_PASSWORD=<TOKEN> uv add --index lab=http://h/ tools",
            "uv",
        ),
        ('install.packages("tools", repos = "http://h/cran/lab")', "R"),
        ("conda install --channel http://h/conda/lab tools", "conda"),
        ("curl -fLO http://h/lab/tools/1/download/a.csv", "curl"),
        ("A=1", ""),
    ],
)
def test_each_line_names_its_program(line: str, expected: str) -> None:
    assert program(line) == expected


def test_public_lines_carry_no_token_or_credentials() -> None:
    lines = lines_of(["conda", "pypi", "r", "file"], public=True, files=[("1", "a.csv")])
    assert set(lines) >= {"conda", "mamba", "pixi", "pip", "uv", "R", "anaconda", "curl"}
    everything = " ".join(line for group in lines.values() for line in group)
    assert "<TOKEN>" not in everything and "UV_INDEX_" not in everything
    assert "anaconda download lab/tools" in lines["anaconda"]


def test_private_uv_add_keeps_the_token_out_of_the_url_it_writes_into_pyproject() -> None:
    (add,) = [line for line in lines_of(["pypi"], public=False, owner="acme-lab.x")["uv"] if " add " in line]
    assert add == (
        "UV_INDEX_ACME_LAB_X_USERNAME=__token__ UV_INDEX_ACME_LAB_X_PASSWORD=<TOKEN> "
        "uv add --index acme-lab.x=http://h/pypi/acme-lab.x/simple/ tools"
    )
    (recipe,) = instructions(
        "http://h", "lab", "t", ["pypi"], public=False, labels=[], latest_files=[]
    ).recipes
    assert "UV_INDEX_" in recipe.note  # the page says why
    pip = lines_of(["pypi"], public=False)["pip"]
    assert pip == ["pip install --index-url http://h/t/<TOKEN>/pypi/lab/simple/ tools"]  # pip: in the URL


def test_private_anaconda_download_passes_a_token() -> None:
    for kind in ("file", "env", "ipynb", "project"):
        assert "anaconda -t <TOKEN> download lab/tools" in lines_of([kind], public=False)["anaconda"], kind


def test_the_environment_file_is_the_name_anaconda_download_saves() -> None:
    create = lines_of(["env"], public=True, files=[("2", "environment.yml")])["conda"]
    assert create == ["conda env create --file environment.yml"]
    assert lines_of(["env"], public=True)["conda"] == [
        "conda env create --file tools.yml"
    ]  # nothing uploaded yet


def test_a_public_mirror_gives_its_index_url_per_format() -> None:
    (pypi,) = mirror_instructions("http://h", "pypi-cache", "pypi", public=True)
    assert [p for p, _ in pypi.commands] == ["pip", "uv"]
    assert pypi.lines[0] == "pip install --index-url http://h/pypi/pypi-cache/simple/ <PACKAGE>"
    assert pypi.note == "Index URL: http://h/pypi/pypi-cache/simple/"
    (conda,) = mirror_instructions("http://h", "cf", "conda", public=True)
    assert conda.lines[0] == "conda install --channel http://h/cf <PACKAGE>"
    (cran,) = mirror_instructions("http://h", "cr", "cran", public=True)
    assert cran.lines == ['install.packages("<PACKAGE>", repos = "http://h/cran/cr")']
    assert mirror_instructions("http://h", "x", "npm", public=True) == []


def test_a_private_mirror_gives_only_the_token_forms() -> None:
    for fmt in ("pypi", "conda", "cran"):
        (recipe,) = mirror_instructions("http://h", "inside", fmt, public=False)
        assert all("/t/<TOKEN>/" in line for line in recipe.lines), recipe.lines
