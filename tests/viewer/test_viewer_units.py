"""The viewer's pieces without a store: how it is launched, the computations behind the Study
and Run pages, and how the service probes answer when a service is down or is not ours."""

from __future__ import annotations

import http.server
import json
import math
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradelab.cli import main
from tradelab.errors import ConfigError
from tradelab.viewer import ViewerConfig, _analysis, _services, _tracking

# ---- launching --------------------------------------------------------------------------------


def test_the_streamlit_command_binds_loopback_headless_without_telemetry_or_error_details():
    command = ViewerConfig(port=8600).command()
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("app.py")
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options["--server.address"] == "127.0.0.1"
    assert options["--server.port"] == "8600"
    assert options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"
    assert options["--client.showErrorDetails"] == "none"


def test_the_environment_carries_home_and_urls(tmp_path):
    config = ViewerConfig(
        home=tmp_path / "h",
        live_url="http://127.0.0.1:9000",
        ray_dashboard_url="http://127.0.0.1:9265",
    )
    env = config.environment({"PATH": "/bin"})
    assert env["TRADELAB_HOME"] == str((tmp_path / "h").resolve())
    assert env["TRADELAB_LIVE_URL"] == "http://127.0.0.1:9000"
    assert env["TRADELAB_RAY_DASHBOARD_URL"] == "http://127.0.0.1:9265"
    assert env["PATH"] == "/bin"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"port": 0}, "port must be an integer from 1 to 65535, got 0"),
        ({"port": True}, "port must be an integer"),
        ({"live_url": "127.0.0.1:8000"}, "live_url must be an http:// or https:// URL"),
    ],
)
def test_a_bad_setting_is_refused_with_the_value(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ViewerConfig(**kwargs)


def test_tradelab_view_with_a_bad_port_exits_2_with_one_line(capsys):
    assert main(["view", "--port", "70000"]) == 2
    assert "error: port must be an integer from 1 to 65535, got 70000" in capsys.readouterr().err


def test_importing_the_viewer_package_and_the_cli_does_not_import_streamlit():
    code = (
        "import sys, tradelab.viewer, tradelab.cli; from tradelab.cli.main import _register; "
        "_register(); print('streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- the data layer without a store --------------------------------------------------------


def test_a_missing_sqlite_store_reads_as_empty_and_is_not_created(tmp_path):
    uri = f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}"
    assert not _tracking.store_exists(uri)
    assert _tracking.studies(uri).empty
    assert _tracking.walkforward_runs(uri).empty
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize(
    "text,value",
    [
        ("None", None),
        ("True", True),
        ("12", 12),
        ("0.5", 0.5),
        ('["AAA","BBB"]', ["AAA", "BBB"]),
        ('{"fast":3}', {"fast": 3}),
        ("ib-fixed", "ib-fixed"),
        ("[not json", "[not json"),
    ],
)
def test_params_decode_from_mlflow_text(text, value):
    assert _tracking.decode_param(text) == value


# ---- computations -------------------------------------------------------------------------


def trials_frame(points: list[tuple[int, int, float | None]], states=None) -> pd.DataFrame:
    """A frame shaped like ``study_trials``: number, state, value, param.fast, param.slow."""
    states = states or ["COMPLETE"] * len(points)
    return pd.DataFrame(
        {
            "number": range(1, len(points) + 1),
            "state": states,
            "value": [math.nan if v is None else v for _, _, v in points],
            "param.fast": [f for f, _, _ in points],
            "param.slow": [s for _, s, _ in points],
            "run_id": [f"r{i}" for i in range(len(points))],
        }
    )


def test_best_so_far_follows_the_mode_and_skips_trials_that_did_not_complete():
    trials = trials_frame(
        [(5, 20, 0.1), (6, 21, 0.5), (7, 22, None), (8, 23, 0.3)],
        states=["COMPLETE", "COMPLETE", "FAILED", "COMPLETE"],
    )
    assert list(_analysis.best_so_far(trials, "max")["best"]) == [0.1, 0.5, 0.5]
    assert list(_analysis.best_so_far(trials, "min")["best"]) == [0.1, 0.1, 0.1]
    assert list(_analysis.best_so_far(trials, "max")["number"]) == [1, 2, 4]


def test_robustness_tells_a_plateau_from_an_isolated_peak():
    # a plateau around fast=10 and a lone spike at fast=40: both top trials score 1.0
    points = [
        (9, 50, 0.95),
        (10, 50, 1.0),
        (11, 50, 0.97),
        (12, 50, 0.96),
        (39, 50, 0.1),
        (40, 50, 1.0),
        (41, 50, 0.05),
        (25, 50, 0.3),
    ]
    table = _analysis.robustness(trials_frame(points), "max", top=2, neighbours=2)
    by_trial = table.set_index("number")
    plateau, peak = by_trial.loc[2], by_trial.loc[6]
    assert plateau["neighbours"] in ("1, 3", "3, 1")
    assert plateau["retained"] == pytest.approx((0.95 + 0.97) / 2)
    assert peak["neighbours"] in ("5, 7", "7, 5")
    assert peak["retained"] == pytest.approx((0.1 + 0.05) / 2)


def test_the_heatmap_grid_averages_the_objective_per_cell_and_bins_wide_ranges():
    points = [(5, 20, 1.0), (5, 20, 3.0), (6, 20, 5.0), (5, 25, 7.0)]
    grid = _analysis.heatmap_grid(trials_frame(points), "param.fast", "param.slow")
    assert grid.loc[20, 5] == 2.0 and grid.loc[20, 6] == 5.0 and grid.loc[25, 5] == 7.0
    assert math.isnan(grid.loc[25, 6])
    wide = [(f, 20 + f % 3, float(f)) for f in range(1, 41)]
    binned = _analysis.heatmap_grid(trials_frame(wide), "param.fast", "param.slow", bins=4)
    assert len(binned.columns) == 4  # 40 distinct values of fast in 4 bins


def test_parameter_importances_find_the_parameter_that_drives_the_objective():
    rng = np.random.default_rng(3)
    fast = rng.integers(5, 50, 40)
    slow = rng.integers(20, 200, 40)
    points = [(int(f), int(s), float(f) / 10.0) for f, s in zip(fast, slow, strict=True)]
    importances = _analysis.param_importances(trials_frame(points), "max")
    assert list(importances.index) == ["fast", "slow"]
    assert importances.sum() == pytest.approx(1.0) and importances["fast"] > 0.9
    assert _analysis.param_importances(trials_frame(points[:2]), "max").empty


def test_monthly_returns_compound_daily_equity_from_the_starting_cash():
    stamps = pd.date_range("2024-01-30", "2024-03-04", freq="B", tz="UTC")
    equity = pd.Series(np.linspace(100.0, 112.0, len(stamps)), index=stamps)
    frame = pd.DataFrame({"timestamp": stamps, "equity": equity.to_numpy()})
    grid = _analysis.monthly_returns(frame, cash=100.0)
    month_end = equity.groupby(equity.index.month).last()
    assert grid.loc[2024, 1] == pytest.approx(month_end[1] / 100.0 - 1)
    assert grid.loc[2024, 2] == pytest.approx(month_end[2] / month_end[1] - 1)
    assert grid.loc[2024, 3] == pytest.approx(month_end[3] / month_end[2] - 1)
    assert grid.loc[2024, 4:].isna().all()


# ---- service probes -----------------------------------------------------------------------


@pytest.fixture
def foreign_server() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that is not a tradelab trader nor a Ray dashboard."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path == "/health":
                body, status = json.dumps({"hello": "world"}).encode(), 200
            elif self.path.startswith("/api/"):
                body, status = b"Unauthorized: Missing authentication token", 401
            else:
                body, status = b"<html>not json</html>", 200
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_live_url_where_nothing_listens_is_not_reachable_and_says_so():
    from tests.viewer.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    snapshot = _services.live_snapshot(url, timeout=1.0)
    assert not snapshot.reachable and f"nothing answered at {url}/health" in snapshot.error


def test_a_server_that_is_not_a_trader_is_not_taken_for_one(foreign_server):
    snapshot = _services.live_snapshot(foreign_server, timeout=2.0)
    assert not snapshot.reachable and "not like a tradelab live trader" in snapshot.error
    with pytest.raises(_services.ServiceError, match="did not answer with JSON"):
        _services.fetch_json(f"{foreign_server}/other")


def test_a_ray_dashboard_asking_for_a_token_gets_how_to_give_it(foreign_server):
    status = _services.ray_status(foreign_server, token="", timeout=2.0)
    assert not status.reachable
    assert "HTTP 401" in status.error and "RAY_AUTH_TOKEN=$(ray get-auth-token)" in status.error


def test_the_catalog_of_a_store_without_catalog_json_is_read_without_writing_one(tmp_path):
    from tests.viewer.conftest import write_bars

    write_bars(tmp_path)
    (tmp_path / "catalog.json").unlink()
    frame = _services.catalog_frame(str(tmp_path))
    assert list(frame["symbol"]) == ["AAA", "BBB"]
    assert not (tmp_path / "catalog.json").exists()
    assert _services.catalog_frame(str(Path(tmp_path) / "absent")).empty
