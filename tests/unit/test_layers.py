"""The import direction of docs/architecture.md is enforced: `lint-imports` (the contract in pyproject.toml, run by
`make lint`) passes on the real tree, and fails on a copy of it given one import that goes the wrong way."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter is not installed (pip install -e .[test])"
)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """Run the contract of `root`/pyproject.toml against the package under `root`/src."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=root,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )


def copy_tree(tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_the_real_tree_keeps_the_contracts() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        ("core/services/uploads.py", "import packyard.api", "the core imports nothing above it"),
        ("core/queries.py", "from packyard.formats import base", "the core imports nothing above it"),
        ("core/permissions.py", "import packyard.web.deps", "the core imports nothing above it"),
        ("formats/cran/routes.py", "from packyard.api import repo", "the formats never import the REST API"),
        ("api/repo.py", "from packyard.formats.pypi import xmlrpc", "packyard.api is not allowed to import"),
        ("web/deps.py", "import packyard.formats.channels", "packyard.web is not allowed to import"),
        ("client/transport.py", "from packyard.core import errors", "the client library stands alone"),
        ("client/extensions.py", "import packyard.config", "the client library stands alone"),
        ("client/envplan.py", "from packyard.core import errors", "the client library stands alone"),
    ],
)
def test_a_wrong_way_import_breaks_the_contract(
    tmp_path: Path, module: str, bad_import: str, broken: str
) -> None:
    copy = copy_tree(tmp_path)
    path = copy / "src" / "packyard" / module
    path.write_text(path.read_text() + f"\n{bad_import}  # noqa\n")
    result = lint_imports(copy)
    assert result.returncode != 0, result.stdout
    assert broken in result.stdout
    dotted = "packyard." + module.removesuffix(".py").replace("/", ".")
    assert dotted in result.stdout
