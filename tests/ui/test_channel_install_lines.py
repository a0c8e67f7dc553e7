"""The channel page's install lines (ui.install_lines.channel_instructions): pure, checked line by line."""

from __future__ import annotations

from packyard.ui.install_lines import channel_instructions


def lines_of(base: str, owner: str, label: str, types: set[str], *, any_private: bool) -> list[str]:
    recipes = channel_instructions(base, owner, label, types, any_private=any_private)
    return [line for recipe in recipes for line in recipe.lines]


def test_a_public_label_names_each_clients_url_for_that_label() -> None:
    lines = lines_of("http://h", "lab", "dev", {"conda", "pypi", "r"}, any_private=False)
    assert "conda config --add channels http://h/lab/label/dev" in lines
    assert "conda install --channel http://h/lab/label/dev <PACKAGE>" in lines
    assert "pixi workspace channel add http://h/lab/label/dev" in lines
    assert "pip install --index-url http://h/pypi/lab/label/dev/simple/ <PACKAGE>" in lines
    assert 'install.packages("<PACKAGE>", repos = "http://h/cran/lab/label/dev")' in lines
    assert not any("<TOKEN>" in line for line in lines)


def test_main_is_the_bare_channel_and_only_present_formats_show() -> None:
    lines = lines_of("http://h", "lab", "main", {"conda"}, any_private=False)
    assert lines[0] == "conda config --add channels http://h/lab"
    assert not any("pip" in line or "install.packages" in line for line in lines)
    assert lines_of("http://h", "lab", "main", set(), any_private=False)[0].startswith(
        "conda config"
    )  # empty


def test_private_content_adds_the_token_forms() -> None:
    lines = lines_of("http://h", "lab", "main", {"conda", "pypi"}, any_private=True)
    assert "conda config --add channels http://h/lab" in lines
    assert "conda config --add channels http://h/t/<TOKEN>/lab" in lines
    assert "pip install --index-url http://h/t/<TOKEN>/pypi/lab/simple/ <PACKAGE>" in lines
