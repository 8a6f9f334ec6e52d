"""Exports: records as JSON, JSONL, CSV or Parquet, and training sets for TRL.

Example::

    from rlhf_otel.export import export_feedback

    text = export_feedback(store, "jsonl", feedback_types=["rating"])
    report = export_feedback(store, "dpo", out="pairs.jsonl")
    print(report.rows, dict(report.skipped))

``get_analytics(store, filter)`` (re-exported here) gives the statistics, trends,
breakdowns, model rankings and agreement behind the CLI's ``report``.

Training formats (``dpo``, ``kto``, ``reward``, ``sft``) load with
``datasets.load_dataset("json", data_files=...)`` (or ``"parquet"``) and match the
preference, unpaired-preference and conversational dataset types of Hugging Face TRL.

``export_feedback(store, "parquet-lake", out="lake/")`` appends to a Hive-partitioned
Parquet lake (``kind=.../date=YYYY-MM-DD/part-<uuid>.parquet``, columns in
:func:`lake_schema`) that Spark, Trino, ClickHouse or DuckDB read.
"""

from __future__ import annotations

from rlhf_otel.analytics import AnalyticsResult, AnalyticsUnavailableError, get_analytics
from rlhf_otel.export._api import export_feedback
from rlhf_otel.export._lake import LAKE_COLUMNS, LAKE_KINDS, lake_schema
from rlhf_otel.export._options import ExportOptions, ExportReport, TrainingOptions
from rlhf_otel.export._parquet import ParquetUnavailableError, record_schema, training_schema
from rlhf_otel.export._records import CSV_COLUMNS, unescape_csv_cell
from rlhf_otel.export._training import TrainingRows, iter_training_rows

__all__ = [
    "AnalyticsResult",
    "AnalyticsUnavailableError",
    "CSV_COLUMNS",
    "ExportOptions",
    "ExportReport",
    "LAKE_COLUMNS",
    "LAKE_KINDS",
    "ParquetUnavailableError",
    "TrainingOptions",
    "TrainingRows",
    "export_feedback",
    "get_analytics",
    "iter_training_rows",
    "lake_schema",
    "record_schema",
    "training_schema",
    "unescape_csv_cell",
]
