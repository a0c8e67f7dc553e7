"""Fixtures of the mirror tests (test_pypi_mirror.py, test_conda_mirror.py, test_cran_mirror.py): two Packyard
processes per module, one playing the upstream and one the mirror, so a module may stop its upstream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer, start_server


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("upstream"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mirror_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("mirror"))
    yield server
    server.stop()
