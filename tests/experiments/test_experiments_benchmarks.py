from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_engine_benchmark_smoke_run_reports_identical_trades_and_a_ratio():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments/benchmarks/engine_speed.py"), "--smoke-test"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "identical trades and final value: True" in proc.stdout
    assert "ratio" in proc.stdout and "bars/s" in proc.stdout
