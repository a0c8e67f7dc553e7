"""`packyard upload --force` reads the stored file's place from the server's 409: the shapes its conflicts take."""

from __future__ import annotations

import pytest

from packyard.cli.upload import Stored, conflicting_file


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (  # POST /api/repo: the version is the stored file's, not the one the upload asked for
            "File already exists ('answers.csv'). alice/answers/1/answers.csv already exists; remove it first or "
            "upload with --force",
            Stored("alice", "answers", "1", "answers.csv"),
        ),
        (  # a notebook in the version the server chose, its file name with spaces
            "File already exists ('Sales Report.ipynb'). alice/sales-report/2026.01.02.030405/Sales Report.ipynb "
            "already exists; remove it first or upload with --force",
            Stored("alice", "sales-report", "2026.01.02.030405", "Sales Report.ipynb"),
        ),
        (  # the stage flow (conda): the basename has its subdir in front
            "alice/demo/1.0/linux-64/demo-1.0-0.tar.bz2 already exists",
            Stored("alice", "demo", "1.0", "linux-64/demo-1.0-0.tar.bz2"),
        ),
        ("label 'main' is locked; unlock it before adding files to it", None),
        ("package alice/demo already exists (names differing only in case or '-_.' are one)", None),
        ("release alice/demo/1.0 already exists", None),
    ],
)
def test_the_stored_file_a_conflict_names(message: str, expected: Stored | None) -> None:
    assert conflicting_file(message) == expected
