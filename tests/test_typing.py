"""allocator and scullcfs type-check under `mypy --strict` (pyproject's [tool.mypy])."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_mypy_strict_finds_no_error_in_allocator_and_scullcfs():
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml")],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    # every module of both packages is checked, not a list that new files escape
    modules = sum(1 for pkg in ("allocator", "scullcfs") for _ in (REPO / pkg).rglob("*.py"))
    assert f"Success: no issues found in {modules} source files" in result.stdout, result.stdout
