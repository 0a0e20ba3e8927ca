"""Ray behaviour that needs separate driver processes: resume after a killed driver, and a
3-node cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "TRADELAB_HOME": str(home), **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.pop("RAY_ADDRESS", None)
    return env


def _finished(study: Path) -> list[str]:
    """``fast-slow`` of the trials the study's journal records as finished."""
    journal = study / "completed.jsonl"
    if not journal.is_file():
        return []
    finished = []
    for line in journal.read_text().splitlines():
        try:
            params = json.loads(line)["params"]
        except (json.JSONDecodeError, KeyError):
            continue  # a line being written
        finished.append(f"{params['fast']}-{params['slow']}")
    return finished


def test_killed_driver_resumes_without_rerunning_finished_trials(tradelab_home, tmp_path):
    markers = tmp_path / "markers"
    env = _env(tradelab_home, TRADELAB_MARKERS=str(markers))
    study = "killed-driver"
    driver = subprocess.Popen([sys.executable, str(ROOT / "tests/cluster/_drivers.py"), "run",
                               study, "6"], env=env, cwd=ROOT, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    folder = tradelab_home / "studies" / study
    deadline = time.monotonic() + 240
    try:
        while len(finished := _finished(folder)) < 2:
            assert driver.poll() is None, driver.stdout.read()
            assert time.monotonic() < deadline, "the study never finished 2 trials"
            time.sleep(0.05)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    assert 2 <= len(finished) < 6
    finished = _finished(folder)  # the journal as the driver left it
    resumed = subprocess.run([sys.executable, str(ROOT / "tests/cluster/_drivers.py"),
                              "resume", study], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "STATES ['COMPLETE', 'COMPLETE', 'COMPLETE', 'COMPLETE', 'COMPLETE', 'COMPLETE']" \
        in resumed.stdout
    # the resumed session's efficiency is over the trials it ran, not the ones finished before
    assert (f"efficiency counts the {6 - len(finished)} trials run since the resume; "
            f"{len(finished)} had finished before it") in resumed.stdout
    runs: dict[str, int] = {}
    for marker in markers.iterdir():
        key = marker.name.rsplit("-", 1)[0]
        runs[key] = runs.get(key, 0) + 1
    assert len(runs) == 6
    # a trial recorded as finished ran once; one in flight when the driver died may have
    # finished in its orphaned worker and then run again, as it was never recorded
    assert all(runs[key] == 1 for key in finished), (finished, runs)


def test_study_on_a_three_node_cluster_completes(tradelab_home):
    proc = subprocess.run([sys.executable, str(ROOT / "tests/cluster/_drivers.py"),
                           "multinode", "6"], env=_env(tradelab_home), cwd=ROOT,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "NODES 3" in proc.stdout
    assert "COMPLETE 6" in proc.stdout
