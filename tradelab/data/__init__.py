"""Market data: the canonical bar schema, quality checks and repair, synthetic bars, the Parquet
store with its catalog, and the CSV/Parquet importers.

Example:
    >>> import tempfile
    >>> from tradelab.data import ParquetStore, generate_bars
    >>> store = ParquetStore(tempfile.mkdtemp())
    >>> bars = generate_bars("DEMO", start="2024-01-01", end="2024-12-31", seed=7)
    >>> store.write("DEMO", bars, source="synthetic").rows
    262
"""

from __future__ import annotations

from tradelab.data.bars import (
    BAR_COLUMNS,
    BAR_SIZES,
    BarSize,
    arrays_to_bars,
    bars_to_arrays,
    parse_bar_size,
    to_canonical,
)
from tradelab.data.catalog import CatalogEntry, normalize_symbol
from tradelab.data.importers import (
    ImportReport,
    import_bars,
    infer_bar_size,
    read_csv_bars,
    read_parquet_bars,
)
from tradelab.data.quality import (
    ERROR_KINDS,
    SCORE_WEIGHTS,
    WARNING_KINDS,
    IssueKind,
    QualityIssue,
    QualityReport,
    RepairChange,
    check_quality,
    repair,
)
from tradelab.data.store import SOURCES, ParquetStore, date_bound
from tradelab.data.synthetic import (
    REGIMES,
    SyntheticConfig,
    bar_timestamps,
    generate_bars,
    generate_regimes,
    generate_universe,
)

__all__ = [
    "BAR_COLUMNS",
    "BAR_SIZES",
    "ERROR_KINDS",
    "REGIMES",
    "SCORE_WEIGHTS",
    "SOURCES",
    "WARNING_KINDS",
    "BarSize",
    "CatalogEntry",
    "ImportReport",
    "IssueKind",
    "ParquetStore",
    "QualityIssue",
    "QualityReport",
    "RepairChange",
    "SyntheticConfig",
    "arrays_to_bars",
    "bar_timestamps",
    "bars_to_arrays",
    "date_bound",
    "check_quality",
    "generate_bars",
    "generate_regimes",
    "generate_universe",
    "import_bars",
    "infer_bar_size",
    "normalize_symbol",
    "parse_bar_size",
    "read_csv_bars",
    "read_parquet_bars",
    "repair",
    "to_canonical",
]
