"""Where `packyard env create -n NAME` puts an environment (docs/client.md, "Where -n NAME goes")."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from packyard.cli.envs import envs_dir


def test_the_envs_dir_option_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONDA_PREFIX", "/opt/conda")
    assert envs_dir(tmp_path / "mine") == tmp_path / "mine"


@pytest.mark.parametrize(
    ("conda_prefix", "expected"),
    [
        ("/opt/conda", "/opt/conda/envs"),  # the base environment is active
        ("/opt/conda/envs/work", "/opt/conda/envs"),  # a named one is: its siblings
        ("/home/me/.pixi/env", "/home/me/.pixi/env/envs"),
    ],
)
def test_else_the_active_condas_envs_folder(
    monkeypatch: pytest.MonkeyPatch, conda_prefix: str, expected: str
) -> None:
    monkeypatch.setenv("CONDA_PREFIX", conda_prefix)
    assert envs_dir(None) == Path(expected)


def test_without_conda_a_folder_must_be_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    with pytest.raises(typer.Exit):
        envs_dir(None)
