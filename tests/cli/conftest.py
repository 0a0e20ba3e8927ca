from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ENTRY_POINT = Path(sys.executable).parent / "tradelab"


@pytest.fixture
def run_cli(tmp_path):
    """Run the installed ``tradelab`` entry point with a private data root and results dir."""
    home = tmp_path / "home"
    results = tmp_path / "results"
    env = {**os.environ, "TRADELAB_HOME": str(home), "TRADELAB_RESULTS": str(results)}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(ENTRY_POINT), *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"tradelab {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    run.home, run.results, run.cwd = home, results, tmp_path
    return run
