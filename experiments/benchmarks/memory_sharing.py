"""Memory: 8 concurrent trials share one copy of the market data (zero-copy object store).

Loads a large dataset (1-minute bars) through the MarketDataService, then runs 8 concurrent
Ray tasks that each read every column of it the way trials do (``fetch_arrays``: ObjectRef →
read-only numpy views) and hold it, and measures the growth of the proportional set size (PSS,
shared pages split between the processes mapping them) summed over every process of the local
Ray, against the idle cluster with the same 8 workers started. The baseline, in the same run:
the same 8 tasks each reading the Parquet file themselves (a copy per trial).
Target: growth < 1.5x the dataset size.

    python experiments/benchmarks/memory_sharing.py [--years 4] [--smoke-test]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

WORKERS = 8


def _pss_total() -> int:
    """Summed PSS (bytes) of this process and every Ray process on the machine."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if int(pid) != os.getpid() and b"ray" not in cmdline:
                continue
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except (OSError, ValueError):
            continue
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--smoke-test", action="store_true", help="3 months of bars")
    args = parser.parse_args(argv)
    os.environ["TRADELAB_HOME"] = tempfile.mkdtemp(prefix="tradelab-bench-")
    import ray

    from cluster import ensure_ray, fetch_arrays, get_data_service
    from tradelab.data import ParquetStore, generate_bars

    end = "2020-03-31" if args.smoke_test else f"{2019 + args.years}-12-31"
    bars = generate_bars("BIG", start="2020-01-01", end=end, bar_size="1m", seed=7)
    ParquetStore().write("BIG", bars, bar_size="1m", source="synthetic")
    dataset = int(sum(bars[c].to_numpy().nbytes for c in bars.columns) + bars.index.size * 8)
    ensure_ray(num_cpus=WORKERS, include_dashboard=False)

    @ray.remote(num_cpus=1)
    class Reader:
        def ready(self) -> bool:
            import pyarrow.parquet  # noqa: F401 - libraries in memory before "idle" is measured

            import tradelab.data  # noqa: F401
            return True

        def shared(self, handle) -> float:
            self.held = fetch_arrays(handle)  # views of the object store, kept alive
            return float(sum(float(a.sum()) for a in self.held.values()))

        def copied(self, root: str) -> float:
            from tradelab.data import ParquetStore

            self.held = ParquetStore(root).read_arrays("BIG", bar_size="1m")
            return float(sum(float(a.sum()) for a in self.held.values()))

        def release(self) -> None:
            self.held = None

    readers = [Reader.remote() for _ in range(WORKERS)]
    ray.get([r.ready.remote() for r in readers])
    handle = ray.get(get_data_service().get.remote("BIG", "1m"))
    time.sleep(2)
    idle = _pss_total()
    ray.get([r.shared.remote(handle) for r in readers])
    time.sleep(1)
    shared = _pss_total() - idle
    ray.get([r.release.remote() for r in readers])
    time.sleep(1)
    idle_again = _pss_total()
    ray.get([r.copied.remote(os.environ["TRADELAB_HOME"]) for r in readers])
    time.sleep(1)
    copied = _pss_total() - idle_again
    mib = 1024 * 1024
    print(f"dataset: {len(bars):,} one-minute bars, {dataset / mib:.0f} MiB; {WORKERS} concurrent "
          "readers")
    print(f"  object store (tradelab): PSS growth {shared / mib:.0f} MiB = "
          f"{shared / dataset:.2f}x the dataset (target < 1.5x)")
    print(f"  a copy per reader (baseline): PSS growth {copied / mib:.0f} MiB = "
          f"{copied / dataset:.2f}x the dataset")
    print(f"  ratio: {copied / max(shared, 1):.1f}x less memory")
    return 0


if __name__ == "__main__":
    sys.exit(main())
