"""The code passes the same lint, format and type checks everywhere: locally, in CI, in this suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["ruff", "check", "src", "tests", "benchmarks", "scripts"], id="ruff-check"),
        pytest.param(["ruff", "format", "--check", "src", "tests", "benchmarks", "scripts"], id="ruff-format"),
        pytest.param(["mypy"], id="mypy-strict"),
    ],
)
def test_the_code_passes(command: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
